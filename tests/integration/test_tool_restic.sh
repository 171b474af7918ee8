#!/usr/bin/env bash
# restic 0.14 (sftp backend) against vault-sftp with the built-in restic
# profile, through a real sshd: init, two backups, check, restore
# byte-identical; then "forget --keep-last 1 --prune" must destroy nothing
# (every stored file still there, byte-identical), check still passes and
# the first snapshot still restores. restic removes its own lock files
# (locks/ is the profile's mutable class): none may be left after a command.
# shellcheck source-path=SCRIPTDIR
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/lib.sh"
source "$here/tools-lib.sh"

require_root
require_cmd restic sftp ssh sha256sum diff timeout useradd userdel
it_init /srv
tool_env svt-restic- restic

export RESTIC_PASSWORD=sealvault-test-password
R=(restic --repo "sftp:$TENANT@127.0.0.1:/repo"
	-o "sftp.command=$SSH_CMD $TENANT@127.0.0.1 -s sftp"
	--no-cache)
# A refused lock removal makes restic retry for about a minute: stop at once.
TOOL_FAILFAST='Remove\(<lock/'
TOOL_FAILFAST_WHY="restic's removal of its own lock file was refused (the profile's mutable class must cover the repository's locks/)"

# ---------------------------------------------------------------- source data
src="$T/src"
mkdir -p "$src/docs" "$src/db/deep/er"
for i in 1 2 3 4 5 6; do
	head -c $((i * 150000)) /dev/urandom >"$src/db/part$i.bin"
done
for i in $(seq 1 20); do
	printf 'document %s\n%s\n' "$i" "$(head -c 3000 /dev/urandom | base64)" >"$src/docs/doc$i.txt"
done
head -c 2000000 /dev/urandom >"$src/db/deep/er/big.bin"
ln -s docs/doc1.txt "$src/link"

locks_empty() {
	local n
	n=$(find "$VAULT/repo/locks" -mindepth 1 -not -name '.sealvault*' | wc -l)
	[[ $n -eq 0 ]] || {
		ls -la "$VAULT/repo/locks" >&2
		fail "$1: $n stale lock file(s) left in locks/"
	}
}

# ---------------------------------------------------------------- init, backups
tool_ok init 60 "${R[@]}" init
locks_empty init
[[ -f $VAULT/repo/config && -d $VAULT/repo/data/ff ]] || fail "init: no repository layout in the vault"
pass "restic init"

tool_ok backup1 90 "${R[@]}" backup --host sealvault-test "$src"
locks_empty backup1
cp -a "$src" "$T/src1"
pass "first backup"

# Change, add and delete files, then an incremental backup.
head -c 300000 /dev/urandom >"$src/db/part2.bin"
printf 'new\n' >"$src/docs/new.txt"
rm "$src/docs/doc7.txt"
tool_ok backup2 90 "${R[@]}" backup --host sealvault-test "$src"
locks_empty backup2
pass "second (incremental) backup"

tool_ok snapshots 60 "${R[@]}" snapshots --json
nsnap=$(grep -o '"short_id"' "$OUT" | wc -l)
[[ $nsnap -eq 2 ]] || fail "snapshots: $nsnap snapshots, expected 2"
snap1=$(grep -o '"short_id":"[0-9a-f]*"' "$OUT" | head -1 | cut -d'"' -f4)
locks_empty snapshots

tool_ok check1 90 "${R[@]}" check
locks_empty check1
pass "restic check"

tool_ok restore_latest 90 "${R[@]}" restore latest --target "$T/restore2"
locks_empty restore_latest
diff -r --no-dereference "$src" "$T/restore2$src" >"$T/diff2" 2>&1 || {
	sed 's/^/    | /' "$T/diff2" >&2
	fail "restore of the latest snapshot differs from the source"
}
pass "restore of the latest snapshot is byte-identical"
expect_no_partials "after the backups"

# ---------------------------------------------------------------- forget --prune
vault_sums "$T/sums.before" repo/locks
run_tool forget_prune 120 "${R[@]}" forget --keep-last 1 --prune
show "restic forget --keep-last 1 --prune (exit $RC)" "$OUT"
locks_empty forget_prune
vault_sums "$T/sums.after" repo/locks
expect_kept "$T/sums.before" "$T/sums.after" "forget --prune"
expect_grep "$OUT" 'ermission denied|refuses' "forget --prune: the refusal reaches the user"
[[ $RC -ne 0 ]] || fail "forget --prune: exit 0, although nothing could be removed"
added=$(LC_ALL=C comm -13 "$T/sums.before" "$T/sums.after" | wc -l)
log "forget --prune: restic exited $RC; $added file(s) added to the vault"

tool_ok snapshots_after 60 "${R[@]}" snapshots --json
nsnap=$(grep -o '"short_id"' "$OUT" | wc -l)
[[ $nsnap -eq 2 ]] || fail "after forget: $nsnap snapshots, expected both still there"
locks_empty snapshots_after

tool_ok check2 90 "${R[@]}" check --read-data
locks_empty check2
pass "restic check --read-data after the refused forget/prune"

tool_ok restore_first 90 "${R[@]}" restore "$snap1" --target "$T/restore1"
locks_empty restore_first
diff -r --no-dereference "$T/src1" "$T/restore1$src" >"$T/diff1" 2>&1 || {
	sed 's/^/    | /' "$T/diff1" >&2
	fail "restore of the first snapshot differs from the first source state"
}
pass "the first snapshot still restores byte-identical"

left=$(find "$VAULT" -name '*-restic-temp-*' -printf '%P\n' | head -3)
[[ -z $left ]] || fail "restic temp uploads left in the vault: $left"
vault_sums "$T/sums.end" repo/locks
expect_kept "$T/sums.before" "$T/sums.end" "end of test"
expect_no_partials "end of test"
expect_no_grep "$SSHD_DIR/sshd.log" 'fatal|segfault' "sshd log"
pass "restic through sshd + vault-sftp (profile restic)"
