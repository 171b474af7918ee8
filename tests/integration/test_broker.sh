#!/usr/bin/env bash
# The seal broker: vaultd makes every finished upload immutable before
# vault-sftp answers the CLOSE (no window), on a loop-mounted ext4 (tmpfs
# has no immutable flag). 200 puts, each checked right after in the same
# sftp batch; root cannot overwrite a sealed file; and raw broker requests
# that must be refused (uid of no tenant, fd outside the root, directory,
# hardlink, temp class, reserved name, fd/path mismatch, wrong fd count,
# garbage) leave the file writable while vaultd keeps serving.
# shellcheck source-path=SCRIPTDIR
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/lib.sh"

require_root
require_cmd sftp mkfs.ext4 mount umount losetup lsattr chattr getfattr python3 setpriv timeout
it_init

VAULTD=${VAULTD:-$SEALVAULT_BINARY_DIR/bin/vaultd}
[[ -x $VAULTD ]] || fail "vaultd not executable: $VAULTD"
CLIENT="$here/broker-client.py"
# The system python for the unprivileged client (a root-only pyenv shim is not runnable by nobody).
SYS_PY=/usr/bin/python3
[[ -x $SYS_PY ]] || SYS_PY=$(command -v python3)

mnt="$T/mnt"
loop_ext4 64M "$mnt"

V="$mnt/vault"
mkdir -p "$V"
chmod 0755 "$mnt" "$V"
# An unprivileged tenant: vault-sftp as its uid, confined, no capabilities.
U=$(unique_name svbrk)
make_user "$U" /nonexistent /usr/sbin/nologin
V2="$mnt/vault2"
mkdir -p "$V2"
chown "$U:$U" "$V2"
SOCK="$T/broker.sock"
CONF="$T/vault.conf"
cat >"$CONF" <<CONF
broker-socket $SOCK
state-dir $T/state
profile test {
	path **/*.tmp           temp
	path **                 seal
}
tenant t1 {
	user root
	root $V
	profile test
}
tenant t2 {
	user $U
	root $V2
	profile test
}
CONF
chmod 0644 "$CONF"

immutable() { lsattr -d -- "$1" 2>/dev/null | awk '{print $1}' | grep -q i; }

# --- without a broker: loud warning, or refusal with --require-broker
printf 'put %s nob.bin\n' "$CONF" >"$T/nob.batch"
timeout 60 sftp -D "$VAULT_SFTP --config $CONF --tenant t1 --log-stderr" -b "$T/nob.batch" \
	</dev/null >"$T/nob.out" 2>&1 || { cat "$T/nob.out" >&2; fail "upload without broker failed"; }
expect_grep "$T/nob.out" "kernel sealing is OFF" "grep"
immutable "$V/nob.bin" && fail "nob.bin immutable without a broker"
if timeout 60 sftp -D "$VAULT_SFTP --config $CONF --tenant t1 --log-stderr --require-broker" \
	-b "$T/nob.batch" </dev/null >"$T/req.out" 2>&1; then
	fail "--require-broker served without a broker"
fi
expect_grep "$T/req.out" "require-broker" "grep"
pass "no broker: warned (or refused with --require-broker)"

# --- start vaultd
# --watcher off: only the broker may seal here, so its refusals leave files writable.
"$VAULTD" --config "$CONF" --watcher off --foreground 2>"$T/vaultd.log" &
vpid=$!
on_exit stop_pid "$vpid"
wait_until 10 "broker socket" test -S "$SOCK"
[[ $(stat -c %a "$SOCK") == 666 ]] || fail "socket mode is $(stat -c %a "$SOCK")"

# --- 200 uploads, each checked for the immutable flag right after its put
L="$T/local"
mkdir -p "$L"
cat >"$T/check.sh" <<CHK
#!/bin/sh
# check.sh DIR NAME: is DIR/NAME immutable now?
if lsattr -d -- "\$1/\$2" 2>/dev/null | awk '{print \$1}' | grep -q i; then
	echo "ok \$2" >>"$T/checks"
else
	echo "BAD \$2" >>"$T/checks"
fi
CHK
chmod +x "$T/check.sh"
: >"$T/batch"
for i in $(seq 1 200); do
	head -c $((i * 97)) /dev/urandom >"$L/f$i.bin"
	printf 'put %s f%d.bin\n!%s %s f%d.bin\n' "$L/f$i.bin" "$i" "$T/check.sh" "$V" "$i" >>"$T/batch"
done
timeout 180 sftp -D "$VAULT_SFTP --config $CONF --tenant t1 --log-stderr --require-broker" \
	-b "$T/batch" </dev/null >"$T/put.out" 2>&1 || { tail -20 "$T/put.out" >&2; fail "200 puts failed"; }
[[ $(grep -c '^ok ' "$T/checks") == 200 ]] || { grep -v '^ok' "$T/checks" | head >&2; fail "not every file immutable right after its put"; }
for i in 1 100 200; do
	cmp -s "$L/f$i.bin" "$V/f$i.bin" || fail "f$i.bin content differs"
done
getfattr -n trusted.sealvault.sealed --only-values "$V/f1.bin" 2>/dev/null | grep -qE '^[0-9]+$' ||
	fail "no seal time xattr on f1.bin"
[[ $(grep -c '^vaultd: sealed ' "$T/vaultd.log") -ge 200 ]] || fail "vaultd did not log 200 seals"
pass "200 uploads immutable right after each put, seal time recorded"

# the same as the unprivileged tenant (seccomp + Landlock, SO_PEERCRED = its uid)
: >"$T/checks"
: >"$T/batch2"
for i in $(seq 1 20); do
	printf 'put %s g%d.bin\n!%s %s g%d.bin\n' "$L/f$i.bin" "$i" "$T/check.sh" "$V2" "$i" >>"$T/batch2"
done
timeout 120 sftp -D "setpriv --reuid=$U --regid=$U --clear-groups $VAULT_SFTP --config $CONF --tenant t2 --log-stderr --require-broker" \
	-b "$T/batch2" </dev/null >"$T/put2.out" 2>&1 || { tail -20 "$T/put2.out" >&2; fail "unprivileged puts failed"; }
[[ $(grep -c '^ok ' "$T/checks") == 20 ]] || { cat "$T/checks" >&2; fail "unprivileged tenant: not every file immutable right after its put"; }
expect_grep "$T/vaultd.log" "sealed \"/g20.bin\" tenant=t2 uid=$(id -u "$U") " "grep"
# that tenant's uid cannot have t1's files sealed
mk2() { head -c 100 /dev/urandom >"$1"; chmod 0644 "$1"; }
mk2 "$V/t1only.bin"
setpriv --reuid="$U" --regid="$U" --clear-groups "$SYS_PY" - "$SOCK" /t1only.bin "$V/t1only.bin" <"$CLIENT" >"$T/cross.out" 2>&1
grep -q "does not resolve" "$T/cross.out" || { cat "$T/cross.out" >&2; fail "cross-tenant seal not refused"; }
immutable "$V/t1only.bin" && fail "t2 sealed a file of t1"
pass "unprivileged tenant: 20 uploads sealed right after each put; cannot seal another tenant's file"

# root on disk cannot overwrite, append or remove a sealed file
if (echo x >"$V/f1.bin") 2>"$T/ow.err"; then fail "root overwrote a sealed file"; fi
expect_grep "$T/ow.err" "Operation not permitted" "grep"
if (echo x >>"$V/f2.bin") 2>/dev/null; then fail "root appended to a sealed file"; fi
rm -f "$V/f3.bin" 2>/dev/null || true
[[ -e $V/f3.bin ]] || fail "root removed a sealed file"
pass "sealed files resist root: EPERM"

# a temp upload published by rename is sealed too; the temp name is not
printf 'put %s up.tmp\nrename up.tmp up.bin\n' "$L/f5.bin" >"$T/ren.batch"
timeout 60 sftp -D "$VAULT_SFTP --config $CONF --tenant t1 --log-stderr --require-broker" \
	-b "$T/ren.batch" </dev/null >"$T/ren.out" 2>&1 || { cat "$T/ren.out" >&2; fail "temp+rename failed"; }
immutable "$V/up.bin" || fail "renamed-onto file not immutable"
pass "temp upload published by rename is sealed"

# --- abuse: each refused with a reason, the file stays writable
abuse() { # NAME EXPECTED-REASON-REGEX FILE-TO-CHECK CLIENT-ARGS...
	local name=$1 want=$2 target=$3
	shift 3
	"$@" >"$T/ab-$name.out" 2>&1 || { cat "$T/ab-$name.out" >&2; fail "$name: client failed"; }
	grep -qE -- "$want" "$T/ab-$name.out" || { cat "$T/ab-$name.out" >&2; fail "$name: expected /$want/"; }
	grep -qE '^0 ' "$T/ab-$name.out" && fail "$name: broker said yes"
	if [[ -n $target ]] && immutable "$target"; then fail "$name: $target became immutable"; fi
	pass "refused: $name ($(cat "$T/ab-$name.out"))"
}
mk() { head -c 100 /dev/urandom >"$1"; chmod 0644 "$1"; }
mk "$V/a.bin"; mk "$V/b.bin"; mk "$V/x.tmp"; mk "$V/h1.bin"; ln "$V/h1.bin" "$V/h2.bin"
mk "$V/.sealvault-part"; mk "$mnt/outside.bin"; mk "$T/otherfs.bin"; mkdir -p "$V/d"

# A uid of no tenant is not even kept connected: it could fill the broker's slots.
setpriv --reuid=nobody --regid=nogroup --clear-groups "$SYS_PY" - "$SOCK" /a.bin "$V/a.bin" \
	<"$CLIENT" >"$T/ab-nobody.out" 2>&1 || true
grep -qE '^0 ' "$T/ab-nobody.out" && fail "nobody: broker said yes"
immutable "$V/a.bin" && fail "nobody: a.bin became immutable"
expect_grep "$T/vaultd.log" "refused connect tenant=|refused connect uid=$(id -u nobody) .*the user of no tenant" "grep"
pass "refused: nobody, disconnected at once and audited"
abuse outside-root "does not resolve" "$mnt/outside.bin" python3 "$CLIENT" "$SOCK" /outside.bin "$mnt/outside.bin"
abuse dotdot "not a clean" "$mnt/outside.bin" python3 "$CLIENT" "$SOCK" /../outside.bin "$mnt/outside.bin"
abuse other-fs "not on the tenant's filesystem" "" python3 "$CLIENT" "$SOCK" /a.bin "$T/otherfs.bin"
abuse directory "not a regular file" "$V/d" python3 "$CLIENT" "$SOCK" /d "$V/d"
abuse hardlink "links, not one" "$V/h1.bin" python3 "$CLIENT" "$SOCK" /h1.bin "$V/h1.bin"
abuse temp-class "temp class" "$V/x.tmp" python3 "$CLIENT" "$SOCK" /x.tmp "$V/x.tmp"
abuse reserved "reserved" "$V/.sealvault-part" python3 "$CLIENT" "$SOCK" /.sealvault-part "$V/.sealvault-part"
abuse mismatch "not the file at that path" "$V/a.bin" python3 "$CLIENT" "$SOCK" /b.bin "$V/a.bin"
immutable "$V/b.bin" && fail "mismatch: b.bin became immutable"
abuse no-fd "exactly one fd, got 0" "$V/a.bin" python3 "$CLIENT" "$SOCK" /a.bin "$V/a.bin" --nfds 0
abuse two-fds "exactly one fd, got 2" "$V/a.bin" python3 "$CLIENT" "$SOCK" /a.bin "$V/a.bin" --nfds 2
abuse bad-magic "magic" "$V/a.bin" python3 "$CLIENT" "$SOCK" /a.bin "$V/a.bin" --magic 12345678
abuse garbage "magic|malformed|NUL|DISCONNECTED" "$V/a.bin" python3 "$CLIENT" "$SOCK" /a.bin "$V/a.bin" --garbage
# the same fd must never have been sealed through some other path: a.bin still writable
echo more >>"$V/a.bin" || fail "a.bin not writable after the abuse"

# vaultd still serves, and a correct raw request seals
kill -0 "$vpid" || fail "vaultd died"
python3 "$CLIENT" "$SOCK" /b.bin "$V/b.bin" >"$T/ok.out" 2>&1
grep -q '^0 ' "$T/ok.out" || { cat "$T/ok.out" >&2; fail "valid raw request refused"; }
immutable "$V/b.bin" || fail "b.bin not immutable after a valid request"
python3 "$CLIENT" "$SOCK" /b.bin "$V/b.bin" >"$T/ok2.out" 2>&1
grep -q '^0 ' "$T/ok2.out" || fail "sealing an already immutable file is not a success"
expect_grep "$T/vaultd.log" "refused seal \"/x.tmp\" tenant=t1 .*temp class" "grep"
pass "vaultd still serves; valid request seals; refusals logged"

# SIGTERM: clean exit, socket removed
kill -TERM "$vpid"
wait "$vpid"
rc=$?
[[ $rc == 0 ]] || fail "vaultd exited $rc on SIGTERM"
[[ -e $SOCK ]] && fail "socket left behind"
pass "vaultd stops cleanly on SIGTERM"
