/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/fs.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static const char *vault_sftp_path;

/* ---- memory ----------------------------------------------------------------- */

static void **gc_list;
static size_t gc_n, gc_cap;

void *
h_gc(void *p)
{
	if (p == NULL)
		return NULL;
	if (gc_n == gc_cap) {
		size_t cap = gc_cap ? gc_cap * 2 : 256;
		void **n = realloc(gc_list, cap * sizeof(*n));

		if (n == NULL)
			abort();
		gc_list = n;
		gc_cap = cap;
	}
	gc_list[gc_n++] = p;
	return p;
}

static void
gc_free_all(void)
{
	for (size_t i = 0; i < gc_n; i++)
		free(gc_list[i]);
	free(gc_list);
	gc_list = NULL;
	gc_n = gc_cap = 0;
}

void *
h_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		abort();
	return h_gc(p);
}

static char *
gc_strndup(const void *p, size_t n)
{
	char *s = h_xmalloc(n + 1);

	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

/* ---- buffers ---------------------------------------------------------------- */

static void
hb_reserve(struct h_buf *b, size_t more)
{
	if (b->len + more <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + more)
		cap *= 2;
	uint8_t *p = realloc(b->p, cap);
	if (p == NULL)
		abort();
	b->p = p;
	b->cap = cap;
}

void
hb_free(struct h_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

void
hb_reset(struct h_buf *b)
{
	b->len = 0;
}

static void
hb_consume(struct h_buf *b, size_t n)
{
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
}

void
pk_raw(struct h_buf *b, const void *p, size_t len)
{
	hb_reserve(b, len);
	if (len)
		memcpy(b->p + b->len, p, len);
	b->len += len;
}

void
pk_u8(struct h_buf *b, uint8_t v)
{
	pk_raw(b, &v, 1);
}

void
pk_u32(struct h_buf *b, uint32_t v)
{
	uint8_t x[4] = { v >> 24, v >> 16, v >> 8, v };

	pk_raw(b, x, 4);
}

void
pk_u64(struct h_buf *b, uint64_t v)
{
	pk_u32(b, (uint32_t)(v >> 32));
	pk_u32(b, (uint32_t)v);
}

void
pk_str(struct h_buf *b, const void *p, size_t len)
{
	pk_u32(b, (uint32_t)len);
	pk_raw(b, p, len);
}

void
pk_cstr(struct h_buf *b, const char *str)
{
	pk_str(b, str, strlen(str));
}

void
pk_handle(struct h_buf *b, const struct h_handle *h)
{
	pk_str(b, h->b, h->len);
}

void
pk_attrs(struct h_buf *b, const struct h_attrs *a)
{
	static const struct h_attrs none;

	if (a == NULL)
		a = &none;
	pk_u32(b, a->flags);
	if (a->flags & SSH_FILEXFER_ATTR_SIZE)
		pk_u64(b, a->size);
	if (a->flags & SSH_FILEXFER_ATTR_UIDGID) {
		pk_u32(b, a->uid);
		pk_u32(b, a->gid);
	}
	if (a->flags & SSH_FILEXFER_ATTR_PERMISSIONS)
		pk_u32(b, a->perm);
	if (a->flags & SSH_FILEXFER_ATTR_ACMODTIME) {
		pk_u32(b, a->atime);
		pk_u32(b, a->mtime);
	}
	if (a->flags & SSH_FILEXFER_ATTR_EXTENDED) {
		pk_u32(b, a->n_ext);
		for (uint32_t i = 0; i < a->n_ext; i++) {
			char k[32], v[32];

			snprintf(k, sizeof(k), "k%u@example.com", i);
			snprintf(v, sizeof(v), "v%u", i);
			pk_cstr(b, k);
			pk_cstr(b, v);
		}
	}
}

void
pk_begin(struct h_buf *b, uint8_t type)
{
	hb_reset(b);
	pk_u32(b, 0);
	pk_u8(b, type);
}

uint32_t
pk_begin_req(struct h_server *s, struct h_buf *b, uint8_t type)
{
	uint32_t id = s->next_id++;

	pk_begin(b, type);
	pk_u32(b, id);
	return id;
}

uint32_t
pk_begin_ext(struct h_server *s, struct h_buf *b, const char *name)
{
	uint32_t id = pk_begin_req(s, b, SSH_FXP_EXTENDED);

	pk_cstr(b, name);
	return id;
}

void
pk_end(struct h_buf *b)
{
	uint32_t n = (uint32_t)(b->len - 4);

	b->p[0] = n >> 24;
	b->p[1] = n >> 16;
	b->p[2] = n >> 8;
	b->p[3] = n;
}

uint32_t
h_get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

uint64_t
h_get_u64(const uint8_t *p)
{
	return (uint64_t)h_get_u32(p) << 32 | h_get_u32(p + 4);
}

/* ---- reply parsing ---------------------------------------------------------- */

struct rd {
	const uint8_t *p;
	size_t len;
	size_t off;
	bool err;
};

static uint32_t
rd_u32(struct rd *r)
{
	if (r->err || r->len - r->off < 4) {
		r->err = true;
		return 0;
	}
	uint32_t v = h_get_u32(r->p + r->off);
	r->off += 4;
	return v;
}

static uint64_t
rd_u64(struct rd *r)
{
	if (r->err || r->len - r->off < 8) {
		r->err = true;
		return 0;
	}
	uint64_t v = h_get_u64(r->p + r->off);
	r->off += 8;
	return v;
}

static char *
rd_str(struct rd *r, size_t *ret_len)
{
	uint32_t n = rd_u32(r);

	if (r->err || r->len - r->off < n) {
		r->err = true;
		if (ret_len)
			*ret_len = 0;
		return gc_strndup("", 0);
	}
	char *s = gc_strndup(r->p + r->off, n);
	r->off += n;
	if (ret_len)
		*ret_len = n;
	return s;
}

static void
rd_attrs(struct rd *r, struct h_attrs *a)
{
	memset(a, 0, sizeof(*a));
	a->flags = rd_u32(r);
	if (a->flags & SSH_FILEXFER_ATTR_SIZE)
		a->size = rd_u64(r);
	if (a->flags & SSH_FILEXFER_ATTR_UIDGID) {
		a->uid = rd_u32(r);
		a->gid = rd_u32(r);
	}
	if (a->flags & SSH_FILEXFER_ATTR_PERMISSIONS)
		a->perm = rd_u32(r);
	if (a->flags & SSH_FILEXFER_ATTR_ACMODTIME) {
		a->atime = rd_u32(r);
		a->mtime = rd_u32(r);
	}
	if (a->flags & SSH_FILEXFER_ATTR_EXTENDED) {
		a->n_ext = rd_u32(r);
		for (uint32_t i = 0; i < a->n_ext && !r->err; i++) {
			rd_str(r, NULL);
			rd_str(r, NULL);
		}
	}
}

static void
parse_reply(const uint8_t *body, size_t len, struct h_reply *rep)
{
	struct rd r = { .p = body, .len = len };

	memset(rep, 0, sizeof(*rep));
	rep->raw = h_xmalloc(len);
	memcpy(rep->raw, body, len);
	rep->raw_len = len;
	if (len < 1) {
		rep->malformed = true;
		return;
	}
	rep->type = body[0];
	r.off = 1;
	rep->id = rd_u32(&r);
	switch (rep->type) {
	case SSH_FXP_STATUS:
		rep->status = rd_u32(&r);
		if (r.err)
			break;
		rep->msg = rd_str(&r, NULL);
		rd_str(&r, NULL);	/* language tag */
		break;
	case SSH_FXP_HANDLE:
		rep->handle = (uint8_t *)rd_str(&r, &rep->handle_len);
		break;
	case SSH_FXP_DATA:
		rep->data = (uint8_t *)rd_str(&r, &rep->data_len);
		break;
	case SSH_FXP_NAME:
		rep->count = rd_u32(&r);
		if (r.err || rep->count > len / 12) {
			r.err = true;
			break;
		}
		rep->names = h_xmalloc(sizeof(*rep->names) * (rep->count ? rep->count : 1));
		for (uint32_t i = 0; i < rep->count && !r.err; i++) {
			rep->names[i].name = rd_str(&r, &rep->names[i].name_len);
			rep->names[i].longname = rd_str(&r, NULL);
			rd_attrs(&r, &rep->names[i].a);
		}
		break;
	case SSH_FXP_ATTRS:
		rd_attrs(&r, &rep->attrs);
		break;
	case SSH_FXP_VERSION:
	case SSH_FXP_EXTENDED_REPLY:
	default:
		if (!r.err) {
			rep->data = h_xmalloc(len - r.off);
			memcpy(rep->data, body + r.off, len - r.off);
			rep->data_len = len - r.off;
		}
		break;
	}
	if (rep->msg == NULL)
		rep->msg = gc_strndup("", 0);
	rep->malformed = r.err;
}

/* ---- process and pipes -------------------------------------------------------- */

void
h_main_init(int argc, char **argv)
{
	vault_sftp_path = argc > 1 ? argv[1] : getenv("VAULT_SFTP");
	if (vault_sftp_path == NULL || *vault_sftp_path == '\0') {
		fprintf(stderr, "usage: %s PATH-TO-vault-sftp (or set VAULT_SFTP)\n", argv[0]);
		exit(2);
	}
	if (access(vault_sftp_path, X_OK) != 0) {
		fprintf(stderr, "%s: not executable: %s\n", vault_sftp_path, strerror(errno));
		exit(1);
	}
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
}

const char *
h_vault_sftp(void)
{
	return vault_sftp_path;
}

static void
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		abort();
}

struct h_server *
h_spawn_ex(struct h_ctx *c, const struct h_spawn_opts *o)
{
	static const struct h_spawn_opts defaults;
	int in[2], out[2], err[2];
	const char *argv[64];
	size_t n = 0;

	if (o == NULL)
		o = &defaults;
	assert_true(c->n_servers < H_MAX_SERVERS);
	argv[n++] = "vault-sftp";
	if (!o->no_root) {
		argv[n++] = "--root";
		argv[n++] = c->root;
	}
	if (!o->no_log_stderr)
		argv[n++] = "--log-stderr";
	for (size_t i = 0; o->args && o->args[i]; i++) {
		assert_true(n < 62);
		argv[n++] = o->args[i];
	}
	argv[n] = NULL;

	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	assert_int_equal(pipe2(err, O_CLOEXEC), 0);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGPIPE, SIG_DFL);
		if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0)
			_exit(126);
		closefrom(3);
		/* What a client asks sshd for is the test's to choose, never inherited. */
		unsetenv("SSH_ORIGINAL_COMMAND");
		for (size_t i = 0; o->env && o->env[i]; i++)
			if (putenv((char *)o->env[i]) != 0)
				_exit(126);
		execv(vault_sftp_path, (char *const *)argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	close(err[1]);

	struct h_server *s = calloc(1, sizeof(*s));
	if (s == NULL)
		abort();
	s->pid = pid;
	s->to_fd = in[1];
	s->from_fd = out[0];
	s->err_fd = err[0];
	s->next_id = 1;
	s->expect_exit = o->expect_exit;
	set_nonblock(s->to_fd);
	set_nonblock(s->from_fd);
	set_nonblock(s->err_fd);
	if (o->close_stdin) {
		close(s->to_fd);
		s->to_fd = -1;
	}
	c->servers[c->n_servers++] = s;
	return s;
}

struct h_server *
h_spawn(struct h_ctx *c, const char *const *extra)
{
	struct h_spawn_opts o = { .args = extra };

	return h_spawn_ex(c, &o);
}

static int
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int)(ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* Reads whatever is readable on fd into b; returns bytes read, 0 at EOF, -1 if nothing now. */
static ssize_t
read_into(int fd, struct h_buf *b)
{
	ssize_t total = 0;

	for (;;) {
		hb_reserve(b, 65536);
		ssize_t n = read(fd, b->p + b->len, b->cap - b->len);
		if (n > 0) {
			b->len += (size_t)n;
			total += n;
			continue;
		}
		if (n == 0)
			return total > 0 ? total : 0;
		if (errno == EINTR)
			continue;
		return total > 0 ? total : -1;
	}
}

void
h_drain_err(struct h_server *s)
{
	if (s->err_fd < 0)
		return;
	ssize_t n = read_into(s->err_fd, &s->err);
	if (n == 0) {
		close(s->err_fd);
		s->err_fd = -1;
	}
}

static void
drain_out(struct h_server *s)
{
	if (s->out_eof)
		return;
	ssize_t n = read_into(s->from_fd, &s->in);
	if (n == 0)
		s->out_eof = true;
}

/*
 * One poll round: waits up to timeout_ms for stdout/stderr data (and, if
 * want_write, for room in stdin). Returns true if anything happened.
 */
static bool
pump(struct h_server *s, int timeout_ms, bool want_write)
{
	struct pollfd p[3];
	int n = 0, i_out = -1, i_err = -1, i_in = -1;

	if (!s->out_eof) {
		i_out = n;
		p[n++] = (struct pollfd){ .fd = s->from_fd, .events = POLLIN };
	}
	if (s->err_fd >= 0) {
		i_err = n;
		p[n++] = (struct pollfd){ .fd = s->err_fd, .events = POLLIN };
	}
	if (want_write && s->to_fd >= 0) {
		i_in = n;
		p[n++] = (struct pollfd){ .fd = s->to_fd, .events = POLLOUT };
	}
	if (n == 0)
		return false;
	int r = poll(p, (nfds_t)n, timeout_ms);
	if (r <= 0)
		return false;
	if (i_out >= 0 && p[i_out].revents)
		drain_out(s);
	if (i_err >= 0 && p[i_err].revents)
		h_drain_err(s);
	(void)i_in;
	return true;
}

void
h_send_raw(struct h_server *s, const void *p, size_t len)
{
	const uint8_t *b = p;
	int deadline = now_ms() + H_TIMEOUT_MS;

	if (s->to_fd < 0)
		fail_msg("send on a closed stdin");
	while (len > 0) {
		ssize_t n = write(s->to_fd, b, len);
		if (n > 0) {
			b += n;
			len -= (size_t)n;
			deadline = now_ms() + H_TIMEOUT_MS;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EPIPE) {
			h_drain_err(s);
			fail_msg("vault-sftp closed its stdin (died?) with %zu bytes unsent", len);
		}
		if (n < 0 && errno != EAGAIN)
			fail_msg("write to vault-sftp: %s", strerror(errno));
		int left = deadline - now_ms();
		if (left <= 0)
			fail_msg("vault-sftp took no input for %d ms (%zu bytes unsent)",
				 H_TIMEOUT_MS, len);
		/* Keep reading its output meanwhile: it may wait for us to drain it. */
		pump(s, left < 100 ? left : 100, true);
	}
}

int
h_recv(struct h_server *s, struct h_reply *r, int timeout_ms)
{
	int deadline = now_ms() + timeout_ms;

	for (;;) {
		if (s->in.len >= 4) {
			uint32_t plen = h_get_u32(s->in.p);
			if (plen > 16 * 1024 * 1024)
				fail_msg("vault-sftp sent a packet of length %u", plen);
			if (s->in.len >= 4 + (size_t)plen) {
				parse_reply(s->in.p + 4, plen, r);
				hb_consume(&s->in, 4 + (size_t)plen);
				return 0;
			}
		}
		if (s->out_eof)
			return -EPIPE;
		int left = deadline - now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		pump(s, left, false);
	}
}

void
h_recv_must(struct h_server *s, struct h_reply *r)
{
	int e = h_recv(s, r, H_TIMEOUT_MS);

	if (e == -ETIMEDOUT)
		fail_msg("no reply from vault-sftp within %d ms", H_TIMEOUT_MS);
	if (e == -EPIPE) {
		h_drain_err(s);
		h_log_dump(s);
		fail_msg("vault-sftp closed its stdout (died?)");
	}
}

bool
h_no_reply_within(struct h_server *s, int ms)
{
	struct h_reply r;
	int e = h_recv(s, &r, ms);

	if (e == 0) {
		print_error("unexpected reply type %u id %u\n", r.type, r.id);
		return false;
	}
	return true;
}

void
h_finish(struct h_server *s)
{
	if (s->finished)
		return;
	if (s->to_fd >= 0) {
		close(s->to_fd);
		s->to_fd = -1;
	}
	int deadline = now_ms() + H_TIMEOUT_MS;
	while ((!s->out_eof || s->err_fd >= 0) && now_ms() < deadline)
		pump(s, 50, false);
	for (;;) {
		pid_t w = waitpid(s->pid, &s->wstatus, WNOHANG);
		if (w == s->pid)
			break;
		if (w < 0 && errno != EINTR) {
			s->wstatus = -1;
			break;
		}
		if (now_ms() >= deadline) {
			print_error("vault-sftp did not exit within %d ms after EOF: killed\n",
				    H_TIMEOUT_MS);
			kill(s->pid, SIGKILL);
			waitpid(s->pid, NULL, 0);
			s->wstatus = -2;
			break;
		}
		usleep(2000);
	}
	while (s->err_fd >= 0 && pump(s, 0, false))
		;
	h_drain_err(s);
	close(s->from_fd);
	s->from_fd = -1;
	s->out_eof = true;
	if (s->err_fd >= 0) {
		close(s->err_fd);
		s->err_fd = -1;
	}
	s->finished = true;
}

void
h_kill(struct h_server *s)
{
	kill(s->pid, SIGKILL);
	s->killed = true;
	h_finish(s);
}

static bool
err_contains(const struct h_server *s, const char *needle)
{
	return s->err.len && memmem(s->err.p, s->err.len, needle, strlen(needle)) != NULL;
}

bool
h_exit_ok(struct h_server *s)
{
	bool ok = true;

	if (!s->finished)
		h_finish(s);
	if (s->wstatus == -2) {
		print_error("vault-sftp (pid %d) hung after EOF\n", (int)s->pid);
		ok = false;
	} else if (WIFSIGNALED(s->wstatus)) {
		print_error("vault-sftp (pid %d) died from signal %d (%s)\n", (int)s->pid,
			    WTERMSIG(s->wstatus), strsignal(WTERMSIG(s->wstatus)));
		ok = false;
	} else if (!WIFEXITED(s->wstatus) || WEXITSTATUS(s->wstatus) != s->expect_exit) {
		print_error("vault-sftp (pid %d) exit status %d on EOF, expected %d\n",
			    (int)s->pid, WIFEXITED(s->wstatus) ? WEXITSTATUS(s->wstatus) : -1,
			    s->expect_exit);
		ok = false;
	}
	static const char *const bad[] = {
		"ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
		"ERROR: UndefinedBehaviorSanitizer",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (err_contains(s, bad[i])) {
			print_error("vault-sftp stderr contains \"%s\"\n", bad[i]);
			ok = false;
		}
	}
	if (!ok)
		h_log_dump(s);
	return ok;
}

void
h_assert_exit_ok(struct h_server *s)
{
	if (!h_exit_ok(s))
		fail_msg("vault-sftp did not end cleanly");
}

/* ---- fixture -------------------------------------------------------------------- */

static void
make_dirs(struct h_ctx *c)
{
	const char *tmp = getenv("TMPDIR");
	char tmpl[PATH_MAX - 64];

	if (snprintf(tmpl, sizeof(tmpl), "%s/sealvault-proto-XXXXXX",
		     tmp && *tmp ? tmp : "/tmp") >= (int)sizeof(tmpl))
		abort();
	if (mkdtemp(tmpl) == NULL) {
		fprintf(stderr, "mkdtemp %s: %s\n", tmpl, strerror(errno));
		abort();
	}
	snprintf(c->base, sizeof(c->base), "%s", tmpl);
	snprintf(c->root, sizeof(c->root), "%s/root", tmpl);
	snprintf(c->outside, sizeof(c->outside), "%s/outside", tmpl);
	if (mkdir(c->root, 0755) != 0 || mkdir(c->outside, 0755) != 0)
		abort();
	char p[PATH_MAX + 16];
	snprintf(p, sizeof(p), "%s/secret", c->outside);
	int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, "TOP SECRET outside the root\n", 28) != 28)
		abort();
	close(fd);
}

static int
setup(void **state, bool init)
{
	struct h_ctx *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return -1;
	make_dirs(c);
	*state = c;
	c->s = h_spawn(c, NULL);
	if (init) {
		if (h_init(c->s, 3) != 0 || c->s->version != 3) {
			print_error("INIT did not get VERSION 3\n");
			return -1;
		}
	}
	return 0;
}

int
h_setup_init(void **state)
{
	return setup(state, true);
}

int
h_setup_raw(void **state)
{
	return setup(state, false);
}

int
h_setup_bare(void **state)
{
	struct h_ctx *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return -1;
	make_dirs(c);
	*state = c;
	return 0;
}

const char *
h_user_name(void)
{
	static char name[256];
	const struct passwd *pw;

	if (name[0] == '\0') {
		pw = getpwuid(getuid());
		if (pw == NULL)
			fail_msg("getpwuid(%u): no user name", (unsigned)getuid());
		snprintf(name, sizeof(name), "%s", pw->pw_name);
	}
	return name;
}

const char *
h_write_base_file(struct h_ctx *c, const char *name, const char *text)
{
	char *p = h_xmalloc(PATH_MAX);
	FILE *f;

	if (snprintf(p, PATH_MAX, "%s/%s", c->base, name) >= PATH_MAX)
		fail_msg("path too long");
	f = fopen(p, "we");
	if (f == NULL)
		fail_msg("create %s: %s", p, strerror(errno));
	fputs(text, f);
	if (fclose(f) != 0)
		fail_msg("write %s: %s", p, strerror(errno));
	return p;
}

/* A configuration word, double-quoted with \" and \\ escaped. */
static void
put_quoted(struct h_buf *b, const char *w)
{
	pk_raw(b, "\"", 1);
	for (; *w; w++) {
		if (*w == '"' || *w == '\\')
			pk_raw(b, "\\", 1);
		pk_raw(b, w, 1);
	}
	pk_raw(b, "\"", 1);
}

const char *
h_write_config(struct h_ctx *c, const char *profile, const char *body, const char *tenant_extra)
{
	struct h_buf b = { 0 };
	const char *p;

	if (body != NULL) {
		pk_raw(&b, "profile ", 8);
		pk_raw(&b, profile, strlen(profile));
		pk_raw(&b, " {\n", 3);
		pk_raw(&b, body, strlen(body));
		pk_raw(&b, "\n}\n", 3);
	}
	pk_raw(&b, "tenant case {\n\tuser ", 20);
	put_quoted(&b, h_user_name());
	pk_raw(&b, "\n\troot ", 7);
	put_quoted(&b, c->root);
	pk_raw(&b, "\n\tprofile ", 10);
	pk_raw(&b, profile, strlen(profile));
	pk_raw(&b, "\n", 1);
	if (tenant_extra != NULL) {
		pk_raw(&b, tenant_extra, strlen(tenant_extra));
		pk_raw(&b, "\n", 1);
	}
	pk_raw(&b, "}\n", 3);	/* NUL */
	b.p[b.len - 1] = '\0';
	p = h_write_base_file(c, "vault.conf", (const char *)b.p);
	hb_free(&b);
	return p;
}

struct h_server *
h_spawn_tenant(struct h_ctx *c, const char *const *env, bool init)
{
	return h_spawn_config(c, "case", env, 0, init);
}

struct h_server *
h_spawn_config(struct h_ctx *c, const char *tenant, const char *const *env, int expect_exit, bool init)
{
	char *conf = h_xmalloc(PATH_MAX);
	const char **args = h_xmalloc(6 * sizeof(char *));
	struct h_spawn_opts o = { .args = args, .env = env, .no_root = true, .expect_exit = expect_exit };
	struct h_server *s;
	size_t n = 0;

	if (snprintf(conf, PATH_MAX, "%s/vault.conf", c->base) >= PATH_MAX)
		fail_msg("path too long");
	args[n++] = "--config";
	args[n++] = conf;
	if (tenant != NULL) {
		args[n++] = "--tenant";
		args[n++] = tenant;
	}
	args[n] = NULL;
	s = h_spawn_ex(c, &o);
	if (c->s == NULL)
		c->s = s;
	if (init && (h_init(s, 3) != 0 || s->version != 3)) {
		h_finish(s);
		h_log_dump(s);
		fail_msg("INIT did not get VERSION 3");
	}
	return s;
}

static void
clear_flags(const char *path)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	int attr = 0;

	if (fd < 0)
		return;
	if (ioctl(fd, FS_IOC_GETFLAGS, &attr) == 0 &&
	    (attr & (FS_IMMUTABLE_FL | FS_APPEND_FL))) {
		attr &= ~(FS_IMMUTABLE_FL | FS_APPEND_FL);
		ioctl(fd, FS_IOC_SETFLAGS, &attr);
	}
	close(fd);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	if (remove(path) == 0 || errno == ENOENT)
		return 0;
	if (errno == EPERM) {
		/* A server that sealed for real (it runs as root here): unseal
		 * the entry and its directory, then retry. */
		char parent[PATH_MAX];
		snprintf(parent, sizeof(parent), "%.*s", ftw->base > 0 ? ftw->base - 1 : 0, path);
		clear_flags(path);
		if (parent[0])
			clear_flags(parent);
		if (remove(path) == 0)
			return 0;
	}
	fprintf(stderr, "cleanup: remove %s: %s\n", path, strerror(errno));
	return 0;
}

static void
server_free(struct h_server *s)
{
	hb_free(&s->in);
	hb_free(&s->err);
	for (size_t j = 0; j < s->n_ext; j++) {
		free(s->ext_names[j]);
		free(s->ext_data[j]);
	}
	free(s->ext_names);
	free(s->ext_data);
	free(s);
}

bool
h_release(struct h_ctx *c, struct h_server *s)
{
	h_finish(s);
	bool ok = s->killed || h_exit_ok(s);
	for (size_t i = 0; i < c->n_servers; i++) {
		if (c->servers[i] == s) {
			memmove(&c->servers[i], &c->servers[i + 1],
				(c->n_servers - i - 1) * sizeof(c->servers[0]));
			c->n_servers--;
			break;
		}
	}
	if (c->s == s)
		c->s = NULL;
	server_free(s);
	return ok;
}

int
h_teardown(void **state)
{
	struct h_ctx *c = *state;
	bool ok = true;

	if (c == NULL)
		return 0;
	for (size_t i = 0; i < c->n_servers; i++) {
		struct h_server *s = c->servers[i];
		h_finish(s);
		if (!s->killed && !h_exit_ok(s))
			ok = false;
	}
	if (c->proc_mount[0])
		umount2(c->proc_mount, MNT_DETACH);
	/* FTW_MOUNT: never walk into a mount the test made (procfs). */
	nftw(c->base, rm_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	for (size_t i = 0; i < c->n_servers; i++)
		server_free(c->servers[i]);
	free(c);
	gc_free_all();
	*state = NULL;
	return ok ? 0 : -1;
}

/* ---- requests --------------------------------------------------------------------- */

const char *
h_status_name(int st)
{
	switch (st) {
	case SSH_FX_OK: return "OK";
	case SSH_FX_EOF: return "EOF";
	case SSH_FX_NO_SUCH_FILE: return "NO_SUCH_FILE";
	case SSH_FX_PERMISSION_DENIED: return "PERMISSION_DENIED";
	case SSH_FX_FAILURE: return "FAILURE";
	case SSH_FX_BAD_MESSAGE: return "BAD_MESSAGE";
	case SSH_FX_NO_CONNECTION: return "NO_CONNECTION";
	case SSH_FX_CONNECTION_LOST: return "CONNECTION_LOST";
	case SSH_FX_OP_UNSUPPORTED: return "OP_UNSUPPORTED";
	case H_BOGUS_OK: return "STATUS OK instead of data";
	case H_WRONG_TYPE: return "wrong reply type";
	case H_NO_REPLY: return "no reply";
	default: return "unknown status";
	}
}

void
h_assert_status_(struct h_server *s, int got, int expected, const char *what,
		 const char *file, int line)
{
	if (got == expected)
		return;
	print_error("%s:%d: %s: got %s (%d), expected %s (%d); message \"%s\"\n",
		    file, line, what, h_status_name(got), got, h_status_name(expected),
		    expected, s->last_msg);
	_fail(file, line);
}

void
h_assert_msg_(struct h_server *s, const char *file, int line, ...)
{
	va_list ap;
	const char *sub;
	bool ok = true;

	va_start(ap, line);
	while ((sub = va_arg(ap, const char *)) != NULL) {
		if (strstr(s->last_msg, sub) == NULL) {
			print_error("%s:%d: status message \"%s\" lacks \"%s\"\n", file, line,
				    s->last_msg, sub);
			ok = false;
		}
	}
	va_end(ap);
	if (!ok)
		_fail(file, line);
}

int
h_call(struct h_server *s, struct h_buf *pkt, uint8_t expect, struct h_reply *r)
{
	struct h_reply tmp;
	uint32_t id;

	if (r == NULL)
		r = &tmp;
	assert_true(pkt->len >= 9);
	id = h_get_u32(pkt->p + 5);
	h_send_raw(s, pkt->p, pkt->len);
	int e = h_recv(s, r, H_TIMEOUT_MS);
	if (e == -ETIMEDOUT)
		fail_msg("no reply to request type %u id %u within %d ms", pkt->p[4], id,
			 H_TIMEOUT_MS);
	if (e == -EPIPE) {
		h_log_dump(s);
		fail_msg("vault-sftp closed its stdout (died?) on request type %u id %u",
			 pkt->p[4], id);
	}
	if (r->id != id)
		fail_msg("reply type %u carries id %u, expected %u (request type %u)",
			 r->type, r->id, id, pkt->p[4]);
	if (r->malformed)
		fail_msg("malformed reply of type %u to request type %u", r->type, pkt->p[4]);
	if (r->type == SSH_FXP_STATUS) {
		snprintf(s->last_msg, sizeof(s->last_msg), "%s", r->msg);
		if (r->status == SSH_FX_OK && expect != SSH_FXP_STATUS)
			return H_BOGUS_OK;
		return (int)r->status;
	}
	s->last_msg[0] = '\0';
	if (r->type != expect)
		return H_WRONG_TYPE;
	return SSH_FX_OK;
}

int
h_init(struct h_server *s, uint32_t version)
{
	struct h_buf b = { 0 };
	struct h_reply r;

	pk_begin(&b, SSH_FXP_INIT);
	pk_u32(&b, version);
	pk_end(&b);
	h_send_raw(s, b.p, b.len);
	hb_free(&b);
	h_recv_must(s, &r);
	if (r.type != SSH_FXP_VERSION)
		return -1;
	s->version = r.id;
	struct rd rd = { .p = r.data, .len = r.data_len };
	while (rd.off < rd.len && !rd.err) {
		size_t nl, dl;
		char *n = rd_str(&rd, &nl);
		char *d = rd_str(&rd, &dl);
		if (rd.err)
			break;
		s->ext_names = realloc(s->ext_names, (s->n_ext + 1) * sizeof(char *));
		s->ext_data = realloc(s->ext_data, (s->n_ext + 1) * sizeof(char *));
		if (!s->ext_names || !s->ext_data)
			abort();
		s->ext_names[s->n_ext] = strdup(n);
		s->ext_data[s->n_ext] = strdup(d);
		s->n_ext++;
	}
	return rd.err ? -1 : 0;
}

bool
h_has_ext(const struct h_server *s, const char *name, const char **ret_data)
{
	for (size_t i = 0; i < s->n_ext; i++) {
		if (strcmp(s->ext_names[i], name) == 0) {
			if (ret_data)
				*ret_data = s->ext_data[i];
			return true;
		}
	}
	return false;
}

static void
copy_handle(const struct h_reply *r, struct h_handle *h)
{
	if (h == NULL)
		return;
	memset(h, 0, sizeof(*h));
	if (r->type == SSH_FXP_HANDLE) {
		h->len = r->handle_len < sizeof(h->b) ? r->handle_len : sizeof(h->b);
		memcpy(h->b, r->handle, h->len);
	}
}

int
h_open_n(struct h_server *s, const void *path, size_t path_len, uint32_t pflags,
	 const struct h_attrs *a, struct h_handle *ret)
{
	struct h_buf b = { 0 };
	struct h_reply r;

	pk_begin_req(s, &b, SSH_FXP_OPEN);
	pk_str(&b, path, path_len);
	pk_u32(&b, pflags);
	pk_attrs(&b, a);
	pk_end(&b);
	int st = h_call(s, &b, SSH_FXP_HANDLE, &r);
	hb_free(&b);
	copy_handle(&r, ret);
	return st;
}

int
h_open(struct h_server *s, const char *path, uint32_t pflags, const struct h_attrs *a,
       struct h_handle *ret)
{
	return h_open_n(s, path, strlen(path), pflags, a, ret);
}

static int
handle_req(struct h_server *s, uint8_t type, const struct h_handle *h, uint8_t expect,
	   struct h_reply *r)
{
	struct h_buf b = { 0 };

	pk_begin_req(s, &b, type);
	pk_handle(&b, h);
	pk_end(&b);
	int st = h_call(s, &b, expect, r);
	hb_free(&b);
	return st;
}

int
h_close(struct h_server *s, const struct h_handle *h)
{
	return handle_req(s, SSH_FXP_CLOSE, h, SSH_FXP_STATUS, NULL);
}

int
h_read(struct h_server *s, const struct h_handle *h, uint64_t off, uint32_t len,
       struct h_reply *r)
{
	struct h_buf b = { 0 };

	pk_begin_req(s, &b, SSH_FXP_READ);
	pk_handle(&b, h);
	pk_u64(&b, off);
	pk_u32(&b, len);
	pk_end(&b);
	int st = h_call(s, &b, SSH_FXP_DATA, r);
	hb_free(&b);
	return st;
}

int
h_write(struct h_server *s, const struct h_handle *h, uint64_t off, const void *data,
	size_t len)
{
	struct h_buf b = { 0 };

	pk_begin_req(s, &b, SSH_FXP_WRITE);
	pk_handle(&b, h);
	pk_u64(&b, off);
	pk_str(&b, data, len);
	pk_end(&b);
	int st = h_call(s, &b, SSH_FXP_STATUS, NULL);
	hb_free(&b);
	return st;
}

int
h_path_req(struct h_server *s, uint8_t type, const void *path, size_t len, uint8_t expect,
	   struct h_reply *r)
{
	struct h_buf b = { 0 };

	pk_begin_req(s, &b, type);
	pk_str(&b, path, len);
	pk_end(&b);
	int st = h_call(s, &b, expect, r);
	hb_free(&b);
	return st;
}

int
h_stat_n(struct h_server *s, uint8_t type, const void *path, size_t len, struct h_attrs *ret)
{
	struct h_reply r;
	int st = h_path_req(s, type, path, len, SSH_FXP_ATTRS, &r);

	if (ret)
		*ret = st == SSH_FX_OK ? r.attrs : (struct h_attrs){ 0 };
	return st;
}

int
h_stat(struct h_server *s, const char *path, struct h_attrs *ret)
{
	return h_stat_n(s, SSH_FXP_STAT, path, strlen(path), ret);
}

int
h_lstat(struct h_server *s, const char *path, struct h_attrs *ret)
{
	return h_stat_n(s, SSH_FXP_LSTAT, path, strlen(path), ret);
}

int
h_fstat(struct h_server *s, const struct h_handle *h, struct h_attrs *ret)
{
	struct h_reply r;
	int st = handle_req(s, SSH_FXP_FSTAT, h, SSH_FXP_ATTRS, &r);

	if (ret)
		*ret = st == SSH_FX_OK ? r.attrs : (struct h_attrs){ 0 };
	return st;
}

int
h_setstat(struct h_server *s, const char *path, const struct h_attrs *a)
{
	struct h_buf b = { 0 };

	pk_begin_req(s, &b, SSH_FXP_SETSTAT);
	pk_cstr(&b, path);
	pk_attrs(&b, a);
	pk_end(&b);
	int st = h_call(s, &b, SSH_FXP_STATUS, NULL);
	hb_free(&b);
	return st;
}

int
h_fsetstat(struct h_server *s, const struct h_handle *h, const struct h_attrs *a)
{
	struct h_buf b = { 0 };

	pk_begin_req(s, &b, SSH_FXP_FSETSTAT);
	pk_handle(&b, h);
	pk_attrs(&b, a);
	pk_end(&b);
	int st = h_call(s, &b, SSH_FXP_STATUS, NULL);
	hb_free(&b);
	return st;
}

int
h_lsetstat(struct h_server *s, const char *path, const struct h_attrs *a)
{
	struct h_buf b = { 0 };

	pk_begin_ext(s, &b, "lsetstat@openssh.com");
	pk_cstr(&b, path);
	pk_attrs(&b, a);
	pk_end(&b);
	int st = h_call(s, &b, SSH_FXP_STATUS, NULL);
	hb_free(&b);
	return st;
}

int
h_opendir(struct h_server *s, const char *path, struct h_handle *ret)
{
	struct h_reply r;
	int st = h_path_req(s, SSH_FXP_OPENDIR, path, strlen(path), SSH_FXP_HANDLE, &r);

	copy_handle(&r, ret);
	return st;
}

int
h_readdir(struct h_server *s, const struct h_handle *h, struct h_reply *r)
{
	return handle_req(s, SSH_FXP_READDIR, h, SSH_FXP_NAME, r);
}

int
h_remove(struct h_server *s, const char *path)
{
	return h_path_req(s, SSH_FXP_REMOVE, path, strlen(path), SSH_FXP_STATUS, NULL);
}

int
h_rmdir(struct h_server *s, const char *path)
{
	return h_path_req(s, SSH_FXP_RMDIR, path, strlen(path), SSH_FXP_STATUS, NULL);
}

int
h_mkdir(struct h_server *s, const char *path, const struct h_attrs *a)
{
	struct h_buf b = { 0 };

	pk_begin_req(s, &b, SSH_FXP_MKDIR);
	pk_cstr(&b, path);
	pk_attrs(&b, a);
	pk_end(&b);
	int st = h_call(s, &b, SSH_FXP_STATUS, NULL);
	hb_free(&b);
	return st;
}

static int
one_name(struct h_server *s, uint8_t type, const char *path, char **ret)
{
	struct h_reply r;
	int st = h_path_req(s, type, path, strlen(path), SSH_FXP_NAME, &r);

	if (ret)
		*ret = NULL;
	if (st == SSH_FX_OK) {
		if (r.count != 1)
			fail_msg("NAME reply with %u entries, expected 1", r.count);
		if (ret)
			*ret = r.names[0].name;
	}
	return st;
}

int
h_realpath(struct h_server *s, const char *path, char **ret)
{
	return one_name(s, SSH_FXP_REALPATH, path, ret);
}

int
h_readlink(struct h_server *s, const char *path, char **ret)
{
	return one_name(s, SSH_FXP_READLINK, path, ret);
}

static int
two_paths(struct h_server *s, uint8_t type, const char *ext, const char *a, const char *b2)
{
	struct h_buf b = { 0 };

	if (ext)
		pk_begin_ext(s, &b, ext);
	else
		pk_begin_req(s, &b, type);
	pk_cstr(&b, a);
	pk_cstr(&b, b2);
	pk_end(&b);
	int st = h_call(s, &b, SSH_FXP_STATUS, NULL);
	hb_free(&b);
	return st;
}

int
h_rename(struct h_server *s, const char *from, const char *to)
{
	return two_paths(s, SSH_FXP_RENAME, NULL, from, to);
}

int
h_symlink(struct h_server *s, const char *a, const char *b)
{
	return two_paths(s, SSH_FXP_SYMLINK, NULL, a, b);
}

int
h_posix_rename(struct h_server *s, const char *from, const char *to)
{
	return two_paths(s, 0, "posix-rename@openssh.com", from, to);
}

int
h_hardlink(struct h_server *s, const char *from, const char *to)
{
	return two_paths(s, 0, "hardlink@openssh.com", from, to);
}

int
h_fsync(struct h_server *s, const struct h_handle *h)
{
	struct h_buf b = { 0 };

	pk_begin_ext(s, &b, "fsync@openssh.com");
	pk_handle(&b, h);
	pk_end(&b);
	int st = h_call(s, &b, SSH_FXP_STATUS, NULL);
	hb_free(&b);
	return st;
}

int
h_listdir(struct h_server *s, const char *path, char ***ret, size_t *ret_n)
{
	struct h_handle h;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int st = h_opendir(s, path, &h);

	*ret = NULL;
	*ret_n = 0;
	if (st != SSH_FX_OK)
		return st;
	for (int round = 0; round < 100000; round++) {
		struct h_reply r;
		st = h_readdir(s, &h, &r);
		if (st == SSH_FX_EOF) {
			st = SSH_FX_OK;
			break;
		}
		if (st != SSH_FX_OK)
			break;
		if (r.count == 0)
			fail_msg("READDIR returned NAME with 0 entries (use EOF)");
		for (uint32_t i = 0; i < r.count; i++) {
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				char **nn = h_xmalloc(cap * sizeof(char *));
				if (n)
					memcpy(nn, names, n * sizeof(char *));
				names = nn;
			}
			names[n++] = r.names[i].name;
		}
	}
	int cst = h_close(s, &h);
	if (st == SSH_FX_OK && cst != SSH_FX_OK)
		st = cst;
	*ret = names;
	*ret_n = n;
	return st;
}

bool
h_names_contain(char **names, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return true;
	return false;
}

int
h_put(struct h_server *s, const char *path, uint32_t pflags, const void *data, size_t len)
{
	struct h_handle h;
	const uint8_t *p = data;
	int st = h_open(s, path, pflags, NULL, &h);

	if (st != SSH_FX_OK)
		return st;
	int wst = SSH_FX_OK;
	for (size_t off = 0; off < len && wst == SSH_FX_OK; off += 32768) {
		size_t n = len - off < 32768 ? len - off : 32768;
		wst = h_write(s, &h, off, p + off, n);
	}
	st = h_close(s, &h);
	return wst != SSH_FX_OK ? wst : st;
}

int
h_get(struct h_server *s, const char *path, uint8_t **ret, size_t *ret_len)
{
	struct h_handle h;
	struct h_buf b = { 0 };
	int st = h_open(s, path, SSH_FXF_READ, NULL, &h);

	*ret = NULL;
	*ret_len = 0;
	if (st != SSH_FX_OK)
		return st;
	for (;;) {
		struct h_reply r;
		st = h_read(s, &h, b.len, 32768, &r);
		if (st == SSH_FX_EOF) {
			st = SSH_FX_OK;
			break;
		}
		if (st != SSH_FX_OK)
			break;
		if (r.data_len == 0)
			fail_msg("READ returned 0 bytes of DATA before EOF");
		pk_raw(&b, r.data, r.data_len);
	}
	int cst = h_close(s, &h);
	if (st == SSH_FX_OK)
		st = cst;
	*ret = h_xmalloc(b.len);
	if (b.len)
		memcpy(*ret, b.p, b.len);
	*ret_len = b.len;
	hb_free(&b);
	return st;
}

/* ---- disk ------------------------------------------------------------------------- */

void
h_path(const struct h_ctx *c, const char *rel, char out[PATH_MAX])
{
	while (*rel == '/')
		rel++;
	if (snprintf(out, PATH_MAX, "%s/%s", c->root, rel) >= PATH_MAX)
		fail_msg("path too long for the disk helper");
}

static void
mkdir_parents(char *p)
{
	for (char *q = p + 1; *q; q++) {
		if (*q != '/')
			continue;
		*q = '\0';
		if (mkdir(p, 0755) != 0 && errno != EEXIST)
			fail_msg("mkdir %s: %s", p, strerror(errno));
		*q = '/';
	}
}

void
h_disk_put(const struct h_ctx *c, const char *rel, const void *data, size_t len, mode_t mode)
{
	char p[PATH_MAX];
	struct timespec ts[2] = { { H_OLD_TIME, 0 }, { H_OLD_TIME, 0 } };

	h_path(c, rel, p);
	mkdir_parents(p);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		fail_msg("create %s: %s", p, strerror(errno));
	if (len && write(fd, data, len) != (ssize_t)len)
		fail_msg("write %s: %s", p, strerror(errno));
	if (fchmod(fd, mode) != 0 || futimens(fd, ts) != 0)
		fail_msg("chmod/utimens %s: %s", p, strerror(errno));
	close(fd);
}

void
h_disk_put_str(const struct h_ctx *c, const char *rel, const char *str)
{
	h_disk_put(c, rel, str, strlen(str), 0644);
}

void
h_disk_mkdir(const struct h_ctx *c, const char *rel, mode_t mode)
{
	char p[PATH_MAX];

	h_path(c, rel, p);
	mkdir_parents(p);
	if (mkdir(p, mode) != 0 && errno != EEXIST)
		fail_msg("mkdir %s: %s", p, strerror(errno));
	if (chmod(p, mode) != 0)
		fail_msg("chmod %s: %s", p, strerror(errno));
}

void
h_disk_symlink(const struct h_ctx *c, const char *target, const char *rel)
{
	char p[PATH_MAX];

	h_path(c, rel, p);
	mkdir_parents(p);
	if (symlink(target, p) != 0)
		fail_msg("symlink %s: %s", p, strerror(errno));
}

uint8_t *
h_disk_get(const struct h_ctx *c, const char *rel, size_t *ret_len)
{
	char p[PATH_MAX];
	struct h_buf b = { 0 };

	h_path(c, rel, p);
	*ret_len = 0;
	int fd = open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return NULL;
	ssize_t n;
	do {
		hb_reserve(&b, 65536);
		n = read(fd, b.p + b.len, b.cap - b.len);
		if (n > 0)
			b.len += (size_t)n;
	} while (n > 0);
	close(fd);
	uint8_t *out = h_xmalloc(b.len);
	if (b.len)
		memcpy(out, b.p, b.len);
	*ret_len = b.len;
	hb_free(&b);
	return out;
}

int
h_disk_lstat(const struct h_ctx *c, const char *rel, struct stat *st)
{
	char p[PATH_MAX];

	h_path(c, rel, p);
	return lstat(p, st);
}

bool
h_disk_exists(const struct h_ctx *c, const char *rel)
{
	struct stat st;

	return h_disk_lstat(c, rel, &st) == 0;
}

ssize_t
h_disk_list(const struct h_ctx *c, const char *reldir, char ***ret)
{
	char p[PATH_MAX];
	size_t n = 0, cap = 16;
	char **names = h_xmalloc(sizeof(char *) * cap);
	struct dirent *e;
	DIR *d;

	*ret = names;
	h_path(c, reldir, p);
	d = opendir(p);
	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (n == cap) {
			char **nn = h_xmalloc(sizeof(char *) * cap * 2);
			memcpy(nn, names, sizeof(char *) * n);
			names = nn;
			cap *= 2;
		}
		names[n++] = gc_strndup(e->d_name, strlen(e->d_name));
	}
	closedir(d);
	*ret = names;
	return (ssize_t)n;
}

void
h_disk_link(const struct h_ctx *c, const char *existing_rel, const char *new_rel)
{
	char a[PATH_MAX], b[PATH_MAX];

	h_path(c, existing_rel, a);
	h_path(c, new_rel, b);
	mkdir_parents(b);
	if (link(a, b) != 0)
		fail_msg("link %s %s: %s", a, b, strerror(errno));
}

void
h_assert_disk_(const struct h_ctx *c, const char *rel, const void *data, size_t len,
	       const char *file, int line)
{
	struct stat st;
	size_t got_len;
	uint8_t *got;

	if (h_disk_lstat(c, rel, &st) != 0) {
		print_error("%s:%d: \"%s\" is missing on disk\n", file, line, rel);
		_fail(file, line);
	}
	if (!S_ISREG(st.st_mode)) {
		print_error("%s:%d: \"%s\" is not a regular file (mode 0%o)\n", file, line, rel,
			    (unsigned)st.st_mode);
		_fail(file, line);
	}
	got = h_disk_get(c, rel, &got_len);
	if (got == NULL || got_len != len || (len && memcmp(got, data, len) != 0)) {
		print_error("%s:%d: \"%s\" holds %zu bytes%s%.*s%s, expected %zu bytes%s%.*s%s\n",
			    file, line, rel, got_len, got_len <= 64 ? " \"" : "",
			    got_len <= 64 ? (int)got_len : 0, got ? (const char *)got : "",
			    got_len <= 64 ? "\"" : "", len, len <= 64 ? " \"" : "",
			    len <= 64 ? (int)len : 0, (const char *)data, len <= 64 ? "\"" : "");
		_fail(file, line);
	}
}

void
h_assert_disk_absent_(const struct h_ctx *c, const char *rel, const char *file, int line)
{
	if (h_disk_exists(c, rel)) {
		print_error("%s:%d: \"%s\" exists on disk, expected absent\n", file, line, rel);
		_fail(file, line);
	}
}

size_t
h_disk_partials(const struct h_ctx *c, const char *reldir, char ***ret)
{
	char p[PATH_MAX];
	size_t n = 0;
	char **names = h_xmalloc(sizeof(char *) * 1024);

	h_path(c, reldir, p);
	DIR *d = opendir(p);
	if (d == NULL)
		fail_msg("opendir %s: %s", p, strerror(errno));
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, ".sealvault.part.", 16) == 0 && n < 1024)
			names[n++] = gc_strndup(e->d_name, strlen(e->d_name));
	}
	closedir(d);
	if (ret)
		*ret = names;
	return n;
}

void
h_pattern(void *buf, size_t len, uint32_t seed)
{
	uint8_t *p = buf;
	uint64_t x = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)seed * 0x100000001B3ULL);

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)(x >> 24);
	}
}

uint8_t *
h_pattern_alloc(size_t len, uint32_t seed)
{
	uint8_t *p = h_xmalloc(len);

	h_pattern(p, len, seed);
	return p;
}

void
h_snap_take(const struct h_ctx *c, const char *rel, struct h_snap *snap)
{
	memset(snap, 0, sizeof(*snap));
	snap->exists = h_disk_lstat(c, rel, &snap->st) == 0;
	if (snap->exists && S_ISREG(snap->st.st_mode))
		snap->data = h_disk_get(c, rel, &snap->len);
}

void
h_assert_unchanged_(const struct h_ctx *c, const char *rel, const struct h_snap *snap,
		    bool ctime_too, const char *file, int line)
{
	struct h_snap now;
	bool ok = true;

	h_snap_take(c, rel, &now);
#define H_CMP(cond, ...) do { if (!(cond)) { print_error("%s:%d: \"%s\": ", file, line, rel); \
	print_error(__VA_ARGS__); print_error("\n"); ok = false; } } while (0)
	H_CMP(now.exists == snap->exists, "existence changed (%d -> %d)", snap->exists,
	      now.exists);
	if (now.exists && snap->exists) {
		H_CMP(now.st.st_ino == snap->st.st_ino, "inode changed: replaced");
		H_CMP(now.st.st_mode == snap->st.st_mode, "mode changed 0%o -> 0%o",
		      snap->st.st_mode, now.st.st_mode);
		H_CMP(now.st.st_uid == snap->st.st_uid && now.st.st_gid == snap->st.st_gid,
		      "owner changed");
		H_CMP(now.st.st_size == snap->st.st_size, "size changed %lld -> %lld",
		      (long long)snap->st.st_size, (long long)now.st.st_size);
		H_CMP(now.st.st_nlink == snap->st.st_nlink, "link count changed");
		H_CMP(now.st.st_mtim.tv_sec == snap->st.st_mtim.tv_sec &&
		      now.st.st_mtim.tv_nsec == snap->st.st_mtim.tv_nsec,
		      "mtime changed %lld -> %lld", (long long)snap->st.st_mtim.tv_sec,
		      (long long)now.st.st_mtim.tv_sec);
		if (ctime_too)
			H_CMP(now.st.st_ctim.tv_sec == snap->st.st_ctim.tv_sec &&
			      now.st.st_ctim.tv_nsec == snap->st.st_ctim.tv_nsec,
			      "ctime changed: the inode was modified");
		H_CMP(now.len == snap->len && (now.len == 0 ||
					       memcmp(now.data, snap->data, now.len) == 0),
		      "content changed");
	}
#undef H_CMP
	if (!ok)
		_fail(file, line);
}

/* ---- log ---------------------------------------------------------------------------- */

typedef bool (*line_fn)(const char *line, size_t len, const void *arg);

static size_t
count_lines(struct h_server *s, line_fn fn, const void *arg)
{
	size_t n = 0;

	h_drain_err(s);
	const char *p = (const char *)s->err.p, *end = p + s->err.len;
	while (p && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (fn(p, len, arg))
			n++;
		p = nl ? nl + 1 : end;
	}
	return n;
}

struct two_subs {
	const char *a;
	const char *b;
};

static bool
line_has_both(const char *line, size_t len, const void *arg)
{
	const struct two_subs *t = arg;

	if (t->a && !memmem(line, len, t->a, strlen(t->a)))
		return false;
	if (t->b && !memmem(line, len, t->b, strlen(t->b)))
		return false;
	return true;
}

size_t
h_log_count(struct h_server *s, const char *sub1, const char *sub2)
{
	struct two_subs t = { sub1, sub2 };

	return count_lines(s, line_has_both, &t);
}

static bool
line_is_refusal(const char *line, size_t len, const void *arg)
{
	const char *path = arg;
	size_t plen = strlen(path);
	const char *end = line + len;
	const char *p = line;

	while ((p = memmem(p, (size_t)(end - p), "refused ", 8)) != NULL) {
		const char *op = p + 8;
		const char *q = op;
		p += 8;
		while (q < end && *q != ' ' && *q != '"')
			q++;
		if (q == op || q + 2 > end || q[0] != ' ' || q[1] != '"')
			continue;
		q += 2;
		if ((size_t)(end - q) < plen + 4 || memcmp(q, path, plen) != 0)
			continue;
		q += plen;
		if (memcmp(q, "\": ", 3) != 0 || q + 3 >= end)
			continue;
		return true;
	}
	return false;
}

size_t
h_log_refusals(struct h_server *s, const char *path)
{
	return count_lines(s, line_is_refusal, path);
}

void
h_log_dump(struct h_server *s)
{
	h_drain_err(s);
	if (s->err.len == 0) {
		print_message("[vault-sftp stderr: empty]\n");
		return;
	}
	size_t n = s->err.len > 6000 ? 6000 : s->err.len;
	const char *start = (const char *)s->err.p + (s->err.len - n);
	print_message("[vault-sftp stderr, last %zu of %zu bytes]\n%.*s\n[end]\n", n,
		      s->err.len, (int)n, start);
}
