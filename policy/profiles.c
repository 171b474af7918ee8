/* SPDX-License-Identifier: MIT */
/*
 * The built-in profiles, derived from the recorded request sequences in
 * shared/clients/ (what each tool really sends). Each is documented, with
 * the client settings it expects, in policy/profiles/<name>.md.
 */
#include "policy-internal.h"

const char policy_builtin_profiles[] =
	/* Every path write-once. Plain sftp/scp scripts, pg_dump uploads. */
	"profile generic {\n"
	"	path .ssh/ deny\n"
	"	path ** seal\n"
	"}\n"
	/*
	 * restic 0.14+: uploads "<final>-restic-temp-<hex>" and posix-renames
	 * it onto the final name; lock files are created and removed by every
	 * command. The temp rule comes first: lock uploads are temp names too.
	 */
	"profile restic {\n"
	"	path .ssh/ deny\n"
	"	path **/*-restic-temp-* temp\n"
	"	path **/locks/* mutable max-files=64 max-size=64k\n"
	"	path ** seal\n"
	"}\n"
	/*
	 * rclone 1.60: uploads under the final name, then sets the mtime by
	 * path; that setstat is answered OK without effect.
	 */
	"profile rclone {\n"
	"	path .ssh/ deny\n"
	"	path ** seal\n"
	"	times ignore\n"
	"}\n"
	/* duplicity: paramiko writes final names; the pexpect backend renames ".<name>.part". */
	"profile duplicity {\n"
	"	path .ssh/ deny\n"
	"	path **/.*.part temp\n"
	"	path ** seal\n"
	"}\n"
	/*
	 * lftp mirror -R: fsetstat on the open handle (allowed for any
	 * upload), then a chmod by path of every file and directory it
	 * copied, answered OK without effect; xfer:use-temp-file names.
	 */
	"profile lftp {\n"
	"	path .ssh/ deny\n"
	"	path **/.in.* temp\n"
	"	path ** seal\n"
	"	chmod ignore\n"
	"	times ignore\n"
	"}\n"
	/*
	 * pgBackRest 2.46+ sftp repository: "*.pgbackrest.tmp" then RENAME;
	 * the info and manifest files are replaced at every backup, and
	 * expire removes WAL and old backups: every replace and remove moves
	 * the previous version into the attic, sealed, so nothing is lost.
	 */
	"profile pgbackrest {\n"
	"	path .ssh/ deny\n"
	"	path **/*.pgbackrest.tmp temp\n"
	"	path ** versioned\n"
	"}\n"
	/* Duplicati with "keep all versions" and no auto-compact: never deletes. */
	"profile duplicati {\n"
	"	path .ssh/ deny\n"
	"	path ** seal\n"
	"}\n";
