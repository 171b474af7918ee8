/* SPDX-License-Identifier: MIT */
/*
 * The inotify watcher, for when fanotify is refused: a watch on every
 * directory of every tenant tree. Each watch remembers its directory by
 * file handle, so a renamed directory keeps working: an event's file is
 * opened below the directory reopened from its handle, never through a
 * path string. A new or moved-in directory is watched at once and then
 * scanned for what arrived before its watch; IN_Q_OVERFLOW schedules a
 * full catch-up scan (which adds the watches again).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <syslog.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scan.h"
#include "watcher.h"

#define EVENT_BUF	(64 * 1024)
#define IN_MASK		(IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_EXCL_UNLINK)
#define HANDLE_MAX	128

struct dir_watch {
	int wd;			/* 0: free slot */
	struct vault_tenant *t;
	unsigned handle_bytes;
	int handle_type;
	unsigned char handle[HANDLE_MAX];
};

struct in_watcher {
	struct watcher w;
	struct dir_watch *tab;	/* open addressing by wd */
	size_t cap, used;
	unsigned char *buf;
};

static size_t
slot_of(const struct in_watcher *iw, int wd)
{
	return ((size_t)wd * 2654435761u) & (iw->cap - 1);
}

static struct dir_watch *
find(struct in_watcher *iw, int wd)
{
	for (size_t i = slot_of(iw, wd), k = 0; k < iw->cap; i = (i + 1) & (iw->cap - 1), k++) {
		if (iw->tab[i].wd == wd)
			return &iw->tab[i];
		if (iw->tab[i].wd == 0)
			return NULL;
	}
	return NULL;
}

static int
grow(struct in_watcher *iw)
{
	size_t ncap = iw->cap ? iw->cap * 2 : 1024;
	struct dir_watch *old = iw->tab, *nt = calloc(ncap, sizeof(*nt));
	size_t ocap = iw->cap;

	if (nt == NULL)
		return -ENOMEM;
	iw->tab = nt;
	iw->cap = ncap;
	for (size_t i = 0; i < ocap; i++)
		if (old[i].wd > 0) {
			size_t j = slot_of(iw, old[i].wd);

			while (nt[j].wd != 0)
				j = (j + 1) & (ncap - 1);
			nt[j] = old[i];
		}
	free(old);
	return 0;
}

/* Removes wd, re-inserting the run after it so lookups stay correct. */
static void
forget(struct in_watcher *iw, int wd)
{
	struct dir_watch *d = find(iw, wd);
	size_t i;

	if (d == NULL)
		return;
	i = (size_t)(d - iw->tab);
	iw->tab[i].wd = 0;
	iw->used--;
	for (i = (i + 1) & (iw->cap - 1); iw->tab[i].wd != 0; i = (i + 1) & (iw->cap - 1)) {
		struct dir_watch e = iw->tab[i];
		size_t j;

		iw->tab[i].wd = 0;
		for (j = slot_of(iw, e.wd); iw->tab[j].wd != 0; j = (j + 1) & (iw->cap - 1))
			;
		iw->tab[j] = e;
	}
}

static int
in_add_dir(struct watcher *w, struct vault_tenant *t, int dirfd)
{
	struct in_watcher *iw = (struct in_watcher *)w;
	union {
		struct file_handle fh;
		unsigned char raw[sizeof(struct file_handle) + HANDLE_MAX];
	} h;
	char proc[64];
	struct dir_watch *d;
	int mnt, wd;

	h.fh.handle_bytes = HANDLE_MAX;
	if (name_to_handle_at(dirfd, "", &h.fh, &mnt, AT_EMPTY_PATH) < 0)
		return -errno;
	/* The fd's magic link names this very directory, whatever its path now. */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", dirfd);
	wd = inotify_add_watch(w->fd, proc, IN_MASK | IN_ONLYDIR);
	if (wd < 0) {
		int err = errno;

		/* Unwatched, its files would wait for the next full scan: say so loudly. */
		audit_daemon(w->vd->audit, LOG_ERR,
			     "cannot watch a directory of tenant %s: %s%s", t->conf->name, strerror(err),
			     err == ENOSPC ? " (raise fs.inotify.max_user_watches, or use fanotify)" : "");
		return -err;
	}
	if (find(iw, wd) != NULL)
		return 0;	/* watched already: inotify gave the same wd */
	if ((iw->used + 1) * 2 > iw->cap && grow(iw) < 0)
		return -ENOMEM;
	{
		size_t i = slot_of(iw, wd);

		while (iw->tab[i].wd != 0)
			i = (i + 1) & (iw->cap - 1);
		d = &iw->tab[i];
	}
	d->wd = wd;
	d->t = t;
	d->handle_bytes = h.fh.handle_bytes;
	d->handle_type = h.fh.handle_type;
	memcpy(d->handle, h.fh.f_handle, h.fh.handle_bytes);
	iw->used++;
	return 0;
}

static int
open_watched_dir(const struct dir_watch *d)
{
	union {
		struct file_handle fh;
		unsigned char raw[sizeof(struct file_handle) + HANDLE_MAX];
	} h;

	h.fh.handle_bytes = d->handle_bytes;
	h.fh.handle_type = d->handle_type;
	memcpy(h.fh.f_handle, d->handle, d->handle_bytes);
	return open_by_handle_at(d->t->root_fd, &h.fh, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static void
handle_event(struct in_watcher *iw, const struct inotify_event *ev)
{
	struct dir_watch *d;
	int dirfd, fd;

	if (ev->mask & IN_Q_OVERFLOW) {
		vaultd_overflow(iw->w.vd, "inotify");
		return;
	}
	if (ev->mask & IN_IGNORED) {
		forget(iw, ev->wd);
		return;
	}
	if (ev->len == 0 || (d = find(iw, ev->wd)) == NULL)
		return;
	if ((ev->mask & IN_CREATE) && !(ev->mask & IN_ISDIR))
		return;		/* a file's CLOSE_WRITE or MOVED_TO will come */
	dirfd = open_watched_dir(d);
	if (dirfd < 0)
		return;		/* the directory is gone */
	fd = openat(dirfd, ev->name,
		    ((ev->mask & IN_ISDIR) ? O_DIRECTORY : 0) | O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
		    O_NOCTTY | O_CLOEXEC);
	if (fd >= 0) {
		struct stat st;

		if (fstat(fd, &st) == 0 && (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))) {
			/* A directory: watch it now, then the scan finds what came before. */
			if (S_ISDIR(st.st_mode))
				in_add_dir(&iw->w, d->t, fd);
			vaultd_found_fd(iw->w.vd, fd, "inotify");
		}
		close(fd);
	}
	close(dirfd);
}

static unsigned
in_process(struct watcher *w, unsigned budget)
{
	struct in_watcher *iw = (struct in_watcher *)w;
	unsigned n = 0;

	while (n < budget) {
		ssize_t len = read(w->fd, iw->buf, EVENT_BUF);

		if (len <= 0)
			break;
		for (ssize_t off = 0; off + (ssize_t)sizeof(struct inotify_event) <= len;) {
			const struct inotify_event *ev = (const void *)(iw->buf + off);

			n++;
			w->vd->n.events++;
			handle_event(iw, ev);
			off += (ssize_t)sizeof(*ev) + ev->len;
		}
	}
	return n;
}

static void
in_free(struct watcher *w)
{
	struct in_watcher *iw = (struct in_watcher *)w;

	free(iw->tab);
	free(iw->buf);
}

static const struct watcher_ops in_ops = {
	.name = "inotify",
	.process = in_process,
	.add_dir = in_add_dir,
	.free = in_free,
};

int
watcher_open_inotify(struct vaultd *vd, struct watcher **ret, char *problem)
{
	struct in_watcher *iw = calloc(1, sizeof(*iw));

	if (iw == NULL || (iw->buf = malloc(EVENT_BUF)) == NULL || grow(iw) < 0) {
		if (iw != NULL)
			free(iw->buf);
		free(iw);
		snprintf(problem, 256, "out of memory");
		return -ENOMEM;
	}
	iw->w.ops = &in_ops;
	iw->w.vd = vd;
	iw->w.fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (iw->w.fd < 0) {
		int r = -errno;

		snprintf(problem, 256, "inotify_init1: %s", strerror(errno));
		free(iw->tab);
		free(iw->buf);
		free(iw);
		return r;
	}
	/* The directories are watched by the first walk (scan.h), before READY. */
	*ret = &iw->w;
	return 0;
}
