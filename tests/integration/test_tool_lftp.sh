#!/usr/bin/env bash
# lftp 4.9 (sftp://) against vault-sftp with the built-in lftp profile,
# through a real sshd: "mirror -R" of a tree, again unchanged, again with
# one changed and one new file (default, --overwrite, --only-missing), and
# with xfer:use-temp-file. Nothing stored ever changes.
# shellcheck source-path=SCRIPTDIR
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/lib.sh"
source "$here/tools-lib.sh"

require_root
require_cmd lftp sftp ssh sha256sum diff timeout useradd userdel
it_init /srv
tool_env svt-lftp- lftp

# lftp NAME [SETTINGS;] COMMAND: one lftp session as the tenant; the empty
# password after "-u USER," keeps lftp from asking for one (keys only).
lftp_run() {
	local name=$1 cmds=$2
	run_tool "$name" 90 lftp -c "set sftp:connect-program \"$SSH_CMD\"; \
set net:max-retries 1; set net:timeout 20; set cmd:fail-exit yes; \
open -u $TENANT, -p $SSHD_PORT sftp://127.0.0.1; $cmds"
}
lftp_ok() {
	lftp_run "$@"
	if [[ $RC -ne 0 ]]; then
		show "$1" "$OUT"
		fail "$1: lftp exited $RC, expected 0"
	fi
	log "$1: ok"
}

src="$T/src"
mkdir -p "$src/a/b" "$src/c"
for i in 1 2 3 4; do
	head -c $((i * 90000)) /dev/urandom >"$src/a/f$i.bin"
done
printf 'text\n' >"$src/a/b/t.txt"
printf 'other\n' >"$src/c/o.txt"
chmod 0640 "$src/a/f2.bin"
chmod 0750 "$src/a/b"
find "$src" -exec touch -h -d '2020-01-02 03:04:05' {} +

# ---------------------------------------------------------------- mirror 1
lftp_ok mirror1 "mirror -R -v $src /dst"
diff -r "$src" "$VAULT/dst" >"$T/diff1" 2>&1 || {
	sed 's/^/    | /' "$T/diff1" >&2
	fail "mirror1: the vault differs from the source"
}
# The fsetstat on the open upload handle applies; lftp's later chmod by
# path is answered OK without effect (chmod ignore).
[[ $(stat -c %Y "$VAULT/dst/a/f1.bin") == "$(stat -c %Y "$src/a/f1.bin")" ]] ||
	fail "mirror1: the source mtime (fsetstat on the upload handle) was not applied"
log "mirror1: modes stored: a/f2.bin $(stat -c %a "$VAULT/dst/a/f2.bin") (source 640)," \
	"a/b $(stat -c %a "$VAULT/dst/a/b") (source 750)"
expect_no_partials mirror1
vault_sums "$T/sums1"
pass "mirror -R: the vault holds the source tree, source mtimes kept"

lftp_ok mirror_again "mirror -R -v $src /dst"
expect_no_grep "$OUT" 'Transferring|Removing' "mirror again, unchanged source"
vault_sums "$T/sums2"
expect_same "$T/sums1" "$T/sums2" "mirror -R of an unchanged tree"

# ---------------------------------------------------------------- mirror 2
head -c 50000 /dev/urandom >"$src/a/f1.bin"
touch -d '2020-01-02 03:04:05' "$src/a/f1.bin"
printf 'new file\n' >"$src/c/new.txt"

lftp_run mirror2_default "mirror -R -v $src /dst"
show "lftp mirror -R, one changed and one new file (exit $RC)" "$OUT"
[[ $RC -ne 0 ]] || fail "mirror2 default: exit 0 although a changed file could not be stored"
expect_grep "$OUT" 'Access failed: .*a/f1\.bin: .*refuses' "mirror2 default: the refusal reaches the user"
cmp -s "$src/c/new.txt" "$VAULT/dst/c/new.txt" || fail "mirror2 default: the new file was not stored"
vault_sums "$T/sums3"
expect_kept "$T/sums1" "$T/sums3" "mirror2 default"
expect_no_partials mirror2_default

lftp_run mirror2_overwrite "mirror -R -v --overwrite $src /dst"
show "lftp mirror -R --overwrite, one changed file (exit $RC)" "$OUT"
[[ $RC -ne 0 ]] || fail "mirror2 --overwrite: exit 0 although a changed file could not be stored"
expect_grep "$OUT" 'Access failed: .*a/f1\.bin: .*refuses' "mirror2 --overwrite: the refusal reaches the user"
vault_sums "$T/sums4"
expect_same "$T/sums3" "$T/sums4" "mirror2 --overwrite"

printf 'another new file\n' >"$src/c/new2.txt"
lftp_ok mirror2_only_missing "mirror -R -v --only-missing $src /dst"
show "lftp mirror -R --only-missing, one changed and one new file (exit $RC)" "$OUT"
expect_no_grep "$OUT" 'f1\.bin' "mirror2 --only-missing leaves the changed file alone"
cmp -s "$src/c/new2.txt" "$VAULT/dst/c/new2.txt" || fail "mirror2 --only-missing: the new file was not stored"
vault_sums "$T/sums5"
expect_kept "$T/sums4" "$T/sums5" "mirror2 --only-missing"
pass "mirror2 --only-missing: new file stored, changed file skipped, exit 0"

# ---------------------------------------------------------------- temp names
# xfer:use-temp-file: ".in.<name>" (temp class), then remove of the target
# (ENOENT for a new name) and plain rename onto it (publishes, seals).
lftp_ok mirror_temp1 "set xfer:use-temp-file yes; mirror -R -v $src /tmp-dst"
diff -r "$src" "$VAULT/tmp-dst" >"$T/diff-temp" 2>&1 || {
	sed 's/^/    | /' "$T/diff-temp" >&2
	fail "mirror with xfer:use-temp-file: the vault differs from the source"
}
pass "mirror -R with xfer:use-temp-file: published through rename"
vault_sums "$T/sums6"

head -c 60000 /dev/urandom >"$src/a/f2.bin"
lftp_run mirror_temp2 "set xfer:use-temp-file yes; mirror -R -v $src /tmp-dst"
show "lftp mirror -R with xfer:use-temp-file, one changed file (exit $RC)" "$OUT"
[[ $RC -ne 0 ]] || fail "mirror with temp file, changed file: exit 0"
expect_grep "$OUT" 'Access failed: .*a/f2\.bin' "mirror with temp file: the refusal reaches the user"
vault_sums "$T/sums7"
expect_kept "$T/sums6" "$T/sums7" "mirror -R with xfer:use-temp-file, changed file"
left=$(cd "$VAULT/tmp-dst" && find . -name '.in.*' | LC_ALL=C sort | tr '\n' ' ')
log "mirror_temp2: temp upload(s) left behind (temp class, client-visible): ${left:-none}"

vault_sums "$T/sums.end"
expect_kept "$T/sums1" "$T/sums.end" "end of test"
expect_no_partials "end of test"
expect_no_grep "$SSHD_DIR/sshd.log" 'fatal|segfault' "sshd log"
pass "lftp through sshd + vault-sftp (profile lftp)"
