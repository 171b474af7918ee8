#!/usr/bin/env bash
# vaultd.service, as the build makes it from scripts/vaultd.service.in:
# ExecStart names vaultd in the install prefix; systemd-analyze verify
# finds nothing to say about it (its Documentation= pages included); its
# hardening (systemd-analyze security --offline=true) is no worse than the
# level reached, with only the known, explained items open; and its
# capabilities are exactly vaultd_caps[] of vaultd/privileges.c.
# PID 1 is not systemd here and in CI: only the offline modes are used.
# shellcheck source-path=SCRIPTDIR
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/lib.sh"

require_cmd systemd-analyze
it_init

# The exposure the unit reaches (see the comment at the top of the unit).
# A quality gate, not a timing: a change that raises it must either be
# undone or come with a reason there and a new value here.
MAX_EXPOSURE=2.1
# The items that stay open, each explained in the unit. Any other item
# failing is a regression, even one too small to move the rounded score.
EXPECTED_OPEN=(
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
	'RootDirectory=/RootImage='
	'SystemCallFilter=~@privileged'
	'User=/DynamicUser='
)

# The template, and the unit the build made from it (what cmake --install
# and the .deb install). Everything below checks the made one.
UNIT_IN=$SEALVAULT_SOURCE_DIR/scripts/vaultd.service.in
UNIT_SRC=${VAULTD_UNIT:-$SEALVAULT_BINARY_DIR/scripts/vaultd.service}
: "${SEALVAULT_SBINDIR:?SEALVAULT_SBINDIR must name CMAKE_INSTALL_FULL_SBINDIR of the build}"
PRIV_C=${VAULTD_PRIVILEGES_C:-$SEALVAULT_SOURCE_DIR/vaultd/privileges.c}
VAULTD=${VAULTD:-$SEALVAULT_BINARY_DIR/bin/vaultd}
[[ -f $UNIT_IN ]] || fail "no unit template: $UNIT_IN"
[[ -f $UNIT_SRC ]] || fail "no unit file: $UNIT_SRC"
[[ -f $PRIV_C ]] || fail "no privileges.c: $PRIV_C"
[[ -x $VAULTD ]] || fail "vaultd not executable: $VAULTD"

# --- ExecStart: the template leaves the directory to the build, the build
# fills in its install prefix's sbin, and nothing else is left to fill in.
grep -qxF 'ExecStart=@CMAKE_INSTALL_FULL_SBINDIR@/vaultd --config /etc/sealvault/vault.conf --foreground' "$UNIT_IN" ||
	fail "ExecStart of $UNIT_IN is not '@CMAKE_INSTALL_FULL_SBINDIR@/vaultd --config /etc/sealvault/vault.conf --foreground'"
grep -qxF "ExecStart=$SEALVAULT_SBINDIR/vaultd --config /etc/sealvault/vault.conf --foreground" "$UNIT_SRC" ||
	fail "ExecStart is not '$SEALVAULT_SBINDIR/vaultd --config /etc/sealvault/vault.conf --foreground'"
if grep -n '@[A-Za-z_][A-Za-z0-9_]*@' "$UNIT_SRC" >&2; then
	fail "unsubstituted @VARIABLE@ in $UNIT_SRC"
fi
pass "ExecStart names $SEALVAULT_SBINDIR/vaultd"

# --- the unit, run from the build tree
UNIT="$T/vaultd.service"
sed "s#^ExecStart=$SEALVAULT_SBINDIR/vaultd #ExecStart=$VAULTD #" "$UNIT_SRC" >"$UNIT"
grep -qxF "ExecStart=$VAULTD --config /etc/sealvault/vault.conf --foreground" "$UNIT" ||
	fail "ExecStart is not '$SEALVAULT_SBINDIR/vaultd --config /etc/sealvault/vault.conf --foreground'"

# verify runs man(1) for each Documentation=man:PAGE(N): give it the
# source tree's pages, and only those, as a man tree.
mkdir -p "$T/man/man5" "$T/man/man8"
for page in "$SEALVAULT_SOURCE_DIR"/*/*.[58]; do
	[[ -f $page ]] || continue
	ln -s "$page" "$T/man/man${page##*.}/$(basename "$page")"
done

# --- verify: any word about the unit is a failure (other units' noise is not ours)
rc=0
MANPATH="$T/man" LC_ALL=C SYSTEMD_COLORS=0 systemd-analyze verify --recursive-errors=one "$UNIT" \
	>"$T/verify.out" 2>&1 </dev/null || rc=$?
if ((rc != 0)) || grep -qF "vaultd.service" "$T/verify.out"; then
	sed 's/^/    | /' "$T/verify.out" >&2
	fail "systemd-analyze verify: status $rc or a message about the unit"
fi
pass "systemd-analyze verify: clean"

# --- security
LC_ALL=C SYSTEMD_COLORS=0 systemd-analyze security --offline=true "$UNIT" \
	>"$T/security.out" 2>&1 </dev/null || {
	sed 's/^/    | /' "$T/security.out" >&2
	fail "systemd-analyze security failed"
}
level=$(sed -n 's/^.*Overall exposure level for vaultd\.service: \([0-9][0-9]*\.[0-9]\).*$/\1/p' "$T/security.out")
[[ -n $level ]] || {
	sed 's/^/    | /' "$T/security.out" >&2
	fail "no overall exposure level in the output"
}
# Compare in tenths: the tool prints one decimal.
if ((${level/./} > ${MAX_EXPOSURE/./})); then
	grep '^- ' "$T/security.out" | sed 's/^/    | /' >&2
	fail "exposure $level is above $MAX_EXPOSURE"
fi
# LC_ALL=C: '+' passed, '-' open, ' ' does not apply.
open=$(awk '$1 == "-" { print $2 }' "$T/security.out" | LC_ALL=C sort)
want=$(printf '%s\n' "${EXPECTED_OPEN[@]}" | LC_ALL=C sort)
[[ -n $open ]] || fail "no open items parsed: the output format changed?"
if [[ $open != "$want" ]]; then
	diff <(echo "$want") <(echo "$open") | sed 's/^/    | /' >&2
	fail "open hardening items differ from the expected ones (< expected, > now)"
fi
pass "systemd-analyze security: exposure $level (at most $MAX_EXPOSURE), only the known items open"

# --- capabilities: the unit and privileges.c name the same six
unit_caps() {
	# unit_caps KEY: the capabilities of KEY= lines, one per line, sorted.
	sed -n "s/^$1=//p" "$UNIT_SRC" | tr ' ' '\n' | grep -v '^$' | LC_ALL=C sort -u
}
code_caps=$(sed -n '/^const cap_value_t vaultd_caps\[\] = {/,/^};/p' "$PRIV_C" |
	grep -oE '\bCAP_[A-Z_]+\b' | LC_ALL=C sort -u)
[[ -n $code_caps ]] || fail "no capabilities parsed from vaultd_caps[] in $PRIV_C"
for key in CapabilityBoundingSet AmbientCapabilities; do
	if [[ $(unit_caps "$key") != "$code_caps" ]]; then
		diff <(echo "$code_caps") <(unit_caps "$key") | sed 's/^/    | /' >&2
		fail "$key= of the unit differs from vaultd_caps[] (< privileges.c, > unit)"
	fi
done
pass "CapabilityBoundingSet= and AmbientCapabilities= are vaultd_caps[]: $(tr '\n' ' ' <<<"$code_caps")"

# privileges_drop() has no CAP_SETPCAP under this unit: the securebits it
# wants must be set by systemd, and the bounding set must not hold CAP_SETPCAP.
secbits=" $(sed -n 's/^SecureBits=//p' "$UNIT_SRC" | tr '\n' ' ') "
for b in noroot noroot-locked no-setuid-fixup no-setuid-fixup-locked; do
	[[ $secbits == *" $b "* ]] || fail "SecureBits= lacks $b"
done
grep -qx 'NoNewPrivileges=yes' "$UNIT_SRC" || fail "NoNewPrivileges=yes missing"
if grep -q '^PrivateNetwork=' "$UNIT_SRC"; then
	fail "PrivateNetwork= set: NETLINK_AUDIT needs the initial network namespace"
fi
pass "SecureBits= and NoNewPrivileges= as privileges_drop() expects; no PrivateNetwork="
