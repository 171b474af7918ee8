/* SPDX-License-Identifier: MIT */
/*
 * The ledger: a SHA-256 of every file vaultd seals, recorded in the
 * background once the file is immutable, so that `vaultctl verify` can
 * tell years later whether a sealed file still holds what it held (bit
 * rot, a change by root outside vaultctl).
 *
 * A seal (SEAL_DONE) queues (tenant name, vault path); ledger_step() hashes
 * a slice at a time between the loop's events, at most one file open
 * between slices, never waiting for the disk where RWF_NOWAIT works, and
 * appends one line per file to
 * <state-dir>/ledger/<tenant>.ledger (directory 0700, file 0600, both
 * root's, created on first use):
 *
 *   v1 SHA256HEX SIZE SEALTIME INO VPATH
 *
 * SHA256HEX is 64 lowercase hex digits, SIZE the bytes hashed, SEALTIME
 * the file's SEAL_XATTR_SEALED (decimal Unix time; the time it was queued
 * if it has none), INO its inode number, and VPATH its vault path with
 * every byte < 0x21, '%' and >= 0x7f written as %XX (upper-case hex), so
 * that any name stays one line of six words. A path hashed again gets a
 * new line: the last line of a path is the one that counts.
 *
 * A file is hashed only if it is immutable (FS_IOC_GETFLAGS) when opened
 * and again after its last byte was read, and its ctime did not move in
 * between (clearing and setting the flag again moves it): otherwise its
 * content could have changed under the hash, and it is skipped and
 * counted as failed.
 *
 * The queue holds LEDGER_QUEUE_MAX files; a seal beyond that is counted
 * as dropped and audited once a minute; verify reports such files as
 * sealed without a ledger entry. The queue lives in memory: files still
 * queued when vaultd stops are not hashed either.
 *
 * Entries are keyed by tenant name, not by struct vault_tenant: the queue
 * and the file being hashed survive a reload, which replaces the tenant
 * table; a file whose tenant is gone after a reload is skipped.
 */
#ifndef SEALVAULT_LEDGER_H
#define SEALVAULT_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit.h"
#include "path.h"
#include "tenants.h"

#define LEDGER_QUEUE_MAX	100000
#define LEDGER_CHUNK		(256 * 1024)	/* one read() */
/* What ledger_step may read in one turn of vaultd's loop (see vaultd/README.md). */
#define LEDGER_BUDGET		(1024 * 1024)
/* Asked of the page cache ahead of the reads (POSIX_FADV_WILLNEED). */
#define LEDGER_READAHEAD	(1024 * 1024)
/* How long the loop may sleep while readahead fetches what the next read needs. */
#define LEDGER_IO_WAIT_MS	1
/* What opening, checking and recording one file costs against the budget. */
#define LEDGER_FILE_COST	(16 * 1024)
#define LEDGER_DIR		"ledger"
#define LEDGER_SUFFIX		".ledger"
#define LEDGER_VERSION		"v1"
/* The longest line: "v1 " + 64 hex + three numbers + an escaped path (3 bytes per byte) + "\n". */
#define LEDGER_LINE_MAX		(3 + 64 + 3 * 21 + 3 * 4096 + 2)

struct ledger;

struct ledger_stats {
	uint64_t queued;	/* files waiting, the one being hashed included */
	uint64_t hashed;	/* lines written */
	uint64_t dropped;	/* seals not queued: the queue was full */
	uint64_t failed;	/* queued, not recorded: gone, not immutable, changed, unreadable, unwritable */
};

/*
 * state_dir: the config's state-dir (copied). audit: where overflow and
 * write failures are reported (kept, not owned). 0 or -ENOMEM.
 */
int ledger_new(const char *state_dir, struct audit *audit, struct ledger **ret);
struct ledger *ledger_free(struct ledger *l);

/* A NULL ledger (tests that build a struct vaultd by hand) does nothing. */

/* A reload's state-dir (copied); the queue stays. 0 or -ENOMEM (then the old one stays). */
int ledger_set_dir(struct ledger *l, const char *state_dir);

/*
 * Queues the file vaultd has just sealed at vpath in t. Returns 0,
 * -ENOBUFS (the queue is full: counted as dropped), -ENAMETOOLONG or
 * -ENOMEM (counted as dropped too).
 */
int ledger_add(struct ledger *l, const struct vault_tenant *t, const char *vpath);

/*
 * Hashes and records up to budget bytes (each file also costs
 * LEDGER_FILE_COST), opening queued files through their tenant in tab.
 * Returns true while work is left (the caller then polls with timeout 0).
 */
bool ledger_step(struct ledger *l, const struct tenant_table *tab, size_t budget);

/* True while files are queued or one is being hashed. */
bool ledger_busy(const struct ledger *l);

/*
 * The poll timeout the ledger asks for: -1 idle, 0 work is ready,
 * LEDGER_IO_WAIT_MS when the next read waits for the disk (reads never
 * block the loop: RWF_NOWAIT, with readahead; plain reads where a
 * filesystem does not support it).
 */
int ledger_timeout_ms(const struct ledger *l);

void ledger_stats(const struct ledger *l, struct ledger_stats *ret);

/* One line of a ledger file, parsed (ledger-line.c, shared with vaultctl verify). */
/* The digest word of a "purged" line: the file left the attic for good (vaultctl attic purge). */
#define LEDGER_PURGED	"purged"

struct ledger_entry {
	char sha256[65];	/* lowercase hex, NUL-terminated; or LEDGER_PURGED */
	uint64_t size;
	int64_t sealed;		/* Unix time */
	uint64_t ino;
	char vpath[VAULT_PATH_MAX];	/* unescaped */
};

/*
 * The ledger's escaping of a vault path (bytes < 0x21, '%', >= 0x7f as
 * %XX) into out, NUL-terminated; and back. Return the length written,
 * -ENAMETOOLONG if out is short, or (unescape) -EINVAL for a malformed
 * word or one that decodes to a NUL.
 */
int ledger_escape(const char *in, char *out, size_t size);
int ledger_unescape(const char *in, char *out, size_t size);

/* e as one line, "\n" included. The length, or -ENAMETOOLONG. */
int ledger_format(const struct ledger_entry *e, char *out, size_t size);

/*
 * Appends a LEDGER_PURGED line for tenant's vpath (inode ino): verify then
 * knows the file was deleted on purpose, not lost. 0 or -errno.
 */
int ledger_record_purged(struct ledger *l, const char *tenant, const char *vpath, uint64_t ino);

/*
 * line (without its newline) into *ret. 0, or -EINVAL: not six words, an
 * unknown version, a digest that is not 64 lowercase hex digits (nor
 * LEDGER_PURGED), a number
 * that is not one, a path that is not absolute.
 */
int ledger_parse(const char *line, struct ledger_entry *ret);

#endif
