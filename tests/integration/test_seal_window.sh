#!/usr/bin/env bash
# No seal window, seen from a real client: a paramiko client talks to a
# real sshd whose ForceCommand is vault-sftp --config --tenant, and vaultd
# runs with its watcher off and no catch-up scan, so that its broker is the
# only thing that can seal. Right after each CLOSE reply (and after each
# posix-rename reply that publishes a temp upload) the file on the
# loop-mounted ext4 must already be immutable, carry a plausible seal time
# (trusted.sealvault.sealed) and the uploaded bytes; reopening it for
# writing (paramiko's modes r+, a and w) must be refused and change
# nothing. The directories above sealed files are root-owned and sticky
# with an ACL for the tenant, and a shell as the tenant can neither
# rename, remove nor chmod them.
# shellcheck source-path=SCRIPTDIR disable=SC2016,SC2119 # the sh -c scripts take their paths as "$1"
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/lib.sh"
source "$here/broker-lib.sh"

require_root
require_cmd mkfs.ext4 mount umount chattr getfacl setpriv stat timeout sshd ssh-keygen
it_init /srv
sshd_init

VAULTD=${VAULTD:-$SEALVAULT_BINARY_DIR/bin/vaultd}
[[ -x $VAULTD ]] || fail "vaultd not executable: $VAULTD"
PY=/usr/bin/python3
"$PY" -c 'import paramiko' 2>/dev/null || fail "python3-paramiko is missing (SEALVAULT_TEST_DEPS)"
CLIENT="$here/seal-window-client.py"
N=${SEAL_WINDOW_FILES:-1000}

sshd_tenant win 256M "journal-socket $T/no-journal.sock
kernel-audit no
watcher off"
gid=$(id -g "$user")

# client OUT COMMAND [ARGS...]: the paramiko client; its status in RC.
client() {
	local out=$1
	shift
	RC=0
	timeout 150 "$PY" "$CLIENT" --port "$SSHD_PORT" --user "$user" --key "$SSHD_DIR/client_key" \
		--known-hosts "$SSHD_DIR/known_hosts" --disk "$root" "$@" >"$out" 2>&1 || RC=$?
}
counter() { sed -n "s/^$1=//p" "$2" | tail -1; }

# ---------------------------------------------------------------- control
# Without vaultd nothing seals: the client must see it (the check can fail).
client "$T/control.out" window 5 nobroker
[[ $RC == 1 && $(counter not-immutable "$T/control.out") == 5 ]] || {
	sed 's/^/    | /' "$T/control.out" >&2
	fail "control: with no broker the client did not report 5 unsealed files (status $RC)"
}
pass "control: without vaultd the client reports every file as unsealed"

# ---------------------------------------------------------------- vaultd
start_broker_only "$CONF" "$T/vaultd.log"
vpid=$VAULTD_PID
kill -0 "$vpid" 2>/dev/null || { cat "$T/vaultd.log" >&2; fail "vaultd exited at start"; }

# ---------------------------------------------------------------- N uploads
client "$T/window.out" window "$N"
sed 's/^/    | /' "$T/window.out"
[[ $RC == 0 || $RC == 1 ]] || fail "window: the client failed (status $RC)"
v=$(counter violations "$T/window.out")
[[ $(counter files "$T/window.out") == "$N" ]] || fail "window: $N uploads expected"
[[ $v == 0 && $RC == 0 ]] || fail "window: $v violation(s) in $N uploads"
[[ $(counter immutable "$T/window.out") == "$N" ]] || fail "window: not all $N immutable"
pass "$N uploads: each immutable with a seal time right after its CLOSE reply; r+, a and w reopens refused, content unchanged"
kill -0 "$vpid" 2>/dev/null || fail "vaultd died"

# ---------------------------------------------------------------- temp + posix-rename
client "$T/rename.out" rename 50
sed 's/^/    | /' "$T/rename.out"
[[ $RC == 0 && $(counter violations "$T/rename.out") == 0 && $(counter files "$T/rename.out") == 50 ]] ||
	fail "rename: $(counter violations "$T/rename.out") violation(s) (status $RC)"
pass "50 temp uploads published by posix-rename: each immutable right after the rename reply"

# ---------------------------------------------------------------- directories
client "$T/tree.out" tree /a /a/b -- 5
sed 's/^/    | /' "$T/tree.out"
[[ $RC == 0 && $(counter files "$T/tree.out") == 5 ]] || fail "tree: uploads into /a/b failed (status $RC)"
client "$T/tree-c.out" tree /c -- 0
[[ $RC == 0 ]] || { cat "$T/tree-c.out" >&2; fail "tree: mkdir /c failed"; }

# Protected: root-owned, sticky, an ACL entry giving the tenant rwx (mask rwx).
for d in "$root" "$root/a" "$root/a/b"; do
	rel=${d#"$root"}
	[[ $(stat -c %u "$d") == 0 ]] || fail "dir ${rel:-/}: owner uid $(stat -c %u "$d"), not root"
	[[ $(stat -c %A "$d") == *[tT] ]] || fail "dir ${rel:-/}: not sticky ($(stat -c %A "$d"))"
	getfacl -n -p "$d" >"$T/acl.out" 2>&1 || fail "getfacl ${rel:-/} failed"
	expect_grep "$T/acl.out" "^user:$uid:rwx" "dir ${rel:-/}: ACL for the tenant"
	# A mask narrower than rwx would cut the tenant's entry down.
	expect_no_grep "$T/acl.out" '^mask::([^r]|.[^w]|..[^x])' "dir ${rel:-/}: ACL mask"
done
pass "/, /a and /a/b: root-owned, sticky, ACL user:$uid:rwx"

as_tenant() { setpriv --reuid="$uid" --regid="$gid" --clear-groups -- "$@"; }
cd /
# Control: what the tenant owns stays in its hands (and the harness works).
as_tenant chmod 0750 "$root/c" || fail "control: the tenant cannot chmod its own unprotected dir /c"
as_tenant mv "$root/c" "$root/c2" || fail "control: the tenant cannot rename its own dir /c"
as_tenant rmdir "$root/c2" || fail "control: the tenant cannot remove its own empty dir"
as_tenant sh -c 'echo x >"$1/a/b/scratch" && rm "$1/a/b/scratch"' _ "$root" ||
	fail "the tenant can no longer create and remove its own files in /a/b"
# What the attempts below aim at: the root itself and everything under /a.
dir_state() { stat -c '%n %u %g %a' "$root"; tree_state "$root/a"; }
dir_state >"$T/state.before"
pass "control: the tenant still creates, renames and removes what it owns"

refused() { # WHAT CMD...: as the tenant, CMD must fail with EPERM/EACCES
	local what=$1
	shift
	if as_tenant "$@" >"$T/attempt.out" 2>&1; then
		fail "the tenant could $what"
	fi
	expect_grep "$T/attempt.out" 'Operation not permitted|Permission denied' "$what"
	expect_no_grep "$T/attempt.out" 'not empty' "$what (refused only for being non-empty)"
}
refused "rename /a" mv -T "$root/a" "$root/a2"
refused "rename /a/b" mv -T "$root/a/b" "$root/a/b2"
refused "move /a/b out of /a" mv -T "$root/a/b" "$root/b"
refused "rmdir /a/b" rmdir "$root/a/b"
refused "rmdir /a" rmdir "$root/a"
refused "rm -rf /a" rm -rf "$root/a"
refused "chmod /a" chmod 0777 "$root/a"
refused "chmod /a/b" chmod 0700 "$root/a/b"
refused "chmod the tenant root" chmod 0777 "$root"
refused "rename a sealed file" mv -T "$root/a/b/t000.bin" "$root/a/b/moved"
dir_state >"$T/state.after"
if ! cmp -s "$T/state.before" "$T/state.after"; then
	diff "$T/state.before" "$T/state.after" | sed 's/^/    | /' >&2
	fail "the tenant's attempts changed the tree"
fi
pass "a shell as the tenant cannot rename, remove or chmod the protected directories"

kill -0 "$vpid" 2>/dev/null || fail "vaultd died"
expect_no_grep "$SSHD_DIR/sshd.log" 'fatal|segfault' "sshd log"
pass "no seal window through sshd + vault-sftp + vaultd's broker"
