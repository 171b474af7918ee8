#!/usr/bin/env bash
# The running daemon holds what vaultd/README.md ("Privileges") promises:
# once ready, vaultd started as root has exactly CAP_LINUX_IMMUTABLE,
# CAP_SYS_ADMIN, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_CHOWN and
# CAP_AUDIT_WRITE permitted, effective and in its bounding set, nothing
# inheritable or ambient, no-new-privs set, still uid 0; and it stops
# cleanly (status 0) on SIGTERM.
# shellcheck source-path=SCRIPTDIR
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/lib.sh"

require_root
it_init

VAULTD=${VAULTD:-$SEALVAULT_BINARY_DIR/bin/vaultd}
[[ -x $VAULTD ]] || fail "vaultd not executable: $VAULTD"

# The spec's list; bit numbers from the kernel header, not written out here.
CAPS=(CAP_LINUX_IMMUTABLE CAP_SYS_ADMIN CAP_DAC_READ_SEARCH CAP_FOWNER CAP_CHOWN CAP_AUDIT_WRITE)
CAP_H=/usr/include/linux/capability.h
[[ -r $CAP_H ]] || fail "no $CAP_H (linux-libc-dev)"
mask=0
for c in "${CAPS[@]}"; do
	bit=$(awk -v n="$c" '$1 == "#define" && $2 == n { print $3 }' "$CAP_H")
	[[ $bit =~ ^[0-9]+$ ]] || fail "no bit number for $c in $CAP_H"
	mask=$((mask | (1 << bit)))
done
WANT=$(printf '%016x' "$mask")
log "expected capability mask $WANT"

V="$T/vault"
mkdir -p "$V"
SOCK="$T/broker.sock"
CONF="$T/vault.conf"
cat >"$CONF" <<CONF
broker-socket $SOCK
state-dir $T/state
control-socket $T/control.sock
journal-socket $T/no-journal.sock
watcher off
tenant t1 {
	user root
	root $V
	profile generic
}
CONF
chmod 0644 "$CONF"

"$VAULTD" --config "$CONF" --no-scan </dev/null >"$T/vaultd.log" 2>&1 &
vpid=$!
on_exit stop_pid "$vpid"

# exited PID: gone, or a zombie not yet reaped
exited() {
	local st
	[[ -r /proc/$1/stat ]] || return 0
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 0
	[[ -z $st || $st == Z ]]
}

# Ready is after the drop (README "Start-up": 4. drop, 5. "vaultd: ready:");
# the socket alone exists from step 3 on, before the drop.
ready=0
for ((i = 0; i < 100; i++)); do
	if [[ -S $SOCK ]] && grep -q '^vaultd: ready:' "$T/vaultd.log"; then
		ready=1
		break
	fi
	exited "$vpid" && break
	sleep 0.1
done
if ((!ready)); then
	sed 's/^/    | /' "$T/vaultd.log" >&2
	exited "$vpid" && fail "vaultd exited before it was ready"
	fail "vaultd not ready after 10 s (broker socket and 'vaultd: ready:' line)"
fi
pass "vaultd ready (pid $vpid)"

status="$T/status"
cp "/proc/$vpid/status" "$status" || fail "cannot read /proc/$vpid/status"
field() { awk -v k="$1:" '$1 == k { print $2 }' "$status"; }
for k in CapPrm CapEff CapBnd; do
	[[ $(field "$k") == "$WANT" ]] || {
		grep -E '^(Cap|NoNewPrivs)' "$status" | sed 's/^/    | /' >&2
		fail "$k is $(field "$k"), want $WANT"
	}
done
for k in CapInh CapAmb; do
	[[ $(field "$k") == 0000000000000000 ]] || fail "$k is $(field "$k"), want 0"
done
[[ $(field NoNewPrivs) == 1 ]] || fail "NoNewPrivs is $(field NoNewPrivs), want 1"
read -r _ ruid euid suid fsuid < <(grep '^Uid:' "$status")
[[ "$ruid $euid $suid $fsuid" == "0 0 0 0" ]] || fail "uids are $ruid $euid $suid $fsuid, want 0 (vaultd keeps uid 0)"
pass "CapPrm=CapEff=CapBnd=$WANT, CapInh=CapAmb=0, NoNewPrivs=1, uid 0"

# --- SIGTERM: a clean stop with status 0
kill -TERM "$vpid"
for ((i = 0; i < 100; i++)); do
	exited "$vpid" && break
	sleep 0.1
done
exited "$vpid" || fail "vaultd still running 10 s after SIGTERM"
rc=0
wait "$vpid" || rc=$?
if ((rc != 0)); then
	sed 's/^/    | /' "$T/vaultd.log" >&2
	fail "vaultd exited with status $rc after SIGTERM"
fi
pass "SIGTERM: vaultd exited 0"
