#!/usr/bin/env bash
# vaultctl tenant, as root, with real users and a real sshd whose main
# config Includes a drop-in dir (the host's layout, all under $T):
#   - tenant add sets up user, protected root, key file, conf.d file and
#     drop-in, reloads sshd; then a real sftp upload and a real restic
#     init + backup log in through that drop-in;
#   - a second identical add changes nothing (files, inodes, passwd);
#     a different one refuses and says what differs;
#   - a drop-in sshd -t refuses (an admin's typo in --sshd-option) and a
#     private key given as --key leave nothing behind;
#   - the tenant can neither read nor write its key file (SFTP, shell);
#   - key add/remove: the removed key no longer logs in;
#   - tenant remove refuses while the root holds files, and with --archive
#     moves it aside (immutable flags kept) and removes the rest; the
#     running vaultd is told to reload.
# shellcheck source-path=SCRIPTDIR disable=SC2016 # the sh -c scripts take their paths as "$1"
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/lib.sh"
source "$here/tools-lib.sh"

require_root
require_cmd restic sftp ssh ssh-keygen sha256sum setpriv getfacl chattr lsattr useradd userdel timeout python3
it_init /srv
sshd_init
VAULTS=$T/vaults
install -d -m 0700 "$T/archive"
vaultctl_host "watcher inotify"
MAIN=$SSHD_DIR/sshd_config
SYS=(--config "$CONF" --sshd-dir "$DROPIN" --sshd-config "$MAIN" --reload "pidfile:$SSHD_DIR/sshd.pid")
ADD=("${SYS[@]}" --vault-sftp "$T/bin/vault-sftp" --no-require-broker)

vc() {
	local out=$1
	shift
	"$VAULTCTL" tenant "$@" >"$out" 2>&1
}
vc_ok() {
	local out=$1
	vc "$@" || {
		sed 's/^/    | /' "$out" >&2
		fail "vaultctl tenant $2 $3 failed"
	}
}
vc_refused() {
	local out=$1 rc=0
	vc "$@" || rc=$?
	[[ $rc -eq 1 ]] || {
		sed 's/^/    | /' "$out" >&2
		fail "vaultctl tenant $2 $3: exit $rc, expected 1 (refused)"
	}
}

# expect_fixed FILE TEXT WHAT: a line of FILE starts with TEXT (no regex: fingerprints hold '+').
expect_fixed() {
	awk -v t="$2" 'index($0, t) == 1 { found = 1 } END { exit !found }' "$1" || {
		sed 's/^/    | /' "$1" >&2
		fail "$3: no line starting with '$2'"
	}
}

# sftp_with KEY USER BATCH OUT: like sftp_ssh, with another client key.
sftp_with() {
	local key=$1 user=$2 batch=$3 out=$4
	client_opts
	CLIENT_OPTS[3]=$key   # -F /dev/null -i KEY ...
	timeout 60 sftp "${CLIENT_OPTS[@]}" -P "$SSHD_PORT" -b "$batch" "$user@127.0.0.1" </dev/null >"$out" 2>&1
}

n_sighup() { grep -c 'Received SIGHUP' "$SSHD_DIR/sshd.log" || true; }
n_listening() { grep -c "Server listening on 127.0.0.1 port $SSHD_PORT" "$SSHD_DIR/sshd.log" || true; }
# After a SIGHUP, sshd -D re-executes itself and listens again.
sshd_relistened() { (($(n_listening) > $1)); }

# Everything tenant add writes, with inodes: an atomic rewrite shows as a new inode.
tenant_state() {
	local n=$1 f
	for f in "$ETC/keys/$n" "$ETC/conf.d/$n.conf" "$DROPIN/sealvault-$n.conf"; do
		stat -c '%n %i %Y %a %U %G' "$f" && sha256sum "$f"
	done
	getent passwd "$n"
	getent group "$n"
	getent shadow "$n"
	stat -c '%n %i %a %U %G' "$VAULTS/$n"
	getfacl -cp "$VAULTS/$n"
	find "$ETC" "$DROPIN" "$VAULTS" -maxdepth 2 -printf '%p %i\n' | LC_ALL=C sort
}

# ---------------------------------------------------------------- tenant add
TN=$(unique_name svt-tn)
on_exit delete_user "$TN"
ROOT=$VAULTS/$TN
KEYFILE=$ETC/keys/$TN
listening=$(n_listening)
vc_ok "$T/add.out" add "$TN" --profile restic --key "$SSHD_DIR/client_key.pub" --quota-files 100000 \
	--retention 30d --root "$ROOT" "${ADD[@]}"
sed 's/^/    | /' "$T/add.out"
expect_grep "$T/add.out" "^created user $TN \\(uid [0-9]+" "add"
expect_grep "$T/add.out" "^tenant root $ROOT: owner root, sticky, ACL user:$TN:rwx" "add"
expect_grep "$T/add.out" "^wrote sshd drop-in $DROPIN/sealvault-$TN.conf; sshd -t accepts" "add"
expect_grep "$T/add.out" "^reloaded sshd \\(pid $SSHD_PID, SIGHUP\\)" "add"
expect_grep "$T/add.out" "^vaultd is not running" "add"
expect_no_grep "$T/add.out" "WARNING" "add"

IFS=: read -r _ _ uid gid _ home shell < <(getent passwd "$TN")
[[ $home == "$ROOT" && $shell == "$T/bin/vault-sftp" ]] || fail "passwd: home $home, shell $shell"
[[ $(getent shadow "$TN" | cut -d: -f2) == '*' ]] || fail "the tenant's password is not '*'"
[[ $(stat -c '%U %a' "$ROOT") == "root 1770" ]] || fail "root $ROOT: $(stat -c '%U %a' "$ROOT"), expected root 1770"
getfacl -cp "$ROOT" | grep -qx "user:$TN:rwx" || fail "root $ROOT: no ACL user:$TN:rwx"
[[ $(stat -c '%U %G %a' "$KEYFILE" "$ETC/keys") == "root root 644"$'\n'"root root 755" ]] ||
	fail "key file or dir not root-owned 0644/0755"
[[ $(cut -d' ' -f1,2 "$KEYFILE") == "$(cut -d' ' -f1,2 "$SSHD_DIR/client_key.pub")" ]] || fail "key file content"
"$VAULTCTL" policy check "$CONF" >/dev/null || fail "vault.conf does not load after add"
D=$DROPIN/sealvault-$TN.conf
for l in "Match User $TN" "	AuthorizedKeysFile $KEYFILE" "	ForceCommand $T/bin/vault-sftp --config $CONF" \
	"	AllowTcpForwarding no" "	X11Forwarding no" "	PermitTTY no" "	AllowAgentForwarding no" \
	"	PermitTunnel no"; do
	grep -qxF -- "$l" "$D" || fail "drop-in: no line '$l'"
done
wait_until 10 "sshd listening again after the reload" sshd_relistened "$listening"
pass "tenant add: user, protected root, key file, config and drop-in; sshd reloaded"

# ---------------------------------------------------------------- sftp and restic
head -c 300000 /dev/urandom >"$T/up.bin"
printf 'put %s /up.bin\nls -l /\n' "$T/up.bin" >"$T/b-put"
sftp_ssh "$TN" "$T/b-put" "$T/sftp-put.out" || {
	sed 's/^/    | /' "$T/sftp-put.out" "$SSHD_DIR/sshd.log" >&2
	fail "sftp upload as the new tenant failed"
}
cmp -s "$T/up.bin" "$ROOT/up.bin" || fail "the uploaded file differs"
pass "sftp upload through the drop-in"

export HOME=$T/home LC_ALL=C.UTF-8 RESTIC_PASSWORD=sealvault-test-password
install -d -m 0700 "$HOME"
client_opts
printf -v SSH_CMD '%q ' ssh "${CLIENT_OPTS[@]}" -p "$SSHD_PORT"
R=(restic --repo "sftp:$TN@127.0.0.1:/repo" -o "sftp.command=${SSH_CMD% } $TN@127.0.0.1 -s sftp" --no-cache)
TOOL_FAILFAST='Remove\(<lock/'
mkdir -p "$T/src/d"
for i in 1 2 3; do head -c $((i * 100000)) /dev/urandom >"$T/src/d/f$i"; done
tool_ok restic-init 60 "${R[@]}" init
tool_ok restic-backup 90 "${R[@]}" backup --host sealvault-test "$T/src"
tool_ok restic-check 90 "${R[@]}" check
[[ -f $ROOT/repo/config ]] || fail "no restic repository in the root"
pass "restic init, backup and check through the drop-in"

# ---------------------------------------------------------------- idempotent
tenant_state "$TN" >"$T/state1" 2>&1
sighups=$(n_sighup)
vc_ok "$T/add2.out" add "$TN" --profile restic --key "$SSHD_DIR/client_key.pub" --quota-files 100000 \
	--retention 30d --root "$ROOT" "${ADD[@]}"
expect_grep "$T/add2.out" "^tenant $TN is already set up as asked$" "second add"
tenant_state "$TN" >"$T/state2" 2>&1
cmp -s "$T/state1" "$T/state2" || {
	diff "$T/state1" "$T/state2" | sed 's/^/    | /' >&2
	fail "the second identical add changed something"
}
[[ $(n_sighup) -eq $sighups ]] || fail "the second identical add reloaded sshd"
pass "a second identical add changes nothing"

vc_refused "$T/add3.out" add "$TN" --profile generic --key "$SSHD_DIR/client_key.pub" --quota-files 100000 \
	--retention 30d --root "$ROOT" "${ADD[@]}"
expect_grep "$T/add3.out" "differs: profile is restic, asked generic" "different add"
expect_no_grep "$T/add3.out" "differs: (quota|retention|user|root|the )" "different add"
tenant_state "$TN" >"$T/state3" 2>&1
cmp -s "$T/state1" "$T/state3" || fail "a refused different add changed something"
pass "a different add refuses, says what differs, changes nothing"

# ---------------------------------------------------------------- nothing half-done
# $T/vaults2 does not exist, and must not after the rollback either.
list_all() {
	{ find "$ETC" "$DROPIN" "$T/vaults" "$T/vaults2" -printf '%p %i %s\n' 2>/dev/null || true; } | LC_ALL=C sort
}
list_all >"$T/before-broken"
TN2=$(unique_name svt-tb)
on_exit delete_user "$TN2"
vc_refused "$T/broken.out" add "$TN2" --profile generic --key "$SSHD_DIR/client_key.pub" \
	--root "$T/vaults2/sub/$TN2" --sshd-option "ClientAliveInterval often" "${ADD[@]}"
sed 's/^/    | /' "$T/broken.out"
expect_grep "$T/broken.out" "^created user $TN2" "broken drop-in: it got as far as the drop-in"
expect_grep "$T/broken.out" "sealvault-$TN2.conf line [0-9]+: invalid time value" "broken drop-in: sshd -t's complaint"
expect_grep "$T/broken.out" "^rolled back: removed user $TN2" "broken drop-in"
getent passwd "$TN2" >/dev/null && fail "broken drop-in: user $TN2 is left"
getent group "$TN2" >/dev/null && fail "broken drop-in: group $TN2 is left"
list_all >"$T/after-broken"
cmp -s "$T/before-broken" "$T/after-broken" || {
	diff "$T/before-broken" "$T/after-broken" | sed 's/^/    | /' >&2
	fail "broken drop-in: files or directories are left"
}
/usr/sbin/sshd -t -f "$MAIN" || fail "sshd -t fails after the rollback"
pass "a drop-in sshd -t refuses is rolled back whole (user, group, root and parents, key, conf.d, drop-in)"

vc_refused "$T/private.out" add "$TN2" --profile generic --key "$SSHD_DIR/client_key" "${ADD[@]}"
expect_grep "$T/private.out" "REFUSED: .*PRIVATE key" "private key"
getent passwd "$TN2" >/dev/null && fail "private key: user created"
list_all >"$T/after-private"
cmp -s "$T/before-broken" "$T/after-private" || fail "private key: something was written"
pass "a private key is refused loudly before any change"

# ---------------------------------------------------------------- the key file is out of reach
keysum=$(sum_of "$KEYFILE")
for p in "../../etc/keys/$TN" "$KEYFILE"; do
	printf 'get %s %s\n' "$p" "$T/got" >"$T/b-get"
	sftp_ssh "$TN" "$T/b-get" "$T/sftp-get.out" && fail "sftp: get $p succeeded"
	[[ -e $T/got ]] && fail "sftp: get $p fetched something"
	printf 'put %s %s\n' "$T/up.bin" "$p" >"$T/b-put2"
	sftp_ssh "$TN" "$T/b-put2" "$T/sftp-put2.out" && fail "sftp: put onto $p succeeded"
done
ssh_cmd "$TN" "$T/ssh-cat.out" cat "$KEYFILE" && fail "ssh: a command ran"
grep -q "$(cut -d' ' -f2 "$SSHD_DIR/client_key.pub")" "$T/ssh-cat.out" && fail "ssh: the key file was printed"
as_tenant() { setpriv --reuid="$uid" --regid="$gid" --clear-groups -- sh -c "$1" sh "$KEYFILE"; }
as_tenant 'echo evil >>"$1"' 2>/dev/null && fail "the tenant's uid could append to its key file"
as_tenant 'echo evil >"$1.new" && mv "$1.new" "$1"' 2>/dev/null && fail "the tenant's uid could replace its key file"
as_tenant 'rm -f "$1"' 2>/dev/null && fail "the tenant's uid could remove its key file"
[[ $(sum_of "$KEYFILE") == "$keysum" ]] || fail "the key file changed"
pass "the tenant can neither read nor write its key file (sftp get/put, ssh, its own uid)"

# ---------------------------------------------------------------- key add / remove
ssh-keygen -q -t ed25519 -N '' -C "second key" -f "$T/client2"
fp1=$(ssh-keygen -l -f "$SSHD_DIR/client_key.pub" | cut -d' ' -f2)
fp2=$(ssh-keygen -l -f "$T/client2.pub" | cut -d' ' -f2)
vc_ok "$T/keyadd.out" key add "$TN" "$T/client2.pub" "${SYS[@]:0:4}"
expect_fixed "$T/keyadd.out" "adding key $fp2 ssh-ed25519 second key" "key add"
vc_ok "$T/show.out" show "$TN" --json "${SYS[@]:0:4}"
python3 - "$T/show.out" "$fp1" "$fp2" "$TN" "$ROOT" "$uid" <<'PY' || fail "tenant show --json: $(cat "$T/show.out")"
import json, sys
s = json.load(open(sys.argv[1]))
assert [k["fingerprint"] for k in s["keys"]] == sys.argv[2:4], s["keys"]
assert (s["user"], s["root"], s["uid"], s["profile"]) == (sys.argv[4], sys.argv[5], int(sys.argv[6]), "restic"), s
assert (s["quota_files"], s["retention_s"], s["sshd_dropin_present"]) == (100000, 30 * 86400, True), s
PY
printf 'ls /\n' >"$T/b-ls"
sftp_with "$T/client2" "$TN" "$T/b-ls" "$T/ls2.out" || fail "login with the added key failed: $(cat "$T/ls2.out")"
vc_ok "$T/keyrm.out" key remove "$TN" "$fp1" "${SYS[@]:0:4}"
expect_fixed "$T/keyrm.out" "removing key $fp1 " "key remove"
sftp_ssh "$TN" "$T/b-ls" "$T/ls1.out" && fail "login with the removed key still works"
expect_grep "$T/ls1.out" "Permission denied" "login with the removed key"
sftp_with "$T/client2" "$TN" "$T/b-ls" "$T/ls2.out" || fail "login with the remaining key failed"
vc_refused "$T/keyrm2.out" key remove "$TN" "$fp1" "${SYS[@]:0:4}"
pass "key add and remove (fingerprints as ssh-keygen -l; the removed key cannot log in)"

# ---------------------------------------------------------------- tenant remove
"$VAULTD" --config "$CONF" --no-scan </dev/null >"$T/vaultd.log" 2>&1 &
VAULTD_PID=$!
on_exit stop_pid "$VAULTD_PID"
wait_until 20 "vaultd ready" grep -q '^vaultd: ready' "$T/vaultd.log"
chattr +i "$ROOT/up.bin"    # as if vaultd had sealed it

tenant_state "$TN" >"$T/state4" 2>&1
vc_refused "$T/rm1.out" remove "$TN" "${SYS[@]}"
expect_grep "$T/rm1.out" "holds files: nothing removed" "remove with data"
tenant_state "$TN" >"$T/state5" 2>&1
cmp -s "$T/state4" "$T/state5" || fail "a refused remove changed something"

listening=$(n_listening)
vc_ok "$T/rm2.out" remove "$TN" --archive "$T/archive" "${SYS[@]}"
sed 's/^/    | /' "$T/rm2.out"
expect_grep "$T/rm2.out" "^told vaultd \\(pid $VAULTD_PID\\) to reload" "remove"
wait_until 10 "vaultd reloaded without the tenant" grep -q "reloaded $CONF: 0 tenants" "$T/vaultd.log"
# The records of vaultctl's own actions go through vaultd's audit trail while it runs.
expect_grep "$T/vaultd.log" "admin tenant remove tenant=$TN uid=0 .*source=vaultctl" "vaultd.log"
expect_grep "$T/vaultd.log" "admin tenant remove tenant=$TN .*(refused|holds files|data)" "vaultd.log"
getent passwd "$TN" >/dev/null && fail "remove: user left"
getent group "$TN" >/dev/null && fail "remove: group left"
for f in "$KEYFILE" "$ETC/conf.d/$TN.conf" "$D" "$ROOT"; do
	[[ -e $f ]] && fail "remove: $f is left"
done
arch=$(find "$T/archive" -mindepth 1 -maxdepth 1 -name "$TN-*")
[[ -n $arch && -f $arch/repo/config ]] || fail "remove: no archived root in $T/archive"
cmp -s "$T/up.bin" "$arch/up.bin" || fail "remove: the archived file differs"
lsattr -d "$arch/up.bin" | cut -d' ' -f1 | grep -q i || fail "remove: the archived file lost its immutable flag"
/usr/sbin/sshd -t -f "$MAIN" || fail "sshd -t fails after remove"
wait_until 10 "sshd listening again after the reload" sshd_relistened "$listening"
sftp_with "$T/client2" "$TN" "$T/b-ls" "$T/ls3.out" && fail "the removed tenant still logs in"
vc_ok "$T/list.out" list "${SYS[@]:0:4}"
[[ $(wc -l <"$T/list.out") -eq 1 ]] || fail "tenant list after remove: $(cat "$T/list.out")"
pass "tenant remove refuses with data; --archive moves the root aside (flags kept) and removes the rest"
