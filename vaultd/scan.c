/* SPDX-License-Identifier: MIT */
/* The catch-up scan: see scan.h. */
#include "scan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "path.h"
#include "protect.h"
#include "watcher.h"

#define DIRENT_BUF	(16 * 1024)
#define DEPTH_MAX	VAULT_MAX_DEPTH
#define JOBS_MAX	256
#define DEFERRED_MAX	65536

struct linux_dirent64 {
	ino64_t d_ino;
	off64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

struct frame {
	int fd;
	size_t vlen;		/* vpath length of this directory */
	int pos, len;
	bool protect_checked;	/* its protection was looked at once */
	/* struct linux_dirent64 holds 64-bit fields: the buffer is read through it. */
	unsigned char buf[DIRENT_BUF] __attribute__((aligned(8)));
};

struct job {
	struct vault_tenant *t;
	char *vpath;
	unsigned flags;
};

struct deferred {
	struct vault_tenant *t;
	char *vpath;
	time_t due;
	unsigned times;		/* deferred this often already */
};

/*
 * A file kept "fresh" (its ctime touched every second) is deferred at most
 * this often, then sealed anyway: a tenant cannot keep a file unsealed by
 * scans forever, and a real writer that slow is not a writer vaultd waits for.
 */
#define DEFER_TIMES_MAX	12

struct scanner {
	struct vaultd *vd;
	struct job jobs[JOBS_MAX];
	size_t n_jobs;
	/*
	 * The tenants whose jobs or deferred files overflowed the bounded lists:
	 * a full scan of each follows, of those tenants only, so one tenant's
	 * flood of moved-in directories costs the others nothing.
	 */
	bool *rescan;
	size_t n_rescan;
	bool full_pending;	/* any rescan[] set */
	/* the walk in progress */
	struct job cur;
	bool walking;
	bool full_walk;		/* cur is a whole tenant tree with SCAN_SEAL: it counts the tree */
	struct frame *frames[DEPTH_MAX + 1];
	unsigned depth;		/* frames in use */
	char vpath[VAULT_PATH_MAX];
	/* files to look at again */
	struct deferred *def;
	size_t n_def, cap_def;
	/* the round */
	bool in_round;
	struct timespec round_start_mono;
	struct scan_stats round, last;
};

int
scanner_new(struct vaultd *vd, struct scanner **ret)
{
	struct scanner *s = calloc(1, sizeof(*s));

	if (s == NULL || (s->rescan = calloc(vd->tenants.n ? vd->tenants.n : 1, sizeof(bool))) == NULL) {
		free(s);
		return -ENOMEM;
	}
	s->n_rescan = vd->tenants.n;
	s->vd = vd;
	*ret = s;
	return 0;
}

static void
pop_frame(struct scanner *s)
{
	close(s->frames[--s->depth]->fd);
	if (s->depth > 0)
		s->vpath[s->frames[s->depth - 1]->vlen] = '\0';
}

static void
end_walk(struct scanner *s)
{
	while (s->depth > 0)
		pop_frame(s);
	free(s->cur.vpath);
	s->cur.vpath = NULL;
	s->walking = false;
}

struct scanner *
scanner_free(struct scanner *s)
{
	if (s == NULL)
		return NULL;
	end_walk(s);
	for (unsigned i = 0; i <= DEPTH_MAX; i++)
		free(s->frames[i]);
	for (size_t i = 0; i < s->n_jobs; i++)
		free(s->jobs[i].vpath);
	for (size_t i = 0; i < s->n_def; i++)
		free(s->def[i].vpath);
	free(s->def);
	free(s->rescan);
	free(s);
	return NULL;
}

/* t's lists overflowed: a full scan of t follows (of t only). */
static void
rescan_later(struct scanner *s, const struct vault_tenant *t)
{
	size_t i = (size_t)(t - s->vd->tenants.t);

	if (i < s->n_rescan)
		s->rescan[i] = true;
	s->full_pending = true;
}

static void
start_round(struct scanner *s)
{
	if (s->in_round)
		return;
	s->in_round = true;
	memset(&s->round, 0, sizeof(s->round));
	clock_gettime(CLOCK_REALTIME, &s->round.started);
	clock_gettime(CLOCK_MONOTONIC, &s->round_start_mono);
}

static bool
queued(const struct scanner *s, const struct vault_tenant *t, const char *vpath, unsigned flags)
{
	for (size_t i = 0; i < s->n_jobs; i++)
		if (s->jobs[i].t == t && (s->jobs[i].flags & flags) == flags &&
		    (strcmp(s->jobs[i].vpath, "/") == 0 || strcmp(s->jobs[i].vpath, vpath) == 0))
			return true;
	return false;
}

static void
enqueue_one(struct scanner *s, struct vault_tenant *t, const char *vpath, unsigned flags)
{
	char *copy;

	if (!t->ok || queued(s, t, vpath, flags))
		return;
	start_round(s);
	if (strcmp(vpath, "/") == 0 && (flags & SCAN_SEAL))
		s->round.full = true;
	if (s->n_jobs == JOBS_MAX || (copy = strdup(vpath)) == NULL) {
		rescan_later(s, t);
		return;
	}
	s->jobs[s->n_jobs++] = (struct job){ .t = t, .vpath = copy, .flags = flags };
}

void
scanner_enqueue(struct scanner *s, struct vault_tenant *t, const char *vpath_dir, unsigned flags)
{
	if (t != NULL) {
		enqueue_one(s, t, vpath_dir, flags);
		return;
	}
	for (size_t i = 0; i < s->vd->tenants.n; i++)
		enqueue_one(s, &s->vd->tenants.t[i], "/", flags);
}

bool
scanner_busy(const struct scanner *s)
{
	return s->walking || s->n_jobs > 0 || s->full_pending;
}

static int
push_frame(struct scanner *s, int fd, size_t vlen)
{
	struct frame *f;

	if (s->depth > DEPTH_MAX) {
		close(fd);
		s->round.skipped++;
		return -ELOOP;
	}
	if (s->frames[s->depth] == NULL && (s->frames[s->depth] = malloc(sizeof(struct frame))) == NULL) {
		close(fd);
		return -ENOMEM;
	}
	f = s->frames[s->depth++];
	f->fd = fd;
	f->vlen = vlen;
	f->pos = f->len = 0;
	f->protect_checked = false;
	if ((s->cur.flags & SCAN_WATCH) && s->vd->watcher && s->vd->watcher->ops->add_dir)
		s->vd->watcher->ops->add_dir(s->vd->watcher, s->cur.t, fd);
	return 0;
}

/* Takes the next job, if any; false when there is none. */
static bool
start_walk(struct scanner *s)
{
	int fd;

	if (s->n_jobs == 0 && s->full_pending) {
		s->full_pending = false;
		for (size_t i = 0; i < s->n_rescan && i < s->vd->tenants.n; i++)
			if (s->rescan[i]) {
				s->rescan[i] = false;
				enqueue_one(s, &s->vd->tenants.t[i], "/", SCAN_SEAL | SCAN_WATCH);
			}
	}
	while (s->n_jobs > 0) {
		s->cur = s->jobs[0];
		memmove(&s->jobs[0], &s->jobs[1], (--s->n_jobs) * sizeof(s->jobs[0]));
		if (s->vd->watcher == NULL || s->vd->watcher->ops->add_dir == NULL)
			s->cur.flags &= ~SCAN_WATCH;
		fd = path_open(s->cur.t->root_fd, s->cur.vpath, O_RDONLY | O_DIRECTORY, 0);
		if (fd < 0 || strlen(s->cur.vpath) >= sizeof(s->vpath)) {
			if (fd >= 0)
				close(fd);
			free(s->cur.vpath);
			continue;	/* gone since it was queued */
		}
		strcpy(s->vpath, strcmp(s->cur.vpath, "/") == 0 ? "" : s->cur.vpath);
		s->depth = 0;
		s->walking = true;
		s->full_walk = strcmp(s->cur.vpath, "/") == 0 && (s->cur.flags & SCAN_SEAL);
		if (s->full_walk)
			memset(&s->cur.t->tree_acc, 0, sizeof(s->cur.t->tree_acc));
		if (push_frame(s, fd, strlen(s->vpath)) < 0) {
			end_walk(s);
			continue;
		}
		return true;
	}
	return false;
}

static bool
recently_changed(const struct scanner *s, const struct statx_timestamp *ctime)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	return ctime->tv_sec + (long long)s->vd->settle_s >= (long long)now.tv_sec;
}

static void
defer(struct scanner *s, struct vault_tenant *t, const char *vpath, unsigned times)
{
	char *copy;

	s->round.deferred++;
	if (s->n_def == DEFERRED_MAX) {
		rescan_later(s, t);	/* too many to track one by one */
		return;
	}
	if (s->n_def == s->cap_def) {
		size_t ncap = s->cap_def ? s->cap_def * 2 : 64;
		struct deferred *nd = realloc(s->def, ncap * sizeof(*nd));

		if (nd == NULL) {
			rescan_later(s, t);
			return;
		}
		s->def = nd;
		s->cap_def = ncap;
	}
	if ((copy = strdup(vpath)) == NULL) {
		rescan_later(s, t);
		return;
	}
	s->def[s->n_def++] = (struct deferred){ .t = t, .vpath = copy, .times = times,
						.due = time(NULL) + (time_t)s->vd->settle_s + 1 };
}

static void
seal_opened(struct scanner *s, struct vault_tenant *t, int fd, const char *vpath)
{
	struct stat st;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return;
	switch (vaultd_found_file(s->vd, t, fd, &st, vpath, "scan")) {
	case SEAL_DONE:
		s->round.sealed++;
		if (s->full_walk && s->walking && s->cur.t == t)
			t->tree_acc.sealed++;
		break;
	case SEAL_ALREADY: s->round.already++; break;
	case SEAL_FAILED: s->round.failed++; break;
	default: break;
	}
}

/* One directory entry of the walk. */
static void
visit(struct scanner *s, struct frame *f, const struct linux_dirent64 *d)
{
	struct vault_tenant *t = s->cur.t;
	size_t nlen = strlen(d->d_name);
	unsigned char type = d->d_type;
	struct statx stx;
	int fd;

	if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
		return;
	if (f->vlen + 1 + nlen >= sizeof(s->vpath)) {
		s->round.skipped++;	/* longer than any vault path: reported, never sealed */
		return;
	}
	s->vpath[f->vlen] = '/';
	memcpy(s->vpath + f->vlen + 1, d->d_name, nlen + 1);
	if (name_is_reserved(d->d_name))
		goto out;
	if (type == DT_UNKNOWN) {
		if (statx(f->fd, d->d_name, AT_SYMLINK_NOFOLLOW | AT_STATX_DONT_SYNC, STATX_TYPE, &stx) < 0)
			goto out;
		type = S_ISDIR(stx.stx_mode) ? DT_DIR : S_ISREG(stx.stx_mode) ? DT_REG : DT_UNKNOWN;
	}
	if (type == DT_DIR) {
		fd = openat(f->fd, d->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		s->round.dirs++;
		if (fd >= 0 && push_frame(s, fd, f->vlen + 1 + nlen) == 0)
			return;	/* the new frame keeps its name in vpath */
		goto out;
	}
	if (type != DT_REG || !(s->cur.flags & SCAN_SEAL))
		goto out;
	if (statx(f->fd, d->d_name, AT_SYMLINK_NOFOLLOW | AT_STATX_DONT_SYNC,
		  STATX_TYPE | STATX_NLINK | STATX_CTIME | STATX_SIZE, &stx) < 0 || !S_ISREG(stx.stx_mode))
		goto out;
	s->round.files++;
	if (s->full_walk) {
		t->tree_acc.files++;
		t->tree_acc.bytes += stx.stx_size;
	}
	if ((stx.stx_attributes_mask & STATX_ATTR_IMMUTABLE) &&
	    (stx.stx_attributes & STATX_ATTR_IMMUTABLE)) {
		s->round.already++;
		if (s->full_walk)
			t->tree_acc.sealed++;
		/* Its directories may predate protection: look once per directory. */
		if (!f->protect_checked) {
			struct stat dst;

			f->protect_checked = true;
			if (t->uid != 0 && fstat(f->fd, &dst) == 0 && !protect_dir_is_done(&dst)) {
				unsigned n = 0;

				protect_parents(t->root_fd, s->vpath, t->uid, t->maint_uid, &n);
				s->vd->n.dirs_protected += n;
			}
		}
		goto out;
	}
	if (!seal_path_wanted(t, s->vpath))
		goto out;
	if (recently_changed(s, &stx.stx_ctime)) {
		defer(s, t, s->vpath, 1);
		goto out;
	}
	fd = openat(f->fd, d->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd >= 0) {
		seal_opened(s, t, fd, s->vpath);
		close(fd);
	}
out:
	s->vpath[f->vlen] = '\0';
}

/* Deferred files that are due: sealed now unless they changed again. */
static unsigned
recheck_deferred(struct scanner *s, unsigned budget)
{
	time_t now = time(NULL);
	unsigned done = 0;

	for (size_t i = 0; i < s->n_def && done < budget;) {
		struct deferred d = s->def[i];
		struct statx stx;
		int fd;

		if (d.due > now) {
			i++;
			continue;
		}
		s->def[i] = s->def[--s->n_def];
		done++;
		fd = path_open(d.t->root_fd, d.vpath, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0);
		if (fd >= 0) {
			if (d.times < DEFER_TIMES_MAX &&
			    statx(fd, "", AT_EMPTY_PATH, STATX_CTIME, &stx) == 0 &&
			    recently_changed(s, &stx.stx_ctime))
				defer(s, d.t, d.vpath, d.times + 1);
			else
				seal_opened(s, d.t, fd, d.vpath);
			close(fd);
		}
		free(d.vpath);
	}
	return done;
}

bool
scanner_step(struct scanner *s, unsigned budget, struct scan_stats *last)
{
	budget -= recheck_deferred(s, budget);
	while (budget > 0) {
		struct frame *f;
		const struct linux_dirent64 *d;

		if (!s->walking && !start_walk(s))
			break;
		f = s->frames[s->depth - 1];
		if (f->pos >= f->len) {
			long n = syscall(SYS_getdents64, f->fd, f->buf, sizeof(f->buf));

			if (n <= 0) {
				pop_frame(s);
				if (s->depth == 0) {
					if (s->full_walk) {	/* a whole tree walked: its counts are true */
						s->cur.t->tree = s->cur.t->tree_acc;
						s->cur.t->tree.at = time(NULL);
					}
					end_walk(s);
				}
				continue;
			}
			f->len = (int)n;
			f->pos = 0;
		}
		d = (const struct linux_dirent64 *)(f->buf + f->pos);
		f->pos += d->d_reclen;
		visit(s, f, d);
		budget--;
	}
	if (s->in_round && !scanner_busy(s)) {
		struct timespec now;

		clock_gettime(CLOCK_MONOTONIC, &now);
		s->round.duration_ms = (uint64_t)(now.tv_sec - s->round_start_mono.tv_sec) * 1000 +
				       (uint64_t)((now.tv_nsec - s->round_start_mono.tv_nsec) / 1000000);
		s->in_round = false;
		s->last = s->round;
		*last = s->round;
		return true;
	}
	return false;
}

int
scanner_next_due_ms(const struct scanner *s)
{
	time_t now = time(NULL), next = 0;

	for (size_t i = 0; i < s->n_def; i++)
		if (next == 0 || s->def[i].due < next)
			next = s->def[i].due;
	if (next == 0)
		return -1;
	return next <= now ? 0 : (int)((next - now) * 1000);
}

const struct scan_stats *
scanner_last(const struct scanner *s)
{
	return &s->last;
}
