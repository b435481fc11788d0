# Shared build settings and the one helper every module uses.

add_library(hydra_internal INTERFACE)
target_compile_options(hydra_internal INTERFACE -Wall -Wextra -Wno-unused-parameter)
if(HYDRA_NATIVE)
  target_compile_options(hydra_internal INTERFACE -march=native)
endif()
if(HYDRA_SANITIZE)
  target_compile_options(hydra_internal INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer)
  target_link_options(hydra_internal INTERFACE -fsanitize=address,undefined)
endif()
target_include_directories(hydra_internal INTERFACE ${PROJECT_SOURCE_DIR})

# hydra_add_module(NAME name SRCS ... DEPS ... TESTS ...)
# Makes library hydra_<name> (alias hydra::<name>) and, when TESTS are given,
# one test binary hydra_<name>_test; every test case is its own CTest entry.
function(hydra_add_module)
  cmake_parse_arguments(M "" "NAME" "SRCS;DEPS;TESTS" ${ARGN})
  add_library(hydra_${M_NAME} STATIC ${M_SRCS})
  add_library(hydra::${M_NAME} ALIAS hydra_${M_NAME})
  target_link_libraries(hydra_${M_NAME} PUBLIC hydra_internal ${M_DEPS})
  if(M_TESTS)
    add_executable(hydra_${M_NAME}_test ${M_TESTS})
    target_link_libraries(hydra_${M_NAME}_test PRIVATE hydra_${M_NAME} GTest::gtest_main GTest::gmock)
    gtest_discover_tests(hydra_${M_NAME}_test
      TEST_PREFIX "${M_NAME}."
      DISCOVERY_TIMEOUT 60
      PROPERTIES TIMEOUT 300 LABELS "unit;${M_NAME}")
  endif()
endfunction()
