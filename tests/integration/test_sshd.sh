#!/usr/bin/env bash
# vault-sftp behind a real sshd (127.0.0.1, generated config validated with
# sshd -t), as a ForceCommand for one tenant. The OpenSSH client checks of
# test_sftp_client.sh, plus: exec requests and TCP forwarding get nothing,
# and what the tenant creates is owned by the tenant's uid.
# shellcheck source-path=SCRIPTDIR
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/lib.sh"
source "$here/client-checks.sh"

require_root
require_cmd sftp ssh sha256sum cmp timeout useradd userdel
it_init /srv
sshd_init

user=$(unique_name svt-sshd-)
vaults="$T/vault"
tenant_root="$vaults/$user"
mkdir -p "$vaults"
chmod 0755 "$vaults"
# The login shell is vault-sftp itself, as the README recommends: sshd runs
# the ForceCommand as "vault-sftp -c COMMAND" (/usr/sbin/nologin would refuse
# it), and vault-sftp refuses any other command. Its copy is set up below.
make_user "$user" "$tenant_root" "$T/bin/vault-sftp"
mkdir -m 0750 "$tenant_root"
chown "$user:$user" "$tenant_root"
authorize "$user"

# The tenant must be able to execute vault-sftp wherever the build tree is
# (a clone under /root is not reachable for it): use a root-owned copy.
install -d -m 0755 "$T/bin"
install -m 0755 "$VAULT_SFTP" "$T/bin/vault-sftp"

cat >"$T/sshd-extra.conf" <<EOF
Subsystem sftp $T/bin/vault-sftp --root $vaults/%u
AllowUsers $user
EOF
sealvault_match_block "$user" force "$T/bin/vault-sftp --root $vaults/%u" >>"$T/sshd-extra.conf"
start_sshd "$T/sshd-extra.conf"

# Canary: a file the exec attempts below try to destroy.
canary="$tenant_root/canary"
echo canary >"$canary"
chown "$user:$user" "$canary"
canary_sum=$(sum_of "$canary")

# ---------------------------------------------------------------- sftp through sshd
run_ssh() { sftp_ssh "$user" "$1" "$2"; }
CC_RUN=run_ssh
CC_DISK="$tenant_root"
CC_P=""
CC_LOG=""          # vault-sftp logs to syslog here; the client checks remain
CC_OWNER="$user"
client_checks
expect_no_grep "$SSHD_DIR/sshd.log" 'fatal|segfault' "sshd log"

# ---------------------------------------------------------------- exec requests
# Under ForceCommand sshd starts vault-sftp whatever the client asks; with
# no SFTP client on the other end vault-sftp sees end-of-file and exits.
pwned="$T/pwned"
for cmd in "rm -rf ~" "rm -rf $tenant_root/*" "rm -f $canary" "touch $pwned" "echo PWNED-\$((6*7))" "/bin/sh -i" "sftp-server"; do
	rc=0
	ssh_cmd "$user" "$T/exec.out" -- "$cmd" || rc=$?
	expect_no_grep "$T/exec.out" 'PWNED-42|uid=' "exec '$cmd' produced shell output"
	[[ ! -e $pwned ]] || fail "exec '$cmd': a client command ran ($pwned exists)"
	[[ -f $canary && $(sum_of "$canary") == "$canary_sum" ]] || fail "exec '$cmd' damaged the vault"
done
pass "exec requests run vault-sftp, not the client's command"

rc=0
ssh_cmd "$user" "$T/tty.out" -tt -- "id" || rc=$?
expect_no_grep "$T/tty.out" 'uid=' "ssh -tt id"
pass "no command runs with a tty request either"

# ---------------------------------------------------------------- forwarding
# -W (stdio forward, direct-tcpip) to sshd's own port: a working forward
# would print sshd's banner.
rc=0
ssh_cmd "$user" "$T/w.out" -W "127.0.0.1:$SSHD_PORT" || rc=$?
expect_no_grep "$T/w.out" '^SSH-2\.0' "ssh -W forwarded a connection"
[[ $rc -ne 0 ]] || fail "ssh -W exited 0"
pass "ssh -W (direct-tcpip) refused"

# -L: a local listener on our side, refused by sshd when used.
lport=$(free_port)
client_opts
timeout 60 ssh "${CLIENT_OPTS[@]}" -p "$SSHD_PORT" -N -o ExitOnForwardFailure=yes \
	-L "127.0.0.1:$lport:127.0.0.1:$SSHD_PORT" "$user@127.0.0.1" </dev/null >"$T/L.out" 2>&1 &
lpid=$!
on_exit stop_pid "$lpid"
wait_until 20 "ssh -L listening on $lport" port_in_use "$lport"
banner=$(timeout 10 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"; timeout 5 head -c 7 <&3' _ "$lport" 2>/dev/null || true)
[[ $banner != SSH-2.0 ]] || fail "ssh -L forwarded a connection to sshd"
stop_pid "$lpid"
expect_grep "$T/L.out" 'administratively prohibited|open failed' "ssh -L channel refusal"
pass "ssh -L (direct-tcpip) refused"

# -R: sshd refuses the tcpip-forward request; the remote port never listens.
rport=$(free_port)
rc=0
ssh_cmd "$user" "$T/R.out" -N -o ExitOnForwardFailure=yes -R "127.0.0.1:$rport:127.0.0.1:$SSHD_PORT" || rc=$?
[[ $rc -ne 0 && $rc -ne 124 ]] || fail "ssh -R with ExitOnForwardFailure did not fail (status $rc)"
expect_grep "$T/R.out" 'remote port forwarding failed' "ssh -R refusal"
port_in_use "$rport" && fail "port $rport listens: the remote forward was set up"
pass "ssh -R (tcpip-forward) refused"

# -D is -L with SOCKS: the same direct-tcpip refusal covers it.
[[ -f $canary && $(sum_of "$canary") == "$canary_sum" ]] || fail "the canary changed"
expect_no_grep "$SSHD_DIR/sshd.log" 'fatal|segfault' "sshd log"
pass "sshd + ForceCommand vault-sftp"
