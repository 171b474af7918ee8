#!/usr/bin/env bash
# vaultd's audit trail, end to end: a fake journald (journal-sink.py) on the
# config's journal-socket, vaultd (watcher off, no scan, kernel-audit yes),
# and a real sshd whose ForceCommand is vault-sftp --config --tenant. A
# seal, a client request vault-sftp refuses (and reports over the broker
# socket), a file name with a newline and a quote (byte-exact through the
# binary-safe field form, no raw newline in MESSAGE), and a broker abuse
# request each become one structured record. With the journal gone vaultd
# keeps sealing and logs to stderr. The kernel audit log gets the seal as
# a user message (AUDIT_USER_MSG): strace attached to vaultd sees it sent
# with NLM_F_ACK and the kernel's ack with error 0.
# shellcheck source-path=SCRIPTDIR disable=SC2016,SC2119 # the sh -c scripts take their paths as "$1"
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/lib.sh"
source "$here/broker-lib.sh"

require_root
require_cmd mkfs.ext4 mount umount chattr lsattr setpriv timeout sshd ssh-keygen
it_init /srv
sshd_init

VAULTD=${VAULTD:-$SEALVAULT_BINARY_DIR/bin/vaultd}
[[ -x $VAULTD ]] || fail "vaultd not executable: $VAULTD"
PY=/usr/bin/python3
"$PY" -c 'import paramiko' 2>/dev/null || fail "python3-paramiko is missing (SEALVAULT_TEST_DEPS)"
CLIENT="$here/seal-window-client.py"
BROKER_CLIENT="$here/broker-client.py"
SINK="$here/journal-sink.py"

JSOCK="$T/journal.sock"
JOUT="$T/journal.json"
sshd_tenant aud 64M "journal-socket $JSOCK
kernel-audit yes
watcher off"

start_journal_sink "$JSOCK" "$JOUT"
spid=$SINK_PID
start_broker_only "$CONF" "$T/vaultd.log"
vpid=$VAULTD_PID
kill -0 "$vpid" 2>/dev/null || { cat "$T/vaultd.log" >&2; fail "vaultd with kernel-audit yes exited at start"; }
pass "vaultd starts as root with kernel-audit yes"

# client OUT COMMAND [ARGS...]: the paramiko client; its status in RC.
client() {
	local out=$1
	shift
	RC=0
	timeout 60 "$PY" "$CLIENT" --port "$SSHD_PORT" --user "$user" --key "$SSHD_DIR/client_key" \
		--known-hosts "$SSHD_DIR/known_hosts" --disk "$root" "$@" >"$out" 2>&1 || RC=$?
}
upload() { # VPATH: must succeed and be immutable right after the CLOSE reply
	client "$T/put.out" put "$1"
	[[ $RC == 0 ]] || { sed 's/^/    | /' "$T/put.out" >&2; fail "upload of ${1@Q} failed or was not sealed"; }
}
jfind() { "$PY" "$SINK" --find "$JOUT" "$@"; }
# expect_record WHAT OUT CONDITION...: a record meeting every condition must arrive (within 10 s).
expect_record() {
	local what=$1 out=$2 i
	shift 2
	for ((i = 0; i < 100; i++)); do
		jfind "$@" >"$out" && return 0
		sleep 0.1
	done
	sed 's/^/    | /' "$JOUT" >&2
	tail -5 "$T/vaultd.log" | sed 's/^/    vaultd: /' >&2
	fail "audit: no record for $what: $*"
}
field() { "$PY" -c 'import json,sys; print(json.loads(sys.stdin.readline())[sys.argv[1]])' "$1" <"$2"; }
COMMON=("SYSLOG_IDENTIFIER=vaultd" 'MESSAGE?' 'PRIORITY~^[0-7]$' 'MESSAGE_ID~^[0-9a-fA-F]{32}$' '!__malformed')

# ---------------------------------------------------------------- a seal
upload /good.bin
expect_record "the seal of /good.bin" "$T/j-seal.out" "${COMMON[@]}" VAULT_OP=seal \
	"VAULT_TENANT=$tenant" VAULT_PATH=/good.bin VAULT_SOURCE=broker "VAULT_UID=$uid"
seal_id=$(field MESSAGE_ID "$T/j-seal.out")
pass "seal: VAULT_OP=seal, VAULT_TENANT, VAULT_PATH, VAULT_SOURCE=broker, MESSAGE_ID $seal_id, PRIORITY"

# ---------------------------------------------------------------- a client refusal
client "$T/rm.out" refuse remove /good.bin
[[ $RC == 0 ]] || { cat "$T/rm.out" >&2; fail "rm of a sealed file was not refused"; }
[[ -f $root/good.bin ]] || fail "good.bin is gone"
expect_record "vault-sftp's report of the refused remove" "$T/j-rm.out" "${COMMON[@]}" \
	VAULT_SOURCE=vault-sftp VAULT_OP=remove VAULT_PATH=/good.bin 'VAULT_REASON?' \
	"VAULT_TENANT=$tenant" "VAULT_UID=$uid" 'VAULT_PID~^[1-9][0-9]*$' "MESSAGE_ID~^(?!$seal_id\$)"
pass "client refusal: VAULT_SOURCE=vault-sftp, VAULT_OP=remove, reason \"$(field VAULT_REASON "$T/j-rm.out")\""

# ---------------------------------------------------------------- an awkward name
odd=$'/new\nline"quote.bin'
upload "$odd"
expect_record "the seal of ${odd@Q}" "$T/j-odd.out" "${COMMON[@]}" VAULT_OP=seal \
	"VAULT_PATH=$odd" __binary=VAULT_PATH 'MESSAGE~\A[^\n]*\Z'
pass "a name with a newline and a quote: VAULT_PATH byte-exact (binary-safe form), MESSAGE on one line"

# ---------------------------------------------------------------- broker abuse
# The tenant's own process asks to seal /good.bin passing the fd of another file.
setpriv --reuid="$uid" --regid="$(id -g "$user")" --clear-groups -- \
	sh -c 'head -c 100 /dev/urandom >"$1"' _ "$root/abuse.bin" || fail "the tenant cannot create a file"
setpriv --reuid="$uid" --regid="$(id -g "$user")" --clear-groups -- \
	"$PY" - "$SOCK" /good.bin "$root/abuse.bin" <"$BROKER_CLIENT" >"$T/abuse.out" 2>&1 ||
	{ cat "$T/abuse.out" >&2; fail "abuse: the client failed"; }
grep -qE '^-[0-9]+ .' "$T/abuse.out" || { cat "$T/abuse.out" >&2; fail "abuse: not refused"; }
lsattr -d "$root/abuse.bin" | awk '{print $1}' | grep -q i && fail "abuse: abuse.bin became immutable"
setpriv --reuid="$uid" --regid="$(id -g "$user")" --clear-groups -- sh -c ': >>"$1"' _ "$root/abuse.bin" ||
	fail "abuse: abuse.bin no longer writable by the tenant"
expect_record "the refused abuse request" "$T/j-abuse.out" "${COMMON[@]}" VAULT_OP=seal \
	VAULT_PATH=/good.bin VAULT_SOURCE=broker 'VAULT_REASON?' "VAULT_TENANT=$tenant" "VAULT_UID=$uid" \
	"MESSAGE_ID~^(?!$seal_id\$)"
pass "broker abuse: refused ($(cat "$T/abuse.out")), recorded with its reason, the file left writable"

# ---------------------------------------------------------------- kernel audit
# The netlink ack, seen from outside: strace attached to vaultd shows the
# request it sends on its NETLINK_AUDIT socket (a user message type, with
# NLM_F_ACK, its text naming the operation and the path) and the kernel's
# NLMSG_ERROR ack with error 0 for that sequence number. (The kernel prints
# accepted records itself only when its audit is enabled and no auditd
# runs; on a host with audit disabled it acks and drops them, so dmesg
# cannot be the witness.)
command -v strace >/dev/null || fail "strace is missing (SEALVAULT_TEST_DEPS)"
cat >"$T/kack.py" <<'PYEOF'
import re, sys
# kack.py STRACE_OUT VPATH: 0 when vaultd sent a user message naming VPATH with
# NLM_F_ACK on a NETLINK_AUDIT socket and read an ack with error 0 for it.
out, vpath = sys.argv[1], sys.argv[2]
text = open(out, errors="replace").read()
SYSTEM = {"AUDIT_GET", "AUDIT_SET", "AUDIT_LIST_RULES", "AUDIT_ADD_RULE", "AUDIT_DEL_RULE",
          "AUDIT_SIGNAL_INFO", "AUDIT_TTY_GET", "AUDIT_TTY_SET", "AUDIT_GET_FEATURE", "AUDIT_SET_FEATURE"}
def user_type(t):
    if t.startswith("0x") or t.isdigit():
        v = int(t, 0)
        return 1100 <= v <= 1199 or 2100 <= v <= 2999
    return t.startswith("AUDIT_") and t not in SYSTEM
def unescape(lit):
    return re.sub(r'\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|.)', lambda m: chr(int(m.group(1)[1:], 16)) if m.group(1)[0] == "x"
                  else chr(int(m.group(1), 8)) if m.group(1)[0] in "01234567"
                  else {"n": "\n", "t": "\t", "r": "\r", "v": "\v", "f": "\f"}.get(m.group(1), m.group(1)), lit)
sends = re.findall(r'sendto\((\d+)<NETLINK:\[AUDIT:\d+\]>, \[\{nlmsg_len=\d+, nlmsg_type=([^ ,]+)[^}]*?'
                   r'nlmsg_flags=([A-Z_|]+), nlmsg_seq=(\d+)[^}]*\}, "((?:[^"\\]|\\.)*)"', text)
hexpath = vpath.encode().hex().upper()
named = [(fd, t, seq, unescape(p)) for fd, t, flags, seq, p in sends
         if user_type(t) and "NLM_F_ACK" in flags]
if not named:
    sys.exit("no user message with NLM_F_ACK on a NETLINK_AUDIT socket (%d sends)" % len(sends))
mine = [m for m in named if ('"%s"' % vpath) in m[3] or hexpath in m[3]]
if not mine:
    shown = ["%d NUL bytes" % len(m[3]) if not m[3].strip("\0") else m[3][:120] for m in named[-3:]]
    sys.exit("%d user message(s) sent, none naming %s; last texts: %r" % (len(named), vpath, shown))
fd, t, seq, payload = mine[-1]
if "op=seal" not in payload:
    sys.exit("the message for %s does not say op=seal: %r" % (vpath, payload[:200]))
ack = re.search(r'recvmsg\(%s<NETLINK:\[AUDIT:\d+\]>, .*?nlmsg_type=NLMSG_ERROR[^}]*nlmsg_seq=%s[^}]*\}, \{error=(-?\w+)'
                % (fd, seq), text)
if not ack:
    sys.exit("no ack read for seq %s" % seq)
if ack.group(1) != "0":
    sys.exit("the kernel refused the message: error=%s" % ack.group(1))
print("type %s seq %s acked with error=0: %s" % (t, seq, payload.rstrip("\0")[:160]))
PYEOF
strace -f -yy -s 4096 -e trace=sendto,recvmsg -e signal=none -p "$vpid" -o "$T/strace.out" 2>"$T/strace.err" &
stpid=$!
on_exit stop_pid "$stpid"
wait_until 10 "strace attached to vaultd" grep -q attached "$T/strace.err"
upload /kaudit.bin
for ((i = 0; i < 50; i++)); do
	"$PY" "$T/kack.py" "$T/strace.out" /kaudit.bin >"$T/kack.out" 2>&1 && break
	sleep 0.2
done
stop_pid "$stpid"
"$PY" "$T/kack.py" "$T/strace.out" /kaudit.bin >"$T/kack.out" 2>&1 || {
	grep 'NETLINK:\[AUDIT' "$T/strace.out" | tail -4 | cut -c1-300 | sed 's/^/    | /' >&2
	fail "kernel audit: $(cat "$T/kack.out")"
}
kill -0 "$vpid" 2>/dev/null || fail "vaultd died"
pass "kernel audit: AUDIT_USER_MSG acked by the kernel ($(cat "$T/kack.out"))"

# ---------------------------------------------------------------- journal gone
# While the journal answered, records went there and not to stderr.
expect_no_grep "$T/vaultd.log" 'good\.bin' "vaultd's stderr while the journal is up"
n_before=$(wc -l <"$JOUT")
stop_pid "$spid"
[[ ! -e $JSOCK ]] || fail "the sink left its socket"
upload /after.bin
kill -0 "$vpid" 2>/dev/null || fail "vaultd died when the journal went away"
wait_until 10 "vaultd's stderr line for /after.bin" grep -q 'after\.bin' "$T/vaultd.log"
[[ $(wc -l <"$JOUT") == "$n_before" ]] || fail "records reached the stopped sink's file"
upload /after2.bin
wait_until 10 "vaultd's stderr line for /after2.bin" grep -q 'after2\.bin' "$T/vaultd.log"
pass "journal gone: vaultd keeps sealing and logs to stderr ($(grep -m1 'after\.bin' "$T/vaultd.log"))"

expect_no_grep "$SSHD_DIR/sshd.log" 'fatal|segfault' "sshd log"
if jfind '__malformed?' >/dev/null; then fail "the sink got malformed datagrams"; fi
pass "vaultd's audit records: journal fields, client refusals, binary-safe paths, fallback to stderr"
