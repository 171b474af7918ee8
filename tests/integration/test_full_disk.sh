#!/usr/bin/env bash
# A full disk: vault-sftp rooted on a small loop-mounted ext4. Uploads go on
# until the disk is full; the failing put reports an error ("no space left on
# device"), its name is not published, the earlier files are intact, and
# once space is freed a retry of the same name succeeds.
# shellcheck source-path=SCRIPTDIR
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/lib.sh"

require_root
require_cmd sftp mkfs.ext4 mount umount losetup sha256sum cmp timeout
it_init

mnt="$T/mnt"
loop_ext4 8M "$mnt"


V="$mnt/vault"
mkdir "$V"
# Filler written directly on disk, outside the vault root: freed later.
head -c $((2 * 1024 * 1024)) /dev/zero >"$mnt/filler"
sync

L="$T/local"
mkdir -p "$L"
for i in $(seq 1 12); do
	head -c $((1024 * 1024)) /dev/urandom >"$L/f$i.bin"
done

run_put() { # NAME LOCAL REMOTE -> RC, OUT
	printf 'put %s %s\n' "$2" "$3" >"$T/$1.batch"
	OUT="$T/$1.out"
	RC=0
	sftp_direct "$V" "$T/$1.batch" "$OUT" || RC=$?
}

stored=()
full_at=""
for i in $(seq 1 12); do
	run_put "put$i" "$L/f$i.bin" "f$i.bin"
	if [[ $RC -ne 0 ]]; then
		full_at=$i
		break
	fi
	stored+=("$i")
done
[[ -n $full_at ]] || fail "12 MiB fitted on an 8 MiB filesystem?"
[[ ${#stored[@]} -ge 1 ]] || fail "not even the first 1 MiB upload fitted"
log "disk full at upload $full_at after ${#stored[@]} files; df: $(df -k --output=avail "$mnt" | tail -1) KiB free"

OUT="$T/put$full_at.out"
expect_grep "$OUT" '[Nn]o space left on device' "vault-sftp's reason for the failed upload"
expect_grep "$OUT" 'Failure|[Nn]o space' "sftp reports the failed put"
[[ ! -e $V/f$full_at.bin ]] || fail "the failed upload f$full_at.bin was published"
[[ -n $(partial_files "$V") ]] || fail "no partial file left by the failed upload"
pass "the failing put reports 'no space left on device' and publishes nothing"

for i in "${stored[@]}"; do
	cmp -s "$L/f$i.bin" "$V/f$i.bin" || fail "f$i.bin, stored before the disk filled up, changed"
done
pass "the ${#stored[@]} files stored before are byte-identical"

# The session is not the only victim: a listing still works on a full disk.
printf 'ls -l\n' >"$T/ls.batch"
sftp_direct "$V" "$T/ls.batch" "$T/ls.out" || fail "ls on a full disk failed"
expect_no_grep "$T/ls.out" "f$full_at\\.bin" "ls on a full disk"

rm -f "$mnt/filler"
sync
run_put retry "$L/f$full_at.bin" "f$full_at.bin"
if [[ $RC -ne 0 ]]; then
	sed 's/^/    | /' "$OUT" >&2
	fail "retry of f$full_at.bin after freeing space failed"
fi
cmp -s "$L/f$full_at.bin" "$V/f$full_at.bin" || fail "the retried f$full_at.bin differs"
for i in "${stored[@]}"; do
	cmp -s "$L/f$i.bin" "$V/f$i.bin" || fail "f$i.bin changed after the retry"
done
pass "after freeing space, a retry of the same name succeeds"
