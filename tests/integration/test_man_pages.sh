#!/usr/bin/env bash
# The hand-written man pages: man(1) (groff) and mandoc have nothing to say
# about them; the pages they name of ours exist; and they do not drift from
# the programs: every option of vaultd --help and vault-sftp --help, and
# every command of vaultctl --help with its options, is described in its
# page (outside the SYNOPSIS).
# shellcheck source-path=SCRIPTDIR
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/lib.sh"

require_cmd man mandoc
it_init

PAGES=(policy/vault.conf.5 vaultd/vaultd.8 vaultd/vaultctl.8 vaultd/vault-listen.8 sftp-subsystem/vault-sftp.8)
BIN=$SEALVAULT_BINARY_DIR/bin
for p in vaultd vaultctl vault-listen; do
	[[ -x $BIN/$p ]] || fail "$p not executable: $BIN/$p"
done

# --- each page: no troff warning, no mandoc message of any level
for rel in "${PAGES[@]}"; do
	page=$SEALVAULT_SOURCE_DIR/$rel
	[[ -f $page ]] || fail "no man page $rel"
	rc=0
	MANWIDTH=80 LC_ALL=C.UTF-8 man --warnings -l "$page" >"$T/out" 2>"$T/err" </dev/null || rc=$?
	if ((rc != 0)) || [[ -s $T/err ]]; then
		sed 's/^/    | /' "$T/err" >&2
		fail "man --warnings -l $rel: status $rc or warnings"
	fi
	[[ -s $T/out ]] || fail "man -l $rel printed nothing"
	rc=0
	mandoc -T lint -W all "$page" >"$T/lint" 2>&1 </dev/null || rc=$?
	if ((rc != 0)) || [[ -s $T/lint ]]; then
		sed 's/^/    | /' "$T/lint" >&2
		fail "mandoc -T lint $rel: status $rc or messages"
	fi
done
pass "man --warnings and mandoc -T lint: clean (${PAGES[*]})"

# --- references to our own pages (NAME(N) with NAME vault*) point at one of them
for rel in "${PAGES[@]}"; do
	MANWIDTH=1000 LC_ALL=C.UTF-8 man -l "$SEALVAULT_SOURCE_DIR/$rel" 2>/dev/null |
		grep -oE '\bvault[a-z.-]*\([0-9]\)' | LC_ALL=C sort -u >"$T/refs"
	while IFS= read -r ref; do
		name=${ref%(*} sec=${ref#*(}
		sec=${sec%)}
		found=0
		for p in "${PAGES[@]}"; do
			[[ $(basename "$p") == "$name.$sec" ]] && found=1
		done
		((found)) || fail "$rel names $ref, which is not one of our pages"
	done <"$T/refs"
done
pass "every vault*(N) a page names is one of ours"

# has_option PAGE OPTION: the page describes --long-option, spelt as roff
# does (\-\-long\-option, not the start of a longer one), somewhere else
# than in its SYNOPSIS.
has_option() {
	local re=${2//-/\\\\-}
	awk '/^\.SH / { syn = ($2 == "SYNOPSIS") } !syn' "$SEALVAULT_SOURCE_DIR/$1" >"$T/described"
	grep -qE -- "$re(\$|[^a-z\\]|\\[^-])" "$T/described"
}

# options_of HELPTEXT_FILE: the --long options a usage text names.
options_of() {
	grep -oE -- '--[a-z][a-z-]*[a-z]' "$1" | LC_ALL=C sort -u
}

# check_options PAGE NAME HELPFILE: every option of the help text is in the page.
check_options() {
	local page=$1 what=$2 help=$3 opt missing=()
	while IFS= read -r opt; do
		has_option "$page" "$opt" || missing+=("$opt")
	done < <(options_of "$help")
	((${#missing[@]} == 0)) || fail "$page lacks ${missing[*]} of '$what --help'"
}

# --- vaultd and vault-sftp: their options
"$BIN/vaultd" --help >"$T/vaultd.help" || fail "vaultd --help failed"
check_options vaultd/vaultd.8 vaultd "$T/vaultd.help"
"$VAULT_SFTP" --help >"$T/vault-sftp.help" || fail "vault-sftp --help failed"
check_options sftp-subsystem/vault-sftp.8 vault-sftp "$T/vault-sftp.help"
"$BIN/vault-listen" --help >"$T/vault-listen.help" || fail "vault-listen --help failed"
check_options vaultd/vault-listen.8 vault-listen "$T/vault-listen.help"
pass "vaultd.8, vault-sftp.8 and vault-listen.8 name every option of their --help"

# --- vaultctl: every command has a section (.SS "COMMAND ...") and its options
"$BIN/vaultctl" --help >"$T/vaultctl.help" || fail "vaultctl --help failed"
mapfile -t cmds < <(sed -n '/^commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p' "$T/vaultctl.help")
((${#cmds[@]} > 0)) || fail "no commands parsed from vaultctl --help"
for c in "${cmds[@]}"; do
	grep -qE "^\\.SS \"$c( |\"|:)" "$SEALVAULT_SOURCE_DIR/vaultd/vaultctl.8" ||
		fail "vaultctl.8 has no section for 'vaultctl $c' (.SS \"$c ...\")"
	"$BIN/vaultctl" "$c" --help >"$T/vaultctl-$c.help" 2>&1 || fail "vaultctl $c --help failed"
	check_options vaultd/vaultctl.8 "vaultctl $c" "$T/vaultctl-$c.help"
done
pass "vaultctl.8 covers ${cmds[*]} and their options"
