# shellcheck shell=bash
# The OpenSSH sftp client scenario shared by test_sftp_client.sh (sftp -D),
# test_sshd.sh (through sshd) and test_sshd_chroot.sh (sshd ChrootDirectory).
# Source after lib.sh, set the CC_* variables, call client_checks.
#
#   CC_RUN     function NAME BATCH OUT: runs one sftp -b session, returns its status
#   CC_DISK    the directory on disk where the client's uploads land
#   CC_P       the same directory as the client names it: "" (its root) or "upload/"
#   CC_LOG     the same directory in vault-sftp's log lines ("/" or "/upload/"),
#              or empty when the log is not visible to the test (syslog)
#   CC_OWNER   if set: the user that must own every uploaded file

CC_DENIED='Permission denied'

# cc_batch NAME LINE...: one sftp session; sets RC and OUT.
cc_batch() {
	local name=$1
	shift
	printf '%s\n' "$@" >"$T/cc-$name.batch"
	OUT="$T/cc-$name.out"
	RC=0
	"$CC_RUN" "$T/cc-$name.batch" "$OUT" || RC=$?
}

cc_ok() {
	local name=$1
	cc_batch "$@"
	if [[ $RC -ne 0 ]]; then
		sed 's/^/    | /' "$OUT" >&2
		fail "$name: sftp exited $RC, expected 0"
	fi
}

# cc_refused NAME CLIENT_REGEX LOGGED_PATH LINE...: the batch fails, the client
# shows CLIENT_REGEX, vault-sftp logged a refusal naming LOGGED_PATH (relative
# to CC_LOG; "-": do not check), and the vault is exactly as before.
cc_refused() {
	local name=$1 client_re=$2 logged=$3 before after parts_before parts_after re
	shift 3
	before=$(tree_state "$CC_DISK")
	parts_before=$(find "$CC_DISK" -name '.sealvault.part.*' | wc -l)
	cc_batch "$name" "$@"
	[[ $RC -ne 0 ]] || {
		sed 's/^/    | /' "$OUT" >&2
		fail "$name: sftp exited 0, expected the command to be refused"
	}
	expect_grep "$OUT" "$client_re" "$name: client message"
	if [[ -n $CC_LOG && $logged != - ]]; then
		re="${CC_LOG}${logged}"
		re="refused .*\"${re//./\\.}\""
		expect_grep "$OUT" "$re" "$name: vault-sftp log line"
	fi
	after=$(tree_state "$CC_DISK")
	if [[ $before != "$after" ]]; then
		diff <(echo "$before") <(echo "$after") | sed 's/^/    | /' >&2
		fail "$name: the vault changed although the command was refused"
	fi
	parts_after=$(find "$CC_DISK" -name '.sealvault.part.*' | wc -l)
	[[ $parts_after -eq $parts_before ]] ||
		fail "$name: $((parts_after - parts_before)) partial file(s) left behind by a refused request"
	pass "$name refused, vault unchanged"
}

client_checks() {
	local L="$T/cc-local" P=$CC_P D=$CC_DISK
	mkdir -p "$L"
	chmod 0755 "$L"
	head -c 300000 /dev/urandom >"$L/a.bin"
	head -c 70000 /dev/urandom >"$L/b.bin"
	head -c 5000 /dev/urandom >"$L/extra"
	cat "$L/a.bin" "$L/extra" >"$L/a-longer.bin"
	printf 'version one\n' >"$L/note.txt"
	printf 'version two, other bytes\n' >"$L/note2.txt"
	chmod 0644 "$L"/*

	# -------------------------------------------------------- what works
	cc_ok setup \
		"mkdir ${P}dir" \
		"mkdir ${P}empty" \
		"put $L/a.bin ${P}a.bin" \
		"put $L/note.txt ${P}note.txt" \
		"put $L/a.bin ${P}dir/a.bin" \
		"ls -la ${P:-.}" \
		"ls -l ${P}dir" \
		"get ${P}a.bin $L/a.got" \
		"get ${P}dir/a.bin $L/dir-a.got"
	cmp -s "$L/a.bin" "$D/a.bin" || fail "stored a.bin differs from the upload"
	cmp -s "$L/a.bin" "$D/dir/a.bin" || fail "stored dir/a.bin differs from the upload"
	cmp -s "$L/note.txt" "$D/note.txt" || fail "stored note.txt differs from the upload"
	cmp -s "$L/a.bin" "$L/a.got" || fail "downloaded a.bin differs"
	cmp -s "$L/a.bin" "$L/dir-a.got" || fail "downloaded dir/a.bin differs"
	[[ -d $D/dir && -d $D/empty ]] || fail "mkdir did not create the directories"
	expect_grep "$OUT" '[ /]a\.bin$' "ls -la lists a.bin"
	expect_grep "$OUT" '[ /]note\.txt$' "ls -la lists note.txt"
	expect_grep "$OUT" '[ /]dir$' "ls -la lists dir"
	expect_no_grep "$OUT" '\.sealvault' "ls shows no vault-internal names"
	[[ -z $(partial_files "$D") ]] || fail "partial files left after finished uploads: $(partial_files "$D")"
	if [[ -n ${CC_OWNER:-} ]]; then
		local f
		for f in "$D/a.bin" "$D/note.txt" "$D/dir" "$D/dir/a.bin"; do
			[[ $(stat -c %U "$f") == "$CC_OWNER" ]] ||
				fail "$f is owned by $(stat -c %U "$f"), expected the tenant $CC_OWNER"
		done
		pass "files and dirs the tenant created are owned by $CC_OWNER"
	fi
	pass "put, get (byte-identical), ls, mkdir"

	# -------------------------------------------------------- refusals
	cc_refused rm "$CC_DENIED" a.bin "rm ${P}a.bin"
	cc_refused rm_in_dir "$CC_DENIED" dir/a.bin "rm ${P}dir/a.bin"
	cc_refused rename "$CC_DENIED" a.bin "rename ${P}a.bin ${P}renamed.bin"
	cc_refused rename_onto "$CC_DENIED" note.txt "rename ${P}note.txt ${P}a.bin"
	cc_refused overwrite "$CC_DENIED" note.txt "put $L/note2.txt ${P}note.txt"
	cc_refused overwrite_in_dir "$CC_DENIED" dir/a.bin "put $L/b.bin ${P}dir/a.bin"
	cc_refused reput "$CC_DENIED" a.bin "reput $L/a-longer.bin ${P}a.bin"
	cc_refused chmod_666 "$CC_DENIED" a.bin "chmod 666 ${P}a.bin"
	cc_refused chmod_dir "$CC_DENIED" dir "chmod 700 ${P}dir"
	cc_refused symlink "$CC_DENIED" - "symlink ${P}a.bin ${P}link.bin"
	# hardlink@openssh.com is not advertised: the client gives up by itself.
	cc_refused ln "$CC_DENIED|does not support|not supported" - "ln ${P}a.bin ${P}hard.bin"
	cc_refused rmdir_empty "$CC_DENIED" empty "rmdir ${P}empty"
	cc_refused rmdir_full "$CC_DENIED" dir "rmdir ${P}dir"
	cc_refused reserved_name "$CC_DENIED" - "put $L/note.txt ${P}.sealvault.part.0123456789abcdef"
	[[ ! -e $D/renamed.bin && ! -e $D/link.bin && ! -L $D/link.bin && ! -e $D/hard.bin ]] ||
		fail "a refused request created a name"

	# -------------------------------------------------------- '-' keeps a batch going
	cc_ok continue_after_refusal \
		"-rm ${P}a.bin" \
		"-rename ${P}a.bin ${P}c.bin" \
		"-put $L/note2.txt ${P}note.txt" \
		"put $L/b.bin ${P}b.bin"
	expect_grep "$OUT" "$CC_DENIED" "the '-' prefixed refusals are still reported"
	cmp -s "$L/b.bin" "$D/b.bin" || fail "b.bin uploaded after the refused commands differs"
	cmp -s "$L/a.bin" "$D/a.bin" || fail "a.bin changed"
	cmp -s "$L/note.txt" "$D/note.txt" || fail "note.txt changed"
	pass "a batch with '-' prefixed refusals carries on"

	# -------------------------------------------------------- harmless requests
	local state
	state=$(tree_state "$D")
	cc_ok reput_identical "put $L/a.bin ${P}a.bin" "put $L/a.bin ${P}dir/a.bin" "put $L/note.txt ${P}note.txt"
	[[ $(tree_state "$D") == "$state" ]] || fail "an identical re-upload changed the vault"
	[[ -z $(partial_files "$D") && -z $(partial_files "$D/dir") ]] ||
		fail "an identical re-upload left partial files"
	pass "re-put of identical content succeeds and changes nothing"

	cc_ok chmod_remove_write "chmod 444 ${P}a.bin"
	# Under vaultd's broker the file is sealed (immutable, root-owned) before
	# the chmod comes: accepted, nothing left to change.
	[[ $(stat -c %a "$D/a.bin") == 444 ]] || lsattr -d "$D/a.bin" 2>/dev/null | grep -q '^[^ ]*i' ||
		fail "chmod 444 (only removes write bits) did not apply: mode $(stat -c %a "$D/a.bin"), not immutable"
	pass "chmod that only removes write bits is accepted"
	cc_refused chmod_add_back "$CC_DENIED" a.bin "chmod 664 ${P}a.bin"

	cc_ok final_get "get ${P}a.bin $L/a.final" "get ${P}note.txt $L/note.final" "get ${P}dir/a.bin $L/dir-a.final"
	cmp -s "$L/a.bin" "$L/a.final" || fail "a.bin downloaded at the end differs"
	cmp -s "$L/note.txt" "$L/note.final" || fail "note.txt downloaded at the end differs"
	cmp -s "$L/a.bin" "$L/dir-a.final" || fail "dir/a.bin downloaded at the end differs"
	pass "stored bytes unchanged after every refused command"
}
