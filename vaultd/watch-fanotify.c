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
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "watcher.h"

#define EVENT_BUF	(64 * 1024)
#define FAN_MASK	(FAN_CLOSE_WRITE | FAN_MOVED_TO | FAN_ONDIR)

struct fs_entry {
	__kernel_fsid_t fsid;
	int mount_fd;		/* a tenant root on that filesystem (borrowed) */
};

struct fan_watcher {
	struct watcher w;
	struct fs_entry *fs;
	size_t n_fs;
	unsigned char *buf;
};

static int
mount_fd_for(const struct fan_watcher *fw, const __kernel_fsid_t *fsid)
{
	for (size_t i = 0; i < fw->n_fs; i++)
		if (memcmp(&fw->fs[i].fsid, fsid, sizeof(*fsid)) == 0)
			return fw->fs[i].mount_fd;
	return -1;
}

/* Acts on one event's target handle. */
static void
handle_target(struct fan_watcher *fw, const struct fanotify_event_info_fid *fid)
{
	struct file_handle *fh = (struct file_handle *)fid->handle;
	int mfd = mount_fd_for(fw, &fid->fsid);
	unsigned flags = 0;
	struct stat st;
	int fd;

	if (mfd < 0)
		return;
	/* O_NONBLOCK: a FIFO must not block us; a symlink's handle fails with ELOOP. */
	fd = open_by_handle_at(mfd, fh, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return;		/* gone already (ESTALE), or not openable: nothing to seal */
	if (fstat(fd, &st) == 0) {
		/* The common case first: the broker sealed it before the writer closed. */
		if (S_ISREG(st.st_mode) && ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0 &&
		    (flags & FS_IMMUTABLE_FL))
			fw->w.vd->n.already++;
		else if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))
			vaultd_found_fd(fw->w.vd, fd, "fanotify");
	}
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
			const struct fanotify_event_info_fid *target = NULL;

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
				if (h->info_type == FAN_EVENT_INFO_TYPE_FID)
					target = (const struct fanotify_event_info_fid *)p;
				p += h->len;
			}
			if (target != NULL)
				handle_target(fw, target);
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
		if (mount_fd_for(fw, (const __kernel_fsid_t *)&sfs.f_fsid) >= 0)
			continue;	/* this filesystem is marked already */
		if (fanotify_mark(fw->w.fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, FAN_MASK, t->root_fd, NULL) < 0) {
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
