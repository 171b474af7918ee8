#!/usr/bin/env bash
# Integrity over the years (issue 5): vaultd records a SHA-256 of each file
# it seals in its ledger (<state-dir>/ledger/TENANT.ledger), in the
# background; `vaultctl verify` re-hashes and reports. An intact tree is
# clean (exit 0); a byte changed behind the vault's back (root: flag off,
# dd, flag on) is exactly one MISMATCH; a deleted file is MISSING; a file
# moved into the attic by unlock is "in the attic", not missing (an older
# attic entry of a deleted file's name does not count); a file
# sealed by hand, or whose ledger line is gone, has no ledger entry; a file
# root changes in place and vaultd seals again is REWRITTEN; --json says the
# same in numbers.
# shellcheck source-path=SCRIPTDIR
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/lib.sh"
source "$here/watch-lib.sh"

require_root
require_cmd python3 setpriv chattr dd sha256sum
it_init
watch_init
VAULTCTL=${VAULTCTL:-$SEALVAULT_BINARY_DIR/bin/vaultctl}
[[ -x $VAULTCTL ]] || fail "vaultctl not executable: $VAULTCTL"
STATE=$T/state
# watch-lib.sh's config keeps vaultd's ledger in $T/state; make sure of it.
grep -q "^state-dir $STATE\$" "$CONF" || sed -i "1i state-dir $STATE" "$CONF"
LEDGER=$STATE/ledger/wt.ledger
start_vaultd "$T/vaultd.log"

# verify OUT [ARG...]: vaultctl verify on $CONF, output to OUT; returns its status.
verify() {
	local out=$1
	shift
	"$VAULTCTL" verify --config "$CONF" --rate 0 "$@" >"$out" 2>&1
}
ledger_lines() { [[ -f $LEDGER ]] && wc -l <"$LEDGER" || echo 0; }
ledger_has_lines() { (($(ledger_lines) == $1)); }
# lines_for VPATH_ESCAPED: the ledger's lines of one path.
lines_for() { grep -c " $1\$" "$LEDGER" || true; }
has_lines_for() { (($(lines_for "$1") == $2)); }
# the_lines OUT LABEL: the paths verify listed under LABEL, sorted.
the_lines() { sed -n "s/^  $2 \\([^:]*\\).*/\\1/p" "$1" | LC_ALL=C sort; }

# --- the tenant writes 50 files in nested directories, two with odd names
tpy bulk "$V" 3 10 >/dev/null
tpy bulk "$V/deep" 2 9 --prefix er >/dev/null
tsh 'mkdir "$1/odd" && printf one >"$1/odd/sp ace.dat" && printf two >"$1/odd/new
line.dat"' "$V"
wait_sealed "$V" 50 60 "50 files sealed"
wait_until 60 "50 lines in the ledger" ledger_has_lines 50
"$VAULTCTL" status --json --config "$CONF" >"$T/status.json" || fail "vaultctl status failed"
python3 - "$T/status.json" <<'PY' || fail "status --json: ledger counters wrong"
import json, sys
led = json.load(open(sys.argv[1]))["ledger"]
want = {"queued": 0, "hashed": 50, "dropped": 0, "failed": 0}
if led != want:
    sys.exit("ledger %r, want %r" % (led, want))
PY
pass "50 files sealed, 50 ledger lines, status: 50 hashed, none queued, dropped or failed"

# --- the ledger itself: root's alone, one well-formed line per file, the right digests
[[ $(stat -c '%u %a' "$STATE/ledger") == "0 700" ]] || fail "ledger dir is $(stat -c '%U %a' "$STATE/ledger")"
[[ $(stat -c '%u %a' "$LEDGER") == "0 600" ]] || fail "ledger file is $(stat -c '%U %a' "$LEDGER")"
if as_tenant cat "$LEDGER" >/dev/null 2>&1; then
	fail "the tenant can read the ledger"
fi
python3 - "$LEDGER" "$V" <<'PY' || fail "the ledger's lines are wrong"
import hashlib, os, re, sys, urllib.parse
ledger, root = sys.argv[1], os.fsencode(sys.argv[2])
seen = set()
for n, line in enumerate(open(ledger, "rb"), 1):
    m = re.fullmatch(rb"v1 ([0-9a-f]{64}) (\d+) (\d+) (\d+) (/[\x21-\x7e]+)\n", line)
    if not m:
        sys.exit("line %d malformed: %r" % (n, line))
    digest, size, sealed, ino, esc = m.groups()
    if not re.fullmatch(rb"(?:[\x21-\x24\x26-\x7e]|%[0-9A-F]{2})+", esc):
        sys.exit("line %d: bad escape %r" % (n, esc))
    vpath = urllib.parse.unquote_to_bytes(esc)
    p = root + vpath
    st = os.stat(p)
    data = open(p, "rb").read()
    if hashlib.sha256(data).hexdigest().encode() != digest or int(size) != len(data):
        sys.exit("line %d: digest or size is not %r's" % (n, vpath))
    if int(ino) != st.st_ino:
        sys.exit("line %d: inode %s is not %r's (%d)" % (n, ino, vpath, st.st_ino))
    xattr = os.getxattr(p, "trusted.sealvault.sealed")
    if int(sealed) != int(xattr):
        sys.exit("line %d: seal time %s is not the xattr's %s" % (n, sealed, xattr))
    seen.add(vpath)
for want in (b"/odd/sp ace.dat", b"/odd/new\nline.dat", b"/deep/er001/f0008.dat", b"/d002/f0009.dat"):
    if want not in seen:
        sys.exit("no line for %r" % want)
if len(seen) != 50:
    sys.exit("%d paths, not 50" % len(seen))
PY
expect_grep "$LEDGER" ' /odd/sp%20ace\.dat$' "a blank is escaped"
expect_grep "$LEDGER" ' /odd/new%0Aline\.dat$' "a newline is escaped"
pass "ledger: root's (0700/0600), 50 lines of v1 SHA256 SIZE SEALTIME INO VPATH with the files' digests, names escaped"

# --- an intact tree: clean
verify "$T/v1.out" || { cat "$T/v1.out" >&2; fail "verify of an intact tree failed"; }
expect_grep "$T/v1.out" '^tenant wt: 50 in the ledger, 50 ok, 0 MISMATCH, 0 MISSING, 0 in the attic, 0 purged, 0 NOT SEALED, 0 errors, 0 REWRITTEN; 0 sealed without a ledger entry$' "verify summary"
expect_grep "$T/v1.out" ': clean$' "verify verdict"
verify "$T/v1.json" --json || fail "verify --json of an intact tree failed"
python3 - "$T/v1.json" <<'PY' || fail "verify --json of an intact tree is wrong"
import json, sys
d = json.load(open(sys.argv[1]))
t, = d["tenants"]
want = {"ok": 50, "mismatch": 0, "missing": 0, "in_attic": 0, "purged": 0, "not_sealed": 0, "errors": 0,
        "rewritten": 0, "unledgered": 0, "recorded": 0}
if not d["clean"] or not t["clean"] or t["counts"] != want or t["entries"] != 50:
    sys.exit("got %r" % d)
PY
pass "verify: an intact tree is clean, exit 0, --json agrees"

# --- behind the vault's back, vaultd stopped (its watcher would seal a file
# whose flag is off for a moment): one byte changed, one file deleted, a
# file sealed by hand, a ledger line lost, a file whose flag stays off.
stop_pid "$VAULTD_PID"
TAMPERED=/d001/f0003.dat
DELETED=/d002/f0005.dat
UNSEALED=/d000/f0007.dat
LOST=/deep/er000/f0002.dat
sha_before=$(sum_of "$V$TAMPERED")
size_before=$(stat -c %s "$V$TAMPERED")
chattr -i "$V$TAMPERED"
printf 'X' | dd of="$V$TAMPERED" bs=1 seek=1 count=1 conv=notrunc status=none
chattr +i "$V$TAMPERED"
sha_after=$(sum_of "$V$TAMPERED")
[[ $sha_before != "$sha_after" && $(stat -c %s "$V$TAMPERED") == "$size_before" ]] ||
	fail "the tamper did not change one byte in place"
chattr -i "$V$DELETED"
rm -f "$V$DELETED"
chattr -i "$V$UNSEALED"
tsh 'printf "by hand" >"$1"' "$V/d000/hand.dat"
chattr +i "$V/d000/hand.dat"
grep -v " $LOST\$" "$LEDGER" >"$T/ledger.new"
cat "$T/ledger.new" >"$LEDGER"
ledger_has_lines 49 || fail "removing one ledger line left $(ledger_lines)"

if verify "$T/v2.out"; then
	cat "$T/v2.out" >&2
	fail "verify exited 0 on a tampered tree"
fi
[[ $(the_lines "$T/v2.out" MISMATCH) == "$TAMPERED" ]] || { cat "$T/v2.out" >&2; fail "MISMATCH is not exactly $TAMPERED"; }
expect_grep "$T/v2.out" "^  MISMATCH $TAMPERED: expected $sha_before \\($size_before bytes\\), actual $sha_after \\($size_before bytes\\)$" "mismatch digests"
[[ $(the_lines "$T/v2.out" MISSING) == "$DELETED" ]] || { cat "$T/v2.out" >&2; fail "MISSING is not exactly $DELETED"; }
[[ $(the_lines "$T/v2.out" 'NOT SEALED') == "$UNSEALED" ]] || { cat "$T/v2.out" >&2; fail "NOT SEALED is not exactly $UNSEALED"; }
printf '%s\n' /d000/hand.dat "$LOST" | LC_ALL=C sort >"$T/want-unledgered"
the_lines "$T/v2.out" 'NO LEDGER ENTRY' >"$T/got-unledgered"
diff -u "$T/want-unledgered" "$T/got-unledgered" >&2 || { cat "$T/v2.out" >&2; fail "the files without a ledger entry"; }
expect_grep "$T/v2.out" '^tenant wt: 49 in the ledger, 46 ok, 1 MISMATCH, 1 MISSING, 0 in the attic, 0 purged, 1 NOT SEALED, 0 errors, 0 REWRITTEN; 2 sealed without a ledger entry$' "verify summary"
expect_grep "$T/v2.out" 'PROBLEMS FOUND$' "verify verdict"
pass "verify: exactly the changed byte (MISMATCH with both digests), the deleted file, the unsealed one and the two without a ledger entry; exit 1"

if verify "$T/v2.json" --json; then
	fail "verify --json exited 0 on a tampered tree"
fi
python3 - "$T/v2.json" "$TAMPERED" "$sha_before" "$sha_after" "$DELETED" "$UNSEALED" "$LOST" <<'PY' || fail "verify --json of the tampered tree is wrong"
import json, sys
f, tampered, before, after, deleted, unsealed, lost = sys.argv[1:]
d = json.load(open(f))
t, = d["tenants"]
want = {"ok": 46, "mismatch": 1, "missing": 1, "in_attic": 0, "purged": 0, "not_sealed": 1, "errors": 0,
        "rewritten": 0, "unledgered": 2, "recorded": 0}
if d["clean"] or t["clean"] or t["counts"] != want:
    sys.exit("counts %r" % t["counts"])
m, = t["mismatch"]
if (m["path"], m["expected"], m["actual"]) != (tampered, before, after):
    sys.exit("mismatch %r" % m)
if t["missing"] != [deleted] or t["not_sealed"] != [unsealed]:
    sys.exit("missing %r, not sealed %r" % (t["missing"], t["not_sealed"]))
if sorted(t["unledgered"]) != sorted(["/d000/hand.dat", lost]):
    sys.exit("unledgered %r" % t["unledgered"])
PY
pass "verify --json: the same, in numbers and paths"

# --- vaultd again: its catch-up scan seals the unsealed file anew (a
# second line, the same digest: not a rewrite); unlock moves one into the
# attic; root changes one in place and vaultd seals it again: the ledger
# then holds two digests for one inode.
start_vaultd "$T/vaultd2.log"
wait_until 30 "the catch-up scan sealed $UNSEALED again" is_sealed "$V$UNSEALED"
wait_until 30 "a second ledger line for $UNSEALED" has_lines_for "$UNSEALED" 2
UNLOCKED=/d000/f0001.dat
"$VAULTCTL" unlock wt "$UNLOCKED" --force --config "$CONF" >"$T/unlock.out" 2>&1 ||
	{ cat "$T/unlock.out" >&2; fail "unlock failed"; }
[[ ! -e $V$UNLOCKED ]] || fail "unlock left $UNLOCKED"
# An older file of the deleted one's name in the attic does not excuse it:
# an attic entry counts only if it is the inode the ledger recorded.
install -d -m 0700 "$V/.sealvault/attic${DELETED%/*}"
echo older >"$V/.sealvault/attic$DELETED~20200101T000000Z-00000000"
REWRITE=/deep/er001/f0004.dat
chattr -i "$V$REWRITE"
printf 'Y' | dd of="$V$REWRITE" bs=1 seek=0 count=1 conv=notrunc status=none
wait_until 30 "vaultd sealed $REWRITE again" is_sealed "$V$REWRITE"
wait_until 30 "a second ledger line for $REWRITE" has_lines_for "$REWRITE" 2

if verify "$T/v3.out"; then
	cat "$T/v3.out" >&2
	fail "verify exited 0 with a file rewritten in place"
fi
[[ $(the_lines "$T/v3.out" REWRITTEN) == "$REWRITE" ]] || { cat "$T/v3.out" >&2; fail "REWRITTEN is not exactly $REWRITE"; }
[[ $(sed -n 's/^  in the attic: \([^ ]*\) (\(.*\))$/\1 \2/p' "$T/v3.out") == "$UNLOCKED d000/f0001.dat~"* ]] ||
	{ cat "$T/v3.out" >&2; fail "$UNLOCKED is not reported in the attic"; }
[[ $(the_lines "$T/v3.out" MISSING) == "$DELETED" ]] || { cat "$T/v3.out" >&2; fail "MISSING is not exactly $DELETED after unlock"; }
[[ -z $(the_lines "$T/v3.out" 'NOT SEALED') ]] || { cat "$T/v3.out" >&2; fail "$UNSEALED still not sealed"; }
expect_grep "$T/v3.out" '^tenant wt: 49 in the ledger, 46 ok, 1 MISMATCH, 1 MISSING, 1 in the attic, 0 purged, 0 NOT SEALED, 0 errors, 1 REWRITTEN; 2 sealed without a ledger entry$' "verify summary"
pass "verify: unlock's file is in the attic, not missing; a file rewritten in place and sealed again is REWRITTEN, one sealed again unchanged is not"

# --- a purge is recorded in the ledger: the file is "purged", not missing
"$VAULTCTL" attic purge wt --force --config "$CONF" >"$T/purge.out" 2>&1 ||
	{ cat "$T/purge.out" >&2; fail "attic purge failed"; }
verify "$T/v3b.out" && fail "verify passed on a tampered tree"
[[ $(the_lines "$T/v3b.out" MISSING) == "$DELETED" ]] || { cat "$T/v3b.out" >&2; fail "MISSING is not exactly $DELETED after the purge"; }
expect_grep "$T/v3b.out" '^tenant wt: 49 in the ledger, 46 ok, 1 MISMATCH, 1 MISSING, 0 in the attic, 1 purged, 0 NOT SEALED, 0 errors, 1 REWRITTEN; 2 sealed without a ledger entry$' "verify summary"
pass "verify: a file purged from the attic is counted as purged, not missing"

# --- --record: the sealed files the ledger does not know are hashed and added
verify "$T/v3c.out" --record && fail "verify --record passed on a tampered tree"
expect_grep "$T/v3c.out" "recorded now: 2 sealed files the ledger did not know" "verify --record"
verify "$T/v3d.out" && fail "verify passed on a tampered tree"
expect_grep "$T/v3d.out" '; 0 sealed without a ledger entry$' "verify after --record"
pass "verify --record: the two files without a ledger entry are recorded, none left"

# --- one tenant by name, the usage errors, the audit
verify "$T/v4.out" wt && fail "verify wt passed on a tampered tree"
expect_grep "$T/v4.out" '^tenant wt: ' "verify TENANT"
verify "$T/v5.out" nosuch && fail "verify of an unknown tenant passed"
expect_grep "$T/v5.out" "no tenant 'nosuch'" "unknown tenant"
rc=0
"$VAULTCTL" verify --rate fast --config "$CONF" >/dev/null 2>&1 || rc=$?
((rc == 2)) || fail "verify --rate fast exited $rc, not 2"
rc=0
setpriv --reuid="$U" --regid="$U" --clear-groups "$VAULTCTL" verify --config "$CONF" >"$T/v6.out" 2>&1 || rc=$?
((rc == 1)) || fail "verify as the tenant exited $rc, not 1"
expect_grep "$T/v6.out" "must run as root" "verify as non-root"
pass "verify TENANT, an unknown tenant (1), a bad --rate (2), not root (1)"
