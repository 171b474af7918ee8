#!/usr/bin/env bash
# Broker abuse that test_broker.sh does not cover, by tenants that are
# unprivileged users (two tenants, two users, roots on one loop-mounted
# ext4): a vault path that is a symlink to the file passed (final component
# or a directory on the way), a file renamed away after its fd was taken,
# the path swapped between a file and a symlink by a concurrent
# renameat2(RENAME_EXCHANGE) while requests stream in, and fds of another
# tenant's file under that tenant's path, under one's own path, and through
# "..". Every request must be refused, every file involved stay writable,
# and each refusal appear in vaultd's audit trail (a fake journald,
# journal-sink.py) under the asking tenant. vaultd runs with its watcher off
# and no scan: only the broker could seal anything.
# shellcheck source-path=SCRIPTDIR disable=SC2016,SC2119 # the sh -c scripts take their paths as "$1"
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/lib.sh"
source "$here/broker-lib.sh"

require_root
require_cmd mkfs.ext4 mount umount chattr lsattr setpriv timeout
it_init

VAULTD=${VAULTD:-$SEALVAULT_BINARY_DIR/bin/vaultd}
[[ -x $VAULTD ]] || fail "vaultd not executable: $VAULTD"
PY=/usr/bin/python3
CLIENT="$here/broker-client.py"
SINK="$here/journal-sink.py"

mnt="$T/mnt"
loop_ext4 64M "$mnt"
chmod 0755 "$mnt"
install -d -m 0755 "$mnt/vault"
UA=$(unique_name svaba)
UB=$(unique_name svabb)
make_user "$UA" /nonexistent /usr/sbin/nologin
make_user "$UB" /nonexistent /usr/sbin/nologin
A="$mnt/vault/A"
B="$mnt/vault/B"
install -d -o "$UA" -g "$UA" -m 0750 "$A"
install -d -o "$UB" -g "$UB" -m 0750 "$B"

SOCK="$T/broker.sock"
JSOCK="$T/journal.sock"
JOUT="$T/journal.json"
CONF="$T/vault.conf"
cat >"$CONF" <<EOF
broker-socket $SOCK
state-dir $T/state
journal-socket $JSOCK
kernel-audit no
watcher off
profile p {
	path ** seal
}
tenant ta {
	user $UA
	root $A
	profile p
}
tenant tb {
	user $UB
	root $B
	profile p
}
EOF
chmod 0644 "$CONF"

start_journal_sink "$JSOCK" "$JOUT"
spid=$SINK_PID
start_broker_only "$CONF" "$T/vaultd.log"
vpid=$VAULTD_PID

as() { # USER CMD...: run as an unprivileged tenant user
	local u=$1
	shift
	setpriv --reuid="$u" --regid="$(id -g "$u")" --clear-groups -- "$@"
}
mkfile() { # USER PATH: a fresh file of USER's
	as "$1" sh -c 'head -c 200 /dev/urandom >"$1"' _ "$2" || fail "cannot create $2"
}
immutable() { lsattr -d -- "$1" 2>/dev/null | awk '{print $1}' | grep -q i; }
# still_writable USER FILE: not sealed, and USER can still open it for writing.
still_writable() {
	immutable "$2" && fail "$2 became immutable"
	as "$1" sh -c ': >>"$1"' _ "$2" || fail "$1 can no longer write $2"
}

REFUSALS=()
# refused NAME USER TENANT VPATH FILE [CLIENT OPTIONS...]: every reply must be a refusal.
refused() {
	local name=$1 user=$2 tenant=$3 vpath=$4 file=$5
	shift 5
	as "$user" timeout 60 "$PY" - "$SOCK" "$vpath" "$file" "$@" <"$CLIENT" >"$T/r-$name.out" 2>&1 ||
		{ cat "$T/r-$name.out" >&2; fail "$name: the client failed"; }
	grep -qE '^-[0-9]+ .' "$T/r-$name.out" || { cat "$T/r-$name.out" >&2; fail "$name: no refusal"; }
	if grep -qE '^0 ' "$T/r-$name.out"; then
		fail "$name: the broker sealed ($(grep -c '^0 ' "$T/r-$name.out") time(s))"
	fi
	REFUSALS+=("$name|$(id -u "$user")|$tenant|$vpath")
	pass "refused: $name ($(sort "$T/r-$name.out" | uniq -c | sed 's/^ *//' | paste -sd';'))"
}

# ---------------------------------------------------------------- control
mkfile "$UA" "$A/ok.bin"
as "$UA" "$PY" - "$SOCK" /ok.bin "$A/ok.bin" <"$CLIENT" >"$T/ok.out" 2>&1
grep -q '^0 ' "$T/ok.out" || { cat "$T/ok.out" >&2; fail "control: a valid request of tenant ta was refused"; }
immutable "$A/ok.bin" || fail "control: ok.bin not immutable"
pass "control: a valid request of the unprivileged tenant seals"

# ---------------------------------------------------------------- symlinks
mkfile "$UA" "$A/f.bin"
mkfile "$UA" "$A/p.bin"
# The tenant replaces P by a symlink to F, then asks to seal P with F's fd.
as "$UA" ln -s f.bin "$A/p.tmp-link"
as "$UA" mv -T "$A/p.tmp-link" "$A/p.bin"
[[ -L $A/p.bin ]] || fail "setup: p.bin is not a symlink"
refused symlink-final "$UA" ta /p.bin "$A/f.bin"
as "$UA" ln -s "$A/f.bin" "$A/abs.bin"
refused symlink-absolute "$UA" ta /abs.bin "$A/f.bin"
as "$UA" mkdir "$A/real"
mkfile "$UA" "$A/real/x.bin"
as "$UA" ln -s real "$A/ln"
refused symlink-dir "$UA" ta /ln/x.bin "$A/real/x.bin"
still_writable "$UA" "$A/f.bin"
still_writable "$UA" "$A/real/x.bin"

# ---------------------------------------------------------------- renamed away
mkfile "$UA" "$A/m.bin"
exec {mfd}<"$A/m.bin"
as "$UA" mv -T "$A/m.bin" "$A/m2.bin"
refused renamed-away "$UA" ta /m.bin "$A/m.bin" --fd "$mfd"
mkfile "$UA" "$A/m.bin"
refused renamed-replaced "$UA" ta /m.bin "$A/m.bin" --fd "$mfd"
exec {mfd}<&-
still_writable "$UA" "$A/m.bin"
still_writable "$UA" "$A/m2.bin"

# ---------------------------------------------------------------- other tenant
mkfile "$UB" "$B/fb.bin"
mkfile "$UA" "$A/fa.bin"
exec {bfd}<"$B/fb.bin"
refused cross-their-path "$UA" ta /fb.bin "$B/fb.bin" --fd "$bfd"
refused cross-own-path "$UA" ta /fa.bin "$B/fb.bin" --fd "$bfd"
refused cross-dotdot "$UA" ta /../B/fb.bin "$B/fb.bin" --fd "$bfd"
as "$UA" ln -s ../B/fb.bin "$A/lnb.bin"
refused cross-symlink "$UA" ta /lnb.bin "$B/fb.bin" --fd "$bfd"
exec {bfd}<&-
exec {afd}<"$A/fa.bin"
refused cross-reverse "$UB" tb /fa.bin "$A/fa.bin" --fd "$afd"
exec {afd}<&-
still_writable "$UB" "$B/fb.bin"
still_writable "$UA" "$A/fa.bin"

# ---------------------------------------------------------------- races
# The tenant swaps P between a regular file G and a symlink to F with
# renameat2(RENAME_EXCHANGE) as fast as it can, while it streams requests
# "seal P" with F's fd; the same with a directory on the path swapped with
# a symlink to the directory holding F. At no instant is F the file at P
# without a symlink, so every request must be refused.
cat >"$T/swapper.py" <<'EOF'
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
RENAME_EXCHANGE = 2
a, b, stop, ready = (os.fsencode(x) for x in sys.argv[1:5])
n, end = 0, time.monotonic() + 60
while not os.path.exists(stop) and time.monotonic() < end:
    if libc.renameat2(-100, a, -100, b, RENAME_EXCHANGE) != 0:
        sys.exit("renameat2: " + os.strerror(ctypes.get_errno()))
    n += 1
    if n == 1:
        open(ready, "w").close()
print(n)
EOF
# vaultd audits at most 200 refusals a second (then counts what it
# suppresses): all the refusals of this test stay below that, so that
# each one's record can be required.
RACE_REQUESTS=80
race() { # NAME VPATH FILE-OF-FD SWAP-A SWAP-B
	local name=$1 vpath=$2 file=$3 sa=$4 sb=$5 swpid n
	rm -f "$T/stop" "$T/swapready/ready"
	install -d -o "$UA" -m 0700 "$T/swapready"
	as "$UA" "$PY" "$T/swapper.py" "$sa" "$sb" "$T/stop" "$T/swapready/ready" >"$T/swap-$name.out" 2>&1 &
	swpid=$!
	on_exit stop_pid "$swpid"
	# A loaded machine starts python slowly: the requests must meet a swapper that runs.
	wait_until 30 "the swapper of $name to start" test -e "$T/swapready/ready"
	refused "$name" "$UA" ta "$vpath" "$file" --repeat "$RACE_REQUESTS"
	touch "$T/stop"
	wait_until 10 "the swapper of $name to stop" eval "! kill -0 $swpid 2>/dev/null"
	wait "$swpid" || { cat "$T/swap-$name.out" >&2; fail "$name: the swapper failed"; }
	n=$(cat "$T/swap-$name.out")
	[[ $n -gt 0 ]] || fail "$name: the swapper never swapped"
	log "$name: $n exchanges during $RACE_REQUESTS requests"
}
mkfile "$UA" "$A/F.bin"
mkfile "$UA" "$A/P.bin"
as "$UA" ln -s F.bin "$A/alt"
race race-final /P.bin "$A/F.bin" "$A/P.bin" "$A/alt"
as "$UA" mkdir "$A/d" "$A/e"
mkfile "$UA" "$A/d/x.bin"
mkfile "$UA" "$A/e/x.bin"
as "$UA" ln -s e "$A/dl"
race race-dir /d/x.bin "$A/e/x.bin" "$A/d" "$A/dl"
pass "racing symlink swaps: every request refused"
# Nothing but the two controls' files was ever sealed, in either root.
find "$A" "$B" -type f ! -path "$A/ok.bin" >"$T/files"
[[ $(wc -l <"$T/files") -ge 10 ]] || fail "setup: too few files to check"
while IFS= read -r f; do
	if immutable "$f"; then
		fail "$f became immutable"
	fi
done <"$T/files"
pass "no file but the control's was sealed"

kill -0 "$vpid" 2>/dev/null || { cat "$T/vaultd.log" >&2; fail "vaultd died"; }
as "$UA" "$PY" - "$SOCK" /fa.bin "$A/fa.bin" <"$CLIENT" >"$T/ok2.out" 2>&1
grep -q '^0 ' "$T/ok2.out" || { cat "$T/ok2.out" >&2; fail "vaultd no longer seals a valid request"; }
pass "vaultd still serves and seals a valid request"

# ---------------------------------------------------------------- audit
jfind() { "$PY" "$SINK" --find "$JOUT" "$@"; }
jfind VAULT_OP=seal VAULT_PATH=/ok.bin VAULT_TENANT=ta VAULT_SOURCE=broker 'MESSAGE_ID?' >"$T/j-ok.out" || {
	sed 's/^/    | /' "$JOUT" >&2
	tail -5 "$T/vaultd.log" | sed 's/^/    vaultd: /' >&2
	fail "audit: no seal record for /ok.bin"
}
seal_id=$("$PY" -c 'import json,sys; print(json.loads(sys.stdin.readline())["MESSAGE_ID"])' <"$T/j-ok.out")
for r in "${REFUSALS[@]}"; do
	IFS='|' read -r name uid tenant vpath <<<"$r"
	jfind VAULT_OP=seal "VAULT_PATH=$vpath" "VAULT_TENANT=$tenant" "VAULT_UID=$uid" \
		VAULT_SOURCE=broker 'VAULT_REASON?' 'MESSAGE_ID?' 'PRIORITY?' "MESSAGE_ID~^(?!$seal_id\$)" \
		>/dev/null || {
		sed 's/^/    | /' "$JOUT" >&2
		fail "audit: no refusal record for $name (tenant $tenant, uid $uid, path $vpath)"
	}
done
pass "audit: every refusal recorded (VAULT_OP=seal, tenant, uid, path, reason, a MESSAGE_ID of its own)"
