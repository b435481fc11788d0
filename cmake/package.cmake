# `cpack -G DEB` (in the build folder) makes hydra_VERSION_amd64.deb: the
# binary, its --help text, the systemd unit, the default config as a
# conffile, and maintainer scripts that create the `hydra` system user and
# /var/lib/hydra. Dependencies come from dpkg-shlibdeps on the binary.
include(GNUInstallDirs)
install(TARGETS hydra RUNTIME DESTINATION bin)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/hydra.service DESTINATION lib/systemd/system)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/hydra.toml DESTINATION /etc/hydra)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/deploy/hostfile.example
        ${CMAKE_BINARY_DIR}/hydra-help.txt DESTINATION share/doc/hydra)

# The --help of the binary and of every subcommand, as installed docs.
add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/hydra-help.txt
  COMMAND ${CMAKE_COMMAND} -DHYDRA=$<TARGET_FILE:hydra> -DOUT=${CMAKE_BINARY_DIR}/hydra-help.txt
          -P ${PROJECT_SOURCE_DIR}/cmake/help_text.cmake
  DEPENDS hydra ${PROJECT_SOURCE_DIR}/cmake/help_text.cmake
  COMMENT "hydra --help for every subcommand")
add_custom_target(hydra_help ALL DEPENDS ${CMAKE_BINARY_DIR}/hydra-help.txt)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME hydra)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "Hydra developers <hydra@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Peer-to-peer distributed training and data collection on idle machines")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE amd64)
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, openmpi-bin")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "dataset-fashion-mnist")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/deploy/debian/postinst ${PROJECT_SOURCE_DIR}/deploy/debian/prerm
    ${PROJECT_SOURCE_DIR}/deploy/debian/postrm ${PROJECT_SOURCE_DIR}/deploy/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
