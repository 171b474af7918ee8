#!/usr/bin/env bash
# duplicity 0.8 against vault-sftp with the built-in duplicity profile,
# through a real sshd, --no-encryption. The paramiko backend (sftp://,
# final names written directly): full, incremental, restore byte-identical,
# a second full, then remove-older-than must remove nothing and the first
# chain must still restore. The pexpect backend (pexpect+sftp://, OpenSSH's
# sftp client, ".<name>.part" then posix-rename): full, incremental, restore.
# shellcheck source-path=SCRIPTDIR
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/lib.sh"
source "$here/tools-lib.sh"

require_root
require_cmd duplicity sftp ssh sha256sum diff timeout useradd userdel
/usr/bin/python3 -c 'import paramiko, pexpect' 2>/dev/null ||
	skip "duplicity's python3 lacks paramiko or pexpect (python3-paramiko, python3-pexpect)"
it_init /srv
tool_env svt-dup- duplicity

# Short retries: duplicity retries every refused request --num-retries times
# (default 5), --backend-retry-delay seconds apart (default 30).
D=(duplicity --no-encryption --archive-dir "$T/dup-archive" --volsize 1
	--num-retries 2 --backend-retry-delay 1
	"--ssh-options=-F /dev/null -oIdentityFile=$SSHD_DIR/client_key -oIdentitiesOnly=yes -oBatchMode=yes -oUserKnownHostsFile=$SSHD_DIR/known_hosts -oGlobalKnownHostsFile=/dev/null")
URL="sftp://$TENANT@127.0.0.1:$SSHD_PORT/dup"
PURL="pexpect+sftp://$TENANT@127.0.0.1:$SSHD_PORT/pdup"

src="$T/src"
mkdir -p "$src/a/b" "$src/c"
for i in 1 2 3; do
	head -c $((i * 700000)) /dev/urandom >"$src/a/f$i.bin"
done
for i in $(seq 1 10); do
	printf 'text %s\n%s\n' "$i" "$(head -c 2000 /dev/urandom | base64)" >"$src/a/b/t$i.txt"
done
printf 'small\n' >"$src/c/small"

# restore_check NAME URL STATE_DIR [--time T]: restores into a new dir and
# compares it with STATE_DIR.
restore_check() {
	local name=$1 url=$2 state=$3
	shift 3
	tool_ok "$name" 90 "${D[@]}" restore "$@" "$url" "$T/$name"
	diff -r "$state" "$T/$name" >"$T/$name.diff" 2>&1 || {
		sed 's/^/    | /' "$T/$name.diff" >&2
		fail "$name: the restored tree differs"
	}
	pass "$name: restored tree byte-identical"
}

# ---------------------------------------------------------------- paramiko
tool_ok full1 90 "${D[@]}" full "$src" "$URL"
cp -a "$src" "$T/state1"
sleep 1.1 # duplicity's backup times have one-second resolution
head -c 100000 /dev/urandom >"$src/a/f1.bin"
printf 'new\n' >"$src/c/new"
rm "$src/a/b/t3.txt"
tool_ok incr1 90 "${D[@]}" incremental "$src" "$URL"
cp -a "$src" "$T/state2"
time2=$(date +%s)
expect_no_partials incr1
restore_check restore_incr "$URL" "$T/state2"

sleep 1.1
printf 'third state\n' >"$src/c/third"
tool_ok full2 90 "${D[@]}" full "$src" "$URL"
sleep 1.1
ls "$VAULT/dup" >"$T/names.before"
vault_sums "$T/sums.before"

run_tool remove_older_than 120 "${D[@]}" remove-older-than 1s --force "$URL"
show "duplicity remove-older-than 1s --force (exit $RC)" "$OUT"
vault_sums "$T/sums.after"
expect_same "$T/sums.before" "$T/sums.after" "remove-older-than"
expect_grep "$OUT" 'sealed, write-once vault refuses delete' "remove-older-than: the refusal reaches the user"
log "remove-older-than: exit $RC"

tool_ok status 60 "${D[@]}" collection-status "$URL"
expect_grep "$OUT" 'Found 1 secondary backup chain' "collection-status after remove-older-than"
restore_check restore_old "$URL" "$T/state2" --time "$time2"
restore_check restore_latest "$URL" "$src"

# ---------------------------------------------------------------- pexpect
tool_ok pexpect_full 120 "${D[@]}" full "$src" "$PURL"
sleep 1.1
printf 'pexpect increment\n' >"$src/c/pexpect"
tool_ok pexpect_incr 120 "${D[@]}" incremental "$src" "$PURL"
[[ -z $(find "$VAULT/pdup" -name '.*.part') ]] || fail "pexpect: .part files left: $(ls -A "$VAULT/pdup")"
restore_check pexpect_restore "$PURL" "$src"

vault_sums "$T/sums.end"
expect_kept "$T/sums.before" "$T/sums.end" "end of test"
expect_no_partials "end of test"
expect_no_grep "$SSHD_DIR/sshd.log" 'fatal|segfault' "sshd log"
pass "duplicity through sshd + vault-sftp (profile duplicity)"
