#!/usr/bin/env bash
# What vault-listen refuses, seen from real clients: a shell, exec of
# anything but md5sum/sha1sum, a pty, -L, -W, -D and -R forwarding, agent
# and X11 forwarding; logins with a wrong key, another tenant's key or an
# unknown user; a client past listen-max-auth-tries; clients that never
# finish the key exchange (cut off after listen-login-grace); and a
# connection past listen-max-per-address or listen-max-connections. The
# vault stays unchanged and the listener keeps serving.
# shellcheck source-path=SCRIPTDIR disable=SC2119,SC2016 # listen_start takes options; the sh -c and exec strings are literal
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/lib.sh"
source "$here/broker-lib.sh"
source "$here/listen-lib.sh"

require_root
require_cmd sftp ssh ssh-keygen ssh-agent sha256sum timeout useradd userdel
it_init /srv
PY=/usr/bin/python3
"$PY" -c 'import paramiko' 2>/dev/null || fail "python3-paramiko is missing (SEALVAULT_TEST_DEPS)"
listen_init 64M "listen-max-auth-tries 3
listen-login-grace 3s"
listen_tenant lq lt
U=$L_USER ROOT=$L_ROOT
# A second tenant with a key of its own.
listen_tenant lp lt
U2=$L_USER
ssh-keygen -q -t ed25519 -N '' -C sealvault-listen-key2 -f "$T/key2"
install -m 0644 -o root -g root "$T/key2.pub" "$T/keys/$U2"
listen_vaultd
listen_start

# ---------------------------------------------------------------- baseline
printf 'canary %s\n' "$RANDOM" >"$T/canary"
printf 'put %s /canary\nls -l /\n' "$T/canary" >"$T/put.batch"
l_sftp "$U" "$T/put.batch" "$T/put.out" || {
	sed 's/^/    | /' "$T/put.out" >&2
	fail "baseline: sftp through the listener failed"
}
cmp -s "$T/canary" "$ROOT/canary" || fail "baseline: canary stored wrong"
state=$(tree_state "$ROOT")
unchanged() {
	[[ $(tree_state "$ROOT") == "$state" ]] || fail "$1: the vault changed"
}
pass "baseline: sftp works"

# ---------------------------------------------------------------- shell and exec
# expect_only_sftp NAME OUT RC: the listener's answer to a shell or exec.
expect_only_sftp() {
	local name=$1 out=$2 rc=$3
	expect_grep "$out" 'offers only SFTP' "$name: the listener's message"
	expect_no_grep "$out" 'uid=[0-9]|^[-dl][-rwxsStT]{9}|^canary$' "$name: a command ran"
	[[ $rc -eq 1 ]] || {
		sed 's/^/    | /' "$out" >&2
		fail "$name: ssh exited $rc, expected the status 1"
	}
	unchanged "$name"
}
rc=0
l_ssh "$U" "$T/shell.out" || rc=$?
expect_only_sftp shell "$T/shell.out" "$rc"
pass "shell: refused with the message, status 1"

for cmd in "ls" "ls -la /" "sh -c id" "id" "/bin/sh" "rm -f /canary"; do
	rc=0
	l_ssh "$U" "$T/exec.out" -- "$cmd" || rc=$?
	expect_only_sftp "exec '$cmd'" "$T/exec.out" "$rc"
done
pass "exec of anything but md5sum/sha1sum: refused with the message, status 1"
# md5sum with a shell's tricks after it: whoever answers, nothing runs.
for cmd in "md5sum /canary; id" "md5sum /canary && id" 'md5sum $(id)' "md5sum /canary | sh"; do
	rc=0
	l_ssh "$U" "$T/exec.out" -- "$cmd" || rc=$?
	expect_no_grep "$T/exec.out" 'uid=[0-9]' "exec '$cmd': a command ran"
	[[ $rc -ne 0 ]] || fail "exec '$cmd' exited 0"
	unchanged "exec '$cmd'"
done
pass "md5sum followed by shell syntax: refused, nothing ran"

# ---------------------------------------------------------------- pty
rc=0
l_ssh "$U" "$T/pty.out" -tt -- md5sum /canary || rc=$?
expect_grep "$T/pty.out" 'PTY allocation request failed' "ssh -tt: pty-req refused"
rc=0
l_ssh "$U" "$T/pty-shell.out" -tt || rc=$?
expect_grep "$T/pty-shell.out" 'PTY allocation request failed' "ssh -tt (shell): pty-req refused"
expect_no_grep "$T/pty-shell.out" 'uid=[0-9]|[$#] $' "ssh -tt (shell): a shell ran"
[[ $rc -ne 0 ]] || fail "ssh -tt (shell) exited 0"
unchanged pty
pass "pty-req refused"

# ---------------------------------------------------------------- forwarding
# -L: our side listens; a working forward to the listener's own port would
# show its SSH banner.
lport=$(free_port)
timeout 60 ssh "${L_OPTS[@]}" -p "$L_PORT" -N -o ExitOnForwardFailure=yes \
	-L "127.0.0.1:$lport:127.0.0.1:$L_PORT" "$U@127.0.0.1" </dev/null >"$T/L.out" 2>&1 &
lpid=$!
on_exit stop_pid "$lpid"
wait_until 20 "ssh -L listening on $lport" port_in_use "$lport"
banner=$(timeout 10 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"; timeout 5 head -c 7 <&3' _ "$lport" 2>/dev/null || true)
[[ $banner != SSH-2.0 ]] || fail "ssh -L forwarded a connection"
wait_until 10 "ssh -L reports the refused channel" grep -q 'open failed' "$T/L.out"
stop_pid "$lpid"
expect_grep "$T/L.out" 'open failed: administratively prohibited' "ssh -L channel refusal"
pass "ssh -L (direct-tcpip) refused: administratively prohibited"

rc=0
l_ssh "$U" "$T/W.out" -W "127.0.0.1:$L_PORT" || rc=$?
expect_no_grep "$T/W.out" '^SSH-2\.0' "ssh -W forwarded a connection"
[[ $rc -ne 0 && $rc -ne 124 ]] || fail "ssh -W: status $rc, expected a refusal"
expect_grep "$T/W.out" 'open failed|forwarding failed' "ssh -W refusal"
pass "ssh -W (direct-tcpip) refused"

# -D: SOCKS5 through ssh to the listener's port.
dport=$(free_port)
timeout 60 ssh "${L_OPTS[@]}" -p "$L_PORT" -N -o ExitOnForwardFailure=yes \
	-D "127.0.0.1:$dport" "$U@127.0.0.1" </dev/null >"$T/D.out" 2>&1 &
dpid=$!
on_exit stop_pid "$dpid"
wait_until 20 "ssh -D listening on $dport" port_in_use "$dport"
cat >"$T/socks.py" <<'EOF'
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"\x05\x01\x00")
s.recv(2)
s.sendall(b"\x05\x01\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack(">H", int(sys.argv[2])))
data = b""
try:
    while len(data) < 64:
        d = s.recv(64)
        if not d:
            break
        data += d
except OSError:
    pass
print("FORWARDED" if b"SSH-2.0" in data else "not forwarded")
EOF
timeout 30 "$PY" "$T/socks.py" "$dport" "$L_PORT" >"$T/socks.out" 2>&1 || true
expect_no_grep "$T/socks.out" FORWARDED "ssh -D forwarded a connection"
wait_until 10 "ssh -D reports the refused channel" grep -q 'open failed' "$T/D.out"
stop_pid "$dpid"
expect_grep "$T/D.out" 'open failed: administratively prohibited' "ssh -D channel refusal"
pass "ssh -D (SOCKS, direct-tcpip) refused: administratively prohibited"

# -R: the listener refuses tcpip-forward; the port never listens.
rport=$(free_port)
rc=0
l_ssh "$U" "$T/R.out" -N -o ExitOnForwardFailure=yes -R "127.0.0.1:$rport:127.0.0.1:$L_PORT" || rc=$?
[[ $rc -ne 0 && $rc -ne 124 ]] || fail "ssh -R with ExitOnForwardFailure: status $rc, expected a refusal"
expect_grep "$T/R.out" 'remote port forwarding failed' "ssh -R refusal"
port_in_use "$rport" && fail "port $rport listens: the remote forward was set up"
pass "ssh -R (tcpip-forward) refused"

# ---------------------------------------------------------------- X11
rc=0
DISPLAY=127.0.0.1:97 l_ssh "$U" "$T/X.out" -X md5sum /canary || rc=$?
expect_grep "$T/X.out" 'X11 forwarding request failed' "ssh -X: x11-req refused"
pass "X11 forwarding (x11-req) refused"
unchanged forwarding

# ---------------------------------------------------------------- authentication
printf 'ls\n' >"$T/ls.batch"
denied() {
	local name=$1 rc=0
	shift
	timeout 30 ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
		-o IdentitiesOnly=yes -p "$L_PORT" "$@" md5sum /canary </dev/null >"$T/$name.out" 2>&1 || rc=$?
	[[ $rc -eq 255 ]] || {
		sed 's/^/    | /' "$T/$name.out" >&2
		fail "$name: ssh exited $rc, expected 255 (refused)"
	}
	expect_grep "$T/$name.out" 'Permission denied \(publickey\)' "$name"
	pass "$name: Permission denied (publickey)"
}
ssh-keygen -q -t ed25519 -N '' -C sealvault-listen-stranger -f "$T/stranger"
denied wrong_key -i "$T/stranger" "$U@127.0.0.1"
denied unknown_user -i "$L_KEY" "nosuchuser$RANDOM@127.0.0.1"
denied other_tenants_key -i "$T/key2" "$U@127.0.0.1"
denied key_of_other_tenant -i "$L_KEY" "$U2@127.0.0.1"
rc=0
timeout 30 ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
	-o IdentitiesOnly=yes -i "$T/key2" -p "$L_PORT" "$U2@127.0.0.1" md5sum /nothing </dev/null >"$T/key2.out" 2>&1 || rc=$?
expect_no_grep "$T/key2.out" 'Permission denied \(publickey\)' "control: the second tenant's own key"
pass "control: the second tenant logs in with its own key"

# listen-max-auth-tries 3: eight keys, none authorized.
ids=()
for i in 1 2 3 4 5 6 7 8; do
	ssh-keygen -q -t ed25519 -N '' -f "$T/many$i"
	ids+=(-i "$T/many$i")
done
l_mark
rc=0
timeout 30 ssh -v -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
	-o IdentitiesOnly=yes "${ids[@]}" -p "$L_PORT" "$U@127.0.0.1" md5sum /canary </dev/null >"$T/tries.out" 2>&1 || rc=$?
[[ $rc -eq 255 ]] || fail "too many auth tries: ssh exited $rc, expected 255"
offered=$(grep -c 'Offering public key' "$T/tries.out" || true)
log "the client offered $offered of 8 keys before it was cut off"
[[ $offered -lt 8 ]] || {
	grep -E 'Offering|Authentications|disconnect|closed' "$T/tries.out" | sed 's/^/    | /' >&2
	fail "too many auth tries: the client could offer all 8 keys (listen-max-auth-tries 3)"
}
[[ $offered -le 4 ]] || fail "too many auth tries: $offered keys offered, listen-max-auth-tries is 3"
wait_until 10 "log: too many authentication failures" bash -c \
	"tail -c +$((L_MARK + 1)) '$L_LOG' | grep -q 'too many authentication failures'"
pass "past listen-max-auth-tries: cut off after $offered keys, logged"

# ---------------------------------------------------------------- login grace
# A client that sends nothing, one that stops after its KEXINIT, and one
# (paramiko) that finishes the key exchange and never authenticates: each
# must be closed by the listener (listen-login-grace 3s) well before 20 s.
cat >"$T/grace.py" <<'EOF'
import os, socket, struct, sys, time
mode, port = sys.argv[1], int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port), timeout=20)
t0 = time.monotonic()
if mode == "kexdone":
    import paramiko
    t = paramiko.Transport(s)
    t.start_client(timeout=10)
    banner = (t.remote_version or "").encode()
    while t.is_active() and time.monotonic() - t0 < 20:
        time.sleep(0.1)
    if t.is_active():
        print("STILL OPEN after 20 s")
        sys.exit(1)
    print("closed after %.1f s; key exchange done; server banner %r" % (time.monotonic() - t0, banner))
    sys.exit(0 if banner.startswith(b"SSH-2.0-") else 2)
if mode == "kexinit":
    s.sendall(b"SSH-2.0-sealvault_grace_test\r\n")
    payload = bytes([20]) + os.urandom(16)
    for nl in (b"curve25519-sha256", b"ssh-ed25519", b"aes128-ctr", b"aes128-ctr",
               b"hmac-sha2-256", b"hmac-sha2-256", b"none", b"none", b"", b""):
        payload += struct.pack(">I", len(nl)) + nl
    payload += b"\0" + struct.pack(">I", 0)
    pad = 8 - (len(payload) + 5) % 8
    if pad < 4:
        pad += 8
    s.sendall(struct.pack(">IB", len(payload) + pad + 1, pad) + payload + bytes(pad))
data = b""
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        data += d
except socket.timeout:
    print("STILL OPEN after 20 s")
    sys.exit(1)
except ConnectionResetError:
    pass
banner = data.split(b"\r\n")[0][:60]
print("closed after %.1f s; %d bytes received; server banner %r" % (time.monotonic() - t0, len(data), banner))
sys.exit(0 if banner.startswith(b"SSH-2.0-") else 2)
EOF
for mode in silent kexinit kexdone; do
	l_mark
	rc=0
	timeout 40 "$PY" "$T/grace.py" "$mode" "$L_PORT" >"$T/grace-$mode.out" 2>&1 || rc=$?
	sed 's/^/    | /' "$T/grace-$mode.out"
	[[ $rc -ne 1 ]] || fail "login grace ($mode client): the connection was still open after 20 s"
	[[ $rc -eq 0 ]] || fail "login grace ($mode client): status $rc (no SSH banner from the listener?)"
	wait_until 10 "log: login grace time exceeded ($mode client)" bash -c \
		"tail -c +$((L_MARK + 1)) '$L_LOG' | grep -q 'login grace time exceeded'"
	pass "login grace: the $mode client was closed by the listener and it was logged"
done
l_sftp "$U" "$T/ls.batch" "$T/after-grace.out" || fail "the listener does not serve after the grace clients"

# ---------------------------------------------------------------- connection limits
# hold N: N authenticated connections without a session (ssh -N), kept open.
HOLD=()
hold() {
	local n=$1 i pid
	HOLD=()
	for ((i = 0; i < n; i++)); do
		timeout 120 ssh "${L_OPTS[@]}" -v -p "$L_PORT" -N "$U@127.0.0.1" </dev/null >"$T/hold$i.out" 2>&1 &
		pid=$!
		on_exit stop_pid "$pid"
		HOLD+=("$pid")
		wait_until 20 "held connection $i authenticated" grep -q 'Authenticated to' "$T/hold$i.out"
	done
}
# limit_check NAME: with two connections held, a third is refused and
# logged; once one is gone, a new one is served.
limit_check() {
	local name=$1 rc=0 i ok=0 p
	hold 2
	l_mark
	l_sftp "$U" "$T/ls.batch" "$T/third.out" || rc=$?
	[[ $rc -ne 0 ]] || fail "$name: a third connection was served"
	wait_until 10 "log: too many connections" bash -c \
		"tail -c +$((L_MARK + 1)) '$L_LOG' | grep -q 'too many connections'"
	for p in "${HOLD[@]}"; do
		kill -0 "$p" 2>/dev/null || fail "$name: a held connection was closed"
	done
	stop_pid "${HOLD[0]}"
	for ((i = 0; i < 40; i++)); do
		if l_sftp "$U" "$T/ls.batch" "$T/again.out"; then
			ok=1
			break
		fi
		sleep 0.25
	done
	[[ $ok -eq 1 ]] || fail "$name: no connection served after one of the two was closed"
	stop_pid "${HOLD[1]}"
	pass "$name: the third concurrent connection refused and logged, served again once one closed"
}
listen_stop
L_GLOBALS="listen-max-per-address 2
listen-max-connections 64"
listen_start
limit_check listen-max-per-address
listen_stop
L_GLOBALS="listen-max-per-address 16
listen-max-connections 2"
listen_start
limit_check listen-max-connections

# ---------------------------------------------------------------- agent
# Last, being the weakest check: only the log can show this refusal.
# OpenSSH sends auth-agent-req without asking for a reply: the refusal
# shows only in the listener's log.
ssh-agent -D -a "$T/agent.sock" >"$T/agent.out" 2>&1 &
apid=$!
on_exit stop_pid "$apid"
wait_until 10 "ssh-agent's socket" test -S "$T/agent.sock"
l_mark
rc=0
SSH_AUTH_SOCK="$T/agent.sock" l_ssh "$U" "$T/A.out" -v -A md5sum /canary || rc=$?
expect_grep "$T/A.out" 'Requesting authentication agent forwarding' "ssh -A asked for agent forwarding"
wait_until 10 "the listener logs the agent request" bash -c "tail -c +$((L_MARK + 1)) '$L_LOG' | grep -qi agent"
l_since | grep -i agent | sed 's/^/    log: /'
l_since | grep -i agent | grep -Eqi 'refus|denied|not allowed|reject' ||
	fail "ssh -A: the listener's log shows the agent request, but not as refused"
pass "agent forwarding (auth-agent-req) refused"

unchanged "end of test"
expect_no_grep "$L_LOG" 'segfault|Assertion|AddressSanitizer|runtime error|killed by signal' "listener log"
pass "vault-listen refuses everything but SFTP and md5sum/sha1sum"
