#!/usr/bin/env bash
# Retention and unlock never destroy in one step (issue 5): vaultctl prune
# selects by the seal time vaultd recorded (the trusted.sealvault.sealed
# xattr, set here as root to times the test controls), never by a client's
# mtime; a dry run lists exactly that set; the run moves it into the attic,
# sealed; restore brings a file back byte-identical; purge before the grace
# time is refused; the tenant's retention refuses younger prunes and
# unlocks; every action is audited; the tenant cannot reach the attic.
# shellcheck source-path=SCRIPTDIR
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/lib.sh"
source "$here/watch-lib.sh"

require_root
require_cmd python3 setpriv setfattr getfattr chattr sha256sum
it_init
watch_init
VAULTCTL=${VAULTCTL:-$SEALVAULT_BINARY_DIR/bin/vaultctl}
# A 30-day minimum retention for the tenant.
sed -i 's/^\tprofile wt$/\tprofile wt\n\tretention 30d/' "$CONF"
grep -q 'retention 30d' "$CONF" || fail "could not set the retention"
start_vaultd "$T/vaultd-first.log"
vc() { "$VAULTCTL" "$@" --control "$CTRL"; }

# Files sealed by vaultd, then their seal time set back (as root, vaultd
# stopped: the flag off, the xattr, the flag on), and their mtime set far into the past or future,
# to show the mtime is never what decides.
now=$(date +%s)
declare -A age=([old1]=100 [old2]=200 [sub/old3]=95 [young1]=10 [young2]=60)
tsh 'mkdir -p "$1/sub"' "$V"
for f in "${!age[@]}"; do
	tsh 'head -c 3000 /dev/urandom >"$1"' "$V/$f.bin"
done
tsh 'echo manual >"$1"' "$V/handsealed.bin"
wait_sealed "$V" 6 30 "all files sealed by vaultd"
# vaultd stops meanwhile: its watcher would re-seal (and re-stamp) a file
# whose flag is off for a moment.
stop_pid "$VAULTD_PID"
for f in "${!age[@]}"; do
	p="$V/$f.bin"
	chattr -i "$p"
	setfattr -n trusted.sealvault.sealed -v $((now - age[$f] * 86400)) "$p"
	touch -d "@$((now + 86400))" "$p"	# an mtime from tomorrow: must not matter
	chattr +i "$p"
done
# young2 gets a very old mtime: still young by its seal time.
chattr -i "$V/young2.bin"; touch -d '2001-01-01' "$V/young2.bin"; chattr +i "$V/young2.bin"
# A file sealed outside vaultd has no seal time: prune leaves it alone.
chattr -i "$V/handsealed.bin"; setfattr -x trusted.sealvault.sealed "$V/handsealed.bin"; chattr +i "$V/handsealed.bin"
sha_old1=$(sha256sum <"$V/old1.bin")
start_vaultd "$T/vaultd.log"
wait_vaultd_line "$T/vaultd.log" '^vaultd: catch-up scan done' 30

# --- status: the tree as the catch-up scan counted it, and the quota
"$VAULTCTL" status --json --control "$CTRL" >"$T/status.json" || fail "vaultctl status failed"
python3 - "$T/status.json" <<'PY' || fail "status tree counts are wrong: $(cat "$T/status.json")"
import json, sys
t = json.load(open(sys.argv[1]))["tenants"][0]["tree"]
assert t["as_of"] > 0 and t["files"] == 6 and t["sealed"] == 6 and t["unsealed"] == 0, t
assert t["bytes"] == 5 * 3000 + len("manual\n"), t
PY
"$VAULTCTL" status --control "$CTRL" >"$T/status.txt" || fail "vaultctl status (text) failed"
expect_grep "$T/status.txt" "6 files \\(6 sealed, 0 not\\), 15007 bytes" "status"
pass "status: 6 files, all sealed, 15007 bytes, as the catch-up scan counted"

# The tenant squats the attic before vaultd first needs it (review finding:
# a tenant-owned attic let it delete a file while its flag was off).
tsh 'mkdir -p "$1/.sealvault/attic/sub" && chmod -R 0777 "$1/.sealvault"' "$V"

# --- retention: nothing younger than 30 days
if vc prune wt --older-than 7d --dry-run >"$T/ret.out" 2>&1; then
	fail "a prune below the tenant's retention was accepted"
fi
expect_grep "$T/ret.out" "keeps files at least 2592000s" "grep"

# --- dry run: exactly the files sealed over 90 days ago, nothing moves
vc prune wt --older-than 90d --dry-run >"$T/dry.out" || { cat "$T/dry.out" >&2; fail "dry run failed"; }
sed -n 's/^would move to the attic: \(.*\) (sealed.*/\1/p' "$T/dry.out" | sort >"$T/dry.set"
printf '%s\n' /old1.bin /old2.bin /sub/old3.bin >"$T/want.set"
diff -u "$T/want.set" "$T/dry.set" >&2 || { cat "$T/dry.out" >&2; fail "the dry run did not list exactly the old files"; }
expect_grep "$T/dry.out" "1 skipped \\(no seal time\\)" "grep"
for f in old1 old2 sub/old3; do [[ -f $V/$f.bin ]] || fail "the dry run moved $f"; done
pass "dry run: exactly the three files sealed over 90 days ago (mtimes ignored), one without seal time skipped"

# --- the run: into the attic, sealed there; the young stay
vc prune wt --older-than 90d >"$T/run.out" || { cat "$T/run.out" >&2; fail "prune failed"; }
for f in old1 old2 sub/old3; do [[ ! -e $V/$f.bin ]] || fail "$f.bin still in the tree"; done
for f in young1 young2 handsealed; do expect_sealed "$V/$f.bin"; done
vc attic list wt >"$T/list.out" || fail "attic list failed"
[[ $(grep -c 'moved ' "$T/list.out") == 3 ]] || { cat "$T/list.out" >&2; fail "the attic does not hold three entries"; }
for e in $(cut -f1 "$T/list.out" | grep '~'); do
	expect_sealed "$V/.sealvault/attic/$e"
done
expect_grep "$T/vaultd.log" 'admin prune "/old1.bin" tenant=wt uid=0 .*source=vaultctl' "grep"
for d in "$V/.sealvault" "$V/.sealvault/attic" "$V/.sealvault/attic/sub"; do
	[[ $(stat -c '%u:%g %a' "$d") == "0:0 700" ]] || fail "$d is not vaultd's: $(stat -c '%U:%G %a' "$d")"
	getfacl -c "$d" 2>/dev/null | grep -q '^user:[^:]' && fail "$d keeps a named ACL entry"
done
pass "prune moved the three into the attic, sealed; the rest stayed; audited; the squatted attic was taken over"

# --- the tenant cannot reach the attic
if as_tenant ls "$V/.sealvault/attic" >/dev/null 2>&1; then
	fail "the tenant can list the attic"
fi
pass "the attic is out of the tenant's reach"

# --- purge before the grace time: refused; restore: byte-identical, sealed
e1=$(cut -f1 "$T/list.out" | grep '^old1.bin~')
if vc attic purge wt "$e1" >"$T/purge.out" 2>&1; then
	fail "purge within the grace time was accepted"
fi
expect_grep "$T/purge.out" "within the attic grace time" "grep"
vc attic purge wt >"$T/purge-all.out" 2>&1 || true
expect_grep "$T/purge-all.out" "0 purged, 0 failed, 3 within the grace time" "grep"
[[ -f $V/.sealvault/attic/$e1 ]] || fail "a refused purge deleted the entry"
vc attic restore wt "$e1" >"$T/restore.out" || { cat "$T/restore.out" >&2; fail "restore failed"; }
[[ $(sha256sum <"$V/old1.bin") == "$sha_old1" ]] || fail "restored old1.bin differs"
expect_sealed "$V/old1.bin"
pass "purge within the grace time refused; restore brought old1.bin back byte-identical, sealed"

# --- unlock: the retention holds unless forced
if vc unlock wt /young1.bin >"$T/unlock.out" 2>&1; then
	fail "unlock within the retention was accepted"
fi
expect_grep "$T/unlock.out" "within the tenant's retention" "grep"
expect_sealed "$V/young1.bin"
vc unlock wt /young1.bin --force >"$T/unlock2.out" || { cat "$T/unlock2.out" >&2; fail "unlock --force failed"; }
[[ ! -e $V/young1.bin ]] || fail "unlock --force left young1.bin"
expect_grep "$T/vaultd.log" 'admin unlock "/young1.bin" .*forced past the retention' "grep"
pass "unlock refused within the retention, done with --force and audited"

# --- purge --force: gone for good, audited
vc attic purge wt --force >"$T/purge3.out" || { cat "$T/purge3.out" >&2; fail "purge --force failed"; }
expect_grep "$T/purge3.out" "3 purged, 0 failed" "grep"
[[ -z $(find "$V/.sealvault/attic" -type f) ]] || fail "purge --force left files"
expect_grep "$T/vaultd.log" 'admin attic-purge .* purged from the attic for good' "grep"
pass "purge --force deleted the attic entries, audited"
