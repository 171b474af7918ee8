#!/usr/bin/env bash
# SIGHUP makes vaultd read its config again (vaultctl tenant add relies on
# it): a tenant added to the file is sealed for from then on, in both
# watcher modes; a broken file is refused whole and the running tenants go
# on being sealed; the control socket reports the reload's tenants.
# shellcheck source-path=SCRIPTDIR
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/lib.sh"
source "$here/watch-lib.sh"

require_root
require_cmd python3 setpriv
it_init
watch_init

U2=$(unique_name svr)
make_user "$U2" /nonexistent /usr/sbin/nologin
V2=$MNT/vault2
install -d -m 0755 -o "$U2" -g "$U2" "$V2"
second_tenant() {
	printf 'tenant second {\n\tuser %s\n\troot %s\n\tprofile wt\n}\n' "$U2" "$V2"
}
cp "$CONF" "$T/vault.conf.orig"

for mode in fanotify inotify; do
	WATCHER_MODE=$mode
	cp "$T/vault.conf.orig" "$CONF"
	rm -f "$V2"/* 2>/dev/null || true
	start_vaultd "$T/vaultd-$mode.log"
	expect_watcher_fds

	# Not a tenant yet: its files stay writable.
	setpriv --reuid="$U2" --regid="$U2" --clear-groups sh -c 'echo early >"$1"' sh "$V2/early-$mode.bin"
	barrier "$V"
	expect_not_sealed "$V2/early-$mode.bin"

	# A broken file: refused whole, nothing changes.
	{ cat "$T/vault.conf.orig"; second_tenant; echo "no-such-key 1"; } >"$CONF"
	kill -HUP "$VAULTD_PID"
	wait_vaultd_line "$T/vaultd-$mode.log" 'reload refused, the running config stays: .*unknown key' 10
	barrier "$V"
	setpriv --reuid="$U2" --regid="$U2" --clear-groups sh -c 'echo x >"$1"' sh "$V2/during-broken-$mode.bin"
	barrier "$V"
	expect_not_sealed "$V2/during-broken-$mode.bin"

	# The fixed file: the new tenant is sealed for, the old one still is.
	{ cat "$T/vault.conf.orig"; second_tenant; } >"$CONF"
	kill -HUP "$VAULTD_PID"
	wait_vaultd_line "$T/vaultd-$mode.log" "reloaded $CONF: 2 tenants, watcher $mode" 10
	# The reload's catch-up scan seals what the new tenant already had.
	wait_until 30 "the new tenant's earlier files sealed" is_sealed "$V2/early-$mode.bin"
	setpriv --reuid="$U2" --regid="$U2" --clear-groups sh -c 'echo later >"$1"' sh "$V2/later-$mode.bin"
	wait_until 30 "a new file of the new tenant sealed" is_sealed "$V2/later-$mode.bin"
	barrier "$V"
	"$SEALVAULT_BINARY_DIR/bin/vaultctl" status --control "$CTRL" --json >"$T/status.json" ||
		fail "vaultctl status failed"
	python3 - "$T/status.json" <<'PY' || fail "status after the reload is wrong: $(cat "$T/status.json")"
import json, sys
s = json.load(open(sys.argv[1]))
names = [t["name"] for t in s["tenants"]]
assert names == ["wt", "second"], names
assert all(t["ok"] for t in s["tenants"])
PY
	stop_pid "$VAULTD_PID"
	vaultd_alive && fail "vaultd did not stop"
	# Sealed files stay: clear them for the next round (root may, the tenant may not).
	chattr -i "$V2"/*.bin
	rm -f "$V2"/*.bin
	pass "$mode: SIGHUP adds a tenant; a broken config is refused and changes nothing"
done
