#!/usr/bin/env bash
# The systemd units, as the build makes them from scripts/*.service.in:
# vaultd.service and vault-listen.service. For each: ExecStart names the
# program in the install prefix; systemd-analyze verify finds nothing to
# say about it (its Documentation= pages included); its hardening
# (systemd-analyze security --offline=true) is no worse than the level
# reached, with only the known, explained items open; and its
# capabilities are exactly the program's list (vaultd_caps[] of
# vaultd/privileges.c, listener_caps[] of vaultd/listen.c), which
# privileges_drop() can keep without CAP_SETPCAP.
# PID 1 is not systemd here and in CI: only the offline modes are used
# (test_listen_unit.sh runs vault-listen.service under a real manager).
# shellcheck source-path=SCRIPTDIR
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/lib.sh"

require_cmd systemd-analyze
it_init
: "${SEALVAULT_SBINDIR:?SEALVAULT_SBINDIR must name CMAKE_INSTALL_FULL_SBINDIR of the build}"

# The exposure each unit reaches (see the comment at the top of the unit).
# A quality gate, not a timing: a change that raises it must either be
# undone or come with a reason there and a new value here.
VAULTD_MAX_EXPOSURE=2.3
LISTEN_MAX_EXPOSURE=2.4
# The items that stay open, each explained in the unit. Any other item
# failing is a regression, even one too small to move the rounded score.
# shellcheck disable=SC2034 # both read through check_unit's nameref
VAULTD_OPEN=(
	'AmbientCapabilities='
	'CapabilityBoundingSet=~CAP_(CHOWN|FSETID|SETFCAP)'
	'CapabilityBoundingSet=~CAP_(DAC_*|FOWNER|IPC_OWNER)'
	'CapabilityBoundingSet=~CAP_AUDIT_*'
	'CapabilityBoundingSet=~CAP_LINUX_IMMUTABLE'
	'CapabilityBoundingSet=~CAP_SYS_ADMIN'
	'DeviceAllow='
	'PrivateNetwork='
	'PrivateUsers='
	'RestrictAddressFamilies=~AF_NETLINK'
	'RestrictAddressFamilies=~AF_UNIX'
	'RestrictSUIDSGID='
	'RootDirectory=/RootImage='
	'SystemCallFilter=~@privileged'
	'User=/DynamicUser='
)
# shellcheck disable=SC2034
LISTEN_OPEN=(
	'AmbientCapabilities='
	'CapabilityBoundingSet=~CAP_KILL'
	'CapabilityBoundingSet=~CAP_SET(UID|GID|PCAP)'
	'DeviceAllow='
	'IPAddressDeny='
	'LockPersonality='
	'PrivateNetwork='
	'PrivateUsers='
	'RestrictAddressFamilies=~AF_(INET|INET6)'
	'RestrictAddressFamilies=~AF_UNIX'
	'RestrictSUIDSGID='
	'RootDirectory=/RootImage='
	'SystemCallFilter=~@privileged'
	'UMask='
	'User=/DynamicUser='
)

# verify runs man(1) for each Documentation=man:PAGE(N): give it the
# source tree's pages, and only those, as a man tree.
mkdir -p "$T/man/man5" "$T/man/man8"
for page in "$SEALVAULT_SOURCE_DIR"/*/*.[58]; do
	[[ -f $page ]] || continue
	ln -s "$page" "$T/man/man${page##*.}/$(basename "$page")"
done

# cap_list FILE ARRAY: the capabilities of `cap_value_t ARRAY[] = { ... };`
# in FILE (on one line or several), one per line, sorted.
cap_list() {
	awk -v a="$2" '
		index($0, "cap_value_t " a "[] = {") { on = 1 }
		on { print }
		on && /};/ { exit }' "$1" | grep -oE '\bCAP_[A-Z_]+\b' | LC_ALL=C sort -u
}

# check_unit UNIT PROGRAM ARGS MAX OPEN_ARRAY CAPS_FILE CAPS_ARRAY [BINARY]
check_unit() {
	local unit=$1 prog=$2 args=$3 max=$4 caps_file=$6 caps_array=$7 bin=${8:-}
	local -n want_open=$5
	local unit_in="$SEALVAULT_SOURCE_DIR/scripts/$unit.in"
	local unit_src="$SEALVAULT_BINARY_DIR/scripts/$unit"
	local made="$T/$unit" rc level open want code_caps key secbits b
	[[ -n $bin ]] || bin=$SEALVAULT_BINARY_DIR/bin/$prog
	[[ -f $unit_in ]] || fail "no unit template: $unit_in"
	[[ -f $unit_src ]] || fail "no unit file: $unit_src"
	[[ -f $caps_file ]] || fail "no $caps_file"
	[[ -x $bin ]] || fail "$prog not executable: $bin"

	# --- ExecStart: the template leaves the directory to the build, the
	# build fills in its install prefix's sbin, nothing else is left.
	grep -qxF "ExecStart=@CMAKE_INSTALL_FULL_SBINDIR@/$prog $args" "$unit_in" ||
		fail "ExecStart of $unit_in is not '@CMAKE_INSTALL_FULL_SBINDIR@/$prog $args'"
	grep -qxF "ExecStart=$SEALVAULT_SBINDIR/$prog $args" "$unit_src" ||
		fail "ExecStart of $unit is not '$SEALVAULT_SBINDIR/$prog $args'"
	if grep -n '@[A-Za-z_][A-Za-z0-9_]*@' "$unit_src" >&2; then
		fail "unsubstituted @VARIABLE@ in $unit_src"
	fi
	pass "$unit: ExecStart names $SEALVAULT_SBINDIR/$prog"

	# --- the unit, run from the build tree
	sed "s#^ExecStart=$SEALVAULT_SBINDIR/$prog #ExecStart=$bin #" "$unit_src" >"$made"
	grep -qxF "ExecStart=$bin $args" "$made" || fail "$unit: ExecStart not rewritten to $bin"

	# --- verify: any word about the unit is a failure (other units' noise is not ours)
	rc=0
	MANPATH="$T/man" LC_ALL=C SYSTEMD_COLORS=0 systemd-analyze verify --recursive-errors=one "$made" \
		>"$T/verify.out" 2>&1 </dev/null || rc=$?
	if ((rc != 0)) || grep -qF "$unit" "$T/verify.out"; then
		sed 's/^/    | /' "$T/verify.out" >&2
		fail "systemd-analyze verify $unit: status $rc or a message about the unit"
	fi
	pass "$unit: systemd-analyze verify: clean"

	# --- security
	LC_ALL=C SYSTEMD_COLORS=0 systemd-analyze security --offline=true "$made" \
		>"$T/security.out" 2>&1 </dev/null || {
		sed 's/^/    | /' "$T/security.out" >&2
		fail "systemd-analyze security $unit failed"
	}
	level=$(sed -n "s/^.*Overall exposure level for ${unit//./\\.}: \([0-9][0-9]*\.[0-9]\).*$/\1/p" \
		"$T/security.out")
	[[ -n $level ]] || {
		sed 's/^/    | /' "$T/security.out" >&2
		fail "$unit: no overall exposure level in the output"
	}
	# Compare in tenths: the tool prints one decimal.
	if ((${level/./} > ${max/./})); then
		grep '^- ' "$T/security.out" | sed 's/^/    | /' >&2
		fail "$unit: exposure $level is above $max"
	fi
	# LC_ALL=C: '+' passed, '-' open, ' ' does not apply.
	open=$(awk '$1 == "-" { print $2 }' "$T/security.out" | LC_ALL=C sort)
	want=$(printf '%s\n' "${want_open[@]}" | LC_ALL=C sort)
	[[ -n $open ]] || fail "$unit: no open items parsed: the output format changed?"
	if [[ $open != "$want" ]]; then
		diff <(echo "$want") <(echo "$open") | sed 's/^/    | /' >&2
		fail "$unit: open hardening items differ from the expected ones (< expected, > now)"
	fi
	pass "$unit: systemd-analyze security: exposure $level (at most $max), only the known items open"

	# --- capabilities: the unit and the program name the same ones
	unit_caps() {
		sed -n "s/^$1=//p" "$unit_src" | tr ' ' '\n' | grep -v '^$' | LC_ALL=C sort -u
	}
	code_caps=$(cap_list "$caps_file" "$caps_array")
	[[ -n $code_caps ]] || fail "no capabilities parsed from ${caps_array}[] in $caps_file"
	for key in CapabilityBoundingSet AmbientCapabilities; do
		if [[ $(unit_caps "$key") != "$code_caps" ]]; then
			diff <(echo "$code_caps") <(unit_caps "$key") | sed 's/^/    | /' >&2
			fail "$unit: $key= differs from ${caps_array}[] (< $(basename "$caps_file"), > unit)"
		fi
	done
	pass "$unit: CapabilityBoundingSet= and AmbientCapabilities= are ${caps_array}[]: $(tr '\n' ' ' <<<"$code_caps")"

	# privileges_drop() has no CAP_SETPCAP under the unit: the securebits it
	# wants must be set by systemd, and the bounding set must not hold CAP_SETPCAP.
	secbits=" $(sed -n 's/^SecureBits=//p' "$unit_src" | tr '\n' ' ') "
	for b in noroot noroot-locked no-setuid-fixup no-setuid-fixup-locked; do
		[[ $secbits == *" $b "* ]] || fail "$unit: SecureBits= lacks $b"
	done
	grep -qx 'NoNewPrivileges=yes' "$unit_src" || fail "$unit: NoNewPrivileges=yes missing"
	pass "$unit: SecureBits= and NoNewPrivileges= as privileges_drop() expects"
}

check_unit vaultd.service vaultd '--config /etc/sealvault/vault.conf --foreground' \
	"$VAULTD_MAX_EXPOSURE" VAULTD_OPEN "${VAULTD_PRIVILEGES_C:-$SEALVAULT_SOURCE_DIR/vaultd/privileges.c}" \
	vaultd_caps "${VAULTD:-}"
if grep -q '^PrivateNetwork=' "$SEALVAULT_BINARY_DIR/scripts/vaultd.service"; then
	fail "vaultd.service: PrivateNetwork= set: NETLINK_AUDIT needs the initial network namespace"
fi
pass "vaultd.service: no PrivateNetwork="

LISTEN_UNIT="$SEALVAULT_BINARY_DIR/scripts/vault-listen.service"
check_unit vault-listen.service vault-listen '--config /etc/sealvault/vault.conf' \
	"$LISTEN_MAX_EXPOSURE" LISTEN_OPEN "${VAULT_LISTEN_C:-$SEALVAULT_SOURCE_DIR/vaultd/listen.c}" \
	listener_caps "${VAULT_LISTEN:-}"
# What breaks every session although systemd-analyze scores it better
# (test_listen_unit.sh saw each one under a real manager).
for opt in RestrictSUIDSGID=yes LockPersonality=yes PrivateNetwork=yes PrivateUsers=yes; do
	if grep -qx "$opt" "$LISTEN_UNIT"; then
		case $opt in
		RestrictSUIDSGID=*) why="systemd 252 then answers openat2 with ENOSYS: vault-sftp opens nothing" ;;
		LockPersonality=*) why="it refuses personality(0xffffffff): vault-sftp cannot confine itself" ;;
		PrivateNetwork=*) why="it is the network listener" ;;
		*) why="sessions run as the host's tenant users" ;;
		esac
		fail "vault-listen.service: $opt: $why"
	fi
done
# Every process of the unit inherits its filter: the confinement calls of
# vault-sftp and the connection processes (sftp-subsystem/confine.c) must
# stay allowed, and its file calls must not be taken away.
filter=" $(sed -n 's/^SystemCallFilter=\([^~]\)/\1/p' "$LISTEN_UNIT" | tr '\n' ' ') "
for call in @system-service landlock_create_ruleset landlock_add_rule landlock_restrict_self seccomp; do
	[[ $filter == *" $call "* ]] || fail "vault-listen.service: SystemCallFilter= lacks $call (vault-sftp needs it)"
done
denied=" $(sed -n 's/^SystemCallFilter=~//p' "$LISTEN_UNIT" | tr '\n' ' ') "
for call in @file-system openat2 renameat2 getdents64 statx fsync @basic-io @io-event @network-io \
	@signal @setuid personality prctl; do
	[[ $denied != *" $call "* ]] || fail "vault-listen.service: SystemCallFilter=~ takes $call"
done
pass "vault-listen.service: SystemCallFilter= keeps vault-sftp's calls; no option known to break sessions"
