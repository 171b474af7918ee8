#!/usr/bin/env bash
# Nothing is missed across a crash: vaultd is killed (SIGKILL) while a
# local writer of the tenant is putting 10,000 files into the vault; the
# writer finishes with no vaultd, so thousands stay unsealed; a restarted
# vaultd (past the stale sockets the kill left) seals all of them in its
# catch-up scan. A file still being written during the scan is deferred
# (settle), never sealed under its writer, and sealed once it stops
# changing, with no close event to help. The scan leaves temp, mutable and
# reserved files alone and does not follow symlinks out.
# WATCHER_MODE=fanotify (default) or inotify.
# shellcheck source-path=SCRIPTDIR disable=SC2016,SC2119 # the sh -c scripts take their paths as "$1"
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/lib.sh"
source "$here/watch-lib.sh"

require_root
it_init
watch_init

start_vaultd "$T/vaultd1.log"
wait_vaultd_line "$T/vaultd1.log" '^vaultd: catch-up scan done' 30
expect_watcher_fds
first_pid=$VAULTD_PID

# --- 10,000 files; vaultd is killed once 2,000 are written (the writer goes
# on to 3,000, then waits for the kill to be done)
tsh 'mkdir "$1"' "$V/r" || fail "mkdir r"
tpy_bg "$T/writer.out" bulk "$V/r" 100 100 --signal-at 2000 "$CTL/at2000" --wait-at 3000 "$CTL/go"
writer=$TPY_PID
wait_until 60 "the writer to reach 2,000 files" test -e "$CTL/at2000"
kill -KILL "$first_pid"
wait "$first_pid" 2>/dev/null || true
touch "$CTL/go"
wait "$writer" || {
	cat "$T/writer.out" >&2
	fail "the tenant's writer failed after vaultd was killed (a directory left half-protected?)"
}
[[ $(cat "$T/writer.out") == 10000 ]] || fail "the writer wrote $(cat "$T/writer.out") files"
before=$(count_immutable "$V/r")
log "$before of 10000 sealed when vaultd was killed"
((before < 10000)) || fail "all 10,000 files sealed before the kill: the restart proves nothing (kill earlier)"
[[ -S $SOCK ]] || fail "no stale broker socket after SIGKILL (the restart below is meant to meet one)"
pass "vaultd killed after 2,000 of 10,000 files: $((10000 - before)) left unsealed, stale socket left"

# Setup, not a check: age the unsealed files past settle (1 s), so that the
# scan must seal them itself rather than defer them.
sleep 2

# --- what the scan must leave alone, and fresh files (changed within settle of the scan)
tsh 'set -e; d=$1; o=$2; mkdir -p "$d/locks" "$o/tdir"
	printf t >"$d/keep.tmp"; printf l >"$d/locks/l1"; printf r >"$d/.sealvault.part.z"; printf v >"$d/s.ver"
	printf p >"$d/plain.dat"; printf o >"$o/target.dat"; printf o >"$o/tdir/inside.dat"
	ln -s "$o/target.dat" "$d/link-out"; ln -s "$o/tdir" "$d/dirlink"' "$V/k" "$OUT" ||
	fail "the tenant cannot write k"
tsh 'set -e; mkdir "$1"; printf 1 >"$1/c1.dat"; printf 2 >"$1/c2.dat"' "$V/fresh" || fail "mkdir fresh"
tpy_bg "$T/held.out" held "$V/fresh/held.dat" "$CTL"
held=$TPY_PID
wait_until 10 "the held writer to start" test -e "$CTL/started"

# --- the restart
VLOG=$T/vaultd2.log
start_vaultd "$VLOG"
expect_watcher_fds
wait_vaultd_line "$VLOG" '^vaultd: catch-up scan done' 60
line=$(grep -m 1 -E '^vaultd: catch-up scan done' "$VLOG")
re='([0-9]+) files checked, ([0-9]+) sealed, ([0-9]+) deferred, ([0-9]+) failed'
[[ $line =~ $re ]] || fail "unexpected scan report: $line"
checked=${BASH_REMATCH[1]} sealed=${BASH_REMATCH[2]} deferred=${BASH_REMATCH[3]} failed=${BASH_REMATCH[4]}
log "$line"
((checked >= 10000)) || fail "the scan checked $checked files, the vault holds more than 10,000"
((sealed >= 10000 - before)) || fail "the scan sealed $sealed files, $((10000 - before)) were left unsealed by the kill"
((failed == 0)) || fail "the scan failed on $failed files"
((deferred >= 1)) || fail "the scan deferred nothing, but held.dat was being written all along"
expect_not_sealed "$V/fresh/held.dat"
pass "restarted past the stale socket; scan: $checked checked, $sealed sealed, $deferred deferred"

# the held file: once it stops changing, the scan's second look seals it, still open, no close event
touch "$CTL/stop"
wait_until 30 "held.dat, open but no longer written, to be sealed" is_sealed "$V/fresh/held.dat"
touch "$CTL/close"
wait "$held" || {
	cat "$T/held.out" >&2
	fail "a write of held.dat was refused while it was still being written"
}
expect_grep "$T/held.out" 'late write errno 1 \(EPERM\)' "a write after the seal"
pass "a file written during the scan was deferred, never sealed under its writer, sealed after settle"

wait_sealed "$V/r" 10000 60 "the 10,000 after the restart"
wait_sealed "$V/fresh" 3 30 "fresh files"
expect_sealed "$V/k/plain.dat" "$V/k/s.ver"
expect_not_sealed "$V/k/keep.tmp" "$V/k/locks/l1" "$V/k/.sealvault.part.z"
[[ $(fstate "$V/k/link-out") == l && $(fstate "$V/k/dirlink") == l ]] || fail "a symlink in the tree changed"
[[ $(count_immutable "$MNT" --exclude "$V") == 0 ]] || fail "a file outside the tenant root was sealed"
pass "all 10,000 sealed after the restart (and a .ver); temp, locks, reserved and symlink targets left alone"

# --- the restarted vaultd serves: the watcher sees new files, the broker accepts connections
tsh 'printf a >"$1"' "$V/after.dat" || fail "the tenant cannot write after the restart"
wait_until 30 "a new file to be sealed after the restart" is_sealed "$V/after.dat"
"$SYS_PY" -c 'import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])' "$SOCK" || fail "the restarted vaultd's broker socket refuses connections"
wait_sealed "$V" $((10000 + 3 + 2 + 1)) 30 "everything"
kill -TERM "$VAULTD_PID"
rc=0
wait "$VAULTD_PID" || rc=$?
[[ $rc == 0 ]] || fail "vaultd exited $rc on SIGTERM"
pass "after the restart: new files sealed by the watcher, broker serving; clean stop"
