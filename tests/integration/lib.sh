# shellcheck shell=bash
# Shared helpers for the integration tests (and tests/bench/).
#
# A test sources this file, calls it_init, and registers everything it
# creates with on_exit, so that users, mounts, servers and files are gone
# afterwards whatever happened. Every wait is bounded, every server is
# stopped by its PID, and only 127.0.0.1 is used.
#
# Environment (set by tests/integration/CMakeLists.txt):
#   VAULT_SFTP          path of build/bin/vault-sftp
#   VAULT_SFTP_STATIC   path of build/bin/vault-sftp-static (may be empty)
#   SEALVAULT_SOURCE_DIR  the repository
#   SEALVAULT_KEEP=1    keep the scratch directory (for debugging)

set -euo pipefail

# shellcheck source=scripts/lib/sshd-match.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/sshd-match.sh"

IT_NAME=$(basename "${0%.sh}")
IT_CLEANUPS=()
T=""

log() { printf '%s: %s\n' "$IT_NAME" "$*" >&2; }
pass() { printf 'ok: %s\n' "$*"; }
fail() {
	printf 'FAIL: %s: %s\n' "$IT_NAME" "$*" >&2
	exit 1
}
skip() {
	printf 'SKIP: %s: %s\n' "$IT_NAME" "$*"
	exit 77
}

require_root() {
	[[ $EUID -eq 0 ]] || skip "needs root (sshd, useradd, mount)"
}

require_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip "missing command: $c"
	done
}

# on_exit CMD [ARG...]: run at exit, last registered first.
on_exit() {
	local q
	printf -v q '%q ' "$@"
	IT_CLEANUPS+=("$q")
}

it_cleanup() {
	local rc=$? i
	trap - EXIT INT TERM HUP
	set +e
	for ((i = ${#IT_CLEANUPS[@]} - 1; i >= 0; i--)); do
		eval "${IT_CLEANUPS[i]}" >/dev/null 2>&1
	done
	exit "$rc"
}

# it_init [BASE]: scratch dir $T under BASE (default $TMPDIR or /tmp).
# Root tests use /srv: sshd's StrictModes and ChrootDirectory refuse any
# path with a group/world-writable component such as /tmp.
it_init() {
	local base=${1:-${TMPDIR:-/tmp}}
	trap it_cleanup EXIT
	trap 'log "interrupted"; exit 130' INT
	trap 'log "terminated"; exit 143' TERM
	trap 'log "hung up"; exit 129' HUP
	T=$(mktemp -d "$base/sealvault-$IT_NAME.XXXXXX")
	chmod 0755 "$T"
	on_exit remove_tree "$T"
	: "${VAULT_SFTP:?VAULT_SFTP must name the vault-sftp binary}"
	[[ -x $VAULT_SFTP ]] || fail "vault-sftp not executable: $VAULT_SFTP"
	log "scratch dir $T"
	# A last wall against a hung test: ctest kills with SIGKILL, and then
	# no cleanup runs. Fire SIGTERM first (ctest's TIMEOUT minus a margin).
	if [[ -n ${IT_WATCHDOG:-} ]]; then
		local main=$$
		(
			sleep "$IT_WATCHDOG" &
			sp=$!
			trap 'kill "$sp" 2>/dev/null; exit 0' TERM
			wait "$sp"
			echo "$IT_NAME: watchdog: ${IT_WATCHDOG}s elapsed, stopping" >&2
			kill -TERM "$main"
		) </dev/null >/dev/null 2>&1 &
		on_exit kill "$!"
	fi
}

# Removes a scratch tree; clears immutable/append-only flags first (once
# vaultd seals, files in it are immutable) and never crosses mount points.
remove_tree() {
	local d=$1
	[[ -n $d && -d $d && $d != / ]] || return 0
	if [[ ${SEALVAULT_KEEP:-0} == 1 ]]; then
		echo "$IT_NAME: keeping $d" >&2
		return 0
	fi
	if command -v chattr >/dev/null 2>&1 && [[ $EUID -eq 0 ]]; then
		chattr -R -i -a "$d" >/dev/null 2>&1 || true
	fi
	rm -rf --one-file-system -- "$d"
}

# wait_until SECONDS DESCRIPTION CMD [ARG...]: polls CMD every 0.1 s.
wait_until() {
	local secs=$1 what=$2 i
	shift 2
	for ((i = 0; i < secs * 10; i++)); do
		if "$@"; then
			return 0
		fi
		sleep 0.1
	done
	fail "timed out after ${secs}s waiting for: $what"
}

# sha256 of one file.
# loop_ext4 SIZE DIR: a fresh ext4 image of SIZE (truncate syntax, e.g. 8M)
# mounted on DIR (created), unmounted (and its immutable flags cleared) at
# exit. No root reserve (-m 0): tests that fill it run as root.
loop_ext4() {
	local size=$1 dir=$2 img
	img="$T/$(basename "$dir").img"
	mkdir -p "$dir"
	truncate -s "$size" "$img"
	mkfs.ext4 -q -F -m 0 "$img" >"$T/mkfs.out" 2>&1 || {
		cat "$T/mkfs.out" >&2
		fail "mkfs.ext4 failed"
	}
	mount -o loop "$img" "$dir" || fail "cannot loop-mount an ext4 image on $dir"
	on_exit umount_bounded "$dir"
}

# Sealed files cannot be removed, so flags go first; the unmount is bounded.
umount_bounded() {
	local i
	chattr -R -i -a "$1" >/dev/null 2>&1 || true
	for ((i = 0; i < 50; i++)); do
		mountpoint -q "$1" || return 0
		umount "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	umount -l "$1"
}

sum_of() { sha256sum <"$1" | cut -d' ' -f1; }

# tree_state DIR: one line per entry the client can see ("path type mode
# size owner sha256"), the vault's own .sealvault* files excluded. Used to
# prove that a refused request changed nothing.
tree_state() {
	local dir=$1
	(
		cd "$dir"
		find . -mindepth 1 -name '.sealvault*' -prune -o -printf '%p %y %m %s %U\n' | LC_ALL=C sort |
			while read -r p y m s u; do
				if [[ $y == f ]]; then
					printf '%s %s %s %s %s %s\n' "$p" "$y" "$m" "$s" "$u" "$(sum_of "$p")"
				else
					printf '%s %s %s %s %s\n' "$p" "$y" "$m" "$s" "$u"
				fi
			done
	)
}

# partial_files DIR: the hidden partial uploads in DIR (one level).
partial_files() {
	find "$1" -maxdepth 1 -name '.sealvault.part.*' -printf '%f\n' | LC_ALL=C sort
}

# expect_grep FILE REGEX WHAT: FILE must match REGEX (extended).
expect_grep() {
	grep -Eq -- "$2" "$1" || {
		sed 's/^/    | /' "$1" >&2
		fail "$3: no line matching /$2/ in $(basename "$1")"
	}
}

expect_no_grep() {
	if grep -Eq -- "$2" "$1"; then
		sed 's/^/    | /' "$1" >&2
		fail "$3: unexpected line matching /$2/ in $(basename "$1")"
	fi
}

# ---------------------------------------------------------------- ports

port_in_use() {
	local port=$1
	if command -v ss >/dev/null 2>&1; then
		[[ -n $(ss -Hltn "sport = :$port" 2>/dev/null) ]]
	else
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
	fi
}

# free_port: a TCP port nobody listens on at 127.0.0.1 (random, 20000-59999).
free_port() {
	local i port
	for ((i = 0; i < 100; i++)); do
		port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
		if ! port_in_use "$port"; then
			echo "$port"
			return 0
		fi
	done
	fail "no free port found"
}

# ---------------------------------------------------------------- users

# make_user NAME HOME SHELL: a system user with its own group, no password
# ('*': not "locked", so sshd without PAM accepts keys), removed at exit.
make_user() {
	local name=$1 home=$2 shell=$3 i
	if getent passwd "$name" >/dev/null; then
		fail "user $name exists already"
	fi
	for ((i = 0; i < 20; i++)); do
		# useradd fails while another process holds the passwd lock.
		if useradd --system --user-group --no-create-home --home-dir "$home" \
			--shell "$shell" --password '*' "$name" 2>"$T/useradd.err"; then
			on_exit delete_user "$name"
			return 0
		fi
		sleep 0.5
	done
	cat "$T/useradd.err" >&2
	fail "useradd $name failed"
}

delete_user() {
	local name=$1 i
	getent passwd "$name" >/dev/null || return 0
	for ((i = 0; i < 20; i++)); do
		userdel "$name" 2>/dev/null && break
		sleep 0.5
	done
	getent passwd "$name" >/dev/null && userdel -f "$name"
	getent group "$name" >/dev/null && groupdel "$name"
	return 0
}

# unique_name PREFIX: a login name no one uses (max 32 chars).
unique_name() {
	local p=$1 n i
	for ((i = 0; i < 50; i++)); do
		n="${p}$((RANDOM % 100000))"
		getent passwd "$n" >/dev/null || getent group "$n" >/dev/null || {
			echo "$n"
			return 0
		}
	done
	fail "no free user name"
}

# ---------------------------------------------------------------- sshd

# sshd_init: $T/sshd with a host key, a client key and a known_hosts file
# (filled by start_sshd). Key material and authorized_keys are root-owned
# and outside every tenant root.
sshd_init() {
	require_cmd /usr/sbin/sshd ssh ssh-keygen sftp
	SSHD_DIR="$T/sshd"
	mkdir -p "$SSHD_DIR/authorized_keys"
	chmod 0755 "$SSHD_DIR" "$SSHD_DIR/authorized_keys"
	ssh-keygen -q -t ed25519 -N '' -C "sealvault-test-host" -f "$SSHD_DIR/host_ed25519_key"
	ssh-keygen -q -t ed25519 -N '' -C "sealvault-test-client" -f "$SSHD_DIR/client_key"
	# sshd's privilege separation directory (Debian: /run/sshd).
	if [[ ! -d /run/sshd ]]; then
		install -d -m 0755 /run/sshd
	fi
}

# authorize USER: the client key may log in as USER.
authorize() {
	install -m 0644 -o root -g root "$SSHD_DIR/client_key.pub" "$SSHD_DIR/authorized_keys/$1"
}

# write_sshd_config PORT EXTRA_FILE > config: a locked-down sshd on
# 127.0.0.1:PORT, plus the lines in EXTRA_FILE (Match blocks).
write_sshd_config() {
	local port=$1 extra=$2
	cat <<EOF
# generated by $IT_NAME
ListenAddress 127.0.0.1:$port
HostKey $SSHD_DIR/host_ed25519_key
PidFile $SSHD_DIR/sshd.pid
AuthorizedKeysFile $SSHD_DIR/authorized_keys/%u
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
HostbasedAuthentication no
PermitRootLogin no
PermitEmptyPasswords no
UsePAM no
StrictModes yes
PermitUserRC no
PermitUserEnvironment no
UseDNS no
LogLevel VERBOSE
MaxStartups 50:30:100
EOF
	cat "$extra"
}

# start_sshd EXTRA_FILE: starts sshd -D on a free port, config validated with
# sshd -t. Sets SSHD_PORT and SSHD_PID; registers the stop.
start_sshd() {
	local extra=$1 attempt
	for ((attempt = 0; attempt < 5; attempt++)); do
		SSHD_PORT=$(free_port)
		write_sshd_config "$SSHD_PORT" "$extra" >"$SSHD_DIR/sshd_config"
		if ! /usr/sbin/sshd -t -f "$SSHD_DIR/sshd_config" 2>"$SSHD_DIR/sshd-t.err"; then
			sed 's/^/    | /' "$SSHD_DIR/sshd_config" "$SSHD_DIR/sshd-t.err" >&2
			fail "sshd -t rejected the generated config"
		fi
		: >"$SSHD_DIR/sshd.log"
		/usr/sbin/sshd -D -E "$SSHD_DIR/sshd.log" -f "$SSHD_DIR/sshd_config" \
			</dev/null >>"$SSHD_DIR/sshd.log" 2>&1 &
		SSHD_PID=$!
		on_exit stop_pid "$SSHD_PID"
		local i
		for ((i = 0; i < 100; i++)); do
			if grep -q "Server listening on 127.0.0.1 port $SSHD_PORT" "$SSHD_DIR/sshd.log"; then
				printf '[127.0.0.1]:%s %s\n' "$SSHD_PORT" \
					"$(cut -d' ' -f1,2 "$SSHD_DIR/host_ed25519_key.pub")" >"$SSHD_DIR/known_hosts"
				log "sshd pid $SSHD_PID on 127.0.0.1:$SSHD_PORT"
				return 0
			fi
			kill -0 "$SSHD_PID" 2>/dev/null || break
			sleep 0.1
		done
		stop_pid "$SSHD_PID"
		log "sshd did not come up on port $SSHD_PORT:"
		sed 's/^/    | /' "$SSHD_DIR/sshd.log" >&2
	done
	fail "could not start sshd"
}

# stop_pid PID: SIGTERM, wait up to 5 s, then SIGKILL. Only our own PIDs.
stop_pid() {
	local pid=$1 i
	[[ -n $pid ]] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# The client options every ssh/sftp call uses: our key only, our known_hosts
# only, no system or user config, never a prompt.
client_opts() {
	CLIENT_OPTS=(
		-F /dev/null
		-i "$SSHD_DIR/client_key"
		-o IdentitiesOnly=yes
		-o BatchMode=yes
		-o StrictHostKeyChecking=yes
		-o UserKnownHostsFile="$SSHD_DIR/known_hosts"
		-o GlobalKnownHostsFile=/dev/null
		-o ConnectTimeout=10
		-o ServerAliveInterval=5
		-o ServerAliveCountMax=3
	)
}

# sftp_ssh USER BATCH OUT: sftp -b BATCH through sshd as USER; returns sftp's status.
sftp_ssh() {
	local user=$1 batch=$2 out=$3
	client_opts
	timeout 120 sftp "${CLIENT_OPTS[@]}" -P "$SSHD_PORT" -b "$batch" "$user@127.0.0.1" \
		</dev/null >"$out" 2>&1
}

# ssh_cmd USER OUT [SSH ARGS/COMMAND...]: ssh as USER; returns ssh's status.
ssh_cmd() {
	local user=$1 out=$2
	shift 2
	client_opts
	timeout 30 ssh "${CLIENT_OPTS[@]}" -p "$SSHD_PORT" "$user@127.0.0.1" "$@" \
		</dev/null >"$out" 2>&1
}

# ---------------------------------------------------------------- sftp -D

# sftp_direct ROOT BATCH OUT [SFTP OPTIONS...]: OpenSSH's sftp client
# talking to vault-sftp over pipes (no sshd); vault-sftp logs to the same OUT.
sftp_direct() {
	local root=$1 batch=$2 out=$3
	shift 3
	timeout 120 sftp "$@" -D "$VAULT_SFTP --root $root --log-stderr" -b "$batch" \
		</dev/null >"$out" 2>&1
}
