#!/usr/bin/env bash
# vault-listen.service (scripts/vault-listen.service.in) run for real by a
# systemd service manager: its sandbox must not break what it serves.
# systemd-analyze (test_unit_files.sh) only reads the unit; here systemd
# applies it: capabilities, securebits, SystemCallFilter=, ProtectSystem=,
# PrivateTmp= and the rest, inherited by every connection process and
# every vault-sftp session. Checked: READY=1 makes the start return; the
# listener keeps exactly CAP_SETUID CAP_SETGID CAP_KILL (bounding set too),
# no-new-privs and systemd's seccomp filter; the host key is made in
# StateDirectory=; an upload through vault-sftp (its own Landlock and
# seccomp under the unit's filter) is stored and sealed by vaultd's broker
# in /run/sealvault; the same upload fails once the unit's filter denies a
# Landlock call (so the check can fail); reload re-reads the keys; stop
# ends every process; port 22's drop-in (vault-listen.service.in) binds a
# port below 1024 and still ends with the three capabilities.
#
# No systemd runs as PID 1 here (nor in CI): the manager is `systemd
# --user`, started as root, so that it may apply every option. It runs in
# a mount namespace of its own (a tmpfs /run: its sockets and
# /run/sealvault) and a cgroup namespace rooted in a cgroup made for this
# test (it moves the processes of its root cgroup into init.scope: in the
# host's root that would be every process of the machine). What a user
# manager does differently: StateDirectory= is $XDG_CONFIG_HOME/sealvault
# (not /var/lib/sealvault), and the unit's output goes to a file (no
# journal). The drop-in adds only that, the build's programs and config,
# and the tenant filesystem as ReadWritePaths= (the documented way).
# shellcheck source-path=SCRIPTDIR
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/lib.sh"
source "$here/broker-lib.sh"

require_root
require_cmd /lib/systemd/systemd systemctl unshare nsenter findmnt ssh ssh-keygen sftp \
	mkfs.ext4 mount umount lsattr ss timeout

# ---------------------------------------------------------------- outside
# A cgroup of our own in the unified hierarchy, below the one we are in;
# removed afterwards, with any process of ours left in it (by PID). We are
# root here (require_root): a machine that cannot give us one fails the
# test rather than skip it.
if [[ -z ${SEALVAULT_UNIT_NS:-} ]]; then
	if [[ $(stat -f -c %T /sys/fs/cgroup 2>/dev/null) == cgroup2fs ]]; then
		cg_base=/sys/fs/cgroup
	elif [[ $(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null) == cgroup2fs ]]; then
		cg_base=/sys/fs/cgroup/unified
	else
		fail "no cgroup2 hierarchy mounted (systemd needs one)"
	fi
	cg_self=$(sed -n 's/^0:://p' /proc/self/cgroup)
	[[ -n $cg_self ]] || fail "no unified cgroup line in /proc/self/cgroup"
	cg_orig=$cg_base${cg_self%/}
	cg=$cg_orig/sealvault-$IT_NAME.$$
	mkdir "$cg" 2>/dev/null || fail "cannot make a cgroup below $cg_orig"
	# shellcheck disable=SC2317 # run by the EXIT trap
	cg_cleanup() {
		local i pids pid sig=TERM d
		echo $$ >"$cg_orig/cgroup.procs" 2>/dev/null
		for ((i = 0; i < 50; i++)); do
			pids=$(find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null)
			[[ -z $pids ]] && break
			((i < 30)) || sig=KILL
			# Only processes this test started can be in it, one by one.
			for pid in $pids; do
				kill -s "$sig" "$pid" 2>/dev/null
			done
			sleep 0.1
		done
		find "$cg" -depth -type d 2>/dev/null | while read -r d; do rmdir "$d" 2>/dev/null; done
		[[ ! -e $cg ]] || echo "$IT_NAME: could not remove $cg" >&2
	}
	trap cg_cleanup EXIT
	echo $$ >"$cg/cgroup.procs" || fail "cannot move into $cg"
	rc=0
	SEALVAULT_UNIT_NS=1 unshare --mount --cgroup --propagation private "$BASH" "${BASH_SOURCE[0]}" "$@" || rc=$?
	exit "$rc"
fi

# ---------------------------------------------------------------- inside
it_init /srv
VAULTD=${VAULTD:-$SEALVAULT_BINARY_DIR/bin/vaultd}
LISTEN_BIN=${VAULT_LISTEN:-$SEALVAULT_BINARY_DIR/bin/vault-listen}
UNIT_SRC=${VAULT_LISTEN_UNIT:-$SEALVAULT_BINARY_DIR/scripts/vault-listen.service}
[[ -x $VAULTD ]] || fail "vaultd not executable: $VAULTD"
[[ -x $LISTEN_BIN ]] || fail "vault-listen not executable: $LISTEN_BIN"
[[ -f $UNIT_SRC ]] || fail "no unit file: $UNIT_SRC"

# This namespace's cgroup tree (rooted in ours) and its own /run.
mount -t cgroup2 cgroup2 /sys/fs/cgroup || fail "cannot mount cgroup2 in the cgroup namespace"
mount -t tmpfs -o mode=0755 tmpfs /run || fail "cannot mount a tmpfs on /run"
install -d -m 0755 /run/systemd/system /run/sealvault

# The programs where the unit can see them (PrivateTmp= hides a build in /tmp).
install -d -m 0755 "$T/bin" "$T/etc" "$T/keys" "$T/xdg" "$T/xdg/systemd" "$T/xdg/systemd/user"
install -m 0755 "$LISTEN_BIN" "$T/bin/vault-listen"
install -m 0755 "$VAULT_SFTP" "$T/bin/vault-sftp"
install -d -m 0700 "$T/attic"

# One tenant on a real ext4 (the immutable flag), its key root-owned.
MNT="$T/mnt"
loop_ext4 64M "$MNT"
chmod 0755 "$MNT"
USER_=$(unique_name svlu)
TENANT="u-$USER_"
ROOT="$MNT/$TENANT"
make_user "$USER_" "$ROOT" /usr/sbin/nologin
install -d -o "$USER_" -g "$USER_" -m 0750 "$ROOT"
KEY="$T/client_key"
ssh-keygen -q -t ed25519 -N '' -C sealvault-unit-client -f "$KEY"
install -m 0644 "$KEY.pub" "$T/keys/$USER_"
STATE="$T/xdg/sealvault"
PORT=$(free_port)
CONF="$T/etc/vault.conf"
write_conf() {
	cat >"$CONF" <<EOF
# generated by $IT_NAME
broker-socket /run/sealvault/broker.sock
control-socket /run/sealvault/control.sock
journal-socket /run/no-journal.sock
kernel-audit no
watcher off
attic $T/attic
state-dir $STATE
listen 127.0.0.1:$1
tenant $TENANT {
	user $USER_
	root $ROOT
	profile generic
	authorized-keys $T/keys/$USER_
}
EOF
	chmod 0644 "$CONF"
}
write_conf "$PORT"

# vaultd's broker (by PID, outside the unit), as vaultd.service places it.
start_broker_only "$CONF" "$T/vaultd.log"

# ---------------------------------------------------------------- the manager
UNITDIR="$T/xdg/systemd/user"
install -m 0644 "$UNIT_SRC" "$UNITDIR/vault-listen.service"
LOG="$T/listen.log"
: >"$LOG"
mkdir -p "$UNITDIR/vault-listen.service.d"
cat >"$UNITDIR/vault-listen.service.d/10-test.conf" <<EOF
# $IT_NAME: the build's programs and config, output to a file, the tenants' filesystem.
[Service]
ExecStart=
ExecStart=$T/bin/vault-listen --config $CONF --vault-sftp $T/bin/vault-sftp
ReadWritePaths=
ReadWritePaths=$MNT
StandardOutput=append:$LOG
StandardError=inherit
EOF
# Nothing but what the test starts: an empty default target.
printf '[Unit]\nDescription=%s\n' "$IT_NAME" >"$UNITDIR/lunit-idle.target"

export XDG_RUNTIME_DIR=/run XDG_CONFIG_HOME="$T/xdg" HOME="$T"
/lib/systemd/systemd --user --unit=lunit-idle.target --log-target=console </dev/null >"$T/systemd.log" 2>&1 &
SD_PID=$!
on_exit stop_pid "$SD_PID"
wait_until 20 "the service manager's socket" test -S /run/systemd/private
sc() { timeout 60 systemctl --user --no-pager "$@"; }
on_exit timeout 30 systemctl --user stop vault-listen.service
prop() { sc show -p "$1" --value vault-listen.service; }

# start_unit: true once READY=1 made the start return.
start_unit() {
	sc reset-failed vault-listen.service >/dev/null 2>&1 || true
	sc start vault-listen.service >"$T/start.out" 2>&1
}
show_failure() {
	sed 's/^/    listen | /' "$LOG" >&2
	sc status vault-listen.service 2>&1 | sed 's/^/    status | /' >&2 || true
	sed 's/^/    systemd | /' "$T/systemd.log" >&2
}

# upload NAME [KEY] [PORT]: sftp put of a fresh file as NAME; its status.
upload() {
	local name=$1 key=${2:-$KEY} port=${3:-$PORT}
	printf 'upload %s %s\n' "$name" "$RANDOM" >"$T/$name.src"
	printf 'put %s %s\nls -l\nget %s %s\n' "$T/$name.src" "$name" "$name" "$T/$name.back" >"$T/batch"
	timeout 60 sftp -F /dev/null -i "$key" -o IdentitiesOnly=yes -o BatchMode=yes \
		-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o GlobalKnownHostsFile=/dev/null \
		-o ConnectTimeout=10 -P "$port" -b "$T/batch" "$USER_@127.0.0.1" </dev/null >"$T/sftp.out" 2>&1
}
expect_sealed() {
	local name=$1 attrs
	cmp -s "$T/$name.src" "$ROOT/$name" || fail "$name: not stored as sent"
	cmp -s "$T/$name.src" "$T/$name.back" || fail "$name: read back differs"
	# Made by the session as the tenant (vaultd re-owns sealed files to root, group kept).
	[[ $(stat -c %G "$ROOT/$name") == "$USER_" ]] || fail "$name: group $(stat -c %G "$ROOT/$name"), not the tenant's"
	attrs=$(lsattr -d "$ROOT/$name") || fail "lsattr $name failed"
	[[ ${attrs%% *} == *i* ]] || fail "$name is not immutable: $attrs"
}

# caps_of PID: "prm eff inh amb bnd nnp seccomp" from /proc/PID/status.
caps_of() {
	awk '/^CapPrm:|^CapEff:|^CapInh:|^CapAmb:|^CapBnd:|^NoNewPrivs:|^Seccomp:/ { v[$1] = $2 }
		END { print v["CapPrm:"], v["CapEff:"], v["CapInh:"], v["CapAmb:"], v["CapBnd:"],
			v["NoNewPrivs:"], v["Seccomp:"] }' "/proc/$1/status"
}
# CAP_KILL (5), CAP_SETGID (6), CAP_SETUID (7).
THREE=00000000000000e0
NONE=0000000000000000
expect_listener_caps() {
	local pid got want
	pid=$(prop MainPID)
	[[ $pid =~ ^[1-9][0-9]*$ ]] || fail "no MainPID ($pid)"
	got=$(caps_of "$pid")
	want="$THREE $THREE $NONE $NONE $THREE 1 2"
	[[ $got == "$want" ]] || fail "$1: listener pid $pid has prm eff inh amb bnd nnp seccomp '$got', want '$want'"
}

# ---------------------------------------------------------------- start
if ! start_unit; then
	sed 's/^/    | /' "$T/start.out" >&2
	show_failure
	fail "systemctl start vault-listen.service failed"
fi
[[ $(prop ActiveState)/$(prop SubState) == active/running ]] || {
	show_failure
	fail "after start: $(prop ActiveState)/$(prop SubState)"
}
expect_grep "$LOG" "listening on 127\\.0\\.0\\.1:$PORT" "the listener's log"
expect_no_grep "$LOG" 'kernel sealing is OFF' "the broker in /run/sealvault reached from the unit"
expect_listener_caps "started"
pass "start returns after READY=1; listener: CAP_SETUID CAP_SETGID CAP_KILL only (bounding too), no-new-privs, seccomp"

# The sandbox is in force, not just written down: the listener's mount
# namespace has /usr read-only, its own /tmp, the tenants' filesystem writable.
pid=$(prop MainPID)
in_unit() { nsenter --mount="/proc/$pid/ns/mnt" -- "$@"; }
opts=$(in_unit findmnt -no OPTIONS --target /usr) || fail "findmnt /usr in the unit"
[[ ,$opts, == *,ro,* ]] || fail "/usr is not read-only in the unit: $opts"
opts=$(in_unit findmnt -no OPTIONS --target "$MNT") || fail "findmnt $MNT in the unit"
[[ ,$opts, == *,rw,* ]] || fail "$MNT is not writable in the unit: $opts"
[[ $(in_unit stat -c %i /tmp) != "$(stat -c %i /tmp)" ]] || fail "the unit's /tmp is the host's"
pass "sandbox in force: /usr read-only, $MNT writable, a private /tmp"

HOSTKEY="$STATE/ssh_host_ed25519_key"
[[ -f $HOSTKEY ]] || fail "no host key in the StateDirectory ($HOSTKEY)"
[[ $(stat -c '%a %U' "$HOSTKEY") == "600 root" ]] || fail "host key: $(stat -c '%a %U' "$HOSTKEY")"
[[ $(stat -c %a "$STATE") == 700 ]] || fail "StateDirectory mode $(stat -c %a "$STATE"), want 700"
expect_grep "$LOG" "made a new Ed25519 host key $HOSTKEY" "host key"
pass "host key made in StateDirectory= (0600; directory 0700)"

# ---------------------------------------------------------------- sessions
if ! upload first; then
	sed 's/^/    sftp | /' "$T/sftp.out" >&2
	show_failure
	fail "sftp put/ls/get through the unit failed"
fi
expect_sealed first
expect_no_grep "$LOG" 'confine|landlock|seccomp|Operation not permitted' "the session's log"
pass "sftp put, ls, get through vault-listen.service: stored as the tenant, sealed by the broker"

# The same check fails when the unit's filter takes a call the sessions
# need: Landlock (each connection process and vault-sftp confine
# themselves), and openat2 (vault-sftp alone resolves every path with it).
for call in landlock_create_ruleset openat2; do
	printf '[Service]\nSystemCallFilter=~%s\n' "$call" >"$UNITDIR/vault-listen.service.d/90-break.conf"
	sc daemon-reload
	sc restart vault-listen.service || { show_failure; fail "restart with $call filtered out"; }
	if upload "no-$call"; then
		fail "an upload succeeded although the unit's filter denies $call"
	fi
	[[ ! -e $ROOT/no-$call ]] || fail "no-$call: stored although the session could not run"
done
expect_grep "$LOG" 'landlock' "the refused confinement is logged"
rm -f "$UNITDIR/vault-listen.service.d/90-break.conf"
sc daemon-reload
sc restart vault-listen.service || { show_failure; fail "restart with the unit's own filter"; }
pass "control: with landlock_create_ruleset or openat2 filtered out, the same upload fails"

# ---------------------------------------------------------------- reload
ssh-keygen -q -t ed25519 -N '' -C sealvault-unit-client2 -f "$T/client_key2"
cat "$T/client_key2.pub" >>"$T/keys/$USER_"
from=$(wc -l <"$LOG")
pid=$(prop MainPID)
sc reload vault-listen.service || { show_failure; fail "systemctl reload failed"; }
wait_until 10 "the reload's log line" bash -c "tail -n +$((from + 1)) '$LOG' | grep -q 'reloaded $CONF: 1 tenant'"
[[ $(prop MainPID) == "$pid" ]] || fail "reload started a new process"
if ! upload second "$T/client_key2"; then
	sed 's/^/    sftp | /' "$T/sftp.out" >&2
	show_failure
	fail "the key added before the reload is refused"
fi
expect_sealed second
pass "reload (SIGHUP): same process, the new key logs in, upload sealed"

# ---------------------------------------------------------------- stop
sc stop vault-listen.service || { show_failure; fail "systemctl stop failed"; }
[[ $(prop Result) == success ]] || fail "stop: Result=$(prop Result)"
[[ $(prop ExecMainStatus) == 0 ]] || fail "stop: exit status $(prop ExecMainStatus)"
kill -0 "$pid" 2>/dev/null && fail "the listener (pid $pid) still runs after stop"
left=$(find /sys/fs/cgroup -path '*vault-listen.service*' -name cgroup.procs -exec cat {} + 2>/dev/null)
[[ -z $left ]] || fail "processes left in the unit's cgroup after stop: $left"
pass "stop: exit 0, Result=success, no process left"

# ---------------------------------------------------------------- port 22
# A free port below 1024: refused without the drop-in, served with it.
LOW=""
for ((i = 0; i < 100; i++)); do
	p=$((600 + RANDOM % 424))
	if ! port_in_use "$p"; then
		LOW=$p
		break
	fi
done
[[ -n $LOW ]] || fail "no free port below 1024"
write_conf "$LOW"
: >"$LOG"
if start_unit; then
	fail "vault-listen.service bound port $LOW without CAP_NET_BIND_SERVICE"
fi
expect_grep "$LOG" "Permission denied" "the refused bind of port $LOW"
sc stop vault-listen.service >/dev/null 2>&1 || true
# The drop-in of the unit's header, as written there.
sed -n '/^# Port 22/,/^#   AmbientCapabilities=/p' "$UNIT_SRC" |
	sed -n 's/^#   //p' >"$UNITDIR/vault-listen.service.d/50-port22.conf"
grep -qx 'CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_SETPCAP' "$UNITDIR/vault-listen.service.d/50-port22.conf" ||
	fail "the unit's header no longer shows the port-22 drop-in: $(cat "$UNITDIR/vault-listen.service.d/50-port22.conf")"
sc daemon-reload
: >"$LOG"
if ! start_unit; then
	show_failure
	fail "vault-listen.service with the port-22 drop-in did not start on port $LOW"
fi
expect_grep "$LOG" "listening on 127\\.0\\.0\\.1:$LOW" "the listener's log"
expect_listener_caps "with the port-22 drop-in"
if ! upload third "$KEY" "$LOW"; then
	sed 's/^/    sftp | /' "$T/sftp.out" >&2
	show_failure
	fail "sftp through port $LOW failed"
fi
expect_sealed third
sc stop vault-listen.service || fail "stop failed"
pass "port-22 drop-in: port $LOW bound, then only CAP_SETUID CAP_SETGID CAP_KILL; upload sealed"

sc exit >/dev/null 2>&1 || true
