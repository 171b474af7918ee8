/* SPDX-License-Identifier: MIT */
/*
 * vaultctl verify: re-hashes every file vaultd's ledger (ledger.h) records
 * and compares. Per tenant: files that still match and are sealed; MISMATCH
 * (content changed), MISSING (gone, and not in the attic, where prune,
 * unlock and versioned replaces put files), NOT SEALED (the flag is off),
 * errors (unreadable, a symlink or directory now), and sealed files with no
 * ledger entry (a tree walk with statx: vaultd stopped before it hashed
 * them, its queue was full, or they were sealed by hand). Reads files
 * directly as root, confined to each root (path_open: no symlinks), at
 * most --rate MB/s. Needs no running vaultd.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <sys/xattr.h>

#include "iflags.h"
#include "ledger.h"
#include "log.h"
#include "path.h"
#include "policy.h"
#include "vaultctl.h"

#define LIST_MAX		1000	/* problems listed per kind and tenant; all are counted */
#define UNLEDGERED_LIST_MAX	20
#define DEFAULT_RATE_MB		50.0
#define RECORD_MAX		100000	/* files --record takes in one run */
#define ATTIC_VDIR		"/.sealvault/attic"

/* One path the ledger records: its last line. */
struct entry {
	char sha256[65];
	uint64_t size;
	uint64_t ino;
	char *vpath;
};

/* vpath -> entry, open addressing. */
struct map {
	struct entry **slot;
	size_t cap, n;
};

struct item {
	char *path;		/* vault path */
	char *a, *b;		/* mismatch: expected, actual; attic: the entry; error: the reason */
	uint64_t a_size, b_size;
};

struct list {
	struct item *v;
	size_t n;		/* listed */
	uint64_t count;		/* found */
	size_t max;
};

struct tenant_report {
	const char *name;
	char ledger[PATH_MAX];
	char problem[PATH_MAX + 256];	/* the tenant as a whole could not be checked */
	uint64_t entries, ok, purged, bad_lines, first_bad_line;
	uint64_t recorded;	/* --record: sealed files without an entry, hashed and added now */
	bool no_ledger;
	bool record;
	struct list mismatch, missing, attic, not_sealed, errors, unledgered, rewritten;
};

struct rate {
	double bytes_per_s;	/* 0: no limit */
	struct timespec start;
	uint64_t bytes, files;
};

static double
elapsed_s(const struct timespec *since)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - since->tv_sec) + (double)(now.tv_nsec - since->tv_nsec) / 1e9;
}

/* Sleeps while more than the rate allows has been read since the start. */
static void
rate_account(struct rate *r, size_t n)
{
	double ahead;

	r->bytes += n;
	if (r->bytes_per_s <= 0)
		return;
	ahead = (double)r->bytes / r->bytes_per_s - elapsed_s(&r->start);
	if (ahead > 0) {
		struct timespec ts = { .tv_sec = (time_t)ahead };

		ts.tv_nsec = (long)((ahead - (double)ts.tv_sec) * 1e9);

		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
}

static uint64_t
hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;	/* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static struct entry **
map_find(struct map *m, const char *vpath)
{
	size_t i = hash_str(vpath) & (m->cap - 1);

	while (m->slot[i] != NULL && strcmp(m->slot[i]->vpath, vpath) != 0)
		i = (i + 1) & (m->cap - 1);
	return &m->slot[i];
}

static bool
map_has(struct map *m, const char *vpath)
{
	return m->cap > 0 && *map_find(m, vpath) != NULL;
}

/*
 * The last line of a path wins. Returns 1 if it records another content
 * for the same inode than the line before: the file was changed in place
 * and sealed again (vaultd hashes a file each time it seals it).
 */
static int
map_put(struct map *m, const struct ledger_entry *le, struct entry *ret_prev)
{
	int rewritten = 0;

	struct entry **s, *e;

	if (2 * (m->n + 1) > m->cap) {
		struct map bigger = { .cap = m->cap ? 2 * m->cap : 1024 };

		bigger.slot = calloc(bigger.cap, sizeof(*bigger.slot));
		if (bigger.slot == NULL)
			return -ENOMEM;
		for (size_t i = 0; i < m->cap; i++)
			if (m->slot[i] != NULL)
				*map_find(&bigger, m->slot[i]->vpath) = m->slot[i];
		bigger.n = m->n;
		free(m->slot);
		*m = bigger;
	}
	s = map_find(m, le->vpath);
	if (*s == NULL) {
		e = calloc(1, sizeof(*e));
		if (e == NULL || (e->vpath = strdup(le->vpath)) == NULL) {
			free(e);
			return -ENOMEM;
		}
		*s = e;
		m->n++;
	} else if ((*s)->ino == le->ino && strcmp((*s)->sha256, le->sha256) != 0 &&
		   strcmp(le->sha256, LEDGER_PURGED) != 0) {
		*ret_prev = **s;
		rewritten = 1;
	}
	memcpy((*s)->sha256, le->sha256, sizeof((*s)->sha256));
	(*s)->size = le->size;
	(*s)->ino = le->ino;
	return rewritten;
}

static void
map_free(struct map *m)
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->slot[i] != NULL) {
			free(m->slot[i]->vpath);
			free(m->slot[i]);
		}
	free(m->slot);
	*m = (struct map){ 0 };
}

static int
by_path(const void *x, const void *y)
{
	return strcmp((*(struct entry *const *)x)->vpath, (*(struct entry *const *)y)->vpath);
}

static void
list_add(struct list *l, const char *path, const char *a, const char *b, uint64_t a_size, uint64_t b_size)
{
	struct item *it;

	l->count++;
	if (l->n >= l->max)
		return;
	if (l->v == NULL && (l->v = calloc(l->max, sizeof(*l->v))) == NULL)
		return;
	it = &l->v[l->n];
	it->path = strdup(path);
	it->a = a ? strdup(a) : NULL;
	it->b = b ? strdup(b) : NULL;
	it->a_size = a_size;
	it->b_size = b_size;
	if (it->path != NULL)
		l->n++;
}

static void
list_free(struct list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].path);
		free(l->v[i].a);
		free(l->v[i].b);
	}
	free(l->v);
}

/* Reads the tenant's ledger into m. 0; -errno with r->problem filled. */
static int
read_ledger(const char *state_dir, struct tenant_report *r, struct map *m)
{
	struct ledger_entry *le;
	struct entry prev;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	uint64_t lineno = 0;
	FILE *f;
	int fd, err = 0;

	snprintf(r->ledger, sizeof(r->ledger), "%s/" LEDGER_DIR "/%s" LEDGER_SUFFIX, state_dir, r->name);
	fd = open(r->ledger, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		r->no_ledger = true;
		return 0;
	}
	if (fd < 0 || (f = fdopen(fd, "r")) == NULL) {
		err = -errno;
		snprintf(r->problem, sizeof(r->problem), "cannot read %s: %s", r->ledger, strerror(errno));
		if (fd >= 0)
			close(fd);
		return err;
	}
	le = malloc(sizeof(*le));
	if (le == NULL) {
		fclose(f);
		return -ENOMEM;
	}
	while ((len = getline(&line, &cap, f)) > 0) {
		lineno++;
		if (line[len - 1] == '\n')
			line[--len] = '\0';
		if (ledger_parse(line, le) < 0) {
			if (r->bad_lines++ == 0)
				r->first_bad_line = lineno;
			continue;
		}
		switch (map_put(m, le, &prev)) {
		case 1:
			list_add(&r->rewritten, le->vpath, prev.sha256, le->sha256, prev.size, le->size);
			break;
		case 0:
			break;
		default:
			err = -ENOMEM;
			break;
		}
		if (err < 0)
			break;
	}
	if (err == 0 && ferror(f)) {
		err = -EIO;
		snprintf(r->problem, sizeof(r->problem), "cannot read %s: read error", r->ledger);
	}
	free(le);
	free(line);
	fclose(f);
	r->entries = m->n;
	return err;
}

/* SHA-256 of fd in LEDGER_CHUNK reads, at the rate; 0 or -errno. */
static int
hash_fd(int fd, unsigned char *buf, struct rate *rate, char hex[65], uint64_t *size)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int err = 0;

	*size = 0;
	if (ctx == NULL || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(ctx);
		return -ENOMEM;
	}
	for (;;) {
		ssize_t n = read(fd, buf, LEDGER_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			break;
		}
		if (n == 0)
			break;
		EVP_DigestUpdate(ctx, buf, (size_t)n);
		*size += (uint64_t)n;
		rate_account(rate, (size_t)n);
	}
	if (err == 0 && (!EVP_DigestFinal_ex(ctx, md, &mdlen) || mdlen != 32))
		err = -EIO;
	EVP_MD_CTX_free(ctx);
	for (unsigned i = 0; err == 0 && i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	rate->files++;
	return err;
}

/* The entries of one attic directory, sorted; the last one read is kept (files go in path order). */
struct attic_name {
	char *name;
	ino_t ino;
};

struct attic_cache {
	char *vdir;
	struct attic_name *names;
	size_t n;
};

static int
by_name(const void *x, const void *y)
{
	return strcmp(((const struct attic_name *)x)->name, ((const struct attic_name *)y)->name);
}

static void
attic_cache_clear(struct attic_cache *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->names[i].name);
	free(c->names);
	free(c->vdir);
	*c = (struct attic_cache){ 0 };
}

static void
attic_cache_load(struct attic_cache *c, int root_fd, const char *vdir)
{
	size_t cap = 0;
	struct dirent *d;
	DIR *dir;
	int fd;

	attic_cache_clear(c);
	c->vdir = strdup(vdir);
	fd = path_open(root_fd, vdir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
	if (fd < 0)
		return;
	dir = fdopendir(fd);
	if (dir == NULL) {
		close(fd);
		return;
	}
	while ((d = readdir(dir)) != NULL) {
		if (c->n == cap) {
			struct attic_name *n = realloc(c->names, (cap = cap ? 2 * cap : 64) * sizeof(*n));

			if (n == NULL)
				break;
			c->names = n;
		}
		c->names[c->n].ino = d->d_ino;
		if ((c->names[c->n].name = strdup(d->d_name)) != NULL)
			c->n++;
	}
	closedir(dir);
	qsort(c->names, c->n, sizeof(*c->names), by_name);
}

/*
 * The attic entry that vpath went to (attic-ops.h: <dir>/<name>~<time>-<hex>
 * below <root>/.sealvault/attic), written to out as "dir/name~..."; false
 * if none. A move into the attic is a rename: the entry must be the very
 * inode the ledger recorded, not an older file of the same name.
 */
static bool
attic_lookup(struct attic_cache *c, int root_fd, const char *vpath, uint64_t ino, char *out, size_t size)
{
	const char *slash = strrchr(vpath, '/');
	char vdir[sizeof(ATTIC_VDIR) + VAULT_PATH_MAX], prefix[NAME_MAX + 2];
	const char *rel;
	size_t lo = 0, hi, plen;

	snprintf(vdir, sizeof(vdir), ATTIC_VDIR "%.*s", (int)(slash - vpath), vpath);
	if (snprintf(prefix, sizeof(prefix), "%s~", slash + 1) >= (int)sizeof(prefix))
		return false;
	if (c->vdir == NULL || strcmp(c->vdir, vdir) != 0)
		attic_cache_load(c, root_fd, vdir);
	plen = strlen(prefix);
	hi = c->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(c->names[mid].name, prefix) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < c->n && strncmp(c->names[lo].name, prefix, plen) == 0; lo++) {
		if ((uint64_t)c->names[lo].ino != ino)
			continue;
		rel = vdir + strlen(ATTIC_VDIR);	/* "/sub" or "" */
		snprintf(out, size, "%s%s%s", rel[0] ? rel + 1 : "", rel[0] ? "/" : "", c->names[lo].name);
		return true;
	}
	return false;
}

/* Opens a file read-only inside the root, no symlinks, no atime update where allowed. */
static int
open_in_root(int root_fd, const char *vpath)
{
	int fd = path_open(root_fd, vpath, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOATIME, 0);

	if (fd == -EPERM)
		fd = path_open(root_fd, vpath, O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0);
	return fd;
}

static void
check_entry(struct tenant_report *r, int root_fd, dev_t dev, const struct entry *e, unsigned char *buf,
	    struct rate *rate, struct attic_cache *attic)
{
	char hex[65], where[VAULT_PATH_MAX + 64];
	struct stat st;
	uint64_t size;
	bool sealed;
	int fd, err;

	if (strcmp(e->sha256, LEDGER_PURGED) == 0) {
		r->purged++;	/* deleted on purpose through vaultctl attic purge */
		return;
	}
	fd = open_in_root(root_fd, e->vpath);
	if (fd == -ENOENT || fd == -ENOTDIR) {
		if (attic_lookup(attic, root_fd, e->vpath, e->ino, where, sizeof(where)))
			list_add(&r->attic, e->vpath, where, NULL, 0, 0);
		else
			list_add(&r->missing, e->vpath, NULL, NULL, 0, 0);
		return;
	}
	if (fd < 0) {
		list_add(&r->errors, e->vpath, fd == -ELOOP ? "a symlink now" : strerror(-fd), NULL, 0, 0);
		return;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_dev != dev) {
		list_add(&r->errors, e->vpath, "not a regular file of the tenant's filesystem now", NULL, 0, 0);
		close(fd);
		return;
	}
	sealed = iflag_immutable(fd);
	err = hash_fd(fd, buf, rate, hex, &size);
	close(fd);
	if (err < 0) {
		list_add(&r->errors, e->vpath, strerror(-err), NULL, 0, 0);
		return;
	}
	if (!sealed)
		list_add(&r->not_sealed, e->vpath, NULL, NULL, 0, 0);
	if (strcmp(hex, e->sha256) != 0 || size != e->size)
		list_add(&r->mismatch, e->vpath, e->sha256, hex, e->size, size);
	else if (sealed)
		r->ok++;
}

/*
 * --record: the sealed files the ledger does not know (vaultd stopped
 * before it hashed them) are hashed now, while immutable, and appended as
 * vaultd would have. What could not be recorded stays listed.
 */
static void
record_unledgered(struct tenant_report *r, const char *state_dir, int root_fd, unsigned char *buf,
		  struct rate *rate)
{
	char dir[PATH_MAX], line[LEDGER_LINE_MAX + 2];
	struct ledger_entry *e = calloc(1, sizeof(*e));
	size_t kept = 0;
	int out;

	snprintf(dir, sizeof(dir), "%s/" LEDGER_DIR, state_dir);
	if (e == NULL || (mkdir(state_dir, 0700) < 0 && errno != EEXIST) ||
	    (mkdir(dir, 0700) < 0 && errno != EEXIST) ||
	    (out = open(r->ledger, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0) {
		list_add(&r->errors, "/", "cannot open the ledger to record", NULL, 0, 0);
		free(e);
		return;
	}
	for (size_t i = 0; i < r->unledgered.n; i++) {
		struct item *it = &r->unledgered.v[i];
		char when[32];
		struct stat st;
		ssize_t wl;
		int fd = open_in_root(root_fd, it->path), n = -1;

		if (fd >= 0 && iflag_immutable(fd) && fstat(fd, &st) == 0 &&
		    hash_fd(fd, buf, rate, e->sha256, &e->size) == 0 && iflag_immutable(fd)) {
			wl = fgetxattr(fd, "trusted.sealvault.sealed", when, sizeof(when) - 1);
			when[wl > 0 ? wl : 0] = '\0';
			e->sealed = wl > 0 ? strtoll(when, NULL, 10) : 0;
			e->ino = (uint64_t)st.st_ino;
			snprintf(e->vpath, sizeof(e->vpath), "%s", it->path);
			n = ledger_format(e, line, sizeof(line));
		}
		if (fd >= 0)
			close(fd);
		if (n > 0 && write(out, line, (size_t)n) == n) {
			r->recorded++;
			r->unledgered.count--;
			free(it->path);
			free(it->a);
			free(it->b);
			continue;
		}
		r->unledgered.v[kept++] = *it;	/* not recorded: still reported */
	}
	r->unledgered.n = kept;
	close(out);
	free(e);
}

/* Every sealed regular file below the root that the ledger does not know; .sealvault* skipped. */
static int
walk_unledgered(struct tenant_report *r, int root_fd, dev_t dev, struct map *m)
{
	char **stack = NULL, *vdir;
	size_t n = 0, cap = 0;
	int err = 0;

	if ((vdir = strdup("/")) == NULL)
		return -ENOMEM;
	for (;;) {
		struct dirent *d;
		DIR *dir;
		int fd = path_open(root_fd, vdir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);

		if (fd < 0 || (dir = fdopendir(fd)) == NULL) {
			list_add(&r->errors, vdir, "cannot read the directory", NULL, 0, 0);
			if (fd >= 0)
				close(fd);
			goto next;
		}
		while ((d = readdir(dir)) != NULL) {
			char child[VAULT_PATH_MAX];
			struct statx stx;

			if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0 ||
			    name_is_reserved(d->d_name))
				continue;
			if (snprintf(child, sizeof(child), "%s%s%s", vdir, vdir[1] ? "/" : "", d->d_name) >=
			    (int)sizeof(child))
				continue;
			if (statx(dirfd(dir), d->d_name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_TYPE, &stx) < 0)
				continue;
			if ((dev_t)makedev(stx.stx_dev_major, stx.stx_dev_minor) != dev)
				continue;	/* a mount inside the root is not the tenant's */
			if (S_ISDIR(stx.stx_mode)) {
				if (n == cap) {
					char **s = realloc(stack, (cap = cap ? 2 * cap : 64) * sizeof(*s));

					if (s == NULL) {
						err = -ENOMEM;
						break;
					}
					stack = s;
				}
				if ((stack[n] = strdup(child)) == NULL) {
					err = -ENOMEM;
					break;
				}
				n++;
			} else if (S_ISREG(stx.stx_mode) && (stx.stx_attributes & STATX_ATTR_IMMUTABLE) &&
				   !map_has(m, child)) {
				list_add(&r->unledgered, child, NULL, NULL, 0, 0);
			}
		}
		closedir(dir);
next:
		free(vdir);
		if (err < 0 || n == 0)
			break;
		vdir = stack[--n];
	}
	while (n > 0)
		free(stack[--n]);
	free(stack);
	return err;
}

static void
verify_tenant(const struct policy *p, const struct policy_tenant *pt, struct tenant_report *r,
	      unsigned char *buf, struct rate *rate)
{
	struct attic_cache attic = { 0 };
	struct entry **sorted = NULL;
	struct map m = { 0 };
	struct stat st;
	size_t k = 0;
	int root_fd;

	r->name = pt->name;
	r->mismatch.max = r->missing.max = r->attic.max = r->not_sealed.max = r->errors.max = LIST_MAX;
	r->rewritten.max = LIST_MAX;
	/* --record acts on each one: list them all (up to a bound; a rerun takes the rest). */
	r->unledgered.max = r->record ? RECORD_MAX : UNLEDGERED_LIST_MAX;
	root_fd = open(pt->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0 || fstat(root_fd, &st) < 0) {
		snprintf(r->problem, sizeof(r->problem), "cannot open the root %s: %s", pt->root,
			 strerror(errno));
		if (root_fd >= 0)
			close(root_fd);
		return;
	}
	if (read_ledger(p->state_dir, r, &m) < 0) {
		if (r->problem[0] == '\0')
			snprintf(r->problem, sizeof(r->problem), "out of memory reading %s", r->ledger);
		goto out;
	}
	sorted = malloc((m.n ? m.n : 1) * sizeof(*sorted));
	if (sorted == NULL) {
		snprintf(r->problem, sizeof(r->problem), "out of memory");
		goto out;
	}
	for (size_t i = 0; i < m.cap; i++)
		if (m.slot[i] != NULL)
			sorted[k++] = m.slot[i];
	/* In path order: the attic's directories are then read once each. */
	qsort(sorted, k, sizeof(*sorted), by_path);
	for (size_t i = 0; i < k; i++)
		check_entry(r, root_fd, st.st_dev, sorted[i], buf, rate, &attic);
	if (walk_unledgered(r, root_fd, st.st_dev, &m) < 0)
		snprintf(r->problem, sizeof(r->problem), "out of memory walking the tree");
	else if (r->record)
		record_unledgered(r, p->state_dir, root_fd, buf, rate);
out:
	attic_cache_clear(&attic);
	free(sorted);
	map_free(&m);
	close(root_fd);
}

static bool
tenant_clean(const struct tenant_report *r)
{
	return r->problem[0] == '\0' && r->bad_lines == 0 && r->mismatch.count == 0 &&
	       r->missing.count == 0 && r->not_sealed.count == 0 && r->errors.count == 0 &&
	       r->unledgered.count == 0 && r->rewritten.count == 0;
}

/* ---------------------------------------------------------------- output */

/* then: for lists of two digests, the words before each ("expected", "actual"). */
static void
print_list(const struct list *l, const char *label, const char *what, const char *first, const char *then)
{
	char q[4 * VAULT_PATH_MAX + 3];

	for (size_t i = 0; i < l->n; i++) {
		const struct item *it = &l->v[i];

		printf("  %s %s", label, log_shown(q, sizeof(q), it->path));
		if (it->a != NULL && it->b != NULL)
			printf(": %s %s (%" PRIu64 " bytes), %s %s (%" PRIu64 " bytes)", first, it->a,
			       it->a_size, then, it->b, it->b_size);
		else if (it->a != NULL)
			printf(" (%s)", it->a);
		putchar('\n');
	}
	if (l->count > l->n)
		printf("  ... and %" PRIu64 " more %s\n", l->count - l->n, what);
}

static void
print_text(const struct tenant_report *r)
{
	printf("tenant %s: ", r->name);
	if (r->problem[0]) {
		printf("NOT CHECKED: %s\n", r->problem);
		return;
	}
	printf("%" PRIu64 " in the ledger%s, %" PRIu64 " ok, %" PRIu64 " MISMATCH, %" PRIu64 " MISSING, %" PRIu64
	       " in the attic, %" PRIu64 " purged, %" PRIu64 " NOT SEALED, %" PRIu64 " errors, %" PRIu64
	       " REWRITTEN; %" PRIu64 " sealed without a ledger entry\n",
	       r->entries, r->no_ledger ? " (no ledger file yet)" : "", r->ok, r->mismatch.count,
	       r->missing.count, r->attic.count, r->purged, r->not_sealed.count, r->errors.count,
	       r->rewritten.count, r->unledgered.count);
	if (r->record)
		printf("  recorded now: %" PRIu64 " sealed files the ledger did not know\n", r->recorded);
	if (r->bad_lines)
		printf("  BAD LEDGER LINES: %" PRIu64 " in %s, the first is line %" PRIu64 "\n", r->bad_lines,
		       r->ledger, r->first_bad_line);
	print_list(&r->mismatch, "MISMATCH", "mismatches", "expected", "actual");
	print_list(&r->rewritten, "REWRITTEN", "rewritten", "the ledger first recorded",
		   "then for the same inode");
	print_list(&r->missing, "MISSING", "missing", NULL, NULL);
	print_list(&r->not_sealed, "NOT SEALED", "not sealed", NULL, NULL);
	print_list(&r->errors, "ERROR", "errors", NULL, NULL);
	print_list(&r->unledgered, "NO LEDGER ENTRY", "without a ledger entry", NULL, NULL);
	print_list(&r->attic, "in the attic:", "in the attic", NULL, NULL);
}

/* A JSON string of ASCII (paths are given in the ledger's %XX escaping first). */
static void
json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			printf("\\u%04x", (unsigned char)*s);
		else
			putchar(*s);
	}
	putchar('"');
}

static void
json_path(const char *vpath)
{
	char esc[3 * VAULT_PATH_MAX + 1];

	if (ledger_escape(vpath, esc, sizeof(esc)) < 0)
		snprintf(esc, sizeof(esc), "?");
	json_str(esc);
}

/* a_key: the key of an item's one word (attic entry, error); b_keys: of its two digests. */
static void
json_list(const struct list *l, const char *key, const char *a_key, const char *const b_keys[2])
{
	printf(",\"%s\":[", key);
	for (size_t i = 0; i < l->n; i++) {
		const struct item *it = &l->v[i];

		if (i)
			putchar(',');
		if (it->a == NULL) {
			json_path(it->path);
			continue;
		}
		printf("{\"path\":");
		json_path(it->path);
		if (it->b != NULL) {
			printf(",\"%s\":\"%s\",\"%s\":\"%s\",\"%s_size\":%" PRIu64 ",\"%s_size\":%" PRIu64 "}",
			       b_keys[0], it->a, b_keys[1], it->b, b_keys[0], it->a_size, b_keys[1], it->b_size);
		} else {
			/* Lists without a_key hold no such item; a name anyway, for the optimizer and a reader. */
			printf(",\"%s\":", a_key != NULL ? a_key : "value");
			json_str(it->a);
			putchar('}');
		}
	}
	putchar(']');
}

static void
print_json(const struct tenant_report *r, size_t n, const struct rate *rate, double secs, bool clean)
{
	printf("{\"clean\":%s,\"rate_mb_s\":%g,\"files_hashed\":%" PRIu64 ",\"bytes_hashed\":%" PRIu64
	       ",\"seconds\":%.3f,\"tenants\":[",
	       clean ? "true" : "false", rate->bytes_per_s / 1e6, rate->files, rate->bytes, secs);
	for (size_t i = 0; i < n; i++) {
		const struct tenant_report *t = &r[i];

		printf("%s{\"name\":", i ? "," : "");
		json_str(t->name);
		printf(",\"clean\":%s,\"ledger\":", tenant_clean(t) ? "true" : "false");
		json_str(t->ledger);
		printf(",\"problem\":");
		if (t->problem[0])
			json_str(t->problem);
		else
			printf("null");
		printf(",\"entries\":%" PRIu64 ",\"bad_lines\":%" PRIu64 ",\"counts\":{\"ok\":%" PRIu64
		       ",\"mismatch\":%" PRIu64 ",\"missing\":%" PRIu64 ",\"in_attic\":%" PRIu64
		       ",\"purged\":%" PRIu64 ",\"not_sealed\":%" PRIu64 ",\"errors\":%" PRIu64
		       ",\"rewritten\":%" PRIu64 ",\"unledgered\":%" PRIu64 ",\"recorded\":%" PRIu64 "}",
		       t->entries, t->bad_lines, t->ok, t->mismatch.count, t->missing.count, t->attic.count,
		       t->purged, t->not_sealed.count, t->errors.count, t->rewritten.count, t->unledgered.count,
		       t->recorded);
		json_list(&t->mismatch, "mismatch", NULL, (const char *const[2]){ "expected", "actual" });
		json_list(&t->rewritten, "rewritten", NULL, (const char *const[2]){ "before", "after" });
		json_list(&t->missing, "missing", NULL, NULL);
		json_list(&t->attic, "in_attic", "entry", NULL);
		json_list(&t->not_sealed, "not_sealed", NULL, NULL);
		json_list(&t->errors, "errors", "error", NULL);
		json_list(&t->unledgered, "unledgered", NULL, NULL);
		putchar('}');
	}
	printf("]}\n");
}

/* ---------------------------------------------------------------- main */

static const char usage_text[] =
	"usage: vaultctl verify [TENANT] [--json] [--rate MB/s] [--record] [--config FILE]\n"
	"Re-hashes every sealed file vaultd's ledger records (all tenants, or TENANT)\n"
	"and reports files whose content changed (MISMATCH), that are gone (MISSING;\n"
	"files moved into the attic are named as such), whose immutable flag is off\n"
	"(NOT SEALED), and sealed files that have no ledger entry. Reads at most\n"
	"--rate MB/s (default 50; 0: no limit). Runs as root; needs no running vaultd.\n"
	"--record hashes sealed files the ledger does not know yet (vaultd stopped\n"
	"before it did) and adds them. Exit 0: all clean; 1: something is wrong; 2: usage.\n";

int
verify_main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "rate", required_argument, NULL, 'r' },
		{ "record", no_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *config = VAULTCTL_DEFAULT_CONFIG, *only = NULL;
	struct rate rate = { .bytes_per_s = DEFAULT_RATE_MB * 1e6 };
	struct tenant_report *reports = NULL;
	struct policy_error perr = { 0 };
	struct policy *p = NULL;
	unsigned char *buf = NULL;
	uint64_t counts[7] = { 0 };
	char detail[512];
	bool json = false, clean = true, record = false;
	size_t n = 0;
	int c, rc = 1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'j': json = true; break;
		case 'R': record = true; break;
		case 'r': {
			char *end;
			double mb = strtod(optarg, &end);

			if (end == optarg || *end || !isfinite(mb) || mb < 0) {
				fprintf(stderr, "vaultctl verify: --rate takes MB/s (a number >= 0), not '%s'\n",
					optarg);
				return 2;
			}
			rate.bytes_per_s = mb * 1e6;
			break;
		}
		case 'h': fputs(usage_text, stdout); return 0;
		default: fputs(usage_text, stderr); return 2;
		}
	}
	if (argc - optind > 1) {
		fputs(usage_text, stderr);
		return 2;
	}
	if (optind < argc)
		only = argv[optind];
	if (geteuid() != 0) {
		fprintf(stderr, "vaultctl verify: must run as root (it reads every tenant's files)\n");
		return 1;
	}
	if (policy_load(config, &p, &perr) < 0) {
		fprintf(stderr, "vaultctl: %s:%u: %s\n", perr.file[0] ? perr.file : config, perr.line,
			perr.message);
		vaultctl_audit("verify", only, false, "the configuration could not be read");
		return 1;
	}
	if (only != NULL && policy_tenant(p, only) == NULL) {
		fprintf(stderr, "vaultctl: no tenant '%s' in %s\n", only, config);
		vaultctl_audit("verify", only, false, "no such tenant");
		goto out;
	}
	reports = calloc(p->n_tenants ? p->n_tenants : 1, sizeof(*reports));
	buf = malloc(LEDGER_CHUNK);
	if (reports == NULL || buf == NULL) {
		fprintf(stderr, "vaultctl verify: out of memory\n");
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &rate.start);
	for (size_t i = 0; i < p->n_tenants; i++) {
		const struct policy_tenant *pt = &p->tenants[i];
		struct tenant_report *r;

		if (only != NULL && strcmp(pt->name, only) != 0)
			continue;
		r = &reports[n++];
		r->record = record;
		verify_tenant(p, pt, r, buf, &rate);
		clean = clean && tenant_clean(r);
		counts[0] += r->ok;
		counts[1] += r->mismatch.count;
		counts[2] += r->missing.count;
		counts[3] += r->not_sealed.count;
		counts[4] += r->errors.count + r->bad_lines + (r->problem[0] != '\0');
		counts[5] += r->unledgered.count;
		counts[6] += r->rewritten.count;
		if (!json) {
			print_text(r);
			fflush(stdout);
		}
	}
	if (json)
		print_json(reports, n, &rate, elapsed_s(&rate.start), clean);
	else
		printf("verify: %zu tenant%s, %" PRIu64 " files (%.1f MB) hashed in %.1f s: %s\n", n,
		       n == 1 ? "" : "s", rate.files, (double)rate.bytes / 1e6, elapsed_s(&rate.start),
		       clean ? "clean" : "PROBLEMS FOUND");
	snprintf(detail, sizeof(detail),
		 "%" PRIu64 " ok, %" PRIu64 " mismatch, %" PRIu64 " missing, %" PRIu64 " not sealed, %" PRIu64
		 " errors, %" PRIu64 " without a ledger entry, %" PRIu64 " rewritten",
		 counts[0], counts[1], counts[2], counts[3], counts[4], counts[5], counts[6]);
	vaultctl_audit("verify", only != NULL ? only : "all tenants", clean, detail);
	rc = clean ? 0 : 1;
out:
	for (size_t i = 0; i < n; i++) {
		list_free(&reports[i].mismatch);
		list_free(&reports[i].missing);
		list_free(&reports[i].attic);
		list_free(&reports[i].not_sealed);
		list_free(&reports[i].errors);
		list_free(&reports[i].unledgered);
		list_free(&reports[i].rewritten);
	}
	free(reports);
	free(buf);
	policy_free(p);
	return rc;
}
