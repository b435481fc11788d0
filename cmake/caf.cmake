# CAF 0.17 ships no CMake or pkg-config files: imported targets by hand.
find_path(CAF_INCLUDE_DIR caf/all.hpp REQUIRED)
foreach(c core io openssl)
  find_library(CAF_${c}_LIBRARY NAMES caf_${c} REQUIRED)
endforeach()
add_library(CAF::core UNKNOWN IMPORTED)
set_target_properties(CAF::core PROPERTIES IMPORTED_LOCATION ${CAF_core_LIBRARY}
  INTERFACE_INCLUDE_DIRECTORIES ${CAF_INCLUDE_DIR} INTERFACE_LINK_LIBRARIES Threads::Threads)
add_library(CAF::io UNKNOWN IMPORTED)
set_target_properties(CAF::io PROPERTIES IMPORTED_LOCATION ${CAF_io_LIBRARY} INTERFACE_LINK_LIBRARIES CAF::core)
add_library(CAF::openssl UNKNOWN IMPORTED)
set_target_properties(CAF::openssl PROPERTIES IMPORTED_LOCATION ${CAF_openssl_LIBRARY}
  INTERFACE_LINK_LIBRARIES "CAF::io;OpenSSL::SSL")
