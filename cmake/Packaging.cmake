# `cpack -G DEB`: the sealvault .deb for Debian 12.
#
#   cmake -S . -B build-deb -DCMAKE_INSTALL_PREFIX=/usr -DBUILD_TESTING=OFF
#   cmake --build build-deb && (cd build-deb && cpack -G DEB)
#
# For a package as Debian builds it (bindnow and the rest of its hardening
# flags), export `DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags
# --export=sh` first, as tests/integration/test_package.sh does.
#
# One package, built from two install components: everything a plain
# `cmake --install` installs, plus "deb" (/etc/sealvault, the Debian
# changelog, lintian overrides), which only the package carries.
# Dependencies come from dpkg-shlibdeps (dpkg-dev). Maintainer scripts:
# scripts/deb/.

set(SEALVAULT_DEB_RELEASE 1)
set(SEALVAULT_DEB_VERSION ${PROJECT_VERSION}-${SEALVAULT_DEB_RELEASE})

# Debian wants both under /usr/share/doc/<package>; the copyright is
# installed by `cmake --install` too.
configure_file(${PROJECT_SOURCE_DIR}/scripts/deb/changelog.in
	${PROJECT_BINARY_DIR}/deb/changelog.Debian @ONLY)
add_custom_command(OUTPUT ${PROJECT_BINARY_DIR}/deb/changelog.Debian.gz
	COMMAND ${GZIP_PROGRAM} -9nc ${PROJECT_BINARY_DIR}/deb/changelog.Debian
		> ${PROJECT_BINARY_DIR}/deb/changelog.Debian.gz
	DEPENDS ${PROJECT_BINARY_DIR}/deb/changelog.Debian
	VERBATIM)
add_custom_target(deb-changelog ALL DEPENDS ${PROJECT_BINARY_DIR}/deb/changelog.Debian.gz)
install(FILES ${PROJECT_SOURCE_DIR}/scripts/deb/copyright DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES ${PROJECT_BINARY_DIR}/deb/changelog.Debian.gz DESTINATION ${CMAKE_INSTALL_DOCDIR}
	COMPONENT deb EXCLUDE_FROM_ALL)

# Tags that do not apply to this package, each with its reason.
install(FILES ${PROJECT_SOURCE_DIR}/scripts/deb/lintian-overrides
	DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/lintian/overrides RENAME sealvault
	COMPONENT deb EXCLUDE_FROM_ALL)

# The conffile list, with the path the package installs.
file(WRITE ${PROJECT_BINARY_DIR}/deb/conffiles "${CMAKE_INSTALL_FULL_SYSCONFDIR}/sealvault/vault.conf\n")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME sealvault)
set(CPACK_PACKAGE_VENDOR "sealvault developers")
set(CPACK_PACKAGE_CONTACT "sealvault developers <sealvault@localhost>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "append-only SFTP backup vault with kernel sealing")
# The unit's ExecStart and vaultctl's default vault-sftp path name the
# configured prefix; the package must install there (PackagingCheck.cmake
# refuses a .deb from a build that is not configured for /usr).
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_PROJECT_CONFIG_FILE ${PROJECT_SOURCE_DIR}/cmake/PackagingCheck.cmake)
set(CPACK_STRIP_FILES ON)

# Both components in one package; "deb" is EXCLUDE_FROM_ALL for cmake --install only.
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)
set(CPACK_COMPONENTS_ALL Unspecified deb)

set(CPACK_DEBIAN_PACKAGE_NAME sealvault)
set(CPACK_DEBIAN_PACKAGE_RELEASE ${SEALVAULT_DEB_RELEASE})
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "sealvault developers <sealvault@localhost>")
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# vault-listen: deb12u2 and older accept tampered aes-gcm packets and
# oversized SFTP reads (../shared/libssh-notes.md); shlibdeps would only ask 0.10.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libssh-4 (>= 0.10.6-0+deb12u3)")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS openssh-server)
# The extended description; CPack puts the summary above it and indents it.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
"sealvault keeps a compromised backup client from destroying or altering
the backups it already wrote. vault-sftp, started by sshd in place of
sftp-server, lets the client create and read files but refuses to delete,
overwrite, truncate or rename them; vaultd makes every finished file
immutable (chattr +i) before the client hears that its upload succeeded,
and seals files that arrive any other way. vaultctl checks the
configuration and moves old backups into an audited attic. vault-listen
serves the vault over SSH by itself, without sshd.

Profiles cover restic, pgBackRest, rclone, duplicity, lftp and Duplicati.")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
	${PROJECT_SOURCE_DIR}/scripts/deb/postinst
	${PROJECT_SOURCE_DIR}/scripts/deb/prerm
	${PROJECT_SOURCE_DIR}/scripts/deb/postrm
	${PROJECT_BINARY_DIR}/deb/conffiles)
# 0755 for the scripts, 0644 for conffiles, whatever the checkout's modes.
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

include(CPack)
