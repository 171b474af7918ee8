#!/usr/bin/env bash
# rclone 1.60 (sftp backend) against vault-sftp with the built-in rclone
# profile, through a real sshd: "rclone copy" of a tree with checksum
# verification through vault-sftp's own md5sum answer, then a second copy
# after one source file changed: default (overwrite refused), --immutable
# and --ignore-existing. The stored bytes never change.
# shellcheck source-path=SCRIPTDIR
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/lib.sh"
source "$here/tools-lib.sh"

require_root
require_cmd rclone sftp ssh sha256sum md5sum diff timeout useradd userdel
it_init /srv
tool_env svt-rclone- rclone

# An sftp remote as the rclone docs describe it. No shell_type and no
# md5sum_command: rclone detects them on first use (exec through sshd, which
# vault-sftp answers) and writes them back into this file.
RCONF="$T/rclone.conf"
cat >"$RCONF" <<EOF
[vault]
type = sftp
host = 127.0.0.1
port = $SSHD_PORT
user = $TENANT
key_file = $SSHD_DIR/client_key
known_hosts_file = $SSHD_DIR/known_hosts
EOF
RC_=(rclone --config "$RCONF" --retries 1 --low-level-retries 2 -vv)
# What rclone printed, without its debug chatter but with every refusal.
show_rclone() {
	awk '!/ DEBUG : / || /denied/' "$OUT" >"$OUT.shown"
	show "$1" "$OUT.shown"
}

src="$T/src"
mkdir -p "$src/a/b" "$src/c"
for i in $(seq 1 15); do
	head -c $((i * 7000)) /dev/urandom >"$src/a/f$i.bin"
done
for i in 1 2 3; do
	head -c 400000 /dev/urandom >"$src/a/b/big$i.bin"
done
printf 'same size\n' >"$src/c/small.txt"
printf '' >"$src/c/empty"
# rclone quotes the path of its md5sum command for a unix shell; vault-sftp
# parses that quoting itself.
printf 'odd name\n' >"$src/c/with space & 'quote' \$x;ü.txt"
# Source mtimes well before the upload: the vault ignores rclone's setstat
# of the mtime (profile: times ignore), so rclone sees other mtimes on the
# remote at the next run and compares checksums instead.
find "$src" -exec touch -h -d '2020-01-02 03:04:05' {} +

# ---------------------------------------------------------------- copy 1
tool_ok copy1 90 "${RC_[@]}" copy "$src" vault:dst
cp "$OUT" "$T/copy1.log"
diff -r "$src" "$VAULT/dst" >"$T/diff1" 2>&1 || {
	sed 's/^/    | /' "$T/diff1" >&2
	fail "copy1: the vault differs from the source"
}
pass "rclone copy: the vault holds the source tree byte-identical"
expect_no_partials copy1

# The md5sum verification ran through vault-sftp's own md5sum answer.
expect_grep "$RCONF" '^md5sum_command = md5sum$' "rclone's hash command detection"
expect_grep "$T/copy1.log" 'Running remote command: md5sum /dst/' "copy1: md5sum after upload"
expect_grep "$T/copy1.log" ': md5 = [0-9a-f]{32} OK' "copy1: verified checksums"
expect_no_grep "$T/copy1.log" 'md5 = .* (differ|mismatch)|corrupted on transfer' "copy1: checksums"
n=$(grep -Ec ': md5 = [0-9a-f]{32} OK$' "$T/copy1.log")
[[ $n -eq $(find "$src" -type f | wc -l) ]] || fail "copy1: $n uploads verified by md5, expected every file"
pass "uploads verified with md5sum through vault-sftp (shell_type and md5sum_command detected)"
vault_sums "$T/sums1"

# rclone's own listing and hashes of the remote agree with the source.
tool_ok check1 60 "${RC_[@]}" check "$src" vault:dst
expect_grep "$OUT" '0 differences found' "rclone check"
pass "rclone check: 0 differences"

# ---------------------------------------------------------------- copy 2
# One file changed with the same size, one with another size, one only touched.
head -c 21000 /dev/urandom >"$src/a/f3.bin"
printf 'a longer second version\n' >"$src/c/small.txt"
touch -d '2001-02-03 04:05:06' "$src/a/f5.bin" "$src/a/f3.bin" "$src/c/small.txt"
run_tool copy2_default 90 "${RC_[@]}" copy "$src" vault:dst
show_rclone "rclone copy, changed sources, default flags (exit $RC)"
vault_sums "$T/sums2"
expect_same "$T/sums1" "$T/sums2" "copy2 default"
expect_no_partials copy2_default
[[ $RC -ne 0 ]] || fail "copy2 default: exit 0 although two changed files could not be stored"
expect_grep "$OUT" 'a/f3.bin: Failed to copy: Update Close failed: permission denied' "copy2 default, same-size change"
expect_grep "$OUT" 'c/small.txt: Failed to copy: Update Close failed: permission denied' "copy2 default, longer change"
expect_grep "$OUT" 'a/f5.bin: Unchanged skipping' "copy2 default, touched file"
pass "copy2 default: changed files refused (exit $RC), touched file left alone, vault unchanged"

# Plain --immutable: rclone compares mtimes, and the vault never stored
# the source mtimes (times ignore), so rclone flags every file it cannot
# match by mtime, changed or not. Recorded, not relied on.
run_tool copy2_immutable 90 "${RC_[@]}" copy --immutable "$src" vault:dst
show_rclone "rclone copy --immutable, changed sources (exit $RC)"
vault_sums "$T/sums3"
expect_same "$T/sums1" "$T/sums3" "copy2 --immutable"
[[ $RC -ne 0 ]] || fail "copy2 --immutable: exit 0 although two sources changed"
expect_no_grep "$OUT" 'Update Close failed' "copy2 --immutable: no upload attempted"
log "copy2 --immutable: exit $RC, $(grep -c 'ERROR : .*immutable file modified' "$OUT") file(s) reported modified" \
	"($(grep -c 'Timestamp mismatch between immutable objects' "$OUT") by mtime alone)"

# --immutable --checksum (what the profile document recommends): only the
# two really changed files are reported, nothing is sent for them.
run_tool copy2_immutable_checksum 90 "${RC_[@]}" copy --immutable --checksum "$src" vault:dst
show_rclone "rclone copy --immutable --checksum, changed sources (exit $RC)"
vault_sums "$T/sums3b"
expect_same "$T/sums1" "$T/sums3b" "copy2 --immutable --checksum"
[[ $RC -ne 0 ]] || fail "copy2 --immutable --checksum: exit 0 although two sources changed"
expect_grep "$OUT" 'a/f3.bin: Source and destination exist but do not match: immutable file modified' \
	"copy2 --immutable --checksum, same-size change"
expect_grep "$OUT" 'c/small.txt: Source and destination exist but do not match: immutable file modified' \
	"copy2 --immutable --checksum, longer change"
n=$(grep -c 'ERROR : .*immutable file modified' "$OUT")
[[ $n -eq 2 ]] || fail "copy2 --immutable --checksum: $n files reported modified, expected the 2 changed ones"
expect_no_grep "$OUT" 'Update Close failed' "copy2 --immutable --checksum: no upload attempted"
pass "copy2 --immutable --checksum: the 2 changed files reported (exit $RC), nothing sent, vault unchanged"

run_tool copy2_ignore_existing 90 "${RC_[@]}" copy --ignore-existing "$src" vault:dst
show_rclone "rclone copy --ignore-existing, changed sources (exit $RC)"
vault_sums "$T/sums4"
expect_same "$T/sums1" "$T/sums4" "copy2 --ignore-existing"
[[ $RC -eq 0 ]] || fail "copy2 --ignore-existing: exit $RC, expected 0"
pass "copy2 --ignore-existing: exit 0, nothing sent, vault unchanged"

# ---------------------------------------------------------------- new files
# Later runs still add new files (and dirs), verified as before.
mkdir -p "$src/d"
head -c 90000 /dev/urandom >"$src/d/new.bin"
tool_ok copy3 90 "${RC_[@]}" copy --immutable --checksum \
	--exclude '/a/f3.bin' --exclude '/c/small.txt' "$src" vault:dst
expect_grep "$OUT" 'd/new.bin: md5 = [0-9a-f]{32} OK' "copy3: new file verified"
cmp -s "$src/d/new.bin" "$VAULT/dst/d/new.bin" || fail "copy3: new file stored wrong"
vault_sums "$T/sums5"
expect_kept "$T/sums1" "$T/sums5" "copy3 (--immutable --checksum) with a new file"
expect_no_partials "end of test"
expect_no_grep "$SSHD_DIR/sshd.log" 'fatal|segfault' "sshd log"
pass "rclone through sshd + vault-sftp (profile rclone)"
