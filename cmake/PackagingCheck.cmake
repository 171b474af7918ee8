# Read by cpack (CPACK_PROJECT_CONFIG_FILE) before it packs: a .deb from a
# build configured for another prefix would install a unit whose ExecStart
# names that prefix.
if(CPACK_GENERATOR STREQUAL "DEB" AND NOT CPACK_PACKAGING_INSTALL_PREFIX STREQUAL "/usr")
	message(FATAL_ERROR "the .deb installs to /usr: configure the build with "
		"-DCMAKE_INSTALL_PREFIX=/usr (this one has ${CPACK_PACKAGING_INSTALL_PREFIX})")
endif()
