/* SPDX-License-Identifier: MIT */
/* The ledger's queue, its hashing in slices and its files: see ledger.h. */
#include "ledger.h"
#include "iflags.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/xattr.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "broker-proto.h"
#include "log.h"

#define REPORT_INTERVAL_S	60	/* overflows and failures: one audit record a minute */
#define QUEUE_MIN		64
/* Reads in a row that would wait (about a millisecond apart); then one read waits for the disk. */
#define STALLS_MAX		200

struct ledger_job {
	uint32_t tenant;	/* index into ledger.names */
	time_t queued;
	char vpath[];
};

/* Counted since the last audit record of its kind, reported at most once per interval. */
struct report {
	uint64_t n;
	time_t next;		/* CLOCK_MONOTONIC seconds */
	char last[1024];	/* the last one's tenant, path and reason */
};

struct ledger {
	char *state_dir;
	struct audit *audit;
	char **names;		/* tenant names ever queued; jobs point here by index */
	size_t n_names, cap_names;
	uint32_t last_name;	/* ledger_add's guess: seals come in bursts per tenant */
	size_t last_tenant;	/* ledger_step's guess, an index into the current table */

	struct ledger_job **q;	/* ring: q[(head + i) % cap] */
	size_t cap, head, len;

	/* the file being hashed, between slices */
	struct ledger_job *cur;
	int fd;
	struct stat st;
	EVP_MD_CTX *md;
	uint64_t done;
	uint64_t ahead;		/* readahead asked for up to here */
	unsigned char *buf;
	bool nowait;		/* RWF_NOWAIT works: reads never wait for the disk */
	bool waiting;		/* the last read would have waited: readahead is under way */
	unsigned stalls;	/* reads in a row that would have waited */

	/* the ledger file written last */
	int out_fd;
	uint32_t out_tenant;

	struct ledger_stats n;
	struct report dropped, failed;
};

static time_t
mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

int
ledger_new(const char *state_dir, struct audit *audit, struct ledger **ret)
{
	struct ledger *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return -ENOMEM;
	l->fd = -1;
	l->out_fd = -1;
	l->nowait = true;
	l->audit = audit;
	l->state_dir = strdup(state_dir);
	l->buf = malloc(LEDGER_CHUNK);
	l->md = EVP_MD_CTX_new();
	if (l->state_dir == NULL || l->buf == NULL || l->md == NULL) {
		ledger_free(l);
		return -ENOMEM;
	}
	*ret = l;
	return 0;
}

static void
close_out(struct ledger *l)
{
	if (l->out_fd >= 0)
		close(l->out_fd);
	l->out_fd = -1;
}

static void
drop_cur(struct ledger *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	free(l->cur);
	l->cur = NULL;
}

static void report(struct ledger *l, struct report *r, const char *what, time_t now);

struct ledger *
ledger_free(struct ledger *l)
{
	if (l == NULL)
		return NULL;
	/* Said once more on the way out: nothing is lost silently. */
	report(l, &l->dropped, "not queued for hashing (queue full)", INT64_MAX);
	report(l, &l->failed, "not recorded", INT64_MAX);
	if (ledger_busy(l) && l->audit != NULL)
		audit_daemon(l->audit, LOG_WARNING,
			     "ledger: %zu sealed files still queued are not hashed (vaultctl verify reports "
			     "them as without a ledger entry)",
			     l->len + (l->cur != NULL));
	drop_cur(l);
	close_out(l);
	for (size_t i = 0; i < l->len; i++)
		free(l->q[(l->head + i) % l->cap]);
	free(l->q);
	for (size_t i = 0; i < l->n_names; i++)
		free(l->names[i]);
	free(l->names);
	EVP_MD_CTX_free(l->md);
	free(l->buf);
	free(l->state_dir);
	free(l);
	return NULL;
}

int
ledger_set_dir(struct ledger *l, const char *state_dir)
{
	char *d = strdup(state_dir);

	if (d == NULL)
		return -ENOMEM;
	free(l->state_dir);
	l->state_dir = d;
	close_out(l);
	return 0;
}

/* The index of name in l->names, added if new; -ENOMEM. */
static int64_t
intern(struct ledger *l, const char *name)
{
	if (l->last_name < l->n_names && strcmp(l->names[l->last_name], name) == 0)
		return l->last_name;
	for (size_t i = 0; i < l->n_names; i++)
		if (strcmp(l->names[i], name) == 0)
			return l->last_name = (uint32_t)i;
	if (l->n_names == l->cap_names) {
		size_t cap = l->cap_names ? 2 * l->cap_names : 8;
		char **n = realloc(l->names, cap * sizeof(*n));

		if (n == NULL)
			return -ENOMEM;
		l->names = n;
		l->cap_names = cap;
	}
	l->names[l->n_names] = strdup(name);
	if (l->names[l->n_names] == NULL)
		return -ENOMEM;
	return l->last_name = (uint32_t)l->n_names++;
}

/* Room for one more job: the ring doubles up to LEDGER_QUEUE_MAX. */
static int
grow(struct ledger *l)
{
	struct ledger_job **q;
	size_t cap;

	if (l->len < l->cap)
		return 0;
	cap = l->cap ? 2 * l->cap : QUEUE_MIN;
	if (cap > LEDGER_QUEUE_MAX)
		cap = LEDGER_QUEUE_MAX;
	q = malloc(cap * sizeof(*q));
	if (q == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < l->len; i++)
		q[i] = l->q[(l->head + i) % l->cap];
	free(l->q);
	l->q = q;
	l->cap = cap;
	l->head = 0;
	return 0;
}

static void
note(struct report *r, const char *tenant, const char *vpath, const char *reason)
{
	char qpath[300];

	log_quote(qpath, sizeof(qpath), vpath);
	r->n++;
	snprintf(r->last, sizeof(r->last), "tenant %s, %s: %s", tenant, qpath, reason);
}

static int open_out(struct ledger *l, uint32_t tenant, char *reason, size_t rsize);

int
ledger_record_purged(struct ledger *l, const char *tenant, const char *vpath, uint64_t ino)
{
	struct ledger_entry *e;
	char reason[256], line[LEDGER_LINE_MAX + 2];
	int64_t id;
	int fd, n;

	if (l == NULL || strlen(vpath) >= VAULT_PATH_MAX || (id = intern(l, tenant)) < 0)
		return -EINVAL;
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return -ENOMEM;
	memcpy(e->sha256, LEDGER_PURGED, sizeof(LEDGER_PURGED));
	e->sealed = (int64_t)time(NULL);
	e->ino = ino;
	memcpy(e->vpath, vpath, strlen(vpath) + 1);
	n = ledger_format(e, line, sizeof(line));
	free(e);
	if (n < 0)
		return n;
	fd = open_out(l, (uint32_t)id, reason, sizeof(reason));
	if (fd < 0)
		return fd;
	/* O_APPEND, one write: whole lines even beside vaultd's own appends. */
	return write(fd, line, (size_t)n) == n ? 0 : -EIO;
}

int
ledger_add(struct ledger *l, const struct vault_tenant *t, const char *vpath)
{
	struct ledger_job *j;
	size_t len = strlen(vpath);
	int64_t id;

	if (l == NULL)
		return -EINVAL;
	if (l->len >= LEDGER_QUEUE_MAX) {
		l->n.dropped++;
		note(&l->dropped, t->conf->name, vpath, "the ledger queue is full");
		return -ENOBUFS;
	}
	if (len >= VAULT_PATH_MAX || vpath[0] != '/') {
		l->n.dropped++;
		note(&l->dropped, t->conf->name, vpath, "not a vault path");
		return -ENAMETOOLONG;
	}
	id = intern(l, t->conf->name);
	j = id < 0 || grow(l) < 0 ? NULL : malloc(sizeof(*j) + len + 1);
	if (j == NULL) {
		l->n.dropped++;
		note(&l->dropped, t->conf->name, vpath, "out of memory");
		return -ENOMEM;
	}
	j->tenant = (uint32_t)id;
	j->queued = time(NULL);
	memcpy(j->vpath, vpath, len + 1);
	l->q[(l->head + l->len++) % l->cap] = j;
	return 0;
}

static struct ledger_job *
pop(struct ledger *l)
{
	struct ledger_job *j = l->q[l->head];

	l->head = (l->head + 1) % l->cap;
	if (--l->len == 0 && l->cap > 1024) {
		/* Drained after a burst: give the ring back, memory stays flat. */
		free(l->q);
		l->q = NULL;
		l->cap = 0;
		l->head = 0;
	}
	return j;
}

/* The tenant named name in tab, served; NULL if none. */
static const struct vault_tenant *
find_tenant(struct ledger *l, const struct tenant_table *tab, const char *name)
{
	if (l->last_tenant < tab->n && strcmp(tab->t[l->last_tenant].conf->name, name) == 0)
		return tab->t[l->last_tenant].ok ? &tab->t[l->last_tenant] : NULL;
	for (size_t i = 0; i < tab->n; i++)
		if (strcmp(tab->t[i].conf->name, name) == 0) {
			l->last_tenant = i;
			return tab->t[i].ok ? &tab->t[i] : NULL;
		}
	return NULL;
}

static void
fail_cur(struct ledger *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
fail_cur(struct ledger *l, const char *fmt, ...)
{
	char reason[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	l->n.failed++;
	note(&l->failed, l->names[l->cur->tenant], l->cur->vpath, reason);
	drop_cur(l);
}

/* Opens the next queued file into l->cur / l->fd; false when it cannot be hashed (counted). */
static bool
start(struct ledger *l, const struct tenant_table *tab)
{
	const struct vault_tenant *t;
	int fd;

	l->cur = pop(l);
	l->done = 0;
	l->ahead = 0;
	l->stalls = 0;
	t = find_tenant(l, tab, l->names[l->cur->tenant]);
	if (t == NULL) {
		fail_cur(l, "the tenant is not served any more");
		return false;
	}
	/* O_NOATIME: hashing is not an access anyone asked for (needs CAP_FOWNER). */
	fd = path_open(t->root_fd, l->cur->vpath, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOATIME, 0);
	if (fd == -EPERM)
		fd = path_open(t->root_fd, l->cur->vpath, O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0);
	if (fd < 0) {
		fail_cur(l, "cannot open it: %s", strerror(-fd));
		return false;
	}
	l->fd = fd;
	if (fstat(fd, &l->st) < 0 || !S_ISREG(l->st.st_mode) || l->st.st_dev != t->dev) {
		fail_cur(l, "not a regular file of the tenant's filesystem");
		return false;
	}
	if (!iflag_immutable(fd)) {
		fail_cur(l, "not immutable: its content could change under the hash");
		return false;
	}
	if (!EVP_DigestInit_ex(l->md, EVP_sha256(), NULL)) {
		fail_cur(l, "cannot start a SHA-256");
		return false;
	}
	return true;
}

/*
 * The ledger file of tenant name, opened for appending (directories made
 * on first use). The directory must be ours and writable by nobody else:
 * a ledger someone else can replace records nothing.
 */
static int
open_out(struct ledger *l, uint32_t tenant, char *reason, size_t rsize)
{
	char file[128];
	struct stat st;
	int dfd, ldfd, fd, err;

	if (l->out_fd >= 0 && l->out_tenant == tenant)
		return l->out_fd;
	close_out(l);
	if (mkdir(l->state_dir, 0700) < 0 && errno != EEXIST)
		goto err_state;
	dfd = open(l->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		goto err_state;
	if (mkdirat(dfd, LEDGER_DIR, 0700) < 0 && errno != EEXIST) {
		err = errno;
		snprintf(reason, rsize, "cannot create %s/" LEDGER_DIR ": %s", l->state_dir, strerror(err));
		close(dfd);
		return -err;
	}
	ldfd = openat(dfd, LEDGER_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	close(dfd);
	if (ldfd < 0 || fstat(ldfd, &st) < 0) {
		snprintf(reason, rsize, "cannot open %s/" LEDGER_DIR ": %s", l->state_dir, strerror(errno));
		if (ldfd >= 0)
			close(ldfd);
		return -EACCES;
	}
	if (st.st_uid != geteuid() || (st.st_mode & 022)) {
		snprintf(reason, rsize, "%s/" LEDGER_DIR " is not vaultd's alone (uid %u, mode %o)",
			 l->state_dir, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
		close(ldfd);
		return -EPERM;
	}
	snprintf(file, sizeof(file), "%s" LEDGER_SUFFIX, l->names[tenant]);
	fd = openat(ldfd, file, O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	close(ldfd);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
		snprintf(reason, rsize, "cannot open %s/" LEDGER_DIR "/%s: %s", l->state_dir, file,
			 fd < 0 ? strerror(errno) : "not vaultd's regular file");
		if (fd >= 0)
			close(fd);
		return -EACCES;
	}
	/* A line cut short (a full disk, a crash) must not swallow the next one. */
	if (st.st_size > 0) {
		char last = '\n';

		if (pread(fd, &last, 1, st.st_size - 1) < 0)
			last = '\n';
		if (last != '\n' && write(fd, "\n", 1) != 1) {
			snprintf(reason, rsize, "cannot write %s: %s", file, strerror(errno));
			close(fd);
			return -EIO;
		}
	}
	l->out_fd = fd;
	l->out_tenant = tenant;
	return fd;
err_state:
	err = errno;
	snprintf(reason, rsize, "cannot create or open %s: %s", l->state_dir, strerror(err));
	return -err;
}

/* The whole file was read: check it did not change, and write its line. */
static void
finish(struct ledger *l)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	char line[LEDGER_LINE_MAX + 1], when[32], reason[256];
	struct ledger_entry *e;
	unsigned mdlen = 0;
	struct stat st;
	ssize_t n;
	int out;

	if (fstat(l->fd, &st) < 0 || !iflag_immutable(l->fd) || st.st_ino != l->st.st_ino ||
	    st.st_size != l->st.st_size || (off_t)l->done != st.st_size ||
	    st.st_ctim.tv_sec != l->st.st_ctim.tv_sec || st.st_ctim.tv_nsec != l->st.st_ctim.tv_nsec) {
		fail_cur(l, "changed while it was hashed (flag, size or ctime)");
		return;
	}
	if (!EVP_DigestFinal_ex(l->md, md, &mdlen) || mdlen != 32) {
		fail_cur(l, "SHA-256 failed");
		return;
	}
	e = malloc(sizeof(*e));
	if (e == NULL) {
		fail_cur(l, "out of memory");
		return;
	}
	for (unsigned i = 0; i < 32; i++)
		snprintf(e->sha256 + 2 * i, 3, "%02x", md[i]);
	e->size = l->done;
	e->ino = (uint64_t)st.st_ino;
	e->sealed = (int64_t)l->cur->queued;
	n = fgetxattr(l->fd, SEAL_XATTR_SEALED, when, sizeof(when) - 1);
	if (n > 0) {
		char *end;
		long long v;

		when[n] = '\0';
		v = strtoll(when, &end, 10);
		if (*end == '\0' && v > 0)
			e->sealed = v;
	}
	snprintf(e->vpath, sizeof(e->vpath), "%s", l->cur->vpath);
	n = ledger_format(e, line, sizeof(line));
	free(e);
	if (n < 0) {
		fail_cur(l, "the path is too long for a ledger line");
		return;
	}
	out = open_out(l, l->cur->tenant, reason, sizeof(reason));
	if (out < 0) {
		fail_cur(l, "%s", reason);
		return;
	}
	/* One write with O_APPEND: a line is never interleaved with another. */
	if (write(out, line, (size_t)n) != n) {
		fail_cur(l, "cannot append to the ledger: %s", strerror(errno));
		close_out(l);
		return;
	}
	l->n.hashed++;
	drop_cur(l);
}

/*
 * The next chunk, from the page cache only where the kernel allows
 * (RWF_NOWAIT): a read that would wait for the disk returns -EAGAIN, and
 * readahead (POSIX_FADV_WILLNEED) fetches it while the loop serves
 * clients; after STALLS_MAX such turns one read waits. Readahead also runs
 * LEDGER_READAHEAD in front of what was read, so that a cold file flows.
 * Never asks for bytes past the end: RWF_NOWAIT answers -EAGAIN for a read
 * that reaches into the page after the last one (measured on 6.18 ext4),
 * and the size cannot change (immutable; finish() checks). Returns bytes,
 * or -errno.
 */
static ssize_t
read_chunk(struct ledger *l)
{
	uint64_t left = (uint64_t)l->st.st_size - l->done;
	struct iovec iov = { .iov_base = l->buf, .iov_len = left < LEDGER_CHUNK ? (size_t)left : LEDGER_CHUNK };
	ssize_t n = -1;

	if (l->st.st_size > LEDGER_CHUNK && l->ahead <= l->done + LEDGER_READAHEAD / 2) {
		(void)posix_fadvise(l->fd, (off_t)l->done, LEDGER_READAHEAD, POSIX_FADV_WILLNEED);
		l->ahead = l->done + LEDGER_READAHEAD;
	}
	if (l->nowait && l->stalls < STALLS_MAX) {
		n = preadv2(l->fd, &iov, 1, (off_t)l->done, RWF_NOWAIT);
		if (n < 0 && (errno == EOPNOTSUPP || errno == EINVAL)) {
			l->nowait = false;	/* this kernel or filesystem: plain reads */
		} else if (n < 0 && errno == EAGAIN) {
			if (l->stalls++ == 0 && l->ahead <= l->done) {
				(void)posix_fadvise(l->fd, (off_t)l->done, LEDGER_READAHEAD, POSIX_FADV_WILLNEED);
				l->ahead = l->done + LEDGER_READAHEAD;
			}
			return -EAGAIN;
		} else {
			l->stalls = 0;
			return n < 0 ? -errno : n;
		}
	}
	l->stalls = 0;
	n = pread(l->fd, iov.iov_base, iov.iov_len, (off_t)l->done);
	return n < 0 ? -errno : n;
}

/* Overflows and failures: one audit record a minute, with the last case. */
static void
report(struct ledger *l, struct report *r, const char *what, time_t now)
{
	if (r->n == 0 || now < r->next || l->audit == NULL)
		return;
	audit_daemon(l->audit, LOG_WARNING,
		     "ledger: %llu sealed files %s since the last report (vaultctl verify reports "
		     "them as without a ledger entry); the last: %s",
		     (unsigned long long)r->n, what, r->last);
	r->n = 0;
	/* INT64_MAX: the final report at exit, which has no next one to schedule. */
	r->next = now == INT64_MAX ? now : now + REPORT_INTERVAL_S;
}

bool
ledger_step(struct ledger *l, const struct tenant_table *tab, size_t budget)
{
	size_t spent = 0;
	time_t now;

	if (l == NULL)
		return false;
	now = mono_s();
	report(l, &l->dropped, "not queued for hashing (queue full)", now);
	report(l, &l->failed, "not recorded", now);
	l->waiting = false;
	while (spent < budget) {
		ssize_t n;

		if (l->cur == NULL) {
			if (l->len == 0)
				break;
			spent += LEDGER_FILE_COST;
			if (!start(l, tab))
				continue;
		}
		/* The size is known and cannot change (finish() checks): no read to find the end. */
		n = l->done < (uint64_t)l->st.st_size ? read_chunk(l) : 0;
		if (n == -EAGAIN) {
			l->waiting = true;	/* the disk: back to the clients, again in a moment */
			break;
		}
		if (n == -EINTR)
			continue;
		if (n < 0) {
			fail_cur(l, "read failed: %s", strerror((int)-n));
			continue;
		}
		if (n == 0) {
			finish(l);
			continue;
		}
		if (!EVP_DigestUpdate(l->md, l->buf, (size_t)n)) {
			fail_cur(l, "SHA-256 failed");
			continue;
		}
		l->done += (uint64_t)n;
		spent += (size_t)n;
	}
	return ledger_busy(l);
}

int
ledger_timeout_ms(const struct ledger *l)
{
	if (!ledger_busy(l))
		return -1;
	return l->waiting ? LEDGER_IO_WAIT_MS : 0;
}

bool
ledger_busy(const struct ledger *l)
{
	return l != NULL && (l->cur != NULL || l->len > 0);
}

void
ledger_stats(const struct ledger *l, struct ledger_stats *ret)
{
	if (l == NULL) {
		*ret = (struct ledger_stats){ 0 };
		return;
	}
	*ret = l->n;
	ret->queued = l->len + (l->cur != NULL);
}
