#!/usr/bin/env bash
# scripts/quickstart.sh: a write-once SFTP vault on 127.0.0.1, in one command.
#
#   scripts/quickstart.sh [--port PORT]     start (or restart) the demo
#   scripts/quickstart.sh --stop            stop it
#
# On a fresh Debian 12 machine as root: installs the packages it needs
# (apt-get; SEALVAULT_NO_APT=1 skips that), builds vault-sftp and vaultd,
# starts vaultd (kernel sealing: every finished upload immutable before the
# client hears OK) and a private OpenSSH sshd on 127.0.0.1:PORT (default
# 2222) whose only user is the demo tenant "sealvault-demo", forced into
# vault-sftp. Your system sshd and its config are not touched.
#
# State (keys, config, logs, pids): /var/lib/sealvault-demo
# The tenant's vault:             /srv/sealvault-demo/sealvault-demo
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
port=${SEALVAULT_DEMO_PORT:-2222}
state=/var/lib/sealvault-demo
vaults=/srv/sealvault-demo
user=sealvault-demo
action=start
orig_args=("$@")

die() {
	echo "quickstart: $*" >&2
	exit 1
}

usage() {
	sed -n '4,5p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

while [[ $# -gt 0 ]]; do
	case $1 in
	--port)
		[[ $# -ge 2 ]] || usage
		port=$2
		shift 2
		;;
	--port=*)
		port=${1#--port=}
		shift
		;;
	--stop)
		action=stop
		shift
		;;
	-h | --help) usage ;;
	*) usage ;;
	esac
done
if ! [[ $port =~ ^[0-9]{1,5}$ ]] || ((port < 1 || port > 65535)); then
	die "invalid port: $port"
fi

if [[ $EUID -ne 0 ]]; then
	cat >&2 <<EOF
quickstart: needs root: it creates a system user for the demo tenant and
starts a private sshd (which must run as root to switch to that user).
Run it as root, e.g.:  sudo $0${orig_args[*]:+ ${orig_args[*]}}
To build and try vault-sftp without root, see "Without root" in README.md.
EOF
	exit 1
fi

cfg="$state/sshd_config"
pidfile="$state/sshd.pid"
vconf="$state/vault.conf"
vpidfile="$state/vaultd.pid"

# Our sshd: the PID in our pidfile, running sshd with our config.
demo_sshd_pid() {
	local pid
	[[ -f $pidfile ]] || return 1
	pid=$(head -c 20 "$pidfile" | tr -dc '0-9')
	[[ -n $pid && -r /proc/$pid/cmdline ]] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "sshd.*-f $cfg" || return 1
	echo "$pid"
}

# Our vaultd: the PID in its pidfile, running vaultd with our config.
demo_vaultd_pid() {
	local pid
	[[ -f $vpidfile ]] || return 1
	pid=$(head -c 20 "$vpidfile" | tr -dc '0-9')
	[[ -n $pid && -r /proc/$pid/cmdline ]] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "vaultd --config $vconf" || return 1
	echo "$pid"
}

stop_demo() {
	local pid i
	if pid=$(demo_vaultd_pid); then
		echo "stopping the demo vaultd (pid $pid)"
		kill -TERM "$pid"
		for ((i = 0; i < 50; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$pid" 2>/dev/null && die "vaultd pid $pid did not stop"
	fi
	rm -f "$vpidfile"
	if pid=$(demo_sshd_pid); then
		echo "stopping the demo sshd (pid $pid)"
		kill -TERM "$pid"
		for ((i = 0; i < 50; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			die "sshd pid $pid did not stop"
		fi
	fi
	rm -f "$pidfile"
}

if [[ $action == stop ]]; then
	stop_demo
	echo "stopped. Remove everything with: userdel $user; chattr -R -i $vaults; rm -rf $state $vaults"
	exit 0
fi

port_busy() {
	if command -v ss >/dev/null 2>&1; then
		[[ -n $(ss -Hltn "sport = :$port" 2>/dev/null) ]]
	else
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
	fi
}
# Busy, unless it is this demo's own sshd on that port (it is restarted below).
if port_busy && ! { demo_sshd_pid >/dev/null && grep -qx "ListenAddress 127.0.0.1:$port" "$cfg"; }; then
	die "port $port is already in use; pick another: $0 --port PORT"
fi

# ---------------------------------------------------------------- packages
# shellcheck source=scripts/lib/deps.sh
source "$repo/scripts/lib/deps.sh"
# shellcheck source=scripts/lib/sshd-match.sh
source "$repo/scripts/lib/sshd-match.sh"
if [[ ${SEALVAULT_NO_APT:-0} != 1 ]]; then
	echo "==== installing packages (apt-get)"
	# cmocka: the build configures the tests too (BUILD_TESTING is on by default).
	sealvault_apt_install "${SEALVAULT_BUILD_DEPS[@]}" "${SEALVAULT_RUN_DEPS[@]}" libcmocka-dev ||
		die "apt-get install failed"
fi
for c in cmake /usr/sbin/sshd ssh-keygen sftp; do
	command -v "$c" >/dev/null 2>&1 || die "missing $c (install the packages or unset SEALVAULT_NO_APT)"
done

# ---------------------------------------------------------------- build
echo "==== building vault-sftp, vaultd and vaultctl"
build_type=()
[[ -f $repo/build/CMakeCache.txt ]] || build_type=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
cmake -S "$repo" -B "$repo/build" "${build_type[@]}" >/dev/null
cmake --build "$repo/build" -j "${SEALVAULT_JOBS:-2}" --target vault-sftp vaultd vaultctl
for b in vault-sftp vaultd vaultctl; do
	[[ -x $repo/build/bin/$b ]] || die "build/bin/$b was not built"
done

# ---------------------------------------------------------------- stop an old demo
stop_demo
port_busy && die "port $port was taken meanwhile; pick another: $0 --port PORT"

# ---------------------------------------------------------------- state, keys
echo "==== setting up $state and the tenant $user"
install -d -o root -g root -m 0755 "$state" "$state/bin" "$state/authorized_keys"
# The tenant runs a root-owned copy: the build tree may sit where it cannot
# reach (a clone under /root), and the tenant must not be able to replace it.
for b in vault-sftp vaultd vaultctl; do
	install -o root -g root -m 0755 "$repo/build/bin/$b" "$state/bin/$b.new"
	mv -f "$state/bin/$b.new" "$state/bin/$b"
done
bin="$state/bin/vault-sftp"

[[ -f $state/host_ed25519_key ]] ||
	ssh-keygen -q -t ed25519 -N '' -C "sealvault-demo host" -f "$state/host_ed25519_key"
[[ -f $state/client_ed25519_key ]] ||
	ssh-keygen -q -t ed25519 -N '' -C "sealvault-demo client" -f "$state/client_ed25519_key"
printf '[127.0.0.1]:%s %s\n' "$port" "$(cut -d' ' -f1,2 "$state/host_ed25519_key.pub")" >"$state/known_hosts"
chmod 0644 "$state/known_hosts"
# Whoever ran sudo gets the client key, so that they can connect as themselves.
key_owner=root
if [[ -n ${SUDO_USER:-} && $SUDO_USER != root ]] && id "$SUDO_USER" >/dev/null 2>&1; then
	key_owner=$SUDO_USER
fi
chown "$key_owner" "$state/client_ed25519_key"
chmod 0600 "$state/client_ed25519_key"

# ---------------------------------------------------------------- the tenant
# sshd runs a ForceCommand through the user's login shell ("shell -c CMD"),
# so /usr/sbin/nologin cannot be used. The shell is vault-sftp itself: in
# -c mode it runs only vault-sftp, and only under a ForceCommand, a second
# wall if the ForceCommand were ever lost. '*' as password: no password login, not "locked".
tenant_shell=$bin
tenant_root="$vaults/$user"
if id "$user" >/dev/null 2>&1; then
	usermod --shell "$tenant_shell" --home "$tenant_root" --password '*' "$user"
else
	useradd --system --user-group --no-create-home --home-dir "$tenant_root" \
		--shell "$tenant_shell" --password '*' "$user"
fi
install -d -o root -g root -m 0755 "$vaults"
install -d -o "$user" -g "$user" -m 0750 "$tenant_root"
install -o root -g root -m 0644 "$state/client_ed25519_key.pub" "$state/authorized_keys/$user"

# ---------------------------------------------------------------- vaultd
cat >"$vconf" <<EOF
# sealvault quickstart: one demo tenant. Generated by scripts/quickstart.sh.
broker-socket /run/sealvault-demo/broker.sock
state-dir $state/vaultd-state
control-socket /run/sealvault-demo/control.sock
# The demo vault sits on the root filesystem, where a fanotify mark would
# see every write of the machine: watch just the tenant tree instead. Give
# real vaults a filesystem of their own and leave this at auto (fanotify).
watcher inotify

tenant $user {
	user $user
	root $tenant_root
	profile generic
}
EOF
chmod 0644 "$vconf"
"$state/bin/vaultctl" policy check "$vconf" >/dev/null || die "the generated $vconf is refused"
: >"$state/vaultd.log"
"$state/bin/vaultd" --config "$vconf" </dev/null >>"$state/vaultd.log" 2>&1 &
echo $! >"$vpidfile"
for ((i = 0; i < 100; i++)); do
	grep -q "vaultd: ready" "$state/vaultd.log" && break
	demo_vaultd_pid >/dev/null || break
	sleep 0.1
done
vpid=$(demo_vaultd_pid) && grep -q "vaultd: ready" "$state/vaultd.log" || {
	cat "$state/vaultd.log" >&2
	die "vaultd did not start"
}

# ---------------------------------------------------------------- sshd
install -d -m 0755 /run/sshd   # privilege separation dir
cat >"$cfg" <<EOF
# sealvault quickstart: a private sshd for the demo tenant only.
# Generated by scripts/quickstart.sh; validated with sshd -t.
ListenAddress 127.0.0.1:$port
HostKey $state/host_ed25519_key
PidFile $pidfile
AuthorizedKeysFile $state/authorized_keys/%u
AllowUsers $user
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
UsePAM no
StrictModes yes
PermitUserRC no
PermitUserEnvironment no
UseDNS no
LogLevel VERBOSE

# vault-sftp finds its tenant in the config by the user sshd runs it as.
Subsystem sftp $bin --config $vconf
EOF
sealvault_match_block "$user" force "$bin --config $vconf --require-broker" >>"$cfg"
/usr/sbin/sshd -t -f "$cfg" || die "sshd -t rejected $cfg"
: >"$state/sshd.log"
/usr/sbin/sshd -f "$cfg" -E "$state/sshd.log"
for ((i = 0; i < 100; i++)); do
	if pid=$(demo_sshd_pid) && grep -q "Server listening on 127.0.0.1 port $port" "$state/sshd.log"; then
		break
	fi
	sleep 0.1
done
pid=$(demo_sshd_pid) || {
	cat "$state/sshd.log" >&2
	die "sshd did not start"
}

key="$state/client_ed25519_key"
cat <<EOF

==== sealvault demo is running: sshd pid $pid on 127.0.0.1:$port, vaultd pid $vpid

  Connect (as ${key_owner}):
    sftp -i $key -o IdentitiesOnly=yes -P $port -o UserKnownHostsFile=$state/known_hosts $user@127.0.0.1

  Try: put a file, put it again with other content, rm it, rename it: the vault
  keeps the first version and says why it refuses.

  Files land in:  $tenant_root
  Every finished file is immutable before the client hears OK: check with
    lsattr $tenant_root
  and even root gets "Operation not permitted" when it tries to change one.

  vaultd:         $state/bin/vaultctl status --config $vconf
  Logs:           $state/vaultd.log, $state/sshd.log (vault-sftp: syslog, authpriv)
  Stop:           $0 --stop
EOF
