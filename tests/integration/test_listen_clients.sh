#!/usr/bin/env bash
# Real clients through vault-listen, the standalone SSH/SFTP listener, with
# vaultd's broker the only thing that seals (watcher off, no scan), tenants
# on a loop-mounted ext4: the OpenSSH sftp client checks of the vault-sftp
# suite (client-checks.sh: put, get, ls, and every refusal); each upload
# immutable when its put returns; md5sum and sha1sum over exec (right
# digests, nothing outside the root); restic init, backup and a
# byte-identical restore; rclone copy and check, verified with md5sum over
# exec; the host key: made with mode 0600, the one the listener shows, and
# the same after a restart.
# shellcheck source-path=SCRIPTDIR disable=SC2119 # listen_start takes options, not the script's
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/lib.sh"
source "$here/broker-lib.sh"
source "$here/client-checks.sh"
source "$here/tools-lib.sh"
source "$here/listen-lib.sh"

require_root
require_cmd sftp ssh ssh-keygen md5sum sha1sum sha256sum cmp diff restic rclone useradd userdel
it_init /srv
listen_init 512M
listen_tenant lc lt
CU=$L_USER CROOT=$L_ROOT
listen_tenant lr restic
RU=$L_USER RROOT=$L_ROOT
listen_tenant lk rclone
KU=$L_USER KROOT=$L_ROOT
listen_vaultd
listen_start
export HOME="$T/home" LC_ALL=C.UTF-8
install -d -m 0700 "$HOME"

# ---------------------------------------------------------------- host key
[[ -f $L_HOSTKEY ]] || fail "no host key at $L_HOSTKEY after the first start"
[[ $(stat -c '%a %u' "$L_HOSTKEY") == "600 0" ]] ||
	fail "host key: mode/owner $(stat -c '%a %U' "$L_HOSTKEY"), expected 600 root"
ssh-keygen -l -f "$L_HOSTKEY" | grep -q '(ED25519)$' || fail "the host key is not Ed25519"
hostkey_sum=$(sum_of "$L_HOSTKEY")
l_known_hosts "$T/known_hosts"
# A known_hosts naming another key: the same check must then fail.
ssh-keygen -q -t ed25519 -N '' -f "$T/other_host_key"
printf '[127.0.0.1]:%s %s\n' "$L_PORT" "$(cut -d' ' -f1,2 "$T/other_host_key.pub")" >"$T/known_hosts.wrong"
printf 'ls\n' >"$T/ls.batch"
strict_ls() {
	l_sftp "$CU" "$T/ls.batch" "$2" -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$1"
}
strict_ls "$T/known_hosts" "$T/strict.out" || {
	sed 's/^/    | /' "$T/strict.out" >&2
	fail "sftp with the host key file's public key as known_hosts failed"
}
rc=0
strict_ls "$T/known_hosts.wrong" "$T/strict-wrong.out" || rc=$?
[[ $rc -ne 0 ]] || fail "control: sftp accepted a known_hosts with another key"
expect_grep "$T/strict-wrong.out" 'IDENTIFICATION HAS CHANGED|verification failed' "control: host key mismatch"
pass "host key: Ed25519, mode 0600, root's, the key the listener shows"

# ---------------------------------------------------------------- immutable when put returns
mkdir -p "$T/up"
for i in $(seq 1 10); do
	head -c $((i * 4099)) /dev/urandom >"$T/up/f$i.bin"
	printf 'put %s /f%s.bin\n' "$T/up/f$i.bin" "$i" >"$T/put.batch"
	l_sftp "$CU" "$T/put.batch" "$T/put.out" || {
		sed 's/^/    | /' "$T/put.out" >&2
		fail "upload f$i.bin failed"
	}
	# At once: vaultd's watcher is off, only the broker can have sealed it.
	immutable "$CROOT/f$i.bin" || fail "f$i.bin is not immutable when its put returned ($(lsattr -d "$CROOT/f$i.bin"))"
	cmp -s "$T/up/f$i.bin" "$CROOT/f$i.bin" || fail "f$i.bin stored wrong"
done
pass "10 uploads, each immutable when its put returned"
# An unsealed (temp) upload keeps its owner: the session's user.
printf 'put %s /scratch.tmp\n' "$T/up/f1.bin" >"$T/tmp.batch"
l_sftp "$CU" "$T/tmp.batch" "$T/tmp.out" || fail "upload of a temp file failed"
[[ $(stat -c %U "$CROOT/scratch.tmp") == "$CU" ]] ||
	fail "a temp upload is owned by $(stat -c %U "$CROOT/scratch.tmp"), expected the tenant $CU (the session's user)"
immutable "$CROOT/scratch.tmp" && fail "a temp upload was sealed"
pass "the session runs as the tenant's user"

# ---------------------------------------------------------------- md5sum, sha1sum over exec
hash_check() {
	local tool=$1 vpath=$2 local=$3 want got rc=0
	want=$("$tool" <"$local" | cut -d' ' -f1)
	l_ssh "$CU" "$T/$tool.out" "$tool" "$vpath" || rc=$?
	[[ $rc -eq 0 ]] || {
		sed 's/^/    | /' "$T/$tool.out" >&2
		fail "ssh $tool $vpath exited $rc"
	}
	got=$(grep -E '^[0-9a-f]{32,40} ' "$T/$tool.out" | cut -d' ' -f1)
	[[ $got == "$want" ]] || {
		sed 's/^/    | /' "$T/$tool.out" >&2
		fail "ssh $tool $vpath: digest '$got', expected $want"
	}
}
hash_check md5sum /f3.bin "$T/up/f3.bin"
hash_check sha1sum /f3.bin "$T/up/f3.bin"
hash_check md5sum /f7.bin "$T/up/f7.bin"
pass "md5sum and sha1sum over exec print the stored file's digests"

# Nothing outside the root: not by absolute path, not by "..", not through
# a symlink (made by root: clients cannot make one).
ln -s /etc/passwd "$CROOT/escape"
passwd_md5=$(md5sum </etc/passwd | cut -d' ' -f1)
for p in /etc/passwd ../../../../../../../etc/passwd /../../etc/passwd /escape; do
	rc=0
	l_ssh "$CU" "$T/out.out" md5sum "$p" || rc=$?
	expect_no_grep "$T/out.out" "$passwd_md5" "md5sum $p printed the digest of the host's /etc/passwd"
	[[ $rc -ne 0 ]] || {
		sed 's/^/    | /' "$T/out.out" >&2
		fail "md5sum $p exited 0"
	}
done
rm -f "$CROOT/escape"
pass "md5sum of paths outside the root refused"

# ---------------------------------------------------------------- restic
export RESTIC_PASSWORD=sealvault-listen-test
l_ssh_cmd
R=(restic --repo "sftp:$RU@127.0.0.1:/repo" -o "sftp.command=$L_SSH_CMD $RU@127.0.0.1 -s sftp" --no-cache)
src="$T/src"
mkdir -p "$src/docs" "$src/db/deep"
for i in 1 2 3 4; do
	head -c $((i * 200000)) /dev/urandom >"$src/db/part$i.bin"
done
for i in $(seq 1 12); do
	printf 'document %s\n%s\n' "$i" "$(head -c 2000 /dev/urandom | base64)" >"$src/docs/doc$i.txt"
done
head -c 1500000 /dev/urandom >"$src/db/deep/big.bin"
tool_ok restic_init 60 "${R[@]}" init
[[ -f $RROOT/repo/config ]] || fail "restic init: no repository in the vault"
immutable "$RROOT/repo/config" || fail "restic init: repo/config is not immutable"
tool_ok restic_backup 90 "${R[@]}" backup --host sealvault-listen "$src"
tool_ok restic_restore 90 "${R[@]}" restore latest --target "$T/restore"
diff -r --no-dereference "$src" "$T/restore$src" >"$T/restic.diff" 2>&1 || {
	sed 's/^/    | /' "$T/restic.diff" >&2
	fail "restic restore differs from the source"
}
n=$(find "$RROOT/repo/data" -type f | wc -l)
[[ $n -gt 0 ]] || fail "restic stored no data files"
while IFS= read -r -d '' f; do
	immutable "$f" || fail "restic data file ${f#"$RROOT"} is not immutable"
done < <(find "$RROOT/repo/data" "$RROOT/repo/snapshots" "$RROOT/repo/index" -type f -print0)
pass "restic init, backup, restore byte-identical through vault-listen ($n data files, all immutable)"

# ---------------------------------------------------------------- rclone
RCONF="$T/rclone.conf"
cat >"$RCONF" <<EOF
[vault]
type = sftp
host = 127.0.0.1
port = $L_PORT
user = $KU
key_file = $L_KEY
known_hosts_file = $T/known_hosts
EOF
RC_=(rclone --config "$RCONF" --retries 1 --low-level-retries 2 -vv)
rsrc="$T/rsrc"
mkdir -p "$rsrc/a/b"
for i in $(seq 1 8); do
	head -c $((i * 9000)) /dev/urandom >"$rsrc/a/f$i.bin"
done
head -c 500000 /dev/urandom >"$rsrc/a/b/big.bin"
printf 'odd name\n' >"$rsrc/with space & 'quote'.txt"
tool_ok rclone_copy 90 "${RC_[@]}" copy "$rsrc" vault:dst
diff -r "$rsrc" "$KROOT/dst" >"$T/rclone.diff" 2>&1 || {
	sed 's/^/    | /' "$T/rclone.diff" >&2
	fail "rclone copy: the vault differs from the source"
}
expect_grep "$RCONF" '^md5sum_command = md5sum$' "rclone detected md5sum over exec"
n=$(grep -Ec ': md5 = [0-9a-f]{32} OK$' "$OUT")
[[ $n -eq $(find "$rsrc" -type f | wc -l) ]] || {
	show rclone_copy "$OUT"
	fail "rclone copy: $n uploads verified by md5, expected every file"
}
tool_ok rclone_check 60 "${RC_[@]}" check "$rsrc" vault:dst
expect_grep "$OUT" '0 differences found' "rclone check"
expect_no_grep "$OUT" 'not check|no hashes|hash.*unsupported' "rclone check compared hashes"
pass "rclone copy (each upload verified with md5sum over exec) and check"

# ---------------------------------------------------------------- restart: same host key
listen_stop
pass "SIGTERM: vault-listen exited 0, its children gone"
listen_start
[[ $(sum_of "$L_HOSTKEY") == "$hostkey_sum" ]] || fail "the host key file changed at the restart"
strict_ls "$T/known_hosts" "$T/strict2.out" || {
	sed 's/^/    | /' "$T/strict2.out" >&2
	fail "after a restart the listener shows another host key"
}
pass "after a restart: the same host key"

# ---------------------------------------------------------------- client checks
# Last: a failure in the engine's own checks does not hide the listener's.
# vault-sftp's lines go to the listener's stderr: append what a session
# logged to its output, so that client_checks sees the refusal lines too.
run_listen() {
	local rc=0
	l_mark
	l_sftp "$CU" "$1" "$2" || rc=$?
	l_since >>"$2"
	return "$rc"
}
CC_RUN=run_listen
CC_DISK="$CROOT"
CC_P=""
CC_LOG="/"
# vaultd gives sealed files to root (protect.c): no CC_OWNER (the session's
# uid is checked on a temp file above).
client_checks
# A fingerprint may hold "+", an ERE quantifier.
expect_grep "$L_LOG" "${L_FP//+/\\+}" "the listener's lines carry the key's fingerprint"
pass "the vault-sftp client checks through vault-listen"

expect_no_grep "$L_LOG" 'segfault|Assertion|AddressSanitizer|runtime error|killed by signal' "listener log"
pass "OpenSSH sftp, restic and rclone through vault-listen"
