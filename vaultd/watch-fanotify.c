/* SPDX-License-Identifier: MIT */
/*
 * The fanotify watcher: one group in FID mode with the target's own file
 * handle reported (FAN_REPORT_DFID_NAME_TARGET), an unlimited queue, and a
 * filesystem mark on each tenant filesystem for FAN_CLOSE_WRITE and
 * FAN_MOVED_TO (files and directories). Every event is acted on through
 * open_by_handle_at() of the event's own handle: the very inode, wherever
 * it is now, never a path looked up again.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "iflags.h"
#include "watcher.h"

#define EVENT_BUF	(64 * 1024)
#define FAN_MASK	(FAN_CLOSE_WRITE | FAN_MOVED_TO | FAN_ONDIR)

struct fs_entry {
	__kernel_fsid_t fsid;
	int mount_fd;		/* a tenant root on that filesystem (borrowed), one per root */
};

struct fan_watcher {
	struct watcher w;
	struct fs_entry *fs;
	size_t n_fs;
	unsigned char *buf;
};

static bool
marked(const struct fan_watcher *fw, const __kernel_fsid_t *fsid)
{
	for (size_t i = 0; i < fw->n_fs; i++)
		if (memcmp(&fw->fs[i].fsid, fsid, sizeof(*fsid)) == 0)
			return true;
	return false;
}

/* A handle's record is sane: its size fits the record it came in. */
static const struct file_handle *
record_handle(const struct fanotify_event_info_fid *fid, const unsigned char *end)
{
	const struct file_handle *fh = (const struct file_handle *)fid->handle;

	if ((const unsigned char *)fh + sizeof(*fh) > end ||
	    (const unsigned char *)fh + sizeof(*fh) + fh->handle_bytes > end)
		return NULL;
	return fh;
}

/*
 * Opens handle on fid's filesystem through a tenant root there: the first
 * root whose mount shows the result inside a tenant (tenant roots may be
 * separate bind mounts of one filesystem, and a handle opened through the
 * wrong one has no path). flags as for open_by_handle_at.
 */
static int
open_handle(struct fan_watcher *fw, const struct fanotify_event_info_fid *fid,
	    const struct file_handle *fh, int flags)
{
	int fallback = -1;
	size_t roots = 0;

	for (size_t i = 0; i < fw->n_fs; i++)
		roots += memcmp(&fw->fs[i].fsid, &fid->fsid, sizeof(fid->fsid)) == 0;
	for (size_t i = 0; i < fw->n_fs; i++) {
		char proc[64], path[PATH_MAX];
		const char *vpath;
		ssize_t n;
		int fd;

		if (memcmp(&fw->fs[i].fsid, &fid->fsid, sizeof(fid->fsid)) != 0)
			continue;
		fd = open_by_handle_at(fw->fs[i].mount_fd, (struct file_handle *)fh, flags);
		if (fd < 0)
			return -1;	/* gone (ESTALE), or not openable: the same through every mount */
		if (roots == 1)
			return fd;	/* the common case: no other mount to choose, no path to check */
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		n = readlink(proc, path, sizeof(path) - 1);
		if (n > 0) {
			path[n] = '\0';
			if (tenants_by_path(&fw->w.vd->tenants, path, &vpath) != NULL) {
				if (fallback >= 0)
					close(fallback);
				return fd;
			}
		}
		if (fallback < 0)
			fallback = fd;
		else
			close(fd);
	}
	return fallback;
}

/*
 * One event: its target (the file, or a directory moved in) opened by its
 * own handle; its parent directory by handle too, which always has a path
 * (a file's own may not: a dentry evicted under memory pressure comes back
 * "disconnected"), so the name is looked up there and must be the target.
 */
static void
handle_event(struct fan_watcher *fw, const struct fanotify_event_info_fid *target,
	     const unsigned char *tend, const struct fanotify_event_info_fid *dir,
	     const unsigned char *dend)
{
	const struct file_handle *tfh = record_handle(target, tend);
	const struct file_handle *dfh = dir ? record_handle(dir, dend) : NULL;
	const char *name = NULL;
	struct stat st;
	int fd, dirfd = -1;

	if (tfh == NULL || !marked(fw, &target->fsid))
		return;
	/* O_NONBLOCK: a FIFO must not block us; a symlink's handle fails with ELOOP. */
	fd = open_handle(fw, target, tfh, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return;		/* gone already (ESTALE), or not openable: nothing to seal */
	if (fstat(fd, &st) == 0) {
		/* The common case first: the broker sealed it before the writer closed. */
		if (S_ISREG(st.st_mode) && iflag_immutable(fd)) {
			fw->w.vd->n.already++;
		} else if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
			if (dfh != NULL) {
				name = (const char *)dfh + sizeof(*dfh) + dfh->handle_bytes;
				if (memchr(name, '\0', (size_t)(dend - (const unsigned char *)name)) == NULL)
					name = NULL;
			}
			if (name != NULL)
				dirfd = open_handle(fw, dir, dfh, O_PATH | O_DIRECTORY | O_CLOEXEC);
			vaultd_found_at(fw->w.vd, fd, dirfd, name, "fanotify");
		}
	}
	if (dirfd >= 0)
		close(dirfd);
	close(fd);
}

static unsigned
fan_process(struct watcher *w, unsigned budget)
{
	struct fan_watcher *fw = (struct fan_watcher *)w;
	unsigned n = 0;

	while (n < budget) {
		ssize_t len = read(w->fd, fw->buf, EVENT_BUF);
		struct fanotify_event_metadata *md = (struct fanotify_event_metadata *)fw->buf;

		if (len <= 0)
			break;	/* EAGAIN: drained */
		for (; FAN_EVENT_OK(md, len); md = FAN_EVENT_NEXT(md, len)) {
			const unsigned char *p = (const unsigned char *)md + md->metadata_len;
			const unsigned char *end = (const unsigned char *)md + md->event_len;
			const struct fanotify_event_info_fid *target = NULL, *dir = NULL;
			const unsigned char *tend = NULL, *dend = NULL;

			n++;
			w->vd->n.events++;
			if (md->vers != FANOTIFY_METADATA_VERSION)
				continue;
			if (md->mask & FAN_Q_OVERFLOW) {
				vaultd_overflow(w->vd, "fanotify");
				continue;
			}
			/* The info records: DFID_NAME (parent + name), then FID (the target). */
			while (p + sizeof(struct fanotify_event_info_header) <= end) {
				const struct fanotify_event_info_header *h = (const void *)p;

				if (h->len < sizeof(*h) || p + h->len > end)
					break;
				if (h->info_type == FAN_EVENT_INFO_TYPE_FID) {
					target = (const struct fanotify_event_info_fid *)p;
					tend = p + h->len;
				} else if (h->info_type == FAN_EVENT_INFO_TYPE_DFID_NAME) {
					dir = (const struct fanotify_event_info_fid *)p;
					dend = p + h->len;
				}
				p += h->len;
			}
			if (target != NULL)
				handle_event(fw, target, tend, dir, dend);
			if (md->fd >= 0)
				close(md->fd);	/* not in FID mode, but never leak one */
		}
	}
	return n;
}

static void
fan_free(struct watcher *w)
{
	struct fan_watcher *fw = (struct fan_watcher *)w;

	free(fw->fs);
	free(fw->buf);
}

static const struct watcher_ops fan_ops = {
	.name = "fanotify",
	.process = fan_process,
	.free = fan_free,
};

int
watcher_open_fanotify(struct vaultd *vd, struct watcher **ret, char *problem)
{
	struct fan_watcher *fw = calloc(1, sizeof(*fw));
	int r = 0;

	if (fw == NULL || (fw->buf = malloc(EVENT_BUF)) == NULL ||
	    (fw->fs = calloc(vd->tenants.n ? vd->tenants.n : 1, sizeof(*fw->fs))) == NULL) {
		snprintf(problem, 256, "out of memory");
		r = -ENOMEM;
		goto fail;
	}
	fw->w.ops = &fan_ops;
	fw->w.vd = vd;
	fw->w.fd = fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_UNLIMITED_QUEUE |
				 FAN_REPORT_DFID_NAME_TARGET, O_RDONLY | O_LARGEFILE | O_CLOEXEC);
	if (fw->w.fd < 0) {
		r = -errno;
		snprintf(problem, 256, "fanotify_init: %s", strerror(errno));
		goto fail;
	}
	for (size_t i = 0; i < vd->tenants.n; i++) {
		struct vault_tenant *t = &vd->tenants.t[i];
		struct statfs sfs;

		if (!t->ok)
			continue;
		if (fstatfs(t->root_fd, &sfs) < 0) {
			r = -errno;
			snprintf(problem, 256, "statfs %s: %s", t->root_path, strerror(errno));
			goto fail;
		}
		/* One mark per filesystem; one entry per root, for open_handle(). */
		if (!marked(fw, (const __kernel_fsid_t *)&sfs.f_fsid) &&
		    fanotify_mark(fw->w.fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, FAN_MASK, t->root_fd, NULL) < 0) {
			r = -errno;
			snprintf(problem, 256, "fanotify_mark %s: %s", t->root_path, strerror(errno));
			goto fail;
		}
		memcpy(&fw->fs[fw->n_fs].fsid, &sfs.f_fsid, sizeof(fw->fs[0].fsid));
		fw->fs[fw->n_fs++].mount_fd = t->root_fd;
	}
	*ret = &fw->w;
	return 0;
fail:
	if (fw != NULL) {
		if (fw->w.fd > 0)
			close(fw->w.fd);
		free(fw->fs);
		free(fw->buf);
		free(fw);
	}
	return r;
}
