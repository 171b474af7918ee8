/* SPDX-License-Identifier: MIT */
/*
 * The catch-up scan: walks tenant trees with getdents64 and statx and
 * seals every file that should be sealed and is not (STATX_ATTR_IMMUTABLE
 * tells without opening the file). Runs in slices between events, so the
 * broker never waits for it. Jobs: a full scan (start, overflow), or one
 * directory that arrived whole (moved in, or created before inotify
 * watched it). In inotify mode every walk also (re)adds the watches.
 *
 * A file changed within the last `settle` seconds may still be open in a
 * local writer: it is deferred and looked at again after `settle` (the
 * watcher also sees its close). The deferred list is bounded; when full,
 * another full scan is scheduled instead.
 */
#ifndef SEALVAULT_SCAN_H
#define SEALVAULT_SCAN_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "daemon.h"

#define SCAN_SEAL	1u	/* look at files and seal them */
#define SCAN_WATCH	2u	/* add an inotify watch to each directory */

struct scan_stats {
	uint64_t files, dirs, sealed, already, deferred, failed;
	uint64_t skipped;		/* deeper than VAULT_MAX_DEPTH or longer than a vault path */
	struct timespec started;	/* CLOCK_REALTIME */
	uint64_t duration_ms;
	bool full;			/* the round included a full scan */
};

int scanner_new(struct vaultd *vd, struct scanner **ret);
struct scanner *scanner_free(struct scanner *s);

/* Queues a walk of t's vpath_dir ("/" for the whole tree); t NULL: every tenant. */
void scanner_enqueue(struct scanner *s, struct vault_tenant *t, const char *vpath_dir, unsigned flags);

/* True while walks are queued or running. */
bool scanner_busy(const struct scanner *s);

/*
 * Does up to budget entries of work: deferred files that are due, then the
 * walks. Returns true when a round of walks ended in this call (*last is
 * then that round's stats).
 */
bool scanner_step(struct scanner *s, unsigned budget, struct scan_stats *last);

/* Milliseconds until the next deferred file is due; -1 if none. */
int scanner_next_due_ms(const struct scanner *s);

/* The last finished round, for status (files == 0 and no start time: none yet). */
const struct scan_stats *scanner_last(const struct scanner *s);

#endif
