#!/usr/bin/env bash
# scripts/quickstart.sh: a write-once SFTP vault on 127.0.0.1, in one command.
#
#   scripts/quickstart.sh [--port PORT]     start (or restart) the demo
#   scripts/quickstart.sh --stop            stop it
#
# Builds vault-listen, vault-sftp and vaultd and starts vault-listen, the
# standalone SSH/SFTP listener, on 127.0.0.1:PORT (default 2222) with one
# demo tenant and a fresh client key, then prints the sftp and restic
# command lines to try. Your system sshd and its config are not touched.
#
# As root (a fresh Debian 12: it installs the packages it needs with
# apt-get; SEALVAULT_NO_APT=1 skips that): the tenant is the system user
# "sealvault-demo", and vaultd seals every finished upload (immutable before
# the client hears OK).
#   State (keys, config, logs, pids): /var/lib/sealvault-demo
#   The tenant's vault:               /srv/sealvault-demo/sealvault-demo
# As a normal user (the build packages must be there already): the tenant
# is you, everything lives in ~/.local/state/sealvault-demo, and only the
# protocol protects the files: kernel sealing is OFF, and it says so.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
port=${SEALVAULT_DEMO_PORT:-2222}
action=start

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

if [[ $EUID -eq 0 ]]; then
	privileged=1
	state=/var/lib/sealvault-demo
	vaults=/srv/sealvault-demo
	user=sealvault-demo
	run_dir=/run/sealvault-demo
else
	privileged=0
	state=${XDG_STATE_HOME:-$HOME/.local/state}/sealvault-demo
	vaults=$state/vaults
	user=$(id -un)
	run_dir=$state/run
fi
vconf="$state/vault.conf"
lpidfile="$state/vault-listen.pid"
vpidfile="$state/vaultd.pid"

# Our process: the PID in pidfile, running the named program with our config.
demo_pid() {
	local pidfile=$1 prog=$2 pid
	[[ -f $pidfile ]] || return 1
	pid=$(head -c 20 "$pidfile" | tr -dc '0-9')
	[[ -n $pid && -r /proc/$pid/cmdline ]] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$prog --config $vconf" || return 1
	echo "$pid"
}

stop_one() {
	local pidfile=$1 prog=$2 pid i
	if pid=$(demo_pid "$pidfile" "$prog"); then
		echo "stopping the demo $prog (pid $pid)"
		kill -TERM "$pid"
		for ((i = 0; i < 100; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$pid" 2>/dev/null && die "$prog pid $pid did not stop"
	fi
	rm -f "$pidfile"
}

stop_demo() {
	stop_one "$lpidfile" vault-listen
	stop_one "$vpidfile" vaultd
}

if [[ $action == stop ]]; then
	stop_demo
	if ((privileged)); then
		echo "stopped. Remove everything with: userdel $user; chattr -R -i $vaults; rm -rf $state $vaults"
	else
		echo "stopped. Remove everything with: rm -rf $state"
	fi
	exit 0
fi

port_busy() {
	if command -v ss >/dev/null 2>&1; then
		[[ -n $(ss -Hltn "sport = :$port" 2>/dev/null) ]]
	else
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
	fi
}
# Busy, unless it is this demo's own listener on that port (it is restarted below).
if port_busy && ! { demo_pid "$lpidfile" vault-listen >/dev/null && grep -qx "listen 127.0.0.1:$port" "$vconf"; }; then
	die "port $port is already in use; pick another: $0 --port PORT"
fi

# ---------------------------------------------------------------- packages
# shellcheck source=scripts/lib/deps.sh
source "$repo/scripts/lib/deps.sh"
if ((privileged)) && [[ ${SEALVAULT_NO_APT:-0} != 1 ]]; then
	echo "==== installing packages (apt-get)"
	# cmocka: the build configures the tests too (BUILD_TESTING is on by default).
	sealvault_apt_install "${SEALVAULT_BUILD_DEPS[@]}" "${SEALVAULT_RUN_DEPS[@]}" libcmocka-dev ||
		die "apt-get install failed"
fi
for c in cmake ssh-keygen sftp; do
	command -v "$c" >/dev/null 2>&1 ||
		die "missing $c (run this once as root to install the packages, or: apt-get install ${SEALVAULT_BUILD_DEPS[*]} ${SEALVAULT_RUN_DEPS[*]})"
done

# ---------------------------------------------------------------- build
echo "==== building vault-listen, vault-sftp, vaultd and vaultctl"
progs=(vault-listen vault-sftp vaultd vaultctl)
build_type=()
[[ -f $repo/build/CMakeCache.txt ]] || build_type=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
cmake -S "$repo" -B "$repo/build" "${build_type[@]}" >/dev/null
cmake --build "$repo/build" -j "${SEALVAULT_JOBS:-2}" --target "${progs[@]}"
for b in "${progs[@]}"; do
	[[ -x $repo/build/bin/$b ]] || die "build/bin/$b was not built"
done

# ---------------------------------------------------------------- stop an old demo
stop_demo
port_busy && die "port $port was taken meanwhile; pick another: $0 --port PORT"

# ---------------------------------------------------------------- state, keys
echo "==== setting up $state and the tenant $user"
mkdir -p "$state"
install -d -m 0755 "$state/bin"
install -d -m 0700 "$state/host"
# Sessions run a copy the tenant cannot replace (root-owned when root), and
# that the tenant can reach (the build tree may sit under /root).
for b in "${progs[@]}"; do
	install -m 0755 "$repo/build/bin/$b" "$state/bin/$b.new"
	mv -f "$state/bin/$b.new" "$state/bin/$b"
done
[[ -f $state/client_ed25519_key ]] ||
	ssh-keygen -q -t ed25519 -N '' -C "sealvault-demo client" -f "$state/client_ed25519_key"
# Whoever ran sudo gets the client key, so that they can connect as themselves.
key_owner=$(id -un)
if ((privileged)) && [[ -n ${SUDO_USER:-} && $SUDO_USER != root ]] && id "$SUDO_USER" >/dev/null 2>&1; then
	key_owner=$SUDO_USER
	chown "$key_owner" "$state/client_ed25519_key"
fi
chmod 0600 "$state/client_ed25519_key"
install -m 0644 "$state/client_ed25519_key.pub" "$state/tenant_authorized_keys"

tenant_root="$vaults/$user"
if ((privileged)); then
	# A system user that cannot log in anywhere else: no password, vault-sftp as shell.
	if id "$user" >/dev/null 2>&1; then
		usermod --shell "$state/bin/vault-sftp" --home "$tenant_root" --password '*' "$user"
	else
		useradd --system --user-group --no-create-home --home-dir "$tenant_root" \
			--shell "$state/bin/vault-sftp" --password '*' "$user"
	fi
	install -d -o root -g root -m 0755 "$vaults"
	install -d -o "$user" -g "$user" -m 0750 "$tenant_root"
else
	mkdir -p "$tenant_root"
fi
install -d -m 0755 "$run_dir"

# ---------------------------------------------------------------- the config
cat >"$vconf" <<EOF
# sealvault quickstart: one demo tenant. Generated by scripts/quickstart.sh.
listen 127.0.0.1:$port
host-key $state/host/ssh_host_ed25519_key
broker-socket $run_dir/broker.sock
control-socket $run_dir/control.sock
state-dir $state/vaultd-state
# The demo vault sits on the root filesystem, where a fanotify mark would
# see every write of the machine: watch just the tenant tree instead. Give
# real vaults a filesystem of their own and leave this at auto (fanotify).
watcher inotify

tenant $user {
	user $user
	root $tenant_root
	profile generic
	authorized-keys $state/tenant_authorized_keys
}
EOF
chmod 0644 "$vconf"
"$state/bin/vaultctl" policy check "$vconf" >/dev/null || die "the generated $vconf is refused"

# ---------------------------------------------------------------- vaultd (root only)
vpid=
if ((privileged)); then
	: >"$state/vaultd.log"
	"$state/bin/vaultd" --config "$vconf" </dev/null >>"$state/vaultd.log" 2>&1 &
	echo $! >"$vpidfile"
	for ((i = 0; i < 100; i++)); do
		grep -q "vaultd: ready" "$state/vaultd.log" && break
		demo_pid "$vpidfile" vaultd >/dev/null || break
		sleep 0.1
	done
	vpid=$(demo_pid "$vpidfile" vaultd) && grep -q "vaultd: ready" "$state/vaultd.log" || {
		cat "$state/vaultd.log" >&2
		die "vaultd did not start"
	}
fi

# ---------------------------------------------------------------- vault-listen
: >"$state/vault-listen.log"
"$state/bin/vault-listen" --config "$vconf" --vault-sftp "$state/bin/vault-sftp" \
	</dev/null >>"$state/vault-listen.log" 2>&1 &
echo $! >"$lpidfile"
for ((i = 0; i < 100; i++)); do
	grep -q "listening on 127.0.0.1:$port" "$state/vault-listen.log" && break
	demo_pid "$lpidfile" vault-listen >/dev/null || break
	sleep 0.1
done
lpid=$(demo_pid "$lpidfile" vault-listen) && grep -q "listening on" "$state/vault-listen.log" || {
	cat "$state/vault-listen.log" >&2
	die "vault-listen did not start"
}
hostkey=$(ssh-keygen -y -f "$state/host/ssh_host_ed25519_key" 2>/dev/null) ||
	die "cannot read the listener's host key"
printf '[127.0.0.1]:%s %s\n' "$port" "$hostkey" >"$state/known_hosts"
chmod 0644 "$state/known_hosts"

key="$state/client_ed25519_key"
ssh_opts="-i $key -o IdentitiesOnly=yes -o UserKnownHostsFile=$state/known_hosts"
if ((privileged)); then
	sealing="vaultd pid $vpid seals every finished file: check with  lsattr $tenant_root
  and even root gets \"Operation not permitted\" when it tries to change one."
else
	sealing="WARNING: kernel sealing is OFF (not root): vault-sftp refuses every overwrite,
  append, truncate, rename and remove, but the files are not immutable.
  Run this script as root for vaultd's sealing."
fi
cat <<EOF

==== sealvault demo is running: vault-listen pid $lpid on 127.0.0.1:$port

  Connect (as ${key_owner}):
    sftp $ssh_opts -P $port $user@127.0.0.1

  Back up with restic (Debian's restic):
    RESTIC_PASSWORD=demo restic -r sftp:$user@127.0.0.1:/restic -o sftp.command="ssh $ssh_opts -p $port $user@127.0.0.1 -s sftp" init

  Try: put a file, put it again with other content, rm it, rename it: the vault
  keeps the first version and says why it refuses.

  Files land in:  $tenant_root
  $sealing

  Logs:           $state/vault-listen.log${vpid:+, $state/vaultd.log}
  Stop:           $0 --stop
EOF
