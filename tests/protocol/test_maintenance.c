/* SPDX-License-Identifier: MIT */
/*
 * Maintenance sessions (policy/README.md, maintenance-user): vault-sftp
 * run as a tenant's maintenance user serves that tenant, only from the
 * addresses of maintenance-from (SSH_CONNECTION), and a sealed or
 * versioned file it removes or replaces goes to vaultd's attic, never
 * away. Each case writes a vault.conf whose tenant has the test's own user
 * as its maintenance user (the tenant's user is someone else) or as its
 * user, and, where a broker is needed, serves the broker socket from a
 * thread: it records every request and plays vaultd's part of an attic
 * move (the file leaves the root for base/attic).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"

#define WCT	(SSH_FXF_WRITE | SSH_FXF_CREAT | SSH_FXF_TRUNC)
#define PD	SSH_FX_PERMISSION_DENIED

/* The magics of vaultd/broker-proto.h, restated: the test speaks the wire format. */
#define MAGIC_SEAL	0x53564c31u
#define MAGIC_REPORT	0x53565231u
#define MAGIC_ATTIC	0x53564131u
#define MAGIC_MAINT	0x53564d31u
#define MAGIC_SESSION	0x53565331u

#define PROFILE \
	"profile case {\n" \
	"\tpath **/*.tmp temp\n" \
	"\tpath locks/* mutable\n" \
	"\tpath info/ versioned\n" \
	"\tpath ** seal\n" \
	"}\n"

#define OTHER_USER	"svt-not-a-user"
#define CONN_OK		"SSH_CONNECTION=127.0.0.1 50022 127.0.0.1 22"

/* ---------------------------------------------------------------- a fake broker */

#define FB_MAX	64

struct fake_broker {
	int listen_fd;
	int stop[2];		/* a byte on stop[1] ends the thread */
	pthread_t thread;
	char root[PATH_MAX], attic[PATH_MAX];
	pthread_mutex_t lock;
	uint32_t magic[FB_MAX];
	char path[FB_MAX][256];
	int n;
};

static void
fb_record(struct fake_broker *fb, uint32_t magic, const char *path)
{
	pthread_mutex_lock(&fb->lock);
	if (fb->n < FB_MAX) {
		fb->magic[fb->n] = magic;
		if (snprintf(fb->path[fb->n], sizeof(fb->path[0]), "%s", path) >= (int)sizeof(fb->path[0]))
			fb->path[fb->n][0] = '\0';	/* too long for any case here: matches nothing */
		fb->n++;
	}
	pthread_mutex_unlock(&fb->lock);
}

/* vaultd's part of an attic move: the file leaves the root (here for base/attic, name flattened). */
static int
fb_attic(struct fake_broker *fb, const char *vpath)
{
	char from[PATH_MAX * 2], to[PATH_MAX * 2], flat[256];
	size_t i;

	if (snprintf(flat, sizeof(flat), "%s", vpath + 1) >= (int)sizeof(flat))
		return -ENAMETOOLONG;
	for (i = 0; flat[i] != '\0'; i++)
		if (flat[i] == '/')
			flat[i] = '_';
	if (snprintf(from, sizeof(from), "%s%s", fb->root, vpath) >= (int)sizeof(from) ||
	    snprintf(to, sizeof(to), "%s/%s", fb->attic, flat) >= (int)sizeof(to))
		return -ENAMETOOLONG;
	return rename(from, to) < 0 ? -errno : 0;
}

static void
fb_serve(struct fake_broker *fb, int conn)
{
	unsigned char buf[8192];
	union {
		char b[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) - 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
			     .msg_controllen = sizeof(ctl.b) };
	unsigned char reply[8] = { 0 };
	uint32_t magic;
	int32_t status = 0;
	ssize_t r = recvmsg(conn, &mh, MSG_CMSG_CLOEXEC);

	if (r < (ssize_t)sizeof(magic) + 1)
		return;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c))
		for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			close(fd);
		}
	buf[r] = '\0';
	memcpy(&magic, buf, sizeof(magic));
	fb_record(fb, magic, (const char *)buf + sizeof(magic));
	if (magic == MAGIC_REPORT)
		return;
	if (magic == MAGIC_ATTIC)
		status = fb_attic(fb, (const char *)buf + sizeof(magic));
	memcpy(reply, &status, sizeof(status));
	(void)send(conn, reply, sizeof(status) + 1, MSG_NOSIGNAL);
}

static void *
fb_thread(void *arg)
{
	struct fake_broker *fb = arg;
	struct pollfd p[10];
	nfds_t n = 2;

	p[0] = (struct pollfd){ .fd = fb->stop[0], .events = POLLIN };
	p[1] = (struct pollfd){ .fd = fb->listen_fd, .events = POLLIN };
	for (;;) {
		if (poll(p, n, 10000) <= 0 || p[0].revents)
			break;
		if (p[1].revents & POLLIN && n < 10) {
			int c = accept4(fb->listen_fd, NULL, NULL, SOCK_CLOEXEC);

			if (c >= 0)
				p[n++] = (struct pollfd){ .fd = c, .events = POLLIN };
		}
		for (nfds_t i = 2; i < n; i++) {
			if (p[i].revents & POLLIN)
				fb_serve(fb, p[i].fd);
			else if (p[i].revents & (POLLHUP | POLLERR)) {
				close(p[i].fd);
				p[i--] = p[--n];
			}
		}
	}
	for (nfds_t i = 2; i < n; i++)
		close(p[i].fd);
	return NULL;
}

static struct fake_broker *
fb_start(struct h_ctx *c)
{
	struct fake_broker *fb = h_gc(calloc(1, sizeof(*fb)));
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	assert_true(snprintf(fb->root, sizeof(fb->root), "%s", c->root) < (int)sizeof(fb->root));
	assert_true(snprintf(fb->attic, sizeof(fb->attic), "%s/attic", c->base) < (int)sizeof(fb->attic));
	assert_int_equal(mkdir(fb->attic, 0700), 0);
	assert_true(snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/broker.sock", c->base) <
		    (int)sizeof(sa.sun_path));
	fb->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_true(fb->listen_fd >= 0);
	assert_int_equal(bind(fb->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fb->listen_fd, 8), 0);
	assert_int_equal(pipe2(fb->stop, O_CLOEXEC), 0);
	pthread_mutex_init(&fb->lock, NULL);
	assert_int_equal(pthread_create(&fb->thread, NULL, fb_thread, fb), 0);
	return fb;
}

static void
fb_stop(struct fake_broker *fb)
{
	assert_int_equal(write(fb->stop[1], "x", 1), 1);
	pthread_join(fb->thread, NULL);
	close(fb->listen_fd);
	close(fb->stop[0]);
	close(fb->stop[1]);
	pthread_mutex_destroy(&fb->lock);
}

/* How many requests of magic for path (NULL: any) the broker got. */
static int
fb_count(struct fake_broker *fb, uint32_t magic, const char *path)
{
	int n = 0;

	pthread_mutex_lock(&fb->lock);
	for (int i = 0; i < fb->n; i++)
		n += fb->magic[i] == magic && (path == NULL || strcmp(fb->path[i], path) == 0);
	pthread_mutex_unlock(&fb->lock);
	return n;
}

static uint32_t
fb_first(struct fake_broker *fb)
{
	uint32_t m;

	pthread_mutex_lock(&fb->lock);
	m = 0;
	/* The session message (key, address) comes first when there is one; then the rest. */
	for (int i = 0; i < fb->n && m == 0; i++)
		if (fb->magic[i] != MAGIC_SESSION)
			m = fb->magic[i];
	pthread_mutex_unlock(&fb->lock);
	return m;
}

/* ---------------------------------------------------------------- helpers */

/*
 * vault.conf: the tenant "case" on the case's root; the test's user is its
 * maintenance user (maint), or its user (the maintenance user is someone
 * else). The broker socket is base/broker.sock, served or not.
 */
static void
write_config(struct h_ctx *c, bool maint)
{
	char text[4 * PATH_MAX];

	snprintf(text, sizeof(text),
		 "broker-socket %s/broker.sock\n" PROFILE
		 "tenant case {\n\tuser %s\n\troot %s\n\tprofile case\n"
		 "\tmaintenance-user %s\n\tmaintenance-from 127.0.0.1 2001:db8::/32\n}\n",
		 c->base, maint ? OTHER_USER : h_user_name(), c->root, maint ? h_user_name() : OTHER_USER);
	h_write_base_file(c, "vault.conf", text);
}

/* vault-sftp --config, no --tenant: the user alone says which tenant, and how. */
static struct h_server *
spawn(struct h_ctx *c, const char *conn_env, int expect_exit, bool init)
{
	const char **env = h_xmalloc(2 * sizeof(char *));

	env[0] = conn_env;
	env[1] = NULL;
	return h_spawn_config(c, NULL, env, expect_exit, init);
}

static void
put_files(struct h_ctx *c)
{
	h_disk_put_str(c, "data/a", "pack a\n");
	h_disk_put_str(c, "data/b", "pack b\n");
	h_disk_put_str(c, "data/c", "pack c\n");
	h_disk_put_str(c, "info/v", "version 1\n");
	h_disk_put_str(c, "locks/l", "lock\n");
}

/* ---------------------------------------------------------------- cases */

/* The maintenance user prunes: each sealed or versioned file it removes or replaces is in the attic. */
static void
maintenance_moves_to_the_attic(void **state)
{
	struct h_ctx *c = *state;
	struct fake_broker *fb;
	struct h_server *s;
	struct h_handle h;

	put_files(c);
	write_config(c, true);
	fb = fb_start(c);
	s = spawn(c, CONN_OK, 0, true);
	/* The session began by telling vaultd, before any request. */
	assert_int_equal(fb_count(fb, MAGIC_MAINT, "/"), 1);
	assert_int_equal(fb_first(fb), MAGIC_MAINT);

	h_assert_status(s, h_remove(s, "/data/a"), SSH_FX_OK);
	h_assert_disk_absent(c, "data/a");
	assert_int_equal(fb_count(fb, MAGIC_ATTIC, "/data/a"), 1);
	h_assert_disk_str(c, "../attic/data_a", "pack a\n");
	h_assert_status(s, h_remove(s, "/info/v"), SSH_FX_OK);
	assert_int_equal(fb_count(fb, MAGIC_ATTIC, "/info/v"), 1);

	/* Rename-over and re-upload: the old version first to the attic, the new one sealed. */
	h_assert_status(s, h_put(s, "/data/new.tmp", WCT, "repacked\n", 9), SSH_FX_OK);
	h_assert_status(s, h_posix_rename(s, "/data/new.tmp", "/data/b"), SSH_FX_OK);
	h_assert_disk_str(c, "data/b", "repacked\n");
	h_assert_disk_str(c, "../attic/data_b", "pack b\n");
	assert_int_equal(fb_count(fb, MAGIC_SEAL, "/data/b"), 1);
	h_assert_status(s, h_put(s, "/data/c", WCT, "rewritten\n", 10), SSH_FX_OK);
	h_assert_disk_str(c, "data/c", "rewritten\n");
	h_assert_disk_str(c, "../attic/data_c", "pack c\n");
	assert_int_equal(fb_count(fb, MAGIC_SEAL, "/data/c"), 1);

	/* New files as for the tenant: created, sealed. Temp and mutable files: plain. */
	h_assert_status(s, h_put(s, "/data/d", WCT, "new pack\n", 9), SSH_FX_OK);
	assert_int_equal(fb_count(fb, MAGIC_SEAL, "/data/d"), 1);
	h_assert_status(s, h_remove(s, "/locks/l"), SSH_FX_OK);
	assert_int_equal(fb_count(fb, MAGIC_ATTIC, "/locks/l"), 0);

	/* What never was allowed stays refused: no attic for those. */
	h_assert_status(s, h_open(s, "/data/d", SSH_FXF_WRITE | SSH_FXF_APPEND, NULL, &h), PD);
	h_assert_status(s, h_rmdir(s, "/data"), PD);
	h_assert_status(s, h_rename(s, "/data/d", "/data/e"), PD);
	h_assert_status(s, h_remove(s, "/.sealvault/x"), PD);
	h_assert_disk_str(c, "data/d", "new pack\n");
	assert_int_equal(fb_count(fb, MAGIC_ATTIC, NULL), 4);
	assert_true(h_log_count(s, "case (maintenance)", "moved to the attic") >= 2);
	h_finish(s);
	h_assert_exit_ok(s);
	fb_stop(fb);
}

/* The tenant's own user, broker or not, still keeps its sealed files. */
static void
tenant_session_unchanged(void **state)
{
	struct h_ctx *c = *state;
	struct fake_broker *fb;
	struct h_server *s;

	put_files(c);
	write_config(c, false);
	fb = fb_start(c);
	s = spawn(c, CONN_OK, 0, true);
	h_assert_status(s, h_remove(s, "/data/a"), PD);
	h_assert_msg(s, "refuses delete");
	h_assert_status(s, h_put(s, "/data/b", WCT, "other\n", 6), PD);
	h_assert_disk_str(c, "data/a", "pack a\n");
	h_assert_disk_str(c, "data/b", "pack b\n");
	h_assert_status(s, h_remove(s, "/info/v"), SSH_FX_OK);	/* versioned: the attic, as ever */
	h_finish(s);
	h_assert_exit_ok(s);
	assert_int_equal(fb_count(fb, MAGIC_MAINT, NULL), 0);
	assert_int_equal(fb_count(fb, MAGIC_ATTIC, "/data/a"), 0);
	assert_int_equal(fb_count(fb, MAGIC_ATTIC, "/info/v"), 1);
	fb_stop(fb);
}

/* Without vaultd there is no attic to trust: the maintenance session removes nothing finished. */
static void
maintenance_without_broker_refuses(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s;
	struct h_snap a, v;

	put_files(c);
	h_snap_take(c, "data/a", &a);
	h_snap_take(c, "info/v", &v);
	write_config(c, true);
	s = spawn(c, CONN_OK, 0, true);
	h_assert_status(s, h_remove(s, "/data/a"), PD);
	h_assert_msg(s, "/data/a", "attic");
	h_assert_status(s, h_remove(s, "/info/v"), PD);
	h_assert_status(s, h_put(s, "/data/a", WCT, "other\n", 6), PD);
	h_assert_status(s, h_put(s, "/x.tmp", WCT, "t\n", 2), SSH_FX_OK);
	h_assert_status(s, h_posix_rename(s, "/x.tmp", "/data/a"), PD);
	h_assert_status(s, h_remove(s, "/x.tmp"), SSH_FX_OK);
	h_assert_status(s, h_put(s, "/data/new", WCT, "n\n", 2), SSH_FX_OK);
	h_assert_unchanged(c, "data/a", &a, false);
	h_assert_unchanged(c, "info/v", &v, false);
	h_finish(s);
	h_assert_exit_ok(s);
	assert_true(h_log_count(s, "maintenance without vaultd", NULL) == 1);
}

/* Only from maintenance-from: anything else (or no SSH_CONNECTION) ends the session before it starts. */
static void
maintenance_only_from_its_addresses(void **state)
{
	static const char *const refused[] = {
		"SSH_CONNECTION=127.0.0.2 50022 127.0.0.1 22",
		"SSH_CONNECTION=192.0.2.1 50022 127.0.0.1 22",
		"SSH_CONNECTION=2001:db9::1 50022 ::1 22",
		"SSH_CONNECTION=127.0.0.1/8 50022 127.0.0.1 22",
		"SSH_CONNECTION=",
	};
	static const char *const allowed[] = {
		CONN_OK,
		"SSH_CONNECTION=::ffff:127.0.0.1 50022 ::ffff:127.0.0.1 22",
		"SSH_CONNECTION=2001:db8:1::7 50022 ::1 22",
	};
	struct h_ctx *c = *state;
	struct h_server *s;

	put_files(c);
	write_config(c, true);
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		s = spawn(c, refused[i], 1, false);
		h_finish(s);
		if (!h_exit_ok(s) || h_log_count(s, "not allowed from", NULL) != 1)
			fail_msg("%s: not refused with a message", refused[i]);
		h_release(c, s);
	}
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		s = spawn(c, allowed[i], 0, true);
		h_assert_status(s, h_remove(s, "/locks/l"), i == 0 ? SSH_FX_OK : SSH_FX_NO_SUCH_FILE);
		h_release(c, s);
	}
	h_assert_disk_str(c, "data/a", "pack a\n");
}

int
main(int argc, char **argv)
{
	h_main_init(argc, argv);
	const struct CMUnitTest tests[] = {
		H_TEST_BARE(maintenance_moves_to_the_attic),
		H_TEST_BARE(tenant_session_unchanged),
		H_TEST_BARE(maintenance_without_broker_refuses),
		H_TEST_BARE(maintenance_only_from_its_addresses),
	};
	return cmocka_run_group_tests_name("protocol_maintenance", tests, NULL, NULL);
}
