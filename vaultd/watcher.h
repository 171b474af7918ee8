/* SPDX-License-Identifier: MIT */
/*
 * The watchers: how vaultd sees files that do not come through its broker.
 * fanotify (watch-fanotify.c) marks whole filesystems and hands over the
 * event's own file; inotify (watch-inotify.c) is the fallback for kernels
 * or sandboxes that refuse fanotify. Both report to the daemon
 * (daemon.h); neither ever passes a name to a shell.
 */
#ifndef SEALVAULT_WATCHER_H
#define SEALVAULT_WATCHER_H

#include "daemon.h"
#include "policy.h"

struct watcher_ops {
	const char *name;
	/* Reads and handles up to budget events; returns how many were read. */
	unsigned (*process)(struct watcher *w, unsigned budget);
	/* inotify: watch this directory of t (an O_RDONLY dir fd); fanotify: nothing. */
	int (*add_dir)(struct watcher *w, struct vault_tenant *t, int dirfd);
	void (*free)(struct watcher *w);
};

struct watcher {
	const struct watcher_ops *ops;
	struct vaultd *vd;
	int fd;			/* poll for POLLIN */
	char problem[256];	/* why a mode could not be used (for the log) */
};

/*
 * Opens the watcher for mode (AUTO: fanotify, else inotify) on every
 * usable tenant. Returns 0 with *ret (NULL for OFF), or -errno with
 * problem filled (size 256).
 */
int watcher_open(struct vaultd *vd, enum policy_watcher mode, struct watcher **ret, char *problem);
int watcher_open_fanotify(struct vaultd *vd, struct watcher **ret, char *problem);
int watcher_open_inotify(struct vaultd *vd, struct watcher **ret, char *problem);
struct watcher *watcher_free(struct watcher *w);

#endif
