#!/usr/bin/env bash
# The maintenance credential (issue 5, item 3): a tenant with the restic
# profile and a maintenance user, set up by vaultctl tenant add, a private
# sshd reading its drop-in, vaultd on a loop-mounted ext4 root.
#   - restic init + 3 backups with the tenant's key;
#   - "forget --keep-last 1 --prune" with the tenant's key is refused and
#     changes nothing (the tree listed before and after);
#   - the same command through the maintenance key succeeds, and every file
#     it removed is in <root>/.sealvault/attic under its origin path,
#     byte-identical and sealed; what it wrote is sealed; restic check
#     passes; vaultd audited each move with source=maintenance;
#   - the maintenance key from another source address is refused by sshd
#     (the key's from=), and, with a from= opened to that address, by
#     vault-sftp (maintenance-from): two walls, each tested alone;
#   - the tenant's key does not log in as the maintenance user.
# shellcheck source-path=SCRIPTDIR disable=SC2016 # the sh -c scripts take their paths as "$1"
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/lib.sh"
source "$here/tools-lib.sh"

require_root
require_cmd restic sftp ssh ssh-keygen sha256sum getfacl lsattr mkfs.ext4 useradd userdel timeout python3
it_init /srv
sshd_init
MNT=$T/mnt
loop_ext4 512M "$MNT"
chmod 0755 "$MNT"
vaultctl_host
ssh-keygen -q -t ed25519 -N '' -C "sealvault-test-maintenance" -f "$SSHD_DIR/maint_key"

# ---------------------------------------------------------------- tenant add
TN=$(unique_name svt-mt)
MU=$(unique_name svt-mtm)
on_exit delete_user "$TN"
on_exit delete_user "$MU"
ROOT=$MNT/vault
SYS=(--config "$CONF" --sshd-dir "$DROPIN" --sshd-config "$SSHD_DIR/sshd_config" --reload "pidfile:$SSHD_DIR/sshd.pid")
MFROM=127.0.0.1,::1
ADD=(add "$TN" --profile restic --key "$SSHD_DIR/client_key.pub" --root "$ROOT" --vault-sftp "$T/bin/vault-sftp"
	--maintenance-user "$MU" --maintenance-key "$SSHD_DIR/maint_key.pub" --maintenance-from "$MFROM" "${SYS[@]}")
"$VAULTCTL" tenant "${ADD[@]}" >"$T/add.out" 2>&1 || {
	sed 's/^/    | /' "$T/add.out" >&2
	fail "vaultctl tenant add with a maintenance user failed"
}
expect_grep "$T/add.out" "^created maintenance user $MU \\(uid [0-9]+" "add"
expect_grep "$T/add.out" "^tenant root $ROOT: owner root, sticky, ACL user:$TN:rwx, user:$MU:rwx" "add"
expect_no_grep "$T/add.out" "WARNING" "add"
MKEYS=$ETC/keys/$TN.maintenance
[[ $(stat -c '%U %a' "$MKEYS") == "root 644" ]] || fail "$MKEYS is not root's 0644"
grep -qx "restrict,from=\"127.0.0.1,::1\" $(cut -d' ' -f1,2 "$SSHD_DIR/maint_key.pub") sealvault-test-maintenance" \
	"$MKEYS" || { cat "$MKEYS" >&2; fail "the maintenance key file lacks restrict,from=\"...\""; }
D=$DROPIN/sealvault-$TN.conf
[[ $(grep -c '^Match User ' "$D") == 2 ]] || { cat "$D" >&2; fail "the drop-in has not two Match blocks"; }
grep -A2 -x "Match User $MU" "$D" | grep -qx "	AuthorizedKeysFile $MKEYS" ||
	{ cat "$D" >&2; fail "the maintenance Match block does not use its own key file"; }
grep -A3 -x "Match User $MU" "$D" | grep -qx "	ForceCommand $T/bin/vault-sftp --config $CONF --require-broker" ||
	{ cat "$D" >&2; fail "the maintenance Match block does not force vault-sftp"; }
expect_grep "$ETC/conf.d/$TN.conf" "^	maintenance-user $MU\$" "conf.d"
expect_grep "$ETC/conf.d/$TN.conf" "^	maintenance-from 127.0.0.1 ::1\$" "conf.d"
"$VAULTCTL" tenant show "$TN" --config "$CONF" >"$T/show.out" || fail "tenant show failed"
expect_grep "$T/show.out" "^maintenance +$MU, from 127.0.0.1 ::1\$" "show"
"$VAULTCTL" tenant "${ADD[@]}" >"$T/add2.out" 2>&1 || { cat "$T/add2.out" >&2; fail "a second identical add failed"; }
expect_grep "$T/add2.out" "^tenant $TN is already set up as asked" "second add"
if "$VAULTCTL" tenant "${ADD[@]/"$MFROM"/127.0.0.1}" >"$T/add3.out" 2>&1; then
	fail "an add with other maintenance addresses was accepted"
fi
expect_grep "$T/add3.out" "differs: maintenance-from" "different add"
pass "tenant add: maintenance user, key file with from= and restrict, a second Match block, the config lines; idempotent"

"$VAULTD" --config "$CONF" --watcher fanotify --foreground </dev/null >"$T/vaultd.log" 2>&1 &
VAULTD_PID=$!
on_exit stop_pid "$VAULTD_PID"
wait_until 20 "vaultd ready" grep -q '^vaultd: ready' "$T/vaultd.log"

# ---------------------------------------------------------------- restic as the tenant
export HOME=$T/home LC_ALL=C.UTF-8 RESTIC_PASSWORD=sealvault-test-password
install -d -m 0700 "$HOME"
client_opts
printf -v SSH_TENANT '%q ' ssh "${CLIENT_OPTS[@]}" -p "$SSHD_PORT" "$TN@127.0.0.1" -s sftp
CLIENT_OPTS[3]=$SSHD_DIR/maint_key	# -F /dev/null -i KEY ...
printf -v SSH_MAINT '%q ' ssh "${CLIENT_OPTS[@]}" -p "$SSHD_PORT" "$MU@127.0.0.1" -s sftp
R=(restic --repo "sftp:$TN@127.0.0.1:/repo" -o "sftp.command=$SSH_TENANT" --no-cache)
RM=(restic --repo "sftp:$MU@127.0.0.1:/repo" -o "sftp.command=$SSH_MAINT" --no-cache)

src=$T/src
mkdir -p "$src/db" "$src/docs"
tool_ok init 60 "${R[@]}" init
for n in 1 2 3; do
	# Each backup replaces most of the data: the prune has packs to drop and to repack.
	head -c $((400000 + n * 1000)) /dev/urandom >"$src/db/dump.bin"
	for i in $(seq 1 8); do
		printf 'doc %s of backup %s\n%s\n' "$i" "$n" "$(head -c 2000 /dev/urandom | base64)" >"$src/docs/d$i.txt"
	done
	tool_ok "backup$n" 90 "${R[@]}" backup --host sealvault-test "$src"
done
tool_ok snapshots 60 "${R[@]}" snapshots --json
[[ $(grep -o '"short_id"' "$OUT" | wc -l) -eq 3 ]] || fail "not 3 snapshots after 3 backups"
pass "restic init and 3 backups with the tenant's key"

# One line per file: path and sha256 (the vault's own .sealvault* names left out).
files_state() {
	(cd "$ROOT" && find . -name '.sealvault*' -prune -o -type f -printf '%P\n' | LC_ALL=C sort |
		while read -r p; do printf '%s %s\n' "$p" "$(sum_of "$p")"; done)
}
# immutable PATH: the flag is set (lsattr's 5th column).
immutable() { [[ $(lsattr -d -- "$1" 2>/dev/null | cut -c5) == i ]]; }

# ---------------------------------------------------------------- the tenant's key: refused, nothing changes
tree_state "$ROOT" >"$T/tree.before"
run_tool forget_tenant 150 "${R[@]}" forget --keep-last 1 --prune
[[ $RC -ne 0 ]] || { show forget_tenant "$OUT"; fail "forget --prune with the tenant's key: exit 0"; }
expect_grep "$OUT" 'ermission denied|refuses' "forget --prune with the tenant's key: the refusal reaches restic"
tree_state "$ROOT" >"$T/tree.after"
expect_same "$T/tree.before" "$T/tree.after" "forget --prune with the tenant's key (refused, exit $RC)"
[[ -z $(find "$ROOT/.sealvault/attic" -type f 2>/dev/null) ]] || fail "the tenant's refused forget put files in the attic"

# ---------------------------------------------------------------- the maintenance key: pruned into the attic
files_state >"$T/files.before"
n_attic_log=$(grep -c 'attic ".*source=maintenance' "$T/vaultd.log" || true)
[[ $n_attic_log -eq 0 ]] || fail "attic moves by the maintenance user before it logged in"
tool_ok forget_maint 150 "${RM[@]}" forget --keep-last 1 --prune
files_state >"$T/files.after"
cut -d' ' -f1 "$T/files.before" >"$T/paths.before"
cut -d' ' -f1 "$T/files.after" >"$T/paths.after"
LC_ALL=C comm -23 "$T/paths.before" "$T/paths.after" >"$T/removed"
LC_ALL=C comm -13 "$T/paths.before" "$T/paths.after" >"$T/added"
grep -q '^repo/snapshots/' "$T/removed" || fail "the maintenance prune removed no snapshot"
[[ $(grep -c '^repo/snapshots/' "$T/removed") -eq 2 ]] || fail "not exactly 2 snapshots removed"
grep -q '^repo/data/' "$T/removed" || fail "the maintenance prune removed no pack (nothing to check in the attic)"
log "maintenance prune: $(wc -l <"$T/removed") file(s) removed, $(wc -l <"$T/added") added"

# The attic by origin path: <root>/.sealvault/attic/<dir>/<name>~<time>-<hex>.
(cd "$ROOT/.sealvault/attic" && find . -type f -printf '%P\n') | LC_ALL=C sort >"$T/attic.entries"
sed 's/~[0-9TZ]*-[0-9a-f]*$//' "$T/attic.entries" | LC_ALL=C sort >"$T/attic.origins"
diff -u "$T/removed" "$T/attic.origins" >"$T/attic.diff" || {
	sed 's/^/    | /' "$T/attic.diff" >&2
	fail "the files gone from the tree are not exactly the attic's entries"
}
while read -r e; do
	o=${e%~*}
	want=$(grep -F "$o " "$T/files.before" | cut -d' ' -f2)
	[[ $(sum_of "$ROOT/.sealvault/attic/$e") == "$want" ]] || fail "attic entry $e differs from the removed $o"
	immutable "$ROOT/.sealvault/attic/$e" || fail "attic entry $e is not sealed"
done <"$T/attic.entries"
while read -r p; do
	[[ $p == repo/locks/* ]] || immutable "$ROOT/$p" || fail "$p, written by the maintenance prune, is not sealed"
done <"$T/added"
pass "maintenance forget --prune: $(wc -l <"$T/removed") removed files all in the attic, byte-identical and sealed"

n_attic_log=$(grep -c 'attic ".*source=maintenance' "$T/vaultd.log" || true)
[[ $n_attic_log -eq $(wc -l <"$T/removed") ]] ||
	fail "vaultd logged $n_attic_log attic moves with source=maintenance, $(wc -l <"$T/removed") files moved"
expect_grep "$T/vaultd.log" "attic \"/repo/snapshots/[0-9a-f]+\" tenant=$TN .*source=maintenance" "vaultd log"
expect_grep "$T/vaultd.log" "maintenance \"/\" tenant=$TN .*source=maintenance" "vaultd log"
expect_no_grep "$T/vaultd.log" "attic .*source=broker" "vaultd log"
pass "vaultd audited every move with source=maintenance"

tool_ok snapshots_after 60 "${R[@]}" snapshots --json
[[ $(grep -o '"short_id"' "$OUT" | wc -l) -eq 1 ]] || fail "not 1 snapshot after the maintenance forget"
tool_ok check 120 "${R[@]}" check --read-data
pass "restic check --read-data (tenant's key) after the maintenance prune"

# ---------------------------------------------------------------- other addresses
# maint_ssh OUT BIND [COMMAND]: the maintenance key, from BIND, asking for the sftp subsystem (or
# running COMMAND: sshd drops a subsystem's stderr, a command's reaches the client).
maint_ssh() {
	local out=$1 bind=$2
	shift 2
	client_opts
	CLIENT_OPTS[3]=$SSHD_DIR/maint_key
	[[ $# -gt 0 ]] || set -- -s sftp
	timeout 30 ssh "${CLIENT_OPTS[@]}" -o BindAddress="$bind" -p "$SSHD_PORT" "$MU@127.0.0.1" "$@" \
		</dev/null >"$out" 2>&1
}
files_state >"$T/files.end"
if maint_ssh "$T/bind2.out" 127.0.0.2; then
	fail "the maintenance key logged in from 127.0.0.2"
fi
expect_grep "$T/bind2.out" "Permission denied" "from 127.0.0.2"
expect_grep "$SSHD_DIR/sshd.log" "from 127.0.0.2.*not permitted|Authentication tried for $MU with correct key but not from a permitted host" \
	"sshd refused the key for its address"
pass "the maintenance key from 127.0.0.2: refused by sshd (the key's from=)"

# The second wall alone: a key file opened to 127.0.0.2 (sshd reads it at each login), vault-sftp refuses.
cp -p "$MKEYS" "$T/maint-keys.saved"
sed -i 's/from="127.0.0.1,::1"/from="127.0.0.1,::1,127.0.0.2"/' "$MKEYS"
on_exit cp -p "$T/maint-keys.saved" "$MKEYS"
if maint_ssh "$T/bind2b.out" 127.0.0.2; then
	fail "vault-sftp served the maintenance user from 127.0.0.2"
fi
wait_until 10 "vaultd audits the refused maintenance login" \
	grep -q "maintenance-login \"/\" tenant=$TN .*from .127\\.0\\.0\\.2. refused: not in maintenance-from" "$T/vaultd.log"
# As a command (sftp -s sftp-server does that), the reason reaches the client.
if maint_ssh "$T/bind2c.out" 127.0.0.2 sftp-server; then
	fail "vault-sftp served the maintenance user from 127.0.0.2 (as a command)"
fi
expect_grep "$T/bind2c.out" "maintenance of tenant $TN is not allowed from \"127.0.0.2\"" "vault-sftp's refusal"
cp -p "$T/maint-keys.saved" "$MKEYS"
files_state >"$T/files.end2"
expect_same "$T/files.end" "$T/files.end2" "the refused maintenance logins"
pass "with a from= that lets 127.0.0.2 in, vault-sftp refuses it (maintenance-from), audited"

# The tenant's key is not the maintenance credential.
client_opts
if timeout 30 ssh "${CLIENT_OPTS[@]}" -p "$SSHD_PORT" "$MU@127.0.0.1" -s sftp </dev/null >"$T/tkey.out" 2>&1; then
	fail "the tenant's key logged in as the maintenance user"
fi
expect_grep "$T/tkey.out" "Permission denied" "the tenant's key as $MU"
pass "the tenant's key does not log in as the maintenance user"

kill -0 "$VAULTD_PID" || fail "vaultd died"
expect_no_grep "$SSHD_DIR/sshd.log" 'fatal|segfault' "sshd log"

# ---------------------------------------------------------------- tenant remove takes the maintenance user too
install -d -m 0700 "$MNT/archive"
"$VAULTCTL" tenant remove "$TN" --archive "$MNT/archive" "${SYS[@]}" >"$T/remove.out" 2>&1 ||
	{ cat "$T/remove.out" >&2; fail "tenant remove failed"; }
expect_grep "$T/remove.out" "^removed maintenance key file $MKEYS" "remove"
expect_grep "$T/remove.out" "^removed maintenance user $MU" "remove"
! getent passwd "$MU" >/dev/null || fail "the maintenance user is still there"
[[ ! -e $MKEYS ]] || fail "the maintenance key file is still there"
pass "tenant remove: the maintenance user and its key file are gone, the vault archived"
pass "maintenance credential: restic forget --prune through it, into the attic"
