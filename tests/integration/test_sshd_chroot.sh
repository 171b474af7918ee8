#!/usr/bin/env bash
# vault-sftp under sshd's ChrootDirectory with --root /: the static binary
# installed by scripts/chroot-install.sh is the only file in the chroot and
# the tenant's login shell (sshd runs "shell -c COMMAND" inside the chroot).
#   1. ForceCommand: the OpenSSH client checks, exec and forwarding refused.
#   2. Subsystem only, no ForceCommand: the login shell itself (vault-sftp -c)
#      refuses every command but vault-sftp.
# shellcheck source-path=SCRIPTDIR
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/lib.sh"
source "$here/client-checks.sh"

require_root
require_cmd sftp ssh sha256sum cmp timeout useradd userdel readelf
[[ -n ${VAULT_SFTP_STATIC:-} ]] || fail "VAULT_SFTP_STATIC not set (needs -DSEALVAULT_STATIC_SFTP=ON)"
[[ -x $VAULT_SFTP_STATIC ]] || fail "not executable: $VAULT_SFTP_STATIC"
src=${SEALVAULT_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
it_init /srv
sshd_init

shell=/usr/lib/sealvault/vault-sftp
user=$(unique_name svt-chr-)
chroots="$T/chroot"
chroot="$chroots/$user"
install -d -o root -g root -m 0755 "$chroots" "$chroot"
# Home is the writable upload dir, as the client sees it after the chroot.
make_user "$user" /upload "$shell"
install -d -o "$user" -g "$user" -m 0750 "$chroot/upload"
authorize "$user"

bash "$src/scripts/chroot-install.sh" --binary "$VAULT_SFTP_STATIC" "$chroot" >"$T/install.out" 2>&1 || {
	cat "$T/install.out" >&2
	fail "scripts/chroot-install.sh failed"
}
[[ -x $chroot$shell && $(stat -c '%U %a' "$chroot$shell") == "root 755" ]] ||
	fail "chroot-install.sh did not install a root-owned 0755 $shell"
cmp -s "$VAULT_SFTP_STATIC" "$chroot$shell" || fail "installed binary differs from $VAULT_SFTP_STATIC"
expect_grep "$T/install.out" "usermod --shell $shell" "chroot-install.sh documents the login shell"

# Nothing but the static binary inside the chroot (upload/ aside).
chroot_contents() {
	(cd "$chroot" && find . -path ./upload -prune -o -printf '%y %p\n' | LC_ALL=C sort)
}
expected=$(printf '%s\n' "d ." "d ./usr" "d ./usr/lib" "d ./usr/lib/sealvault" "f .$shell" | LC_ALL=C sort)
[[ $(chroot_contents) == "$expected" ]] || {
	chroot_contents | sed 's/^/    | /' >&2
	fail "the chroot holds more than the static binary"
}
if readelf -l "$chroot$shell" | grep -q 'Requesting program interpreter'; then
	fail "$shell in the chroot is dynamically linked"
fi
pass "chroot holds only the static vault-sftp"

match_block() {
	cat <<EOF
Subsystem sftp $shell --root /
AllowUsers $user
EOF
	sealvault_match_block "$user" chroot "$chroots/%u"
}

# ---------------------------------------------------------------- 1. ForceCommand
{
	match_block
	printf '\tForceCommand %s --root /\n' "$shell"
} >"$T/sshd-force.conf"
start_sshd "$T/sshd-force.conf"

run_ssh() { sftp_ssh "$user" "$1" "$2"; }
CC_RUN=run_ssh
CC_DISK="$chroot/upload"
CC_P="upload/"
CC_LOG=""
CC_OWNER="$user"
client_checks

canary="$chroot/upload/a.bin"
canary_sum=$(sum_of "$canary")
for cmd in "rm -rf /upload" "id" "/bin/sh -c id" "echo PWNED-\$((6*7))"; do
	rc=0
	ssh_cmd "$user" "$T/exec.out" -- "$cmd" || rc=$?
	expect_no_grep "$T/exec.out" 'PWNED-42|uid=' "exec '$cmd' produced shell output"
	[[ $(sum_of "$canary") == "$canary_sum" ]] || fail "exec '$cmd' damaged the vault"
done
rc=0
ssh_cmd "$user" "$T/w.out" -W "127.0.0.1:$SSHD_PORT" || rc=$?
expect_no_grep "$T/w.out" '^SSH-2\.0' "ssh -W forwarded a connection"
pass "ForceCommand in the chroot: exec requests and forwarding get nothing"

[[ $(chroot_contents) == "$expected" ]] || fail "the sessions changed the chroot outside upload/"
stop_pid "$SSHD_PID"

# ---------------------------------------------------------------- 2. login shell as the wall
match_block >"$T/sshd-subsystem.conf"
start_sshd "$T/sshd-subsystem.conf"

L="$T/local2"
mkdir -p "$L"
head -c 123456 /dev/urandom >"$L/sub.bin"
printf '%s\n' "put $L/sub.bin upload/sub.bin" "get upload/sub.bin $L/sub.got" "ls upload" >"$T/sub.batch"
sftp_ssh "$user" "$T/sub.batch" "$T/sub.out" || {
	sed 's/^/    | /' "$T/sub.out" >&2
	fail "sftp through the Subsystem line (vault-sftp -c) failed"
}
cmp -s "$L/sub.bin" "$chroot/upload/sub.bin" || fail "upload through the Subsystem line differs"
cmp -s "$L/sub.bin" "$L/sub.got" || fail "download through the Subsystem line differs"
pass "sftp through 'Subsystem sftp $shell --root /' works"

state=$(tree_state "$chroot/upload")
for cmd in "id" "/bin/sh -c id" "rm -rf /upload" "echo PWNED" "sh" "$shell --root / ; id" "exec id"; do
	rc=0
	ssh_cmd "$user" "$T/exec.out" -- "$cmd" || rc=$?
	expect_no_grep "$T/exec.out" 'PWNED|uid=' "exec '$cmd' produced shell output"
	[[ $rc -ne 0 ]] || {
		sed 's/^/    | /' "$T/exec.out" >&2
		fail "exec '$cmd' through the login shell exited 0; vault-sftp -c must refuse it"
	}
	[[ $(tree_state "$chroot/upload") == "$state" ]] || fail "exec '$cmd' changed the vault"
done
pass "vault-sftp as login shell refuses the client's commands"

# A plain login (no command): the login shell gets no -c and must not serve a shell.
rc=0
ssh_cmd "$user" "$T/login.out" -T || rc=$?
expect_no_grep "$T/login.out" 'uid=|\$ $|# $' "plain login"
[[ $rc -ne 0 ]] || fail "a plain login (no command) exited 0"
pass "a plain login gets no shell"

[[ $(chroot_contents) == "$expected" ]] || fail "the sessions changed the chroot outside upload/"
expect_no_grep "$SSHD_DIR/sshd.log" 'fatal|segfault' "sshd log"
pass "sshd ChrootDirectory + static vault-sftp"
