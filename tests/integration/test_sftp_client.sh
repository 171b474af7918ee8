#!/usr/bin/env bash
# OpenSSH's sftp client against vault-sftp over pipes (sftp -D, no sshd).
# Uploads, downloads, listings and mkdir work; every destructive command is
# refused with a visible reason and leaves the stored bytes unchanged; an
# identical re-upload succeeds. Needs no root.
# shellcheck source-path=SCRIPTDIR
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/lib.sh"
source "$here/client-checks.sh"

require_cmd sftp sha256sum cmp
it_init

mkdir -p "$T/vault"

run_direct() { sftp_direct "$T/vault" "$1" "$2"; }

CC_RUN=run_direct
CC_DISK="$T/vault"
CC_P=""
CC_LOG="/"
client_checks
