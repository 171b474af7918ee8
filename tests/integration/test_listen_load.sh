#!/usr/bin/env bash
# vault-listen under load and abuse: 50 concurrent OpenSSH sftp clients,
# each uploading a few files (all succeed, every file stored right and
# immutable, nothing wrong in the listener's log, the listener's own RSS
# bounded); a client that ignores the SSH window (paramiko, pushing 64 MiB
# past it) is cut off and the listener serves the next; and of two long
# uploads, killing one connection's process (SIGKILL) leaves the other to
# finish with the right content and publishes nothing for the killed one.
# shellcheck source-path=SCRIPTDIR disable=SC2119 # listen_start takes options, not the script's
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/lib.sh"
source "$here/broker-lib.sh"
source "$here/listen-lib.sh"

require_root
require_cmd sftp ssh ssh-keygen cmp timeout useradd userdel
it_init /srv
PY=/usr/bin/python3
"$PY" -c 'import paramiko' 2>/dev/null || fail "python3-paramiko is missing (SEALVAULT_TEST_DEPS)"
N=${LISTEN_LOAD_CLIENTS:-50}
RSS_MAX_KIB=16384
listen_init 1G "listen-max-connections 200
listen-max-per-address 200"
listen_tenant ll lt
U=$L_USER ROOT=$L_ROOT
listen_vaultd
listen_start

# ---------------------------------------------------------------- N clients at once
src="$T/src"
mkdir -p "$src"
for j in 1 2 3 4; do
	head -c $((j * 37000 + RANDOM)) /dev/urandom >"$src/f$j.bin"
done
head -c 3 /dev/urandom >"$src/tiny.bin"
chmod 0644 "$src"/*
rss_before=$(rss_kib "$L_PID")
pids=()
for ((c = 0; c < N; c++)); do
	{
		echo "mkdir /c$c"
		for f in f1 f2 f3 f4 tiny; do
			echo "put $src/$f.bin /c$c/$f.bin"
		done
		echo "ls -l /c$c"
	} >"$T/c$c.batch"
	l_sftp "$U" "$T/c$c.batch" "$T/c$c.out" &
	pids+=("$!")
done
failed=0
for ((c = 0; c < N; c++)); do
	rc=0
	wait "${pids[c]}" || rc=$?
	if [[ $rc -ne 0 ]]; then
		failed=$((failed + 1))
		log "client $c exited $rc:"
		sed 's/^/    | /' "$T/c$c.out" >&2
	fi
done
[[ $failed -eq 0 ]] || fail "$failed of $N concurrent sftp clients failed"
bad=0
for ((c = 0; c < N; c++)); do
	for f in f1 f2 f3 f4 tiny; do
		if ! cmp -s "$src/$f.bin" "$ROOT/c$c/$f.bin"; then
			log "c$c/$f.bin stored wrong or missing"
			bad=$((bad + 1))
		elif ! immutable "$ROOT/c$c/$f.bin"; then
			log "c$c/$f.bin is not immutable"
			bad=$((bad + 1))
		fi
	done
done
[[ $bad -eq 0 ]] || fail "$bad of $((N * 5)) uploaded files wrong or not immutable"
[[ -z $(find "$ROOT" -name '.sealvault.part.*' | head -1) ]] || fail "partial uploads left behind"
expect_no_grep "$L_LOG" '[Ee]rror|fail|refus|denied|too many|ignores|segfault|Assertion|Sanitizer|WARNING' \
	"listener log after $N concurrent clients"
rss_after=$(rss_kib "$L_PID")
log "listener RSS: ${rss_before} KiB before, ${rss_after} KiB after $N concurrent clients"
[[ $rss_before -lt $RSS_MAX_KIB && $rss_after -lt $RSS_MAX_KIB ]] ||
	fail "listener RSS ${rss_before}/${rss_after} KiB, expected under $RSS_MAX_KIB KiB"
pass "$N concurrent sftp clients: $((N * 5)) files stored, all immutable; listener RSS $rss_before -> $rss_after KiB"

# ---------------------------------------------------------------- a client that ignores the window
# Several times: how far a flood gets before the cut-off varies from run
# to run, and each run must end the same way.
for k in 1 2 3 4 5 6; do
	l_mark
	rc=0
	timeout 150 "$PY" "$here/listen-window-client.py" --port "$L_PORT" --user "$U" --key "$L_KEY" --mib 64 \
		>"$T/window.out" 2>&1 || rc=$?
	sed 's/^/    | /' "$T/window.out"
	[[ $rc -ne 2 ]] || fail "window client $k: could not log in and open the sftp subsystem"
	[[ $rc -eq 0 ]] || {
		l_since | tail -20 | sed 's/^/    log: /' >&2
		fail "window client $k: a client ignoring the SSH window was not disconnected (status $rc)"
	}
	wait_until 10 "window client $k: the listener reaps the connection" \
		bash -c "tail -c +$((L_MARK + 1)) '$L_LOG' | grep -q 'ignores the SSH window\\|killed by signal'"
	if l_since | grep -q 'killed by signal'; then
		l_since | sed 's/^/    log: /' >&2
		fail "window client $k: the connection process crashed instead of cutting the client off"
	fi
	wait_until 10 "log: ignores the SSH window (window client $k)" bash -c \
		"tail -c +$((L_MARK + 1)) '$L_LOG' | grep -q 'ignores the SSH window'"
done
kill -0 "$L_PID" 2>/dev/null || fail "the listener died"
rss_now=$(rss_kib "$L_PID")
[[ $rss_now -lt $RSS_MAX_KIB ]] || fail "listener RSS $rss_now KiB after the window clients"
printf 'ls /\n' >"$T/ls.batch"
l_sftp "$U" "$T/ls.batch" "$T/after-window.out" || {
	sed 's/^/    | /' "$T/after-window.out" >&2
	fail "the listener does not serve a new client after the window clients"
}
pass "6 clients ignoring the SSH window were cut off and logged; the listener serves on"

# ---------------------------------------------------------------- killing one connection
# Two uploads at 2 MB/s (sftp -l, Kbit/s) of 24 MB each: about 12 s.
head -c 24000000 /dev/urandom >"$T/big-a.bin"
head -c 24000000 /dev/urandom >"$T/big-b.bin"
printf 'put %s /big-a.bin\n' "$T/big-a.bin" >"$T/a.batch"
printf 'put %s /big-b.bin\n' "$T/big-b.bin" >"$T/b.batch"
sessions_before=$(listen_children | wc -l)
l_sftp "$U" "$T/a.batch" "$T/a.out" -l 16000 &
apid=$!
l_sftp "$U" "$T/b.batch" "$T/b.out" -l 16000 &
bpid=$!
# Both under way: two partial uploads growing in the root.
parts_growing() {
	local n
	n=$(find "$ROOT" -maxdepth 1 -name '.sealvault.part.*' -size +1000k | wc -l)
	[[ $n -ge 2 ]]
}
wait_until 30 "both uploads under way" parts_growing
# descendants PID: PID and every process below it.
descendants() {
	local p
	echo "$1"
	for p in $(listen_children "$1"); do
		descendants "$p"
	done
}
# conn_of PID: the listener's process serving the ssh connection that some
# process below PID (the shell running timeout, sftp, ssh) has open.
conn_of() {
	local p c
	for p in $(descendants "$1"); do
		c=$(conn_child_of "$p")
		[[ -n $c ]] && {
			echo "$c"
			return 0
		}
	done
	return 0
}
victim=""
for ((i = 0; i < 50; i++)); do
	victim=$(conn_of "$bpid")
	[[ -n $victim ]] && break
	sleep 0.1
done
[[ -n $victim ]] || fail "cannot find the listener's process for upload b's connection"
other=$(conn_of "$apid")
[[ -n $other && $other != "$victim" ]] || fail "cannot tell the two connections' processes apart ('$other', '$victim')"
log "listener $L_PID: killing connection process $victim (upload b); upload a is served by $other"
kill -KILL "$victim"
rc_a=0 rc_b=0
wait "$apid" || rc_a=$?
wait "$bpid" || rc_b=$?
[[ $rc_a -eq 0 ]] || {
	sed 's/^/    | /' "$T/a.out" >&2
	fail "upload a failed (status $rc_a) after another connection's process was killed"
}
cmp -s "$T/big-a.bin" "$ROOT/big-a.bin" || fail "upload a stored wrong"
immutable "$ROOT/big-a.bin" || fail "upload a is not immutable"
[[ $rc_b -ne 0 ]] || fail "upload b succeeded although its connection's process was killed"
[[ ! -e $ROOT/big-b.bin ]] || fail "the killed upload b was published ($(stat -c %s "$ROOT/big-b.bin") bytes)"
kill -0 "$L_PID" 2>/dev/null || fail "the listener died with its connection's process"
# The killed connection's session (vault-sftp) ends too: no process of it stays.
leftover() {
	local n
	n=$(listen_children | wc -l)
	[[ $n -le $sessions_before ]]
}
wait_until 20 "the killed connection's processes gone" leftover
l_sftp "$U" "$T/ls.batch" "$T/after-kill.out" || fail "the listener does not serve after the kill"
pass "killing one connection's process: the other upload finished intact, the killed one not published"

expect_no_grep "$L_LOG" 'segfault|Assertion|AddressSanitizer|runtime error' "listener log"
# The one SIGKILL above is ours; any other signal is a crash.
expect_no_grep "$L_LOG" 'killed by signal ([0-8]|[1-9][0-9])$' "listener log: a crashed process"
pass "vault-listen under load"
