#!/usr/bin/env bash
# vaultd's watcher seals what does not come through its broker: files that
# local processes of the tenant write, move in or rename, in directories
# made after vaultd started, under any name; and it leaves alone what must
# stay writable (temp, mutable, reserved names, hard-linked files) and
# everything outside the tenant root. Directories holding sealed
# files are taken out of the tenant's hands. vaultd runs with --no-scan, so
# only the watcher can have sealed anything (test_vaultd_restart.sh covers
# the scan). WATCHER_MODE=fanotify (default) or inotify
# (test_watcher_inotify.sh).
# shellcheck source-path=SCRIPTDIR disable=SC2016,SC2119 # the sh -c scripts take their paths as "$1"
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/lib.sh"
source "$here/watch-lib.sh"

require_root
WATCHER_MODE=${WATCHER_MODE:-fanotify}
IT_NAME="$IT_NAME-$WATCHER_MODE"
it_init
watch_init

VLOG=$T/vaultd.log
start_vaultd "$VLOG" --no-scan
expect_watcher_fds
pass "vaultd ready, watching with $WATCHER_MODE"

# What must end up immutable under $V, per scenario, and what must not (re-checked at the end).
SEALED_TOTAL=0
NOT_SEALED=()

# expect_eperm WHAT CODE CMD [ARG...]: CMD, run as the tenant, fails with
# exit status CODE and says "Operation not permitted".
expect_eperm() {
	local what=$1 code=$2 rc=0
	shift 2
	as_tenant "$@" >"$T/eperm.out" 2>&1 || rc=$?
	[[ $rc == "$code" ]] || {
		sed 's/^/    | /' "$T/eperm.out" >&2
		fail "$what: exit status $rc, expected $code"
	}
	expect_grep "$T/eperm.out" 'Operation not permitted' "$what"
}

# --- 1. nested directories made after the start, a file at each level
tsh 'set -e; mkdir -p "$1/a/b/c/d"
	for d in "$1" "$1/a" "$1/a/b" "$1/a/b/c" "$1/a/b/c/d"; do
		printf "%s\n" "$d" >"$d/f1.dat"; printf x >"$d/f2.bin"
	done' "$V/s1" || fail "the tenant cannot write s1"
wait_sealed "$V/s1" 10 30 "nested dirs"
for d in "$V/s1" "$V/s1/a" "$V/s1/a/b/c/d"; do
	[[ $(fstate "$d") == d ]] || fail "directory $d has the immutable flag"
done
getfattr -n trusted.sealvault.sealed --only-values "$V/s1/a/b/c/d/f1.dat" 2>/dev/null | grep -qE '^[0-9]+$' ||
	fail "no seal time (trusted.sealvault.sealed) on a file the watcher sealed"
# A slow writer in a brand-new directory: never sealed under it (its writes
# all succeed), sealed once it closes.
tsh 'mkdir "$1"' "$V/s1/slow" || fail "mkdir s1/slow"
tpy slow "$V/s1/slow/slow.dat" 8 0.3 2>"$T/slow.err" || {
	cat "$T/slow.err" >&2
	fail "a write of a file still open was refused: sealed under its writer"
}
wait_sealed "$V/s1" 11 30 "slow writer, after its close"
SEALED_TOTAL=$((SEALED_TOTAL + 11))
pass "1. files in nested dirs made after the start: all 11 sealed, dirs not flagged, seal time recorded"

# --- 2. moved in from outside the root (same filesystem), a file and a whole tree
tsh 'set -e; o=$1/m; mkdir -p "$o/tree/sub/deeper" "$o/tree/locks"
	printf a >"$o/one.dat"; printf b >"$o/tree/t1.dat"; printf c >"$o/tree/sub/t2.dat"
	printf d >"$o/tree/sub/deeper/t3.dat"; printf e >"$o/tree/sub/w.tmp"
	printf f >"$o/tree/locks/l1"; printf g >"$o/x.tmp"' "$OUT" || fail "the tenant cannot write $OUT/m"
tsh 'mkdir "$1"' "$V/s2" || fail "mkdir s2"
barrier "$V/s2"
[[ $(count_immutable "$OUT") == 0 ]] || fail "files outside the root were sealed"
tsh 'set -e; mv "$1/m/one.dat" "$2/one.dat"; mv "$1/m/tree" "$2/tree"; mv "$1/m/x.tmp" "$2/x.dat"' \
	"$OUT" "$V/s2" || fail "the tenant cannot move files in"
# a directory renamed within the tree: the class follows its current path
tsh 'set -e; mkdir -p "$1/r/plain" "$1/r2/locks"; mv "$1/r/plain" "$1/r/locks"; mv "$1/r2/locks" "$1/r2/data"
	printf h >"$1/r/locks/f1"; printf i >"$1/r2/data/f2.dat"' "$V/s2" || fail "the tenant cannot rename dirs"
# the moved-in tree keeps being watched
wait_sealed "$V/s2" 7 30 "moved in"
tsh 'printf j >"$1/tree/sub/deeper/after.dat"' "$V/s2" || fail "write into the moved-in tree"
wait_sealed "$V/s2" 8 30 "moved in, then written into"
expect_sealed "$V/s2/one.dat" "$V/s2/tree/t1.dat" "$V/s2/tree/sub/t2.dat" "$V/s2/tree/sub/deeper/t3.dat" \
	"$V/s2/x.dat" "$V/s2/r2/data/f2.dat" "$V/s2/tree/sub/deeper/after.dat"
NOT_SEALED+=("$V/s2/tree/sub/w.tmp" "$V/s2/tree/locks/l1" "$V/s2/r/locks/f1")
expect_not_sealed "${NOT_SEALED[@]}"
SEALED_TOTAL=$((SEALED_TOTAL + 8))
pass "2. moved in (a file, a tree, a temp to a final name): sealed; temp and locks in them not"

# --- 5. policy: temp, mutable and reserved names are not sealed; versioned is
tsh 'set -e; d=$1; mkdir -p "$d/locks" "$d/sub/locks" "$d/.sealvault/attic" "$d/sub"
	printf a >"$d/keep.tmp"; printf b >"$d/locks/lock1"; printf c >"$d/sub/locks/lock2"
	printf d >"$d/.sealvault.part.x"; printf e >"$d/.sealvault/attic/f"
	printf f >"$d/sub/.sealvault.part.y"; printf g >"$d/state.ver"; printf h >"$d/sub/x.ver"
	printf i >"$d/pub.tmp"; printf k >"$d/pub2.tmp"' "$V/s5" || fail "the tenant cannot write s5"
s5_not=("$V/s5/keep.tmp" "$V/s5/locks/lock1" "$V/s5/sub/locks/lock2" "$V/s5/.sealvault.part.x"
	"$V/s5/.sealvault/attic/f" "$V/s5/sub/.sealvault.part.y")
barrier "$V/s5"
barrier "$V/s5/sub"
# versioned is sealed like seal (policy_class_seals; vaultd moves versions to the attic itself)
wait_sealed "$V/s5" 4 30 "versioned files and barriers"
expect_sealed "$V/s5/state.ver" "$V/s5/sub/x.ver"
expect_not_sealed "${s5_not[@]}" "$V/s5/pub.tmp" "$V/s5/pub2.tmp"
tsh 'set -e; mv "$1/pub.tmp" "$1/pub.dat"; mv "$1/pub2.tmp" "$1/sub/final.bin"' "$V/s5" ||
	fail "the tenant cannot rename its temp files"
wait_sealed "$V/s5" 6 30 "temp files renamed to final names"
expect_sealed "$V/s5/pub.dat" "$V/s5/sub/final.bin"
expect_not_sealed "${s5_not[@]}"
# still the tenant's to change and remove (in directories vaultd protects by now)
for f in "${s5_not[@]}"; do
	tsh 'printf more >>"$1"' "$f" || fail "the tenant cannot append to $f"
done
tsh 'set -e; rm -- "$1/keep.tmp" "$1/locks/lock1"; printf new >"$1/locks/lock1"' "$V/s5" ||
	fail "the tenant cannot remove or recreate its temp and lock files"
NOT_SEALED+=("$V/s5/locks/lock1" "$V/s5/sub/locks/lock2" "$V/s5/.sealvault.part.x" "$V/s5/.sealvault/attic/f"
	"$V/s5/sub/.sealvault.part.y")
SEALED_TOTAL=$((SEALED_TOTAL + 6))
pass "5. temp, locks/*, reserved .sealvault* not sealed and still the tenant's; *.ver and temp renamed to a final name sealed"

# --- 6. nothing outside the root: files there, hard links, symlinks out
tsh 'set -e; mkdir -p "$1/o6/dir"; for i in 1 2 3; do printf o >"$1/o6/f$i.dat"; done
	printf t >"$1/o6/target.dat"; printf t >"$1/o6/target2.dat"; printf t >"$1/o6/target3.dat"
	ln -s "$1/o6/target3.dat" "$1/o6/sl"' "$OUT" || fail "the tenant cannot write $OUT/o6"
printf root >"$MNT/root-outside.dat"
tsh 'mkdir "$1"' "$V/s6" || fail "mkdir s6"
# a file hard-linked before its close: inside and out, and twice inside
tpy link "$V/s6/hl-out.dat" "$OUT/o6/hl-out-link.dat" || fail "the tenant cannot link out"
tpy link "$V/s6/hardlinked-a.dat" "$V/s6/hardlinked-b.dat" || fail "the tenant cannot link inside"
# symlinks in the tree to outside: written through, and one moved in
tsh 'set -e; d=$1; o=$2
	ln -s "$o/o6/target.dat" "$d/link-abs"; ln -s ../../outside/o6/target2.dat "$d/link-rel"
	ln -s "$o/o6/dir" "$d/link-dir"
	printf x >>"$d/link-abs"; printf x >>"$d/link-rel"; printf x >"$d/link-dir/through.dat"
	mv "$o/o6/sl" "$d/sl-moved"; printf x >>"$d/sl-moved"' "$V/s6" "$OUT" || fail "symlink setup"
barrier "$V/s6"
[[ $(count_immutable "$MNT" --exclude "$V") == 0 ]] || {
	flags_py count "$MNT" --exclude "$V" >&2
	fail "a file outside the tenant root was sealed"
}
for f in "$V/s6/hl-out.dat" "$OUT/o6/hl-out-link.dat" "$V/s6/hardlinked-a.dat" "$V/s6/hardlinked-b.dat"; do
	expect_not_sealed "$f"
	tsh 'printf more >>"$1"' "$f" || fail "the tenant cannot write $f (2 links, must not be sealed)"
done
for l in link-abs link-rel link-dir sl-moved; do
	[[ $(fstate "$V/s6/$l") == l ]] || fail "$V/s6/$l is no longer a symlink"
done
# vaultd looked at the file linked twice inside and said why it left it
grep -Eq 'hardlinked-[ab]\.dat.*links|links.*hardlinked-[ab]\.dat' "$VLOG" || {
	tail -n 30 "$VLOG" | sed 's/^/    | /' >&2
	fail "vaultd did not log its refusal of the file with 2 links"
}
NOT_SEALED+=("$V/s6/hl-out.dat" "$V/s6/hardlinked-a.dat" "$V/s6/hardlinked-b.dat")
SEALED_TOTAL=$((SEALED_TOTAL + 1))
pass "6. nothing outside the root flagged (files, link targets, symlink targets); 2-link files refused, writable"

# --- 3. hostile names: all sealed, no name ever ran as a command
marker="/tmp/pwned-$$-$RANDOM"
on_exit rm -f "$marker"
tsh 'mkdir "$1"' "$V/names" || fail "mkdir names"
read -r n_seal n_temp < <(tpy names "$V/names" "$marker") || true
[[ -n ${n_seal:-} && -n ${n_temp:-} ]] || fail "the tenant could not write the hostile names"
wait_sealed "$V/names" "$n_seal" 30 "hostile names"
[[ $(flags_py count "$V/names") == "$n_seal $((n_seal + n_temp))" ]] ||
	fail "hostile names: expected $n_seal sealed of $((n_seal + n_temp)), got $(flags_py count "$V/names")"
cwd=$(readlink "/proc/$VAULTD_PID/cwd") || cwd=/
for m in "$marker" "$cwd/$(basename "$marker")" "/$(basename "$marker")" "$V/$(basename "$marker")"; do
	[[ -e $m ]] && fail "a command in a file name ran: $m exists"
done
SEALED_TOTAL=$((SEALED_TOTAL + n_seal))
pass "3. $n_seal files with hostile names sealed, $n_temp hostile temp names not; no command ran"

# --- 7. directory protection
tsh 'set -e; d=$1; mkdir -p "$d/a/b/c" "$d/a/b/own-empty"
	printf 1 >"$d/a/b/f1.dat"; printf 2 >"$d/a/b/c/f2.dat"; printf w >"$d/a/b/w.tmp"; printf e >"$d/a/b/evil.tmp"' \
	"$V/s7" || fail "the tenant cannot write s7"
wait_sealed "$V/s7" 2 30 "protection setup"
for d in "$V" "$V/s7" "$V/s7/a" "$V/s7/a/b" "$V/s7/a/b/c"; do
	[[ $(stat -c %u "$d") == 0 ]] || fail "$d holds a sealed file but is owned by uid $(stat -c %u "$d")"
	[[ $(stat -c %A "$d") == *[tT] ]] || fail "$d holds a sealed file but is not sticky ($(stat -c %A "$d"))"
	[[ $(stat -c %G "$d") == "$U" ]] || fail "$d: group $(stat -c %G "$d"), the tenant's was not kept"
	getfacl -cp "$d" 2>/dev/null | grep -qx "user:$U:rwx" || fail "$d has no ACL user:$U:rwx"
done
[[ $(stat -c %U "$V/s7/a/b/own-empty") == "$U" ]] || fail "an empty dir of the tenant was taken"
before=$(tree_state "$V/s7")
expect_eperm "mv a protected dir" 1 mv "$V/s7/a" "$V/s7/x"
expect_eperm "mv a protected dir elsewhere" 1 mv "$V/s7/a/b/c" "$V/s7/a/c2"
expect_eperm "rmdir a protected dir" 1 rmdir "$V/s7/a/b/c"
expect_eperm "chmod 000 a protected dir" 1 chmod 000 "$V/s7/a/b"
expect_eperm "chmod 777 a protected dir" 1 chmod 777 "$V/s7/a/b"
expect_eperm "chmod the tenant root" 1 chmod 000 "$V"
expect_eperm "setfacl a protected dir" 1 setfacl -b "$V/s7/a/b"
expect_eperm "rm a sealed file" 1 rm -f "$V/s7/a/b/f1.dat"
expect_eperm "mv a sealed file" 1 mv "$V/s7/a/b/f1.dat" "$V/s7/a/b/other.dat"
expect_eperm "mv a sealed file out of the root" 1 mv "$V/s7/a/b/f1.dat" "$OUT/stolen.dat"
expect_eperm "mv a temp file onto a sealed file" 1 mv -f "$V/s7/a/b/evil.tmp" "$V/s7/a/b/f1.dat"
expect_eperm "ln a sealed file" 1 ln "$V/s7/a/b/f1.dat" "$V/s7/a/b/f1-link"
expect_eperm "touch a sealed file" 1 touch "$V/s7/a/b/f1.dat"
expect_eperm "truncate a sealed file" 1 truncate -s 0 "$V/s7/a/b/c/f2.dat"
expect_eperm "append to a sealed file" 2 /bin/sh -c 'printf x >>"$1"' sh "$V/s7/a/b/f1.dat"
after=$(tree_state "$V/s7")
[[ $before == "$after" ]] || {
	diff <(echo "$before") <(echo "$after") | sed 's/^/    | /' >&2
	fail "a refused operation changed the tree"
}
# ...while the tenant can still add, and remove what is its own
tsh 'set -e; d=$1/a/b; mkdir "$d/newdir"; printf n >"$d/newdir/n.dat"; printf n >"$d/n2.dat"
	printf t >"$d/x.tmp"; rm -- "$d/x.tmp" "$d/w.tmp"; mv "$d/evil.tmp" "$d/evil2.tmp"; rm -- "$d/evil2.tmp"
	rmdir "$d/own-empty"' "$V/s7" || fail "the tenant can no longer create, or remove its own, in a protected dir"
wait_sealed "$V/s7" 4 30 "new files in a protected dir"
SEALED_TOTAL=$((SEALED_TOTAL + 4))
pass "7. protected dirs: root-owned, sticky, ACL; no mv/rmdir/chmod/rm/ln/touch (EPERM, tree unchanged); create still works"

# --- 4. 10,000 files from one fast local process in 100 new dirs
tsh 'mkdir "$1"' "$V/s4" || fail "mkdir s4"
[[ $(tpy bulk "$V/s4" 100 100) == 10000 ]] || fail "the tenant could not write 10,000 files"
wait_sealed "$V/s4" 10000 90 "10,000 files"
SEALED_TOTAL=$((SEALED_TOTAL + 10000))
pass "4. 10,000 files in 100 new dirs sealed"

# --- at the end: exactly the expected files sealed, none outside, vaultd healthy
barrier "$V"
SEALED_TOTAL=$((SEALED_TOTAL + 1))
wait_sealed "$V" "$SEALED_TOTAL" 30 "everything"
expect_not_sealed "${NOT_SEALED[@]}"
[[ $(count_immutable "$MNT" --exclude "$V") == 0 ]] || fail "a file outside the tenant root was sealed"
vaultd_alive || fail "vaultd died"
if grep -qi overflow "$VLOG"; then
	[[ $WATCHER_MODE == fanotify ]] && fail "fanotify (unlimited queue) overflowed"
	log "note: the inotify queue overflowed during the run; a catch-up scan may have sealed some files"
fi
kill -TERM "$VAULTD_PID"
rc=0
wait "$VAULTD_PID" || rc=$?
[[ $rc == 0 ]] || fail "vaultd exited $rc on SIGTERM"
[[ -e $SOCK || -e $CTRL ]] && fail "vaultd left a socket behind"
pass "$SEALED_TOTAL files sealed in all, the ${#NOT_SEALED[@]} that must stay writable are; vaultd stopped cleanly"
