/* SPDX-License-Identifier: MIT */
/*
 * The daemon's state, shared by its parts: what the watchers and the scan
 * call when they find a file or a directory, and the counters that status
 * reports. One struct vaultd per process, owned by vaultd.c.
 */
#ifndef SEALVAULT_DAEMON_H
#define SEALVAULT_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "audit.h"
#include "policy.h"
#include "seal.h"
#include "tenants.h"

struct watcher;
struct scanner;
struct ledger;

struct vaultd_counters {
	uint64_t sealed;	/* sealed now, by any source */
	uint64_t already;	/* found already immutable by a seal request or a found file */
	uint64_t refused;	/* broker refusals and files vaultd will not seal */
	uint64_t failed;	/* should be sealed and could not be */
	uint64_t reports;	/* refusals vault-sftp reported */
	uint64_t events;	/* watcher events read */
	uint64_t overflows;	/* watcher queue overflows */
	uint64_t dirs_protected;
};

struct vaultd {
	struct policy *policy;
	struct tenant_table tenants;
	struct audit *audit;
	struct watcher *watcher;
	struct scanner *scanner;
	struct ledger *ledger;		/* SHA-256 of each file sealed (ledger.h) */
	struct vaultd_counters n;
	time_t started;
	bool sealing;		/* holds CAP_LINUX_IMMUTABLE: kernel sealing is on */
	uint64_t settle_s;
	const char *config_path;	/* re-read on SIGHUP */
	unsigned admin_children;	/* admin requests running (admin.h) */
	int watcher_override;		/* --watcher, or -1 */
};

/*
 * A watcher or the scan found a file that may need sealing: fd is open on
 * it (not O_PATH), st its fstat, vpath its vault path in t. Seals it if
 * its class wants that and audits the outcome. source: "fanotify", ...
 */
enum seal_outcome vaultd_found_file(struct vaultd *vd, struct vault_tenant *t, int fd,
				    const struct stat *st, const char *vpath, const char *source);

/* Who asked for a seal, for its audit records: a broker peer and what its session said. */
struct vaultd_peer {
	uid_t uid;
	pid_t pid;
	const char *key_fp;	/* the session's SSH key fingerprint, NULL: unknown */
	const char *client;	/* the session's client address, NULL: unknown */
};

/*
 * Everything a seal's outcome leads to, whoever asked (broker, watcher,
 * scan): the counters (t NULL: a peer of no tenant), the ledger for a new
 * seal, the audit records. peer: the broker's peer, NULL for the watchers
 * and the scan.
 */
void vaultd_record_seal(struct vaultd *vd, struct vault_tenant *t, const char *vpath,
			const struct seal_result *res, const char *source, const struct vaultd_peer *peer);

/*
 * fd is open on something a watcher saw (file or directory); finds its
 * tenant and vault path from its current name (/proc/self/fd), and hands
 * it to vaultd_found_file() or, for a directory that arrived whole, to the
 * scanner. Anything outside every tenant root is dropped.
 */
void vaultd_found_fd(struct vaultd *vd, int fd, const char *source);

/*
 * As vaultd_found_fd, with the name the event gave in dirfd (an O_PATH
 * fd of its directory, or -1): the path comes from the directory, which
 * always has one, when the name still leads to fd's inode; otherwise from
 * fd itself, and failing that the directory is scanned.
 */
void vaultd_found_at(struct vaultd *vd, int fd, int dirfd, const char *name, const char *source);

/* The watcher lost events: schedule a full catch-up scan and audit it. */
void vaultd_overflow(struct vaultd *vd, const char *source);

#endif
