#!/usr/bin/env bash
# chroot-install.sh [--binary PATH] CHROOT
#
# Installs the statically linked vault-sftp into an sshd ChrootDirectory as
# CHROOT/usr/lib/sealvault/vault-sftp (root-owned, 0755), the only file
# vault-sftp needs inside the chroot: no shell, no libraries, no /etc, no /dev.
#
# sshd runs subsystems and forced commands through the user's login shell,
# inside the chroot. So each chrooted tenant's login shell must be that same
# path (sshd does not check the shell outside the chroot when it chroots):
#
#   usermod --shell /usr/lib/sealvault/vault-sftp TENANT
#
# sshd then runs `vault-sftp -c '<ForceCommand or Subsystem line>'`, and
# vault-sftp's -c mode starts only vault-sftp itself; any other command a
# client asks for is refused. sshd_config:
#
#   Match User TENANT
#       ChrootDirectory /srv/sealvault/%u
#       ForceCommand /usr/lib/sealvault/vault-sftp --root /
#       AllowTcpForwarding no
#       AllowStreamLocalForwarding no
#       AllowAgentForwarding no
#       X11Forwarding no
#       PermitTTY no
#       PermitTunnel no
#
# CHROOT and every directory above it must be root-owned and not writable by
# group or others (sshd refuses the login otherwise); give the tenant a
# writable subdirectory (e.g. CHROOT/upload) for its backups.
#
# Default binary: $VAULT_SFTP_STATIC, else build/bin/vault-sftp-static.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest_rel=usr/lib/sealvault/vault-sftp

usage() {
	sed -n '2,3p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	echo "See the comment at the top of ${BASH_SOURCE[0]} for the sshd setup." >&2
	exit 2
}

die() {
	echo "chroot-install: $*" >&2
	exit 1
}

binary=${VAULT_SFTP_STATIC:-$repo/build/bin/vault-sftp-static}
chroot=""
while [[ $# -gt 0 ]]; do
	case $1 in
	--binary)
		[[ $# -ge 2 ]] || usage
		binary=$2
		shift 2
		;;
	--binary=*)
		binary=${1#--binary=}
		shift
		;;
	-h | --help) usage ;;
	-*) usage ;;
	*)
		[[ -z $chroot ]] || usage
		chroot=$1
		shift
		;;
	esac
done
[[ -n $chroot ]] || usage
[[ $EUID -eq 0 ]] || die "needs root (the files inside a chroot must be root-owned)"
[[ -f $binary && -x $binary ]] ||
	die "no executable $binary (build it: cmake --build build --target vault-sftp-static)"
[[ -d $chroot ]] || die "$chroot is not a directory"
chroot=$(cd "$chroot" && pwd -P)
[[ $chroot != / ]] || die "refusing to install into /"

# A dynamically linked binary would fail inside the chroot (no ld.so, no libc).
if command -v readelf >/dev/null 2>&1; then
	if readelf -l "$binary" 2>/dev/null | grep -q 'Requesting program interpreter'; then
		die "$binary is dynamically linked; use build/bin/vault-sftp-static"
	fi
else
	echo "chroot-install: readelf not found, cannot check that $binary is static" >&2
fi

# sshd's rule for ChrootDirectory: every component root-owned, not g/o-writable.
path=$chroot
while :; do
	read -r uid mode < <(stat -c '%u %a' "$path")
	if [[ $uid -ne 0 ]] || (((8#$mode & 8#022) != 0)); then
		echo "chroot-install: warning: $path is owned by uid $uid with mode $mode;" \
			"sshd refuses a ChrootDirectory unless every component is root-owned" \
			"and not group/world-writable" >&2
	fi
	[[ $path != / ]] || break
	path=$(dirname "$path")
done

# Refuse to follow a symlink planted inside the chroot.
d=$chroot
for part in usr lib sealvault; do
	d="$d/$part"
	if [[ -L $d ]]; then
		die "$d is a symlink; refusing"
	fi
	install -d -o root -g root -m 0755 "$d"
done
dest="$chroot/$dest_rel"
[[ ! -L $dest ]] || die "$dest is a symlink; refusing"

# Copy under a temporary name and rename: sessions running the old binary
# keep running, new sessions get the new one, nobody sees half a file.
tmp=$(mktemp "$chroot/usr/lib/sealvault/.vault-sftp.XXXXXX")
trap 'rm -f -- "$tmp"' EXIT
cat -- "$binary" >"$tmp"
chown root:root "$tmp"
chmod 0755 "$tmp"
mv -f -- "$tmp" "$dest"
trap - EXIT

echo "installed $dest"
echo "set the tenant's login shell: usermod --shell /$dest_rel TENANT"
