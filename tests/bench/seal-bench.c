/* SPDX-License-Identifier: MIT */
/*
 * seal-bench: the measuring half of tests/bench/bench-seal.sh. Writes files
 * the way a backup client or a local writer does and watches, from outside,
 * when the kernel's immutable flag appears on them. It never sets a flag.
 *
 *   seal-bench latency DIR N DEADLINE_MS [POLL_US]
 *	N files of 4 KiB, one at a time, in DIR. After each close() it polls
 *	FS_IOC_GETFLAGS on an O_RDONLY fd opened before the close, in a tight
 *	loop (sched_yield between polls; with POLL_US, a sleep of that many
 *	microseconds instead, which leaves a 2-core machine's second core to
 *	the sealer), until FS_IMMUTABLE_FL shows or DEADLINE_MS pass; the ns between
 *	close() returning and the flag are the file's window. Stops early
 *	after STREAK files in a row were never sealed (the sealer is not
 *	running: waiting out every deadline would tell nothing more).
 *   seal-bench burst DIR N nested|flat IDLE_MS
 *	N files of 4 KiB as fast as possible: "nested" in new directories
 *	DIR/dNNN/eNN/ (100 files each, made as the writer reaches them),
 *	"flat" in DIR itself. Every 500th name holds a shell character (' $ ;).
 *	Then it follows, with statx, the oldest file not yet immutable (cheap:
 *	the poller must not take the CPU the sealer needs), with a sweep over
 *	all the others whenever that one stays unsealed for SWEEP_MS, until
 *	all are immutable or nothing changed for IDLE_MS; a last pass counts
 *	the files never sealed. The end time is when the last file was seen
 *	immutable: late by up to SWEEP_MS for files sealed out of order.
 *   seal-bench tree DIR NDIRS NFILES
 *	NDIRS directories of NFILES empty files (mknodat: no open, no close,
 *	so no watcher event).
 *   seal-bench count DIR
 *	A getdents + statx walk: files, and how many are immutable.
 *   seal-bench sftp DIR N -- CMD [ARG...]
 *	Runs CMD (vault-sftp serving DIR) on pipes and uploads N files of
 *	4 KiB over raw SFTP v3 (OPEN, WRITE, CLOSE), one at a time. Right
 *	after each CLOSE reply, statx says whether the file is immutable yet.
 *
 * Each prints one line of key=value pairs on stdout, times in ns.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sftp-proto.h"

#define FILE_SIZE	4096
#define STREAK		10	/* unsealed files in a row that end a latency run */
#define PER_DIR		100	/* files per directory in a nested burst */
#define SHELL_EVERY	500	/* every Nth burst name holds a shell character */
#define SWEEP_MS	100	/* a burst's oldest file stuck this long: look at all */
#define NAME_MAX_LEN	64

static uint8_t payload[FILE_SIZE];

static void
die(const char *what)
{
	fprintf(stderr, "seal-bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void
usage(void)
{
	fputs("usage: seal-bench latency DIR N DEADLINE_MS [POLL_US]\n"
	      "       seal-bench burst DIR N nested|flat IDLE_MS\n"
	      "       seal-bench tree DIR NDIRS NFILES\n"
	      "       seal-bench count DIR\n"
	      "       seal-bench sftp DIR N -- CMD [ARG...]\n", stderr);
	exit(2);
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static long
number(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v <= 0)
		usage();
	return v;
}

static void
write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t w = write(fd, b, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			die("write");
		}
		b += w;
		n -= (size_t)w;
	}
}

static int
open_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		die(path);
	return fd;
}

/* statx by path: no open, so no event for any watcher. */
static bool
immutable_at(int dirfd, const char *path)
{
	struct statx stx;

	if (statx(dirfd, path, AT_SYMLINK_NOFOLLOW, STATX_TYPE, &stx) < 0)
		return false;
	return (stx.stx_attributes & STATX_ATTR_IMMUTABLE) != 0;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of n sorted values. */
static uint64_t
pct(const uint64_t *v, size_t n, unsigned p)
{
	size_t k;

	if (!n)
		return 0;
	k = (n * p + 99) / 100;
	return v[k ? k - 1 : 0];
}

static void
print_stats(const char *prefix, uint64_t *v, size_t n)
{
	uint64_t sum = 0;

	qsort(v, n, sizeof(*v), cmp_u64);
	for (size_t i = 0; i < n; i++)
		sum += v[i];
	printf(" %sp50_ns=%" PRIu64 " %sp99_ns=%" PRIu64 " %smax_ns=%" PRIu64
	       " %smean_ns=%" PRIu64, prefix, pct(v, n, 50), prefix, pct(v, n, 99),
	       prefix, n ? v[n - 1] : 0, prefix, n ? sum / n : 0);
}

static int
cmd_latency(int argc, char **argv)
{
	long n, deadline_ms, poll_us = 0, missed = 0, streak = 0, tried = 0;
	uint64_t *lat;
	size_t sealed = 0;
	int dirfd;

	if (argc != 3 && argc != 4)
		usage();
	dirfd = open_dir(argv[0]);
	n = number(argv[1]);
	deadline_ms = number(argv[2]);
	if (argc == 4)
		poll_us = number(argv[3]);
	lat = calloc((size_t)n, sizeof(*lat));
	if (!lat)
		die("calloc");
	for (long i = 0; i < n && streak < STREAK; i++) {
		char name[NAME_MAX_LEN];
		uint64_t t0, t;
		int wfd, rfd, fl;

		snprintf(name, sizeof(name), "lat-%06ld", i);
		wfd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (wfd < 0)
			die(name);
		write_all(wfd, payload, sizeof(payload));
		/* Opened before the close so that polling costs one ioctl, no lookup. */
		rfd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (rfd < 0)
			die(name);
		if (close(wfd) < 0)
			die("close");
		t0 = now_ns();
		tried++;
		for (;;) {
			if (ioctl(rfd, FS_IOC_GETFLAGS, &fl) < 0)
				die("FS_IOC_GETFLAGS");
			t = now_ns();
			if (fl & FS_IMMUTABLE_FL) {
				lat[sealed++] = t - t0;
				streak = 0;
				break;
			}
			if (t - t0 > (uint64_t)deadline_ms * 1000000u) {
				missed++;
				streak++;
				break;
			}
			if (poll_us)
				nanosleep(&(struct timespec){ .tv_nsec = poll_us * 1000 }, NULL);
			else
				sched_yield();
		}
		close(rfd);
	}
	printf("n=%ld tried=%ld sealed=%zu missed=%ld stopped=%d", n, tried, sealed, missed,
	       streak >= STREAK);
	print_stats("", lat, sealed);
	putchar('\n');
	free(lat);
	return 0;
}

/* The i-th burst name: mostly plain, every SHELL_EVERY-th one with a character
 * that a shell command line mangles. None of them is harmful to a shell. */
static void
burst_name(char *buf, size_t len, long i)
{
	if (i % SHELL_EVERY != SHELL_EVERY - 1)
		snprintf(buf, len, "f%06ld", i);
	else if ((i / SHELL_EVERY) % 3 == 0)
		snprintf(buf, len, "q'%06ld", i);
	else if ((i / SHELL_EVERY) % 3 == 1)
		snprintf(buf, len, "d$sv_unset%06ld", i);
	else
		snprintf(buf, len, "s%06ld;:", i);
}

static bool
is_shell_name(long i)
{
	return i % SHELL_EVERY == SHELL_EVERY - 1;
}

static int
cmd_burst(int argc, char **argv)
{
	long n, idle_ms, head, sealed, missed = 0, missed_shell = 0, npending;
	uint64_t t_start, t_written, t_last, t_progress, t_head;
	char (*path)[NAME_MAX_LEN * 2];
	long *pending;
	bool nested;
	int dirfd, leaffd;

	if (argc != 4)
		usage();
	dirfd = open_dir(argv[0]);
	n = number(argv[1]);
	if (!strcmp(argv[2], "nested"))
		nested = true;
	else if (!strcmp(argv[2], "flat"))
		nested = false;
	else
		usage();
	idle_ms = number(argv[3]);
	path = calloc((size_t)n, sizeof(*path));
	pending = calloc((size_t)n, sizeof(*pending));
	if (!path || !pending)
		die("calloc");

	t_start = now_ns();
	leaffd = dirfd;
	for (long i = 0; i < n; i++) {
		char name[NAME_MAX_LEN];
		int fd;

		if (nested && i % PER_DIR == 0) {
			long leaf = i / PER_DIR;
			char d[32];

			if (leaffd != dirfd)
				close(leaffd);
			snprintf(d, sizeof(d), "d%03ld", leaf / 10);
			if (leaf % 10 == 0 && mkdirat(dirfd, d, 0755) < 0)
				die(d);
			snprintf(d, sizeof(d), "d%03ld/e%02ld", leaf / 10, leaf % 10);
			if (mkdirat(dirfd, d, 0755) < 0)
				die(d);
			leaffd = openat(dirfd, d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (leaffd < 0)
				die(d);
		}
		burst_name(name, sizeof(name), i);
		if (nested)
			snprintf(path[i], sizeof(path[i]), "d%03ld/e%02ld/%s", i / PER_DIR / 10,
				 i / PER_DIR % 10, name);
		else
			snprintf(path[i], sizeof(path[i]), "%s", name);
		fd = openat(leaffd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0)
			die(path[i]);
		write_all(fd, payload, sizeof(payload));
		if (close(fd) < 0)
			die("close");
	}
	t_written = now_ns();
	if (leaffd != dirfd)
		close(leaffd);

	/* Follow the oldest unsealed file. Only while it stays unsealed (out of
	 * order, or never) a sweep every SWEEP_MS looks at all the others. */
	for (long i = 0; i < n; i++)
		pending[i] = i;
	npending = n;
	t_last = t_progress = t_head = t_written;
	for (head = 0; head < npending;) {
		uint64_t t;

		while (head < npending && immutable_at(dirfd, path[pending[head]])) {
			head++;
			t_last = t_progress = t_head = now_ns();
		}
		t = now_ns();
		if (head < npending && t - t_head > SWEEP_MS * 1000000u) {
			long keep = head;

			for (long j = head; j < npending; j++) {
				if (immutable_at(dirfd, path[pending[j]]))
					t_last = t_progress = now_ns();
				else
					pending[keep++] = pending[j];
			}
			npending = keep;
			t_head = t = now_ns();
		}
		if (head == npending || t - t_progress > (uint64_t)idle_ms * 1000000u)
			break;
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	}
	/* What is left, once more. */
	sealed = n;
	for (long j = head; j < npending; j++) {
		if (immutable_at(dirfd, path[pending[j]]))
			continue;
		pending[missed++] = pending[j];
		missed_shell += is_shell_name(pending[j]);
		sealed--;
	}
	printf("n=%ld shell_names=%ld written_ns=%" PRIu64 " sealed=%ld missed=%ld"
	       " missed_shell=%ld last_sealed_ns=%" PRIu64 "\n", n,
	       n / SHELL_EVERY, t_written - t_start, sealed, missed, missed_shell,
	       sealed ? t_last - t_start : 0);
	for (long j = 0; j < missed && j < 5; j++)
		fprintf(stderr, "seal-bench: not sealed: %s\n", path[pending[j]]);
	free(path);
	free(pending);
	return 0;
}

static int
cmd_tree(int argc, char **argv)
{
	long ndirs, nfiles;
	uint64_t t0;
	int dirfd;

	if (argc != 3)
		usage();
	dirfd = open_dir(argv[0]);
	ndirs = number(argv[1]);
	nfiles = number(argv[2]);
	t0 = now_ns();
	for (long d = 0; d < ndirs; d++) {
		char dn[32];
		int dfd;

		snprintf(dn, sizeof(dn), "d%05ld", d);
		if (mkdirat(dirfd, dn, 0755) < 0)
			die(dn);
		dfd = openat(dirfd, dn, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			die(dn);
		for (long f = 0; f < nfiles; f++) {
			char fn[32];

			snprintf(fn, sizeof(fn), "f%05ld", f);
			if (mknodat(dfd, fn, S_IFREG | 0644, 0) < 0)
				die(fn);
		}
		close(dfd);
	}
	printf("dirs=%ld files=%ld ns=%" PRIu64 "\n", ndirs, ndirs * nfiles, now_ns() - t0);
	return 0;
}

struct count {
	long files, immutable, dirs;
};

static void
walk(int dfd, struct count *c)
{
	DIR *d = fdopendir(dfd);
	struct dirent *e;

	if (!d)
		die("fdopendir");
	while ((e = readdir(d))) {
		struct statx stx;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (statx(dfd, e->d_name, AT_SYMLINK_NOFOLLOW, STATX_TYPE, &stx) < 0)
			die(e->d_name);
		if (S_ISDIR(stx.stx_mode)) {
			int sub = openat(dfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub < 0)
				die(e->d_name);
			c->dirs++;
			walk(sub, c);
		} else if (S_ISREG(stx.stx_mode)) {
			c->files++;
			c->immutable += (stx.stx_attributes & STATX_ATTR_IMMUTABLE) != 0;
		}
	}
	closedir(d);
}

static int
cmd_count(int argc, char **argv)
{
	struct count c = { 0 };
	uint64_t t0;

	if (argc != 1)
		usage();
	t0 = now_ns();
	walk(open_dir(argv[0]), &c);
	printf("files=%ld immutable=%ld dirs=%ld ns=%" PRIu64 "\n", c.files, c.immutable, c.dirs,
	       now_ns() - t0);
	return 0;
}

/* ---------------------------------------------------------------- SFTP */

struct sftp {
	int to, from;
	uint32_t id;
	uint8_t buf[FILE_SIZE + 1024];
	size_t len;
};

static void
put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t
get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void
pk_start(struct sftp *s, uint8_t type)
{
	s->len = 4;
	s->buf[s->len++] = type;
}

static void
pk_u32(struct sftp *s, uint32_t v)
{
	put_u32(s->buf + s->len, v);
	s->len += 4;
}

static void
pk_str(struct sftp *s, const void *p, uint32_t n)
{
	pk_u32(s, n);
	memcpy(s->buf + s->len, p, n);
	s->len += n;
}

static void
pk_send(struct sftp *s)
{
	put_u32(s->buf, (uint32_t)(s->len - 4));
	write_all(s->to, s->buf, s->len);
}

static void
read_all(int fd, void *p, size_t n)
{
	uint8_t *b = p;

	while (n) {
		ssize_t r = read(fd, b, n);

		if (r == 0) {
			fputs("seal-bench: vault-sftp closed the connection\n", stderr);
			exit(1);
		}
		if (r < 0) {
			if (errno == EINTR)
				continue;
			die("read");
		}
		b += r;
		n -= (size_t)r;
	}
}

/* Reads one reply into s->buf (type at [0]); returns its length. */
static size_t
pk_recv(struct sftp *s)
{
	uint8_t hdr[4];
	uint32_t n;

	read_all(s->from, hdr, 4);
	n = get_u32(hdr);
	if (n < 1 || n > sizeof(s->buf)) {
		fprintf(stderr, "seal-bench: bad reply length %u\n", n);
		exit(1);
	}
	read_all(s->from, s->buf, n);
	return n;
}

/* A STATUS reply's code (and message to stderr when not OK); exits on other types. */
static uint32_t
expect_status(struct sftp *s, const char *what)
{
	size_t n = pk_recv(s);
	uint32_t code;

	if (s->buf[0] != SSH_FXP_STATUS || n < 9) {
		fprintf(stderr, "seal-bench: %s: reply type %u, not STATUS\n", what, s->buf[0]);
		exit(1);
	}
	code = get_u32(s->buf + 5);
	if (code != SSH_FX_OK && n >= 13) {
		uint32_t ml = get_u32(s->buf + 9);

		fprintf(stderr, "seal-bench: %s: status %u: %.*s\n", what, code,
			(int)(ml <= n - 13 ? ml : n - 13), (const char *)s->buf + 13);
	}
	return code;
}

static int
cmd_sftp(int argc, char **argv)
{
	int in[2], out[2], dirfd, st;
	long n, failed = 0, not_immutable = 0, done = 0;
	uint64_t *rtt, t_start, t_total;
	struct sftp *s;
	pid_t pid;

	if (argc < 4 || strcmp(argv[2], "--"))
		usage();
	dirfd = open_dir(argv[0]);
	n = number(argv[1]);
	rtt = calloc((size_t)n, sizeof(*rtt));
	s = calloc(1, sizeof(*s));
	if (!rtt || !s)
		die("calloc");
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
		die("pipe");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0)
			_exit(127);
		execvp(argv[3], argv + 3);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	s->to = in[1];
	s->from = out[0];
	signal(SIGPIPE, SIG_IGN);

	pk_start(s, SSH_FXP_INIT);
	pk_u32(s, SFTP_PROTOCOL_VERSION);
	pk_send(s);
	if (pk_recv(s) < 5 || s->buf[0] != SSH_FXP_VERSION) {
		fputs("seal-bench: no VERSION reply\n", stderr);
		return 1;
	}

	t_start = now_ns();
	for (long i = 0; i < n; i++) {
		char name[NAME_MAX_LEN];
		uint8_t handle[256];
		uint32_t hlen;
		uint64_t t0;
		size_t len;

		snprintf(name, sizeof(name), "/b%06ld", i);
		/* What OpenSSH's sftp sends for "put". */
		pk_start(s, SSH_FXP_OPEN);
		pk_u32(s, ++s->id);
		pk_str(s, name, (uint32_t)strlen(name));
		pk_u32(s, SSH_FXF_WRITE | SSH_FXF_CREAT | SSH_FXF_TRUNC);
		pk_u32(s, SSH_FILEXFER_ATTR_PERMISSIONS);
		pk_u32(s, 0644);
		pk_send(s);
		len = pk_recv(s);
		if (s->buf[0] != SSH_FXP_HANDLE || len < 9 || (hlen = get_u32(s->buf + 5)) >
		    sizeof(handle) || hlen > len - 9) {
			fprintf(stderr, "seal-bench: OPEN %s: no handle (reply type %u)\n", name,
				s->buf[0]);
			return 1;
		}
		memcpy(handle, s->buf + 9, hlen);

		pk_start(s, SSH_FXP_WRITE);
		pk_u32(s, ++s->id);
		pk_str(s, handle, hlen);
		pk_u32(s, 0);
		pk_u32(s, 0);
		pk_str(s, payload, sizeof(payload));
		pk_send(s);
		if (expect_status(s, "WRITE") != SSH_FX_OK)
			return 1;

		pk_start(s, SSH_FXP_CLOSE);
		pk_u32(s, ++s->id);
		pk_str(s, handle, hlen);
		t0 = now_ns();
		pk_send(s);
		if (expect_status(s, "CLOSE") != SSH_FX_OK)
			failed++;
		rtt[done++] = now_ns() - t0;
		/* The client has its answer: is the file sealed already? */
		if (!immutable_at(dirfd, name + 1))
			not_immutable++;
	}
	t_total = now_ns() - t_start;
	close(s->to);
	if (waitpid(pid, &st, 0) < 0)
		die("waitpid");
	printf("n=%ld failed=%ld not_immutable_at_reply=%ld total_ns=%" PRIu64 " exit=%d", n,
	       failed, not_immutable, t_total, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	print_stats("close_", rtt, (size_t)done);
	putchar('\n');
	free(rtt);
	free(s);
	return 0;
}

int
main(int argc, char **argv)
{
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 131 + 7);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		usage();
	if (!strcmp(argv[1], "latency"))
		return cmd_latency(argc - 2, argv + 2);
	if (!strcmp(argv[1], "burst"))
		return cmd_burst(argc - 2, argv + 2);
	if (!strcmp(argv[1], "tree"))
		return cmd_tree(argc - 2, argv + 2);
	if (!strcmp(argv[1], "count"))
		return cmd_count(argc - 2, argv + 2);
	if (!strcmp(argv[1], "sftp"))
		return cmd_sftp(argc - 2, argv + 2);
	usage();
}
