#!/usr/bin/env bash
# bench-listen.sh: vault-listen (the standalone listener) against sshd + sftp-server.
#
#   sudo tests/bench/bench-listen.sh [--quick] [--rounds N] [--big-mib M] [--small-count K]
#        [--small-kib S] [--delay-big-mib M] [--delay-small-count K] [--delay-ms MS]
#        [--links LIST] [--link-method auto|netem|relay] [--cipher NAME] [-o SSH_OPTION]...
#        [--no-vault-sftp | --with-vault-sftp] [--fs ram|disk] [--build DIR]
#
# The same uploads as bench-sftp.sh, with the OpenSSH sftp client (-b batch,
# -o Compression=no), one big file (default 1 GiB) and a tree of small files
# (default 10,000 x 4 KiB, "put -r"), to:
#   - a private sshd on 127.0.0.1 whose user gets /usr/lib/openssh/sftp-server
#     (Subsystem sftp, no ForceCommand): the baseline;
#   - vault-listen on 127.0.0.1, started as root, with its own vault.conf;
#     its sessions seal through vaultd's broker (vaultd as root, watcher off,
#     no catch-up scan, so the broker is the only sealer);
#   - unless --no-vault-sftp: the same sshd, a tenant user forced into
#     vault-sftp --config (sealed through the same vaultd), to tell what the
#     listener's SSH side costs from what the vault's engine and seal cost.
# over two links: loopback, and a 50 ms round trip (--delay-ms per direction,
# default 25). The delayed link is netem in a network namespace (a veth pair,
# the client in the namespace, a plain forwarder on the host side) when the
# kernel has sch_netem, else delay-relay.c (built here with cc): a TCP relay
# that holds every chunk for the delay in each direction, buffering up to
# 64 MiB, so it adds latency without limiting bandwidth. Every server goes
# through the same path; the method is printed. The delayed link is slow
# (sshd's 2 MiB window: ~30 MiB/s; four round trips per small file: 10,000
# would take 35 min a run), so there it uploads --delay-big-mib (default
# 256) and --delay-small-count files (default 50): the ratio is the same.
#
# The uploads land on one ext4 for all servers: by default a loop image in
# /dev/shm (real immutable flags, no disk: on a VM the disk's own bursts and
# throttling swung one upload of 10,000 files between 6 and 11 s); --fs disk
# puts them under /srv, as bench-sftp.sh does.
#
# Each workload runs --rounds times (default 3) per server, the order
# rotating between rounds; the table shows medians and the throughput ratio
# listener/sshd (t_sshd / t_listener per round, median, min–max). Every
# upload is compared with its source byte for byte (outside the clock). Peak
# RSS (VmHWM) and CPU time of every process of each server are sampled from
# /proc while it serves. Prints Markdown tables (stdout) for README.md;
# progress on stderr.
# A full run takes 5 to 7 min on 2 cores. --quick (about 75 s): 256 MiB and
# 2,000 small files (delayed: 64 MiB and 20 files), no vault-sftp column
# (--with-vault-sftp after --quick adds it back).
#
# Not a ctest: it takes minutes and its numbers depend on the machine.
# Target (DESIGN.md), compared, never asserted: the listener >= 90% of
# sshd + sftp-server's throughput.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

rounds=3
big_mib=1024
small_count=10000
small_kib=4
delay_big_mib=256
delay_small_count=50
delay_ms=25
links=loopback,delay
link_method=auto
cipher=""
ssh_extra=()
with_vsftp=1
fs=ram
build=$repo/build
UPLOAD_TIMEOUT=900	# seconds for one upload
SFTP_SERVER=/usr/lib/openssh/sftp-server

usage() {
	sed -n '4,7p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

while [[ $# -gt 0 ]]; do
	case $1 in
	--quick)
		big_mib=256 small_count=2000 delay_big_mib=64 delay_small_count=20 with_vsftp=0
		shift
		;;
	--rounds) rounds=${2:?}; shift 2 ;;
	--big-mib) big_mib=${2:?}; shift 2 ;;
	--small-count) small_count=${2:?}; shift 2 ;;
	--small-kib) small_kib=${2:?}; shift 2 ;;
	--delay-big-mib) delay_big_mib=${2:?}; shift 2 ;;
	--delay-small-count) delay_small_count=${2:?}; shift 2 ;;
	--delay-ms) delay_ms=${2:?}; shift 2 ;;
	--links) links=${2:?}; shift 2 ;;
	--link-method) link_method=${2:?}; shift 2 ;;
	--cipher) cipher=${2:?}; shift 2 ;;
	-o) ssh_extra+=(-o "${2:?}"); shift 2 ;;
	--no-vault-sftp) with_vsftp=0; shift ;;
	--with-vault-sftp) with_vsftp=1; shift ;;
	--fs) fs=${2:?}; shift 2 ;;
	--build) build=${2:?}; shift 2 ;;
	-h | --help) usage ;;
	*) usage ;;
	esac
done
for v in "$rounds" "$big_mib" "$small_count" "$small_kib" "$delay_big_mib" "$delay_small_count" "$delay_ms"; do
	[[ $v =~ ^[1-9][0-9]*$ ]] || usage
done
for l in ${links//,/ }; do
	[[ $l =~ ^(loopback|delay)$ ]] || usage
done
[[ $link_method =~ ^(auto|netem|relay)$ ]] || usage
[[ $fs =~ ^(ram|disk)$ ]] || usage
[[ -z $cipher || $cipher =~ ^[a-z0-9@.-]+$ ]] || usage
wanted_link() { [[ ,$links, == *,$1,* ]]; }

# Binaries: the environment, else the build dir (bin/, or vaultd/ for the listener).
pick() { local f; for f in "$@"; do [[ -x $f ]] && { echo "$f"; return; }; done; echo "$1"; }
VAULT_SFTP=${VAULT_SFTP:-$build/bin/vault-sftp}
VAULTD=${VAULTD:-$build/bin/vaultd}
VAULT_LISTEN=${VAULT_LISTEN:-$(pick "$build/vaultd/vault-listen" "$build/bin/vault-listen")}
export VAULT_SFTP

# shellcheck source=tests/integration/lib.sh
source "$repo/tests/integration/lib.sh"
IT_NAME=bench-listen
require_root
require_cmd "$SFTP_SERVER" sftp ssh split awk cc ip tc chattr cmp diff mkfs.ext4 mount
[[ -x $VAULT_SFTP ]] || fail "no vault-sftp at $VAULT_SFTP (build it, or --build DIR)"
[[ -x $VAULTD ]] || fail "no vaultd at $VAULTD (build it, or --build DIR)"
have_listen=1
if [[ ! -x $VAULT_LISTEN ]]; then
	have_listen=0
	log "WARNING: no vault-listen at $VAULT_LISTEN: measuring the sshd side only"
fi
cache="$build/CMakeCache.txt"
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$cache" 2>/dev/null || true)
if [[ ! $build_type =~ ^(Release|RelWithDebInfo|MinSizeRel)$ ]]; then
	log "WARNING: $build is built with CMAKE_BUILD_TYPE='$build_type' (no -O2);" \
		"configure with -DCMAKE_BUILD_TYPE=Release for numbers that mean something"
fi
it_init /srv
sshd_init
t_start=$(date +%s)

RELAY="$T/delay-relay"
cc -O2 -std=gnu17 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wformat=2 -Werror \
	-o "$RELAY" "$here/delay-relay.c" || fail "cannot build delay-relay.c"

# ---------------------------------------------------------------- users and config
# who: ossh (sshd + sftp-server), vsftp (sshd + vault-sftp), listen (vault-listen)
servers=(ossh)
((with_vsftp)) && servers+=(vsftp)
((have_listen)) && servers+=(listen)
declare -A USER ROOT PORT PID_OF
install -d -m 0755 "$T/vault" "$T/bin" "$T/etc" "$T/run" "$T/listen"
if [[ $fs == ram ]]; then
	# Room for the big file, the small ones and ext4's own; each upload is removed after its run.
	img=$(mktemp /dev/shm/bench-listen.XXXXXX)
	on_exit rm -f "$img"
	truncate -s "$((big_mib + delay_big_mib + 1024))M" "$img"
	mkfs.ext4 -q -F -m 0 "$img" >"$T/mkfs.out" 2>&1 || { cat "$T/mkfs.out" >&2; fail "mkfs.ext4 failed"; }
	# discard: a removed upload gives its memory back to tmpfs.
	mount -o loop,discard "$img" "$T/vault" || fail "cannot loop-mount an ext4 image on $T/vault"
	on_exit umount_bounded "$T/vault"
	chmod 0755 "$T/vault"
fi
install -m 0755 "$VAULT_SFTP" "$T/bin/vault-sftp"
for who in ossh vsftp listen; do
	USER[$who]=$(unique_name "svl${who:0:1}-")
	ROOT[$who]="$T/vault/${USER[$who]}"
	make_user "${USER[$who]}" "${ROOT[$who]}" /bin/sh
	install -d -o "${USER[$who]}" -g "${USER[$who]}" -m 0750 "${ROOT[$who]}"
done
authorize "${USER[ossh]}"
authorize "${USER[vsftp]}"
install -m 0644 "$SSHD_DIR/client_key.pub" "$T/listen/keys"
ssh-keygen -q -t ed25519 -N '' -C "sealvault-bench-listen" -f "$T/listen/host_ed25519_key"

LISTEN_PORT=$(free_port)
CONF="$T/etc/vault.conf"
cat >"$CONF" <<EOF
# generated by $IT_NAME
broker-socket $T/run/broker.sock
control-socket $T/run/control.sock
journal-socket $T/run/no-journal.sock
kernel-audit no
state-dir $T/state
watcher off
listen 127.0.0.1:$LISTEN_PORT
host-key $T/listen/host_ed25519_key
profile lbench {
	path ** seal
}
tenant lb-vsftp {
	user ${USER[vsftp]}
	root ${ROOT[vsftp]}
	profile lbench
}
tenant lb-listen {
	user ${USER[listen]}
	root ${ROOT[listen]}
	profile lbench
	authorized-keys $T/listen/keys
}
EOF
chmod 0644 "$CONF"

# sftp-server as the plain subsystem (the baseline); vault-sftp forced for its user.
cat >"$T/sshd-extra.conf" <<EOF
Subsystem sftp $SFTP_SERVER
AllowUsers ${USER[ossh]} ${USER[vsftp]}
EOF
sealvault_match_block "${USER[vsftp]}" force "$T/bin/vault-sftp --config $CONF --tenant lb-vsftp" \
	>>"$T/sshd-extra.conf"
start_sshd "$T/sshd-extra.conf"
PORT[ossh]=$SSHD_PORT
PORT[vsftp]=$SSHD_PORT
PID_OF[ossh]=$SSHD_PID
PID_OF[vsftp]=$SSHD_PID

# vaultd: the broker that seals the uploads of vault-sftp and the listener.
"$VAULTD" --config "$CONF" --watcher off --no-scan </dev/null 2>"$T/vaultd.log" &
VAULTD_PID=$!
on_exit stop_pid "$VAULTD_PID"
wait_until 30 "vaultd's broker socket" test -S "$T/run/broker.sock"

if ((have_listen)); then
	"$VAULT_LISTEN" --config "$CONF" --vault-sftp "$T/bin/vault-sftp" --log-level notice \
		</dev/null >"$T/listen.log" 2>&1 &
	LISTEN_PID=$!
	on_exit stop_pid "$LISTEN_PID"
	wait_until 30 "vault-listen on 127.0.0.1:$LISTEN_PORT" grep -q "listening on 127.0.0.1:$LISTEN_PORT" "$T/listen.log"
	grep -q 'kernel sealing is OFF' "$T/listen.log" && log "WARNING: vault-listen says kernel sealing is OFF"
	PORT[listen]=$LISTEN_PORT
	PID_OF[listen]=$LISTEN_PID
	log "vault-listen pid $LISTEN_PID on 127.0.0.1:$LISTEN_PORT"
fi
# The client checks host keys by alias: the port differs per link.
{
	printf 'lb-sshd %s\n' "$(cut -d' ' -f1,2 "$SSHD_DIR/host_ed25519_key.pub")"
	printf 'lb-listen %s\n' "$(cut -d' ' -f1,2 "$T/listen/host_ed25519_key.pub")"
} >>"$SSHD_DIR/known_hosts"
declare -A ALIAS=([ossh]=lb-sshd [vsftp]=lb-sshd [listen]=lb-listen)

# ---------------------------------------------------------------- links
# A link is where the client connects: CONNECT[link.who]=HOST:PORT, and
# NETNS (the client runs in it) for netem.
declare -A CONNECT
for who in "${servers[@]}"; do CONNECT[loopback.$who]=127.0.0.1:${PORT[$who]}; done
link_desc=""
NETNS=""

# start_relay DELAY_MS LISTEN_ADDR WHO: a delay-relay to WHO's port; sets CONNECT[delay.WHO].
RELAY_PIDS=()
start_relay() {
	local d=$1 addr=$2 who=$3 out="$T/relay-$3.out" pid
	"$RELAY" --listen "$addr:0" --connect "127.0.0.1:${PORT[$who]}" --delay-ms "$d" \
		</dev/null >"$out" 2>"$T/relay-$who.err" &
	pid=$!
	on_exit stop_pid "$pid"
	RELAY_PIDS+=("$pid")
	wait_until 10 "delay-relay for $who" grep -q 'listening on' "$out"
	CONNECT[delay.$who]=$(sed -n 's/^delay-relay: listening on //p' "$out")
}

# setup_netem: a namespace whose veth has netem DELAY each way; 1 if the kernel has none.
setup_netem() {
	local ns="lbench$$" h="lbh$$" n="lbn$$" who
	ip netns add "$ns" || return 1
	on_exit ip netns del "$ns"
	ip link add "$h" type veth peer name "$n" || return 1
	on_exit ip link del "$h"
	ip link set "$n" netns "$ns" &&
		ip addr add 10.237.0.1/30 dev "$h" && ip link set "$h" up &&
		ip -n "$ns" addr add 10.237.0.2/30 dev "$n" && ip -n "$ns" link set "$n" up &&
		ip -n "$ns" link set lo up || return 1
	tc qdisc add dev "$h" root netem delay "${delay_ms}ms" limit 1000000 2>"$T/netem.err" || return 1
	ip netns exec "$ns" tc qdisc add dev "$n" root netem delay "${delay_ms}ms" limit 1000000 \
		2>>"$T/netem.err" || return 1
	NETNS=$ns
	# The servers stay on 127.0.0.1: a plain forwarder on the host's veth address.
	for who in "${servers[@]}"; do start_relay 0 10.237.0.1 "$who"; done
	link_desc="netem delay ${delay_ms}ms on both ends of a veth pair (client in a network namespace, a zero-delay forwarder to 127.0.0.1 on the host side)"
}

if wanted_link delay; then
	if [[ $link_method != relay ]] && setup_netem; then
		log "delayed link: netem"
	else
		[[ $link_method == netem ]] && fail "netem not available: $(cat "$T/netem.err" 2>/dev/null)"
		log "delayed link: no netem here ($(head -1 "$T/netem.err" 2>/dev/null || echo 'no namespace'));" \
			"delay-relay, ${delay_ms} ms each way"
		ip link del "lbh$$" 2>/dev/null || true
		ip netns del "lbench$$" 2>/dev/null || true
		NETNS=""
		for who in "${servers[@]}"; do start_relay "$delay_ms" 127.0.0.1 "$who"; done
		link_desc="delay-relay.c on 127.0.0.1: every chunk held ${delay_ms} ms in each direction (no sch_netem in this kernel), buffering up to 64 MiB per direction"
	fi
fi

# ---------------------------------------------------------------- client
client_opts
CLIENT_OPTS+=(-o Compression=no)
[[ -n $cipher ]] && CLIENT_OPTS+=(-c "$cipher")
CLIENT_OPTS+=("${ssh_extra[@]}")

# upload LINK WHO BATCH OUT [SFTP OPTIONS]: one sftp -b session; returns its status.
upload() {
	local link=$1 who=$2 batch=$3 out=$4 hp
	shift 4
	hp=${CONNECT[$link.$who]}
	local cmd=(timeout "$UPLOAD_TIMEOUT" sftp "${CLIENT_OPTS[@]}" -o HostKeyAlias="${ALIAS[$who]}" "$@"
		-P "${hp##*:}" -b "$batch" "${USER[$who]}@${hp%:*}")
	if [[ $link == delay && -n $NETNS ]]; then
		ip netns exec "$NETNS" "${cmd[@]}" </dev/null >"$out" 2>&1
	else
		"${cmd[@]}" </dev/null >"$out" 2>&1
	fi
}

# The cipher each server negotiates with this client (and a login check).
declare -A CIPHER
echo pwd >"$T/probe.batch"
for who in "${servers[@]}"; do
	upload loopback "$who" "$T/probe.batch" "$T/probe-$who.out" -v || {
		sed 's/^/    | /' "$T/probe-$who.out" >&2
		[[ $who == listen ]] && sed 's/^/    listen.log | /' "$T/listen.log" >&2
		fail "cannot log in to $who"
	}
	CIPHER[$who]=$(sed -n 's/.*kex: client->server cipher: \([^ ]*\) MAC: \([^ ]*\).*/\1 (MAC \2)/p' \
		"$T/probe-$who.out" | head -1)
	log "$who: cipher ${CIPHER[$who]:-?}"
	if [[ $link_desc == netem* ]]; then
		upload delay "$who" "$T/probe.batch" "$T/probe-$who.out" ||
			fail "cannot log in to $who through the netem link"
	fi
done

# ---------------------------------------------------------------- data
log "generating ${big_mib} (+ ${delay_big_mib}) MiB and ${small_count} (+ ${delay_small_count}) x ${small_kib} KiB of random data"
mkdir -p "$T/src"
head -c $((big_mib * 1024 * 1024)) /dev/urandom >"$T/src/big.bin"
head -c $((delay_big_mib * 1024 * 1024)) /dev/urandom >"$T/src/dbig.bin"
for set in "small $small_count" "dsmall $delay_small_count"; do
	read -r d n <<<"$set"
	mkdir -p "$T/src/$d"
	head -c $((n * small_kib * 1024)) /dev/urandom | split -b $((small_kib * 1024)) -a 6 -d - "$T/src/$d/f"
	[[ $(find "$T/src/$d" -type f | wc -l) -eq $n ]] || fail "small file set $d incomplete"
done
chmod -R a+rX "$T/src"

# ---------------------------------------------------------------- measuring
now_ns() { date +%s%N; }

# quiesce: vaultd hashes each sealed file for its ledger after the seal;
# the next upload starts once it has used no CPU for 0.5 s (at most 60 s).
cpu_of() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
quiesce() {
	local a b i
	sync
	a=$(cpu_of "$VAULTD_PID")
	for ((i = 0; i < 120; i++)); do
		sleep 0.5
		b=$(cpu_of "$VAULTD_PID")
		[[ $a == "$b" ]] && return 0
		a=$b
	done
	log "vaultd still busy after 60 s: measuring anyway"
}

# rss_sampler OUT PID: every 0.2 s the VmHWM and CPU time of PID and of
# every process below it, by "parent" (PID itself) or the child's name;
# written to OUT at SIGTERM: "rss KEY KiB" (the most of any one process)
# and "cpu KEY TICKS" (all of them, as last seen: a process's last 0.2 s
# before it exits is missed; the parent's counted from the first sample).
# Builtins only: it must not load the machine.
rss_sampler() {
	local out=$1 top=$2
	declare -A max=() cpu=() cpu0=() role=() tot=()
	local stop=0
	trap 'stop=1' TERM
	walk() { # PID DEPTH
		local p=$1 key name="" hwm=0 k v rest f kids st sf
		[[ -r /proc/$p/status ]] || return 0
		while read -r k v rest; do
			case $k in
			Name:) name=$v ;;
			VmHWM:) hwm=$v ;;
			esac
		done 2>/dev/null <"/proc/$p/status" || return 0
		if (($2 == 0)); then key=parent; else key=$name; fi
		((hwm > ${max[$key]:-0})) && max[$key]=$hwm
		if read -r st 2>/dev/null <"/proc/$p/stat"; then
			read -r -a sf <<<"${st##*) }"	# from field 3 on: utime and stime are 14 and 15
			cpu[$p]=$((sf[11] + sf[12]))
			role[$p]=$key
			(($2 == 0)) && [[ -z ${cpu0[$p]:-} ]] && cpu0[$p]=${cpu[$p]}
		fi
		for f in /proc/"$p"/task/*/children; do
			kids=()
			read -r -a kids 2>/dev/null <"$f" || true	# no newline at its end
			for k in "${kids[@]}"; do walk "$k" $(($2 + 1)); done
		done
	}
	while ((!stop)); do
		walk "$top" 0
		sleep 0.2
	done
	for k in "${!cpu[@]}"; do
		tot[${role[$k]}]=$((${tot[${role[$k]}]:-0} + cpu[$k] - ${cpu0[$k]:-0}))
	done
	{
		for k in "${!max[@]}"; do echo "rss $k ${max[$k]}"; done
		for k in "${!tot[@]}"; do echo "cpu $k ${tot[$k]}"; done
	} >"$out"
}

# measure LINK WHO KIND ROUND -> prints seconds; checks the upload arrived
# whole and byte for byte (after the clock stopped).
measure() {
	local link=$1 who=$2 kind=$3 round=$4 t0 t1 name spid src n want
	name="$link-r$round-$kind"
	src="$T/src/$kind"
	[[ $link == delay ]] && src="$T/src/d$kind"
	case $kind in
	big) printf 'put %s %s\n' "$src.bin" "$name.bin" >"$T/batch" ;;
	small) printf 'put -r %s %s\n' "$src" "$name" >"$T/batch" ;;
	esac
	quiesce
	rss_sampler "$T/rss/$who.$name" "${PID_OF[$who]}" &
	spid=$!
	t0=$(now_ns)
	upload "$link" "$who" "$T/batch" "$T/sftp.out" || {
		kill -TERM "$spid"
		sed 's/^/    | /' "$T/sftp.out" >&2
		[[ $who == listen ]] && tail -20 "$T/listen.log" | sed 's/^/    listen.log | /' >&2
		fail "upload $name to $who failed"
	}
	t1=$(now_ns)
	kill -TERM "$spid"
	wait "$spid" || true
	if [[ $kind == big ]]; then
		cmp -s "$src.bin" "${ROOT[$who]}/$name.bin" || fail "$name.bin arrived damaged or incomplete at $who"
	else
		want=$small_count
		[[ $link == delay ]] && want=$delay_small_count
		n=$(find "${ROOT[$who]}/$name" -type f | wc -l)
		[[ $n -eq $want ]] || fail "$name arrived incomplete at $who ($n of $want files)"
		diff -rq "$src" "${ROOT[$who]}/$name" >/dev/null || fail "$name arrived damaged at $who"
	fi
	# As root, on disk: the vault refuses deletes, and vaultd sealed these.
	chattr -R -i "${ROOT[$who]}/$name" "${ROOT[$who]}/$name.bin" >/dev/null 2>&1 || true
	rm -rf --one-file-system "${ROOT[$who]:?}/$name" "${ROOT[$who]:?}/$name.bin"
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", (b - a) / 1e9 }'
}

label() {
	case $1 in
	ossh) echo "sshd + sftp-server" ;;
	vsftp) echo "sshd + vault-sftp" ;;
	listen) echo "vault-listen" ;;
	esac
}

install -d -m 0755 "$T/rss"
declare -A times
nsrv=${#servers[@]}
for link in loopback delay; do
	wanted_link "$link" || continue
	for kind in big small; do
		for ((r = 1; r <= rounds; r++)); do
			for ((i = 0; i < nsrv; i++)); do
				who=${servers[(i + r - 1) % nsrv]}
				t=$(measure "$link" "$who" "$kind" "$r")
				times[$link.$kind.$who.$r]=$t
				log "$link $kind round $r/$rounds $(label "$who"): ${t}s"
			done
		done
	done
done

# ---------------------------------------------------------------- report
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
series() { local r; for ((r = 1; r <= rounds; r++)); do echo "${times[$1.$2.$3.$r]}"; done; }
# ratios LINK KIND WHO [BASE]: per round, t_BASE / t_WHO (WHO's throughput vs BASE's, default ossh).
ratios() {
	local r base=${4:-ossh}
	for ((r = 1; r <= rounds; r++)); do
		awk -v a="${times[$1.$2.$base.$r]}" -v b="${times[$1.$2.$3.$r]}" 'BEGIN { printf "%.4f\n", a / b }'
	done
}
commas() { sed ':a;s/\B[0-9]\{3\}\>/,&/;ta'; }

cell_time() { # LINK KIND WHO UNITS UNIT
	local m
	m=$(series "$1" "$2" "$3" | median)
	awk -v m="$m" -v u="$4" -v unit="$5" 'BEGIN { printf "%.2f s (%.0f %s)", m, u / m, unit }'
}
cell_ratio() { # LINK KIND WHO BASE [TARGET: a median below it is bold]
	local med lo hi
	med=$(ratios "$1" "$2" "$3" "$4" | median)
	lo=$(ratios "$1" "$2" "$3" "$4" | sort -g | head -1)
	hi=$(ratios "$1" "$2" "$3" "$4" | sort -g | tail -1)
	awk -v m="$med" -v lo="$lo" -v hi="$hi" -v t="${5:-0}" 'BEGIN {
		b = m < t ? "**" : ""
		printf "%s%.3f%s (%.3f–%.3f)", b, m, b, lo, hi
	}'
}

row() { # LINK KIND
	local link=$1 kind=$2 what units unit n line
	if [[ $kind == big ]]; then
		n=$big_mib
		[[ $link == delay ]] && n=$delay_big_mib
		what="$n MiB upload, 1 file"
		((n == 1024)) && what="1 GiB upload, 1 file"
		units=$n unit=MiB/s
	else
		n=$small_count
		[[ $link == delay ]] && n=$delay_small_count
		what="$(commas <<<"$n") × ${small_kib} KiB files (put -r)"
		units=$n unit=files/s
	fi
	[[ $link == loopback ]] && what="loopback, $what" || what="$((2 * delay_ms)) ms RTT, $what"
	line="| $what | $(cell_time "$link" "$kind" ossh "$units" "$unit")"
	if ((have_listen)); then
		line+=" | $(cell_time "$link" "$kind" listen "$units" "$unit") | $(cell_ratio "$link" "$kind" listen ossh 0.90)"
	else
		line+=" | n/a | n/a"
	fi
	if ((with_vsftp)); then
		line+=" | $(cell_time "$link" "$kind" vsftp "$units" "$unit") | $(cell_ratio "$link" "$kind" vsftp ossh)"
		if ((have_listen)); then
			line+=" | $(cell_ratio "$link" "$kind" listen vsftp)"
		else
			line+=" | n/a"
		fi
	fi
	echo "$line |"
}

# cpu_row LINK KIND WHO: the CPU time of WHO's processes per upload, median over the rounds.
cpu_row() {
	local link=$1 kind=$2 who=$3 cells
	cells=$(for f in "$T/rss/$who.$link-r"*"-$kind"; do cat "$f"; echo "end"; done 2>/dev/null | awk -v hz="$(getconf CLK_TCK)" '
		BEGIN { run = 0 }
		$1 == "end" { run++ } $1 == "cpu" { t[$2, run] = $3; keys[$2] = 1 }
		END {
			for (k in keys) {
				n = 0
				for (r = 0; r < run; r++) v[n++] = t[k, r] + 0
				asort_n(v, n)
				m = n % 2 ? v[(n - 1) / 2] : (v[n / 2 - 1] + v[n / 2]) / 2
				printf "%s%s %.2f s", sep, (k == "parent" ? "parent" : k), m / hz
				sep = ", "
			}
		}
		function asort_n(a, n,   i, j, x) { for (i = 1; i < n; i++) { x = a[i]; for (j = i - 1; j >= 0 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x } }')
	echo "| $link $kind | $(label "$who") | ${cells:-—} |"
}

# rss_rows WHO: one row per process kind of WHO's runs: the most VmHWM any sample saw.
rss_rows() {
	local who=$1 parent=sshd
	[[ $who == listen ]] && parent=vault-listen
	cat "$T"/rss/"$who".* 2>/dev/null | awk '$1 == "rss" && $3 > m[$2] { m[$2] = $3 } END { for (k in m) print k, m[k] }' |
		sort | while read -r k v; do
			if [[ $k == parent ]]; then
				echo "| $(label "$who") | $parent (the listening parent) | $v KiB |"
			else
				echo "| $(label "$who") | $k (below the parent; the most of any one) | $v KiB |"
			fi
		done
}

head_line="| workload | sshd + sftp-server, median | vault-listen, median | throughput ratio listener/sshd, median (min–max) |"
sep="| --- | --- | --- | --- |"
if ((with_vsftp)); then
	head_line+=" sshd + vault-sftp, median | ratio sshd+vault-sftp/sshd+sftp-server | ratio listener/sshd+vault-sftp (same engine and seal) |"
	sep+=" --- | --- | --- |"
fi
elapsed=$(($(date +%s) - t_start))
# Stopped relays say how much they buffered at most: far below the cap, no bandwidth limit.
for pid in "${RELAY_PIDS[@]}"; do stop_pid "$pid"; done
relay_peak=$(cat "$T"/relay-*.err 2>/dev/null | sed -n 's/.*most buffered: \([0-9]*\) up.*/\1/p' | sort -n | tail -1)
echo "$head_line"
echo "$sep"
for link in loopback delay; do
	wanted_link "$link" || continue
	row "$link" big
	row "$link" small
done
cat <<EOF

| server | process | peak RSS (VmHWM, sampled every 0.2 s over all runs) |
| --- | --- | --- |
$(for who in "${servers[@]}"; do rss_rows "$who"; done)

| workload | server | CPU seconds per upload by process, median of rounds (sampled every 0.2 s) |
| --- | --- | --- |
$(for link in loopback delay; do wanted_link "$link" && for kind in big small; do for who in "${servers[@]}"; do cpu_row "$link" "$kind" "$who"; done; done; done)

Rounds: $rounds per server and workload, order rotated; $(nproc) CPUs; Linux $(uname -r); $(date -u +%Y-%m-%d); ${elapsed} s in all.
Delayed link: ${link_desc:-not measured}.${relay_peak:+ Most a relay ever buffered toward a server: $((relay_peak / 1024)) KiB.}
Client: -o Compression=no${ssh_extra[*]:+ ${ssh_extra[*]}}; cipher (client default unless --cipher): sshd ${CIPHER[ossh]:-?}$( ((have_listen)) && echo "; vault-listen ${CIPHER[listen]:-?}").
$(ssh -V 2>&1 | head -1); $(dpkg-query -W -f='libssh ${Version}' libssh-4 2>/dev/null || echo 'libssh ?'); $("$VAULT_SFTP" --version 2>/dev/null | head -1 || echo '?')
($(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo 'no git')$(git -C "$repo" diff --quiet 2>/dev/null || echo '+dirty')), build type ${build_type:-unknown}.
Uploads on $( [[ $fs == ram ]] && echo "a RAM-backed ext4 (loop image in /dev/shm)" || echo "ext4 on disk (/srv)"); vault-sftp and vault-listen seal every upload through vaultd's broker (vaultd as root, watcher off, no catch-up scan, ledger on); sftp-server seals nothing.
Ratio: t(sshd + sftp-server) / t(server) per round, so above 1 is faster than the baseline; target (DESIGN.md) for the listener: >= 0.90.
EOF
