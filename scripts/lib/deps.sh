# shellcheck shell=bash disable=SC2034
# Debian 12 packages sealvault needs, and one way to install them.
# Sourced by scripts/test.sh and scripts/quickstart.sh.

# To build vault-sftp (and, later, vaultd and vaultctl).
SEALVAULT_BUILD_DEPS=(
	build-essential cmake pkg-config
	libseccomp-dev libcap-dev libacl1-dev libmnl-dev libsystemd-dev libssh-dev
)
# To run it behind sshd.
SEALVAULT_RUN_DEPS=(
	openssh-server openssh-client openssh-sftp-server
	iproute2 procps
)
# To run every test: cmocka, clang for the fuzz build, the filesystem tools,
# the recipe baseline (incron), what the integration tests call (getfattr,
# readelf, /usr/bin/time, losetup/mount), and the backup tools the
# test_tool_* tests drive (duplicity's sftp:// needs paramiko, its
# pexpect+sftp:// needs pexpect), and what the package and man page tests
# use (cpack's DEB dependencies come from dpkg-shlibdeps in dpkg-dev;
# lintian; man and mandoc to check the pages).
SEALVAULT_TEST_DEPS=(
	clang libclang-rt-dev libcmocka-dev
	e2fsprogs attr acl incron
	binutils time util-linux mount coreutils findutils
	restic rclone duplicity python3-paramiko python3-pexpect lftp
	systemd
	strace
	dpkg-dev lintian man-db mandoc
)

# sealvault_apt_install PACKAGE...
# apt-get update + install, non-interactively. Daemons that a package would
# start (sshd on port 22, incrond) are kept from starting with a temporary
# policy-rc.d: sealvault starts its own, private instances.
sealvault_apt_install() {
	local created_policy=0 rc=0
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		printf '#!/bin/sh\n# sealvault: do not start services during this install\nexit 101\n' \
			>/usr/sbin/policy-rc.d
		chmod 0755 /usr/sbin/policy-rc.d
		created_policy=1
	fi
	export DEBIAN_FRONTEND=noninteractive
	{
		apt-get update -q &&
			apt-get install -y -q \
				-o Dpkg::Options::=--force-confdef \
				-o Dpkg::Options::=--force-confold "$@"
	} </dev/null || rc=$?
	if ((created_policy)); then
		rm -f /usr/sbin/policy-rc.d
	fi
	return "$rc"
}
