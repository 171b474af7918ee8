# shellcheck shell=bash
# The sshd Match block sealvault recommends for a tenant: only SFTP, nothing
# forwarded, no TTY. Printed on stdout, for sshd_config or a drop-in.
#
#   sealvault_match_block USER [force COMMAND] [chroot DIR]
sealvault_match_block() {
	local user=$1
	shift
	printf 'Match User %s\n' "$user"
	while [[ $# -gt 0 ]]; do
		case $1 in
		force) printf '\tForceCommand %s\n' "$2" ;;
		chroot) printf '\tChrootDirectory %s\n' "$2" ;;
		*) printf 'sealvault_match_block: unknown word %s\n' "$1" >&2; return 1 ;;
		esac
		shift 2
	done
	printf '\t%s\n' "AllowTcpForwarding no" "AllowStreamLocalForwarding no" \
		"AllowAgentForwarding no" "X11Forwarding no" "PermitTTY no" "PermitTunnel no" \
		"GatewayPorts no"
}
