#!/usr/bin/env bash
# Interrupted uploads: a 50 MiB put through sftp -D is cut off mid-transfer,
# once by killing the client, once by kill -9 of vault-sftp itself. The
# final name stays absent, a hidden .sealvault.part.* keeps what arrived, and
# a retry of the same put succeeds byte-identically. Needs no root.
# shellcheck source-path=SCRIPTDIR
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/lib.sh"

require_cmd sftp sha256sum cmp timeout ps
it_init

V="$T/vault"
L="$T/local"
mkdir -p "$V" "$L"
size=$((50 * 1024 * 1024))
head -c "$size" /dev/urandom >"$L/big.bin"

# Size of the biggest partial file in DIR (0 if none).
partial_size() {
	local s
	s=$(find "$1" -maxdepth 1 -name '.sealvault.part.*' -printf '%s\n' | sort -n | tail -1)
	echo "${s:-0}"
}

# The transfer is throttled (sftp -l, Kbit/s: ~10 MB/s, about 5 s for 50 MiB)
# so that it can be cut off in the middle.
start_put() { # NAME REMOTE -> PUT_PID
	printf 'put %s %s\n' "$L/big.bin" "$2" >"$T/$1.batch"
	timeout 120 sftp -l 80000 -D "$VAULT_SFTP --root $V --log-stderr" -b "$T/$1.batch" \
		</dev/null >"$T/$1.out" 2>&1 &
	PUT_PID=$!
	on_exit stop_pid "$PUT_PID"
}

# Waits until at least 2 MiB of an upload arrived, and not all of it.
wait_mid_transfer() { # REMOTE_DIR
	local i s
	for ((i = 0; i < 300; i++)); do
		s=$(partial_size "$1")
		if ((s >= 2 * 1024 * 1024)); then
			((s < size)) || fail "the upload finished before it could be interrupted"
			return 0
		fi
		sleep 0.05
	done
	fail "no partial file grew to 2 MiB within 15 s"
}

# The process tree under PID: timeout -> sftp -> vault-sftp.
child_of() { ps -o pid= --ppid "$1" | tr -d ' ' | head -1; }

# True once PID has exited (a zombie nobody reaps counts as gone).
pid_gone() {
	local st
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 0
	[[ -z $st || $st == Z ]]
}

# check_after_interrupt REMOTE_NAME DIR: name absent, a partial remains.
check_after_interrupt() {
	local name=$1 dir=$2 parts
	[[ ! -e $dir/$name ]] || fail "$name was published by an interrupted upload"
	parts=$(partial_files "$dir")
	[[ -n $parts ]] || fail "no .sealvault.part.* left by the interrupted upload of $name"
	if command -v getfattr >/dev/null 2>&1; then
		local p target
		p=$(echo "$parts" | tail -1)
		target=$(getfattr --only-values -n user.sealvault.target "$dir/$p" 2>/dev/null || true)
		[[ $target == *"$name" ]] ||
			fail "partial file $p: xattr user.sealvault.target is '$target', expected it to name $name"
	fi
}

retry_put() { # NAME REMOTE
	printf 'put %s %s\n' "$L/big.bin" "$2" >"$T/$1.batch"
	sftp_direct "$V" "$T/$1.batch" "$T/$1.out" || {
		sed 's/^/    | /' "$T/$1.out" >&2
		fail "$1: retry of the interrupted put failed"
	}
	cmp -s "$L/big.bin" "$V/$2" || fail "$1: retried $2 differs from the source"
}

# ---------------------------------------------------------------- 1. client killed
mkdir "$V/c"
start_put client_killed c/big.bin
wait_mid_transfer "$V/c"
sftp_pid=$(child_of "$PUT_PID")
[[ -n $sftp_pid ]] || fail "cannot find the sftp client process"
server_pid=$(child_of "$sftp_pid")
[[ -n $server_pid ]] || fail "cannot find the vault-sftp process"
kill -KILL "$sftp_pid"
{ wait "$PUT_PID"; } 2>/dev/null || true
# vault-sftp sees end-of-file on its stdin and ends the session by itself.
wait_until 15 "vault-sftp (pid $server_pid) to exit after its client died" pid_gone "$server_pid"
check_after_interrupt big.bin "$V/c"
before=$(partial_size "$V/c")
((before < size)) || fail "the partial file holds the whole upload"
p=$(partial_files "$V/c" | tail -1)
[[ $(stat -c %a "$V/c/$p") == 400 ]] ||
	fail "partial file $p has mode $(stat -c %a "$V/c/$p"); an orderly session end makes it 0400"
pass "client killed: big.bin absent, partial file kept ($before bytes, mode 0400)"
retry_put client_killed_retry c/big.bin
pass "client killed: the retry succeeds, byte-identical"

# ---------------------------------------------------------------- 2. vault-sftp killed
mkdir "$V/s"
start_put server_killed s/big.bin
wait_mid_transfer "$V/s"
sftp_pid=$(child_of "$PUT_PID")
[[ -n $sftp_pid ]] || fail "cannot find the sftp client process"
server_pid=$(child_of "$sftp_pid")
[[ -n $server_pid ]] || fail "cannot find the vault-sftp process"
comm=$(ps -o comm= -p "$server_pid")
[[ $comm == "$(basename "$VAULT_SFTP" | cut -c1-15)" ]] || fail "process $server_pid is not vault-sftp: $comm"
kill -KILL "$server_pid"
rc=0
wait "$PUT_PID" || rc=$?
[[ $rc -ne 0 ]] || fail "sftp reported success although vault-sftp was killed"
check_after_interrupt big.bin "$V/s"
pass "vault-sftp killed: big.bin absent, partial file kept, client saw an error"
retry_put server_killed_retry s/big.bin
pass "vault-sftp killed: the retry succeeds, byte-identical"

# The partial files are never visible to the client.
printf 'ls -la c\nls -la s\n' >"$T/ls.batch"
sftp_direct "$V" "$T/ls.batch" "$T/ls.out" || fail "listing failed"
expect_no_grep "$T/ls.out" '\.sealvault' "listing after interrupted uploads"
pass "partial files stay hidden from the client"
