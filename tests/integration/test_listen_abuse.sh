#!/usr/bin/env bash
# vault-listen against clients that abuse it (listen-abuse-client.py), the
# regressions of an adversarial review:
#   1. auth "none" requests back to back before login, never reading a
#      reply: cut off as authentication failures, the process stays small;
#   2. keepalive@openssh.com requests with want-reply after login, never
#      reading: the process stays small and listen-idle-timeout ends it;
#   3. a download whose client stops reading: ended by the idle timeout
#      (the process must not hang in send());
#   4. READs, EOF, and a full client window: no busy loop (CPU time);
#   5. CLOSE, EOF and CHANNEL_CLOSE right after 3.5 MiB of WRITEs while
#      vault-sftp is busy: the file is published complete;
#   6. 10 sessions closed and 10 opened at once, on one connection: all open;
#   7. a key removed from the tenant, then SIGHUP: its open session ends
#      and it logs in no more;
#   8. listen-login-grace 0 is refused by --check.
# LISTEN_ABUSE_CHECKS="3 5" runs only those (debugging; each stands alone).
# shellcheck source-path=SCRIPTDIR disable=SC2119 # listen_start takes options, not the script's
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/lib.sh"
source "$here/broker-lib.sh"
source "$here/listen-lib.sh"

require_root
require_cmd sftp ssh ssh-keygen cmp timeout useradd userdel getconf
it_init /srv
PY=/usr/bin/python3
"$PY" -c 'import paramiko' 2>/dev/null || fail "python3-paramiko is missing (SEALVAULT_TEST_DEPS)"
CLIENT="$here/listen-abuse-client.py"
HZ=$(getconf CLK_TCK)
LISTEN_UID=$(id -u nobody)
# A login grace longer than any watch below: only the fix may end check 1.
listen_init 256M "listen-idle-timeout 5s
listen-login-grace 60s"
listen_tenant la lt
U=$L_USER ROOT=$L_ROOT
truncate -s 32M "$ROOT/big.bin"
chmod 0644 "$ROOT/big.bin"
listen_vaultd
listen_start

# ---------------------------------------------------------------- helpers

# client NAME ARGS...: the client in the background (C_PID), output in $T/NAME.out.
client() {
	local name=$1
	shift
	C_OUT="$T/$name.out"
	C_GO="$T/$name.go"
	"$PY" "$CLIENT" "$@" --port "$L_PORT" --user "$U" --key "$L_KEY" --go "$C_GO" >"$C_OUT" 2>&1 &
	C_PID=$!
	on_exit stop_pid "$C_PID"
}

# client_ready WHAT: the client says "ready"; sets CONN, the listener's
# process (running as the listen-user) for the client's connection.
client_ready() {
	local what=$1 i
	for ((i = 0; i < 300; i++)); do
		grep -q '^ready' "$C_OUT" && break
		kill -0 "$C_PID" 2>/dev/null || {
			sed 's/^/    | /' "$C_OUT" >&2
			fail "$what: the client ended before the abuse began"
		}
		sleep 0.1
	done
	grep -q '^ready' "$C_OUT" || fail "$what: the client is not ready after 30 s"
	CONN=""
	for ((i = 0; i < 50 && ${#CONN} == 0; i++)); do
		CONN=$(conn_child_of "$C_PID")
		[[ -n $CONN ]] || sleep 0.1
	done
	[[ -n $CONN ]] || fail "$what: cannot find the listener's process for the client's connection"
	[[ $(awk '/^Uid:/ { print $2 }' "/proc/$CONN/status") == "$LISTEN_UID" ]] ||
		fail "$what: process $CONN does not run as the listen-user"
}

# cpu_ticks STAT_LINE: utime + stime of a /proc/PID/stat line.
cpu_ticks() {
	local f
	read -r -a f <<<"${1##*) }"
	echo $((f[11] + f[12]))
}

# watch_conn PID SECS: samples PID every 0.5 s until it ends (or is a
# zombie) or SECS pass. Sets W_GONE (1: it ended), W_RSS_MAX (KiB) and
# W_CPU (clock ticks it used while watched).
watch_conn() {
	local pid=$1 secs=$2 i line rss cpu cpu0=""
	W_GONE=0 W_RSS_MAX=0 W_CPU=0
	for ((i = 0; i <= secs * 2; i++)); do
		line=$(cat "/proc/$pid/stat" 2>/dev/null) || line=""
		rss=$(rss_kib "$pid" 2>/dev/null) || rss=""
		if [[ -z $line || -z $rss || ${line##*) } == Z* ]]; then
			W_GONE=1
			return 0
		fi
		cpu=$(cpu_ticks "$line")
		cpu0=${cpu0:-$cpu}
		W_CPU=$((cpu - cpu0))
		((rss <= W_RSS_MAX)) || W_RSS_MAX=$rss
		sleep 0.5
	done
}

# logged REGEX: a line matching REGEX was logged since l_mark (waits up to 10 s).
logged() {
	local i
	for ((i = 0; i < 100; i++)); do
		l_since | grep -Eq -- "$1" && return 0
		sleep 0.1
	done
	l_since | tail -20 | sed 's/^/    log: /' >&2
	return 1
}

# ---------------------------------------------------------------- the checks

# 1. The client floods auth "none" and never reads. Only the first "none"
# is free (every client asks it once); the others count as failures.
check_flood_none() {
	local rss0 grew
	l_mark
	client none flood-none
	client_ready "auth none flood"
	rss0=$(rss_kib "$CONN")
	touch "$C_GO"
	watch_conn "$CONN" 20
	grew=$((W_RSS_MAX > rss0 ? W_RSS_MAX - rss0 : 0))
	sed -n '/^ready$/!p' "$C_OUT" | tail -1 | sed 's/^/    client: /'
	stop_pid "$C_PID"
	log "auth none flood: RSS $rss0 KiB, at most $W_RSS_MAX KiB; ended: $W_GONE"
	((grew < 16384)) || fail "auth none flood: the connection process grew by $grew KiB"
	[[ $W_GONE == 1 ]] || fail "auth none flood: the connection was still open after 20 s"
	logged 'too many authentication failures' || fail "auth none flood: not cut off as authentication failures"
	pass "auth none flood: cut off (too many authentication failures), RSS grew $grew KiB"
}

# 2. After login, keepalives with want-reply, never reading: nothing more is
# read while the replies cannot go out, and without traffic the idle
# timeout (5 s) ends the connection.
check_flood_keepalive() {
	local rss0 grew
	l_mark
	client keepalive flood-keepalive
	client_ready "keepalive flood"
	rss0=$(rss_kib "$CONN")
	touch "$C_GO"
	watch_conn "$CONN" 30
	grew=$((W_RSS_MAX > rss0 ? W_RSS_MAX - rss0 : 0))
	tail -1 "$C_OUT" | sed 's/^/    client: /'
	stop_pid "$C_PID"
	log "keepalive flood: RSS $rss0 KiB, at most $W_RSS_MAX KiB; ended: $W_GONE"
	((grew < 32768)) || fail "keepalive flood: the connection process grew by $grew KiB"
	[[ $W_GONE == 1 ]] || fail "keepalive flood: the connection was still open after 30 s (idle timeout 5 s)"
	logged 'disconnected: idle' || fail "keepalive flood: no idle timeout logged"
	pass "keepalive flood: RSS grew $grew KiB, ended by the idle timeout"
}

# 3. A download whose client reads slowly for 3 s, then not at all: each
# time the socket takes more, libssh has more queued than fits, and a
# blocking send() would wait for the client forever. The process must end
# at the idle timeout instead.
check_stop_reading() {
	l_mark
	client stopread stop-reading --path /big.bin --mib 32
	client_ready "stalled download"
	touch "$C_GO"
	watch_conn "$CONN" 30
	tail -1 "$C_OUT" | sed 's/^/    client: /'
	stop_pid "$C_PID"
	[[ $W_GONE == 1 ]] || fail "stalled download: the connection was still open after 30 s (idle timeout 5 s)"
	logged 'disconnected: idle' || fail "stalled download: no idle timeout logged"
	pass "a client that stops reading a download is cut off by the idle timeout"
}

# 4. 8 READs of 32 KiB and EOF into a 64 KiB window the client never opens
# again: vault-sftp answers all, and exits, while most of its output waits
# for the window. Waiting must not spin: CPU time over 4 s stays small.
check_spin() {
	local i
	l_mark
	client spin spin --path /big.bin --reads 8
	client_ready "full window after EOF"
	touch "$C_GO"
	for ((i = 0; i < 100; i++)); do
		grep -q '^sent' "$C_OUT" && break
		kill -0 "$C_PID" 2>/dev/null || break
		sleep 0.1
	done
	grep -q '^sent' "$C_OUT" || fail "full window after EOF: the client did not send its requests"
	# Nothing but the client's window holds the rest of the output now.
	sleep 1	# vault-sftp answers and exits; a hung-up socket it leaves must not wake the loop
	watch_conn "$CONN" 4
	stop_pid "$C_PID"
	log "full window after EOF: $W_CPU ticks of CPU ($HZ per second) in about 4 s; ended: $W_GONE"
	((W_CPU < HZ)) || fail "full window after EOF: the connection process used $W_CPU ticks of CPU in 4 s (busy loop)"
	pass "full window after EOF: no busy loop ($W_CPU ticks in 4 s)"
}

# 5. CLOSE, EOF and CHANNEL_CLOSE right after the last WRITE, while
# vault-sftp is busy (stopped for a second, so that most of the upload
# still waits in the listener when the channel closes): everything the
# client sent before it closed reaches vault-sftp, and the upload is
# published whole, not left as a partial upload.
check_close_early() {
	local i w rc=0
	head -c $((7 * 524288 + 12345)) /dev/urandom >"$T/early.bin"
	l_mark
	client early close-early --src "$T/early.bin" --name /early.bin
	client_ready "close early"
	w=""
	for i in $(listen_children "$L_PID"); do
		[[ $(cat "/proc/$i/comm" 2>/dev/null) == vault-sftp &&
			$(awk '/^Uid:/ { print $2 }' "/proc/$i/status") == "$(id -u "$U")" ]] && w="$w $i"
	done
	w=${w# }
	[[ -n $w && $w != *" "* ]] || fail "close early: expected one vault-sftp session, found '$w'"
	kill -STOP "$w"
	on_exit kill -CONT "$w"
	touch "$C_GO"
	for ((i = 0; i < 300; i++)); do
		grep -q '^sent' "$C_OUT" && break
		kill -0 "$C_PID" 2>/dev/null || break
		sleep 0.1
	done
	sleep 1	# the listener takes the burst and the CHANNEL_CLOSE meanwhile
	kill -CONT "$w"
	wait "$C_PID" || rc=$?
	sed 's/^/    client: /' "$C_OUT"
	grep -q '^sent' "$C_OUT" || fail "close early: the client could not send its upload"
	[[ $rc -eq 0 && -f $ROOT/early.bin ]] || {
		find "$ROOT" -maxdepth 1 -name '.sealvault.part.*' -printf '    left: %f, %s bytes\n' >&2
		l_since | sed 's/^/    log: /' >&2
		fail "close early: the upload was not published (status $rc)"
	}
	cmp -s "$T/early.bin" "$ROOT/early.bin" ||
		fail "close early: published with $(stat -c %s "$ROOT/early.bin") of $(stat -c %s "$T/early.bin") bytes, or wrong"
	wait_until 10 "close early: the upload sealed" immutable "$ROOT/early.bin"
	[[ -z $(partial_files "$ROOT") ]] || fail "close early: partial uploads left: $(partial_files "$ROOT")"
	pass "close early: 3.5 MiB, then CLOSE, EOF and CHANNEL_CLOSE at once: published complete and sealed"
}

# 6. Closed sessions do not count against the 10 at once: with 10 open,
# the client closes all and opens 10 new ones in one write, so that the
# listener sees the opens before it has freed the closed ones.
check_churn() {
	local rc=0
	l_mark
	timeout 120 "$PY" "$CLIENT" churn --rounds 3 --port "$L_PORT" --user "$U" --key "$L_KEY" \
		>"$T/churn.out" 2>&1 || rc=$?
	sed 's/^/    client: /' "$T/churn.out"
	[[ $rc -eq 0 ]] || fail "churn: sessions refused after 10 were closed (status $rc)"
	if l_since | grep -Eq 'refused a channel|sessions at once already'; then
		l_since | grep -E 'refused a channel|sessions at once already' | sed 's/^/    log: /' >&2
		fail "churn: the listener logged a refusal"
	fi
	pass "churn: 10 sessions closed and 10 reopened at once, 3 times: none refused"
}

# 7. A key removed from the tenant's authorized-keys file, then SIGHUP:
# the session it opened ends, and it logs in no more.
check_revoke() {
	local i rc=0
	printf 'ls /\n' >"$T/ls.batch"
	l_mark
	client hold hold --seconds 60
	client_ready "revoked key"
	: >"$T/keys/$U"
	kill -HUP "$L_PID"
	for ((i = 0; i < 300; i++)); do
		kill -0 "$C_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$C_PID" 2>/dev/null && fail "revoked key: its session is still served 30 s after the reload"
	wait "$C_PID" || rc=$?
	sed 's/^/    client: /' "$C_OUT"
	[[ $rc -eq 0 ]] || fail "revoked key: the session client exited $rc"
	logged 'key no longer authorized after the reload' || fail "revoked key: not logged"
	rc=0
	l_sftp "$U" "$T/ls.batch" "$T/revoked.out" || rc=$?
	[[ $rc -ne 0 ]] || fail "revoked key: a new login still works"
	expect_grep "$T/revoked.out" 'Permission denied' "revoked key: a new login"
	# Back again: the key logs in after the next reload.
	install -m 0644 -o root -g root "$L_KEY.pub" "$T/keys/$U"
	l_mark
	kill -HUP "$L_PID"
	logged 'reloaded' || fail "the listener did not reload"
	l_sftp "$U" "$T/ls.batch" "$T/restored.out" || fail "the key, authorized again, cannot log in"
	pass "revoked key: its session ended at the reload, new logins refused"
}

# 8. listen-login-grace 0 would let a key exchange wait forever.
check_grace_zero() {
	local conf=$L_CONF globals=$L_GLOBALS rc=0
	L_CONF="$T/etc/grace0.conf" L_GLOBALS="listen-login-grace 0"
	listen_conf
	L_CONF=$conf L_GLOBALS=$globals
	"$LISTEN_BIN" --config "$T/etc/grace0.conf" --vault-sftp "$T/bin/vault-sftp" \
		--listen "127.0.0.1:$(free_port)" --check >"$T/grace0.out" 2>&1 || rc=$?
	[[ $rc -ne 0 ]] || fail "--check accepted listen-login-grace 0"
	expect_grep "$T/grace0.out" 'must be more than 0' "--check with listen-login-grace 0"
	"$LISTEN_BIN" --config "$L_CONF" --vault-sftp "$T/bin/vault-sftp" \
		--listen "127.0.0.1:$(free_port)" --check >"$T/check.out" 2>&1 || {
		sed 's/^/    | /' "$T/check.out" >&2
		fail "--check refused the test's own configuration"
	}
	pass "--check refuses listen-login-grace 0"
}

checks=(x check_flood_none check_flood_keepalive check_stop_reading check_spin check_close_early
	check_churn check_revoke check_grace_zero)
for n in ${LISTEN_ABUSE_CHECKS:-1 2 3 4 5 6 7 8}; do
	"${checks[n]}"
done

# ---------------------------------------------------------------- afterwards
kill -0 "$L_PID" 2>/dev/null || fail "the listener died"
printf 'ls /\n' >"$T/ls.batch"
l_sftp "$U" "$T/ls.batch" "$T/after.out" || {
	sed 's/^/    | /' "$T/after.out" >&2
	fail "the listener does not serve after the abuse"
}
listen_stop
expect_no_grep "$L_LOG" 'segfault|Assertion|AddressSanitizer|LeakSanitizer|runtime error' "listener log"
pass "vault-listen withstands the abusive clients"
