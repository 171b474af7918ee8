#!/usr/bin/env bash
# A file the tenant keeps "fresh" (its ctime touched every half second,
# never closed after a write, so no watcher event) is deferred by the
# catch-up scan only a bounded number of times (DEFER_TIMES_MAX in
# vaultd/scan.c), then sealed anyway: a tenant cannot keep a file out of
# the scan's reach forever (a review finding).
# shellcheck source-path=SCRIPTDIR
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/lib.sh"
source "$here/watch-lib.sh"

require_root
require_cmd setpriv chmod
it_init
watch_init

tsh 'echo fresh >"$1"' "$V/fresh.bin"
# The tenant's toucher: a chmod every half second until it is refused
# (the file got sealed) or 90 s pass.
as_tenant /bin/sh -c 'i=0; while [ $i -lt 180 ]; do chmod 0644 "$1" 2>/dev/null || exit 0; sleep 0.5; i=$((i + 1)); done; exit 1' \
	sh "$V/fresh.bin" &
toucher=$!
on_exit stop_pid "$toucher"
sleep 1	# setup: the file is fresh when the scan sees it
start_vaultd "$T/vaultd.log"
wait_vaultd_line "$T/vaultd.log" 'catch-up scan done: 1 files checked, 0 sealed, 1 deferred' 30
# settle is 1 s: a deferral is looked at again about every 2 s, at most 12 times.
wait_until 60 "the fresh file sealed despite its toucher" is_sealed "$V/fresh.bin"
rc=0
wait "$toucher" || rc=$?
((rc == 0)) || fail "the toucher was never refused (status $rc)"
pass "a file kept fresh was deferred a bounded number of times, then sealed"
