/* SPDX-License-Identifier: MIT */
/*
 * The seal broker's refusals and wire handling, in-process: broker_seal_fd
 * on files in a scratch root, broker_serve_one over a socketpair, and
 * seal_client_seal against a forked broker. Only refusals: the success path
 * (the immutable flag) needs root and ext4 and is tested in
 * tests/integration/test_broker.sh. Also the session message (key and
 * client address, both ends) and the key fingerprints vault-sftp sends;
 * the audit records that carry them: tests/integration/test_audit_key.sh.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "broker.h"
#include "key-fingerprint.h"
#include "seal-client.h"

static char root[256], outside[300];
static struct policy *pol;
static struct tenant_table tab;
/* The tenant's maintenance user: an existing user other than us (and not root). */
static uid_t maint_uid;
static char maint_name[64];

static void
touch(const char *rel)
{
	char p[512];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "data", 4), 4);
	close(fd);
}

static int
open_rel(const char *rel, int flags)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	return open(p, flags | O_CLOEXEC);
}

static int
setup(void **state)
{
	char tmpl[] = "/tmp/sealvault-test-broker.XXXXXX", conf[2048], p[600];
	struct policy_error perr;
	struct passwd *pw = getpwuid(getuid());

	if (pw == NULL || mkdtemp(tmpl) == NULL)
		return -1;
	{
		static const char *const candidates[] = { "nobody", "daemon", "bin" };

		for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]) && maint_name[0] == '\0'; i++) {
			const struct passwd *m = getpwnam(candidates[i]);

			if (m != NULL && m->pw_uid != 0 && m->pw_uid != getuid()) {
				maint_uid = m->pw_uid;
				snprintf(maint_name, sizeof(maint_name), "%s", m->pw_name);
			}
		}
		if (maint_name[0] == '\0')
			return -1;
		pw = getpwuid(getuid());	/* getpwnam() may have reused its buffer */
		if (pw == NULL)
			return -1;
	}
	snprintf(outside, sizeof(outside), "%s", tmpl);
	snprintf(root, sizeof(root), "%s/root", tmpl);
	if (mkdir(root, 0755) < 0)
		return -1;
	snprintf(conf, sizeof(conf),
		 "profile p {\n\tpath **/*.tmp temp\n\tpath **/*.info versioned\n\tpath **  seal\n}\n"
		 "tenant t {\n\tuser %s\n\troot %s\n\tprofile p\n"
		 "\tmaintenance-user %s\n\tmaintenance-from 127.0.0.1\n}\n", pw->pw_name, root, maint_name);
	if (policy_load_string(conf, "test", &pol, &perr) < 0) {
		fprintf(stderr, "%s:%u: %s\n", perr.file, perr.line, perr.message);
		return -1;
	}
	if (tenants_open(pol, &tab) < 0 || !tab.t[0].ok || tab.t[0].maint_uid != maint_uid)
		return -1;
	touch("a.bin");
	touch("b.bin");
	touch("x.tmp");
	touch("v.info");
	touch("h1.bin");
	touch(".sealvault-part");
	snprintf(p, sizeof(p), "%s/h1.bin", root);
	{
		char q[600];

		snprintf(q, sizeof(q), "%s/h2.bin", root);
		if (link(p, q) < 0)
			return -1;
	}
	snprintf(p, sizeof(p), "%s/d", root);
	if (mkdir(p, 0755) < 0)
		return -1;
	snprintf(p, sizeof(p), "%s/outside.bin", outside);
	{
		int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

		if (fd < 0)
			return -1;
		close(fd);
	}
	(void)state;
	return 0;
}

static int
teardown(void **state)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", outside);
	tenants_close(&tab);
	policy_free(pol);
	(void)state;
	return system(cmd) == 0 ? 0 : -1;
}

static void
expect_refusal(int fd, const char *vpath, uid_t uid, const char *reason_part)
{
	struct broker_outcome o = { 0 };
	int r = broker_seal_fd(&tab, uid, fd, vpath, &o);

	assert_true(r < 0);
	assert_int_equal(r, o.status);
	if (strstr(o.reason, reason_part) == NULL)
		fail_msg("reason '%s' lacks '%s'", o.reason, reason_part);
}

static void
test_refusals(void **state)
{
	int a = open_rel("a.bin", O_RDONLY), d = open_rel("d", O_RDONLY | O_DIRECTORY);
	int h = open_rel("h1.bin", O_RDONLY), x = open_rel("x.tmp", O_RDONLY);
	int v = open_rel("v.info", O_RDONLY);
	int r = open_rel(".sealvault-part", O_RDONLY), ap = open_rel("a.bin", O_PATH);
	char p[400];
	int out;

	snprintf(p, sizeof(p), "%s/outside.bin", outside);
	out = open(p, O_RDONLY | O_CLOEXEC);
	assert_true(a >= 0 && d >= 0 && h >= 0 && x >= 0 && v >= 0 && r >= 0 && ap >= 0 && out >= 0);

	expect_refusal(a, "/a.bin", getuid() + 12345, "user of no tenant");
	expect_refusal(d, "/d", getuid(), "not a regular file");
	expect_refusal(h, "/h1.bin", getuid(), "links, not one");
	expect_refusal(x, "/x.tmp", getuid(), "temp class");
	/* Only versioned files have an attic; the checks before it are the seal's. */
	{
		struct broker_outcome o = { 0 };

		assert_true(broker_attic_fd(&tab, getuid(), a, "/a.bin", &o) < 0);
		assert_non_null(strstr(o.reason, "seal class, which has no attic"));
		assert_true(broker_attic_fd(&tab, getuid(), x, "/x.tmp", &o) < 0);
		assert_non_null(strstr(o.reason, "temp class, which has no attic"));
		assert_true(broker_attic_fd(&tab, getuid(), h, "/h1.bin", &o) < 0);
		assert_non_null(strstr(o.reason, "links, not one"));
		assert_true(broker_attic_fd(&tab, getuid(), v, "/b.bin", &o) < 0);
		assert_non_null(strstr(o.reason, "not the file at that path"));
	}
	expect_refusal(r, "/.sealvault-part", getuid(), "reserved");
	expect_refusal(a, "/b.bin", getuid(), "not the file at that path");
	expect_refusal(out, "/outside.bin", getuid(), "does not resolve");
	expect_refusal(out, "/../outside.bin", getuid(), "not a clean");
	expect_refusal(a, "a.bin", getuid(), "not a clean");
	expect_refusal(a, "/a.bin/", getuid(), "not a clean");
	expect_refusal(a, "//a.bin", getuid(), "not a clean");
	expect_refusal(a, "/", getuid(), "not a clean");
	expect_refusal(ap, "/a.bin", getuid(), "O_PATH");
	expect_refusal(9999, "/a.bin", getuid(), "not an open file descriptor");
	close(a); close(d); close(h); close(x); close(v); close(r); close(ap); close(out);
	(void)state;
}

/* Sends a raw request: the magic, len bytes of body, nfds copies of fd. */
static void
send_raw(int s, uint32_t magic, const void *body, size_t len, int fd, int nfds)
{
	unsigned char buf[8192];
	union {
		char b[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(magic) + len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	memcpy(buf, &magic, sizeof(magic));
	memcpy(buf + sizeof(magic), body, len);
	memset(&ctl, 0, sizeof(ctl));
	if (nfds > 0) {
		struct cmsghdr *c;

		mh.msg_control = ctl.b;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		for (int i = 0; i < nfds; i++)
			memcpy(CMSG_DATA(c) + i * sizeof(int), &fd, sizeof(int));
	}
	assert_int_equal(sendmsg(s, &mh, 0), (ssize_t)iov.iov_len);
}

static int32_t
read_status(int s)
{
	unsigned char buf[SEAL_PROTO_REPLY_MAX];
	int32_t st;

	assert_true(read(s, buf, sizeof(buf)) >= (ssize_t)sizeof(st));
	memcpy(&st, buf, sizeof(st));
	return st;
}

static void
test_wire(void **state)
{
	int sv[2], a = open_rel("a.bin", O_RDONLY);
	struct broker_session sess = { 0 };
	struct broker_outcome o;
	char big[SEAL_PROTO_PATH_MAX + 16];

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);

	/* nothing to read yet */
	assert_int_equal(broker_serve_one(&tab, sv[1], &sess, &o), -EAGAIN);
	/* a well-formed request with no fd: refused, connection kept */
	send_raw(sv[0], SEAL_PROTO_MAGIC, "/x.tmp", 7, -1, 0);
	assert_int_equal(broker_serve_one(&tab, sv[1], &sess, &o), 0);
	assert_int_equal(read_status(sv[0]), -EINVAL);
	/* three fds: refused, all closed */
	send_raw(sv[0], SEAL_PROTO_MAGIC, "/x.tmp", 7, a, 3);
	assert_int_equal(broker_serve_one(&tab, sv[1], &sess, &o), 0);
	assert_int_equal(read_status(sv[0]), -EINVAL);
	assert_non_null(strstr(o.reason, "got 3"));
	/* a valid request for a temp path: a policy refusal */
	send_raw(sv[0], SEAL_PROTO_MAGIC, "/x.tmp", 7, open_rel("x.tmp", O_RDONLY), 1);
	assert_int_equal(broker_serve_one(&tab, sv[1], &sess, &o), 0);
	assert_int_equal(read_status(sv[0]), -EPERM);
	assert_string_equal(o.path, "/x.tmp");
	/* no NUL, a NUL inside, wrong magic, too long: protocol errors */
	send_raw(sv[0], SEAL_PROTO_MAGIC, "/a.bin", 6, a, 1);
	assert_int_equal(broker_serve_one(&tab, sv[1], &sess, &o), -EPROTO);
	assert_int_equal(read_status(sv[0]), -EPROTO);
	send_raw(sv[0], SEAL_PROTO_MAGIC, "/a\0.bin", 8, a, 1);
	assert_int_equal(broker_serve_one(&tab, sv[1], &sess, &o), -EPROTO);
	assert_int_equal(read_status(sv[0]), -EPROTO);
	send_raw(sv[0], 0x12345678, "/a.bin", 7, a, 1);
	assert_int_equal(broker_serve_one(&tab, sv[1], &sess, &o), -EPROTO);
	assert_int_equal(read_status(sv[0]), -EPROTO);
	memset(big, 'a', sizeof(big));
	big[0] = '/';
	big[sizeof(big) - 1] = '\0';
	send_raw(sv[0], SEAL_PROTO_MAGIC, big, sizeof(big), a, 1);
	assert_int_equal(broker_serve_one(&tab, sv[1], &sess, &o), -EPROTO);
	assert_int_equal(read_status(sv[0]), -EPROTO);
	/* the peer hangs up */
	close(sv[0]);
	assert_int_equal(broker_serve_one(&tab, sv[1], &sess, &o), -ECONNRESET);
	close(sv[1]);
	close(a);
	(void)state;
}

static void
test_client(void **state)
{
	int sv[2], fd = open_rel("x.tmp", O_RDONLY), r;
	char reason[SEAL_PROTO_REASON_MAX];
	pid_t pid;

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct broker_session sess = { 0 };
		struct broker_outcome o;
		int rc;

		close(sv[0]);
		do
			rc = broker_serve_one(&tab, sv[1], &sess, &o);
		while (rc == -EAGAIN && usleep(1000) == 0);
		_exit(rc == 0 ? 0 : 1);
	}
	close(sv[1]);
	r = seal_client_seal(sv[0], fd, "/x.tmp", reason, sizeof(reason));
	assert_int_equal(r, -EPERM);
	assert_non_null(strstr(reason, "temp class"));
	{
		int st;

		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	/* the broker is gone: a local error with a reason, no hang */
	r = seal_client_seal(sv[0], fd, "/x.tmp", reason, sizeof(reason));
	assert_true(r == -EPIPE || r == -ECONNRESET || r == -ENOTCONN);
	assert_non_null(strstr(reason, "seal broker"));
	assert_int_equal(seal_client_seal(-1, fd, "/x.tmp", reason, sizeof(reason)), -ENOTCONN);
	assert_int_equal(seal_client_connect("/nonexistent/broker.sock"), -ENOENT);
	close(sv[0]);
	close(fd);
	(void)state;
}

/*
 * The maintenance user's uid is its tenant (seal requests are checked as
 * the tenant's), only it may have a sealed file moved to the attic, and
 * only it may begin a maintenance session. The moves themselves need root
 * and ext4 (tests/integration/test_maintenance.sh).
 */
static void
test_maintenance_peer(void **state)
{
	int a = open_rel("a.bin", O_RDONLY), x = open_rel("x.tmp", O_RDONLY), sv[2];
	struct broker_session sess = { 0 };
	struct broker_outcome o = { 0 };

	assert_true(a >= 0 && x >= 0);
	/* The maintenance peer gets past "who": the path's class refuses, as for the tenant. */
	assert_true(broker_seal_fd(&tab, maint_uid, x, "/x.tmp", &o) < 0);
	assert_non_null(strstr(o.reason, "temp class"));
	assert_ptr_equal(o.tenant, &tab.t[0]);
	assert_true(o.maintenance);
	assert_true(broker_attic_fd(&tab, maint_uid, x, "/x.tmp", &o) < 0);
	assert_non_null(strstr(o.reason, "temp class, which has no attic"));
	/* Another file at that path: the identity check still holds for it. */
	assert_true(broker_attic_fd(&tab, maint_uid, a, "/b.bin", &o) < 0);
	assert_non_null(strstr(o.reason, "not the file at that path"));
	/* The tenant's own uid: no attic for a sealed file, and no maintenance session. */
	assert_true(broker_attic_fd(&tab, getuid(), a, "/a.bin", &o) < 0);
	assert_non_null(strstr(o.reason, "only for the tenant's maintenance user"));
	assert_false(o.maintenance);
	assert_int_equal(broker_maint_begin(&tab, getuid(), &o), -EPERM);
	assert_non_null(strstr(o.reason, "maintenance user of no tenant"));
	assert_int_equal(broker_maint_begin(&tab, getuid() + 12345, &o), -EPERM);
	assert_null(o.tenant);

	/* On the wire: the request names "/" and has no fd; from the tenant's uid it is refused. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	send_raw(sv[0], SEAL_PROTO_MAGIC_MAINT, "/", 2, -1, 0);
	assert_int_equal(broker_serve_one(&tab, sv[1], &sess, &o), 0);
	assert_int_equal(o.kind, BROKER_MAINT);
	assert_int_equal(read_status(sv[0]), -EPERM);
	send_raw(sv[0], SEAL_PROTO_MAGIC_MAINT, "/", 2, a, 1);
	assert_int_equal(broker_serve_one(&tab, sv[1], &sess, &o), -EPROTO);
	assert_int_equal(read_status(sv[0]), -EPROTO);
	close(sv[0]);
	close(sv[1]);
	close(a);
	close(x);
	(void)state;
}

/* ssh-keygen -t ed25519 / -t rsa -b 1024, and what ssh-keygen -l printed for them. */
#define ED_B64	"AAAAC3NzaC1lZDI1NTE5AAAAIHXglNg1JWM8FhQkX4gOfl/AxqO9lN01RKYZk9EqJyyO"
#define ED_FP	"SHA256:7TMFtkbLezzCEEehyYLlJqZxqwHa6rWcA3SROdDL0qo"
#define RSA_B64	"AAAAB3NzaC1yc2EAAAADAQABAAAAgQDElF5/JJKDRGpFhfvzCQpUiDvtWkrBFsJ98eBgQeCNW2NnD8K+E4wCRlqHnl" \
		"xo77QEfBcBlw8cau4CPmHqNqgZL3Jsgbzs+0sTz0rx9kKKjlJ3qpThpMOFw3GqG8ec8FIPfzJ2XAH5dz1eknYEIPODOwJ" \
		"bH9ESXqcutVfp5CiIpQ=="
#define RSA_FP	"SHA256:sH9pKVPWIwZkZi3NTdtB0iSji7+CjuHcW15UxAZWMVw"

/* A session message's body: key, NUL, client, NUL. Returns its length. */
static size_t
session_body(char *buf, size_t size, const char *key, const char *client)
{
	size_t k = strlen(key), c = strlen(client);

	assert_true(k + c + 2 <= size);
	memcpy(buf, key, k + 1);
	memcpy(buf + k + 1, client, c + 1);
	return k + c + 2;
}

/* Sends a session message on sv[0], serves it on sv[1]; returns broker_serve_one's result. */
static int
serve_session_msg(int sv[2], struct broker_session *sess, struct broker_outcome *o, const char *key,
		  const char *client)
{
	char body[512];
	size_t n = session_body(body, sizeof(body), key, client);

	send_raw(sv[0], SEAL_PROTO_MAGIC_SESSION, body, n, -1, 0);
	return broker_serve_one(&tab, sv[1], sess, o);
}

static void
test_session_wire(void **state)
{
	static const char *const bad[][2] = {
		{ "SHA256:a b", "" }, { "SHA256:a\x01", "" }, { "SHA256:\x7f", "" },
		{ "SHA256:\xc3\xa9", "" }, { "", "192.0.2.7\n" }, { "", "192.0.2.7 22" }, { "", "\t" },
	};
	int sv[2], x = open_rel("x.tmp", O_RDONLY);
	struct broker_session sess = { 0 };
	struct broker_outcome o;
	char body[256];

	assert_true(x >= 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	/* The first message: stored and answered 0. */
	assert_int_equal(serve_session_msg(sv, &sess, &o, ED_FP, "192.0.2.7"), 0);
	assert_int_equal(o.kind, BROKER_SESSION);
	assert_int_equal(o.status, 0);
	assert_int_equal(read_status(sv[0]), 0);
	assert_ptr_equal(o.tenant, &tab.t[0]);
	assert_string_equal(sess.key_fp, ED_FP);
	assert_string_equal(sess.client, "192.0.2.7");
	/* Every later outcome of the connection carries them: a refused seal, a report. */
	send_raw(sv[0], SEAL_PROTO_MAGIC, "/x.tmp", 7, x, 1);
	assert_int_equal(broker_serve_one(&tab, sv[1], &sess, &o), 0);
	assert_int_equal(o.kind, BROKER_SEAL);
	assert_int_equal(read_status(sv[0]), -EPERM);
	assert_string_equal(o.key_fp, ED_FP);
	assert_string_equal(o.client, "192.0.2.7");
	send_raw(sv[0], SEAL_PROTO_MAGIC_REPORT, "remove\0/a.bin\0sealed", 21, -1, 0);
	assert_int_equal(broker_serve_one(&tab, sv[1], &sess, &o), 0);
	assert_int_equal(o.kind, BROKER_REPORT);
	assert_string_equal(o.key_fp, ED_FP);
	assert_string_equal(o.client, "192.0.2.7");
	/* A second one is refused, and what the first said stays. */
	assert_int_equal(serve_session_msg(sv, &sess, &o, RSA_FP, "203.0.113.9"), 0);
	assert_int_equal(o.kind, BROKER_SESSION);
	assert_int_equal(o.status, -EALREADY);
	assert_int_equal(read_status(sv[0]), -EALREADY);
	assert_non_null(strstr(o.reason, "once"));
	assert_non_null(strstr(o.reason, RSA_FP));	/* what it tried, for the audit record */
	assert_string_equal(o.key_fp, ED_FP);
	assert_string_equal(sess.key_fp, ED_FP);
	assert_string_equal(sess.client, "192.0.2.7");
	close(sv[0]);
	close(sv[1]);

	/* Only as the first message: after a seal request it is refused. */
	sess = (struct broker_session){ 0 };
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	send_raw(sv[0], SEAL_PROTO_MAGIC, "/x.tmp", 7, x, 1);
	assert_int_equal(broker_serve_one(&tab, sv[1], &sess, &o), 0);
	assert_int_equal(read_status(sv[0]), -EPERM);
	assert_int_equal(serve_session_msg(sv, &sess, &o, ED_FP, "192.0.2.7"), 0);
	assert_int_equal(read_status(sv[0]), -EALREADY);
	assert_string_equal(sess.key_fp, "");
	assert_string_equal(o.client, "");
	close(sv[0]);
	close(sv[1]);

	/* Not graphic ASCII: refused, nothing stored, the connection stays. */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sess = (struct broker_session){ 0 };
		assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
		assert_int_equal(serve_session_msg(sv, &sess, &o, bad[i][0], bad[i][1]), 0);
		assert_int_equal(o.status, -EINVAL);
		assert_int_equal(read_status(sv[0]), -EINVAL);
		assert_string_equal(sess.key_fp, "");
		assert_string_equal(sess.client, "");
		close(sv[0]);
		close(sv[1]);
	}

	/* Both unknown: fine, and nothing to name. */
	sess = (struct broker_session){ 0 };
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(serve_session_msg(sv, &sess, &o, "", ""), 0);
	assert_int_equal(read_status(sv[0]), 0);
	assert_string_equal(o.key_fp, "");
	assert_string_equal(o.client, "");

	/* Malformed: protocol errors (vaultd then closes the connection). */
	send_raw(sv[0], SEAL_PROTO_MAGIC_SESSION, ED_FP "\0" "192.0.2.7", sizeof(ED_FP) + 9, -1, 0);
	assert_int_equal(broker_serve_one(&tab, sv[1], &sess, &o), -EPROTO);	/* no last NUL */
	assert_int_equal(read_status(sv[0]), -EPROTO);
	send_raw(sv[0], SEAL_PROTO_MAGIC_SESSION, ED_FP, sizeof(ED_FP), -1, 0);
	assert_int_equal(broker_serve_one(&tab, sv[1], &sess, &o), -EPROTO);	/* one field */
	assert_int_equal(o.kind, BROKER_SESSION);
	assert_int_equal(read_status(sv[0]), -EPROTO);
	send_raw(sv[0], SEAL_PROTO_MAGIC_SESSION, "a\0b\0c", 6, -1, 0);
	assert_int_equal(broker_serve_one(&tab, sv[1], &sess, &o), -EPROTO);	/* three */
	assert_int_equal(read_status(sv[0]), -EPROTO);
	memset(body, 'A', sizeof(body));
	body[SEAL_PROTO_KEY_MAX] = '\0';	/* a key of SEAL_PROTO_KEY_MAX bytes: one too many */
	body[SEAL_PROTO_KEY_MAX + 1] = '\0';
	send_raw(sv[0], SEAL_PROTO_MAGIC_SESSION, body, SEAL_PROTO_KEY_MAX + 2, -1, 0);
	assert_int_equal(broker_serve_one(&tab, sv[1], &sess, &o), -EPROTO);
	assert_int_equal(read_status(sv[0]), -EPROTO);
	body[SEAL_PROTO_KEY_MAX - 1] = '\0';	/* one less: well-formed */
	send_raw(sv[0], SEAL_PROTO_MAGIC_SESSION, body, SEAL_PROTO_KEY_MAX + 1, -1, 0);
	assert_int_equal(broker_serve_one(&tab, sv[1], &sess, &o), 0);
	assert_int_equal(read_status(sv[0]), -EALREADY);
	send_raw(sv[0], SEAL_PROTO_MAGIC_SESSION, "\0", 2, x, 1);
	assert_int_equal(broker_serve_one(&tab, sv[1], &sess, &o), -EPROTO);	/* an fd */
	assert_int_equal(read_status(sv[0]), -EPROTO);
	assert_string_equal(sess.key_fp, "");
	close(sv[0]);
	close(sv[1]);
	close(x);
	(void)state;
}

/* Queues a reply (status, reason) for the client on s. */
static void
queue_reply(int s, int32_t status, const char *reason)
{
	unsigned char rep[64];
	size_t n = strlen(reason) + 1;

	memcpy(rep, &status, sizeof(status));
	memcpy(rep + sizeof(status), reason, n);
	assert_int_equal(send(s, rep, sizeof(status) + n, 0), (ssize_t)(sizeof(status) + n));
}

static void
test_session_client(void **state)
{
	uint32_t magic = SEAL_PROTO_MAGIC_SESSION;
	unsigned char buf[512];
	char reason[SEAL_PROTO_REASON_MAX], longkey[SEAL_PROTO_KEY_MAX + 1];
	int sv[2];
	ssize_t n;
	pid_t pid;

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	/* The reply goes first: the client reads it once it has sent. */
	queue_reply(sv[1], 0, "");
	assert_int_equal(seal_client_session(sv[0], ED_FP, "192.0.2.7", reason, sizeof(reason)), 0);
	n = read(sv[1], buf, sizeof(buf));
	assert_int_equal(n, 4 + sizeof(ED_FP) + sizeof("192.0.2.7"));
	assert_memory_equal(buf, &magic, 4);
	assert_memory_equal(buf + 4, ED_FP "\0" "192.0.2.7", sizeof(ED_FP) + sizeof("192.0.2.7"));
	/* Unknown parts are empty fields. */
	queue_reply(sv[1], 0, "");
	assert_int_equal(seal_client_session(sv[0], NULL, "", reason, sizeof(reason)), 0);
	assert_int_equal(read(sv[1], buf, sizeof(buf)), 6);
	assert_memory_equal(buf, &magic, 4);
	assert_memory_equal(buf + 4, "\0", 2);
	/* The broker's refusal comes back with its reason. */
	queue_reply(sv[1], -EALREADY, "once");
	assert_int_equal(seal_client_session(sv[0], ED_FP, NULL, reason, sizeof(reason)), -EALREADY);
	assert_string_equal(reason, "once");
	assert_true(read(sv[1], buf, sizeof(buf)) > 0);
	/* Refused before anything is sent: too long, not graphic ASCII. */
	memset(longkey, 'A', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	assert_int_equal(seal_client_session(sv[0], longkey, NULL, reason, sizeof(reason)), -EINVAL);
	assert_int_equal(seal_client_session(sv[0], "SHA256:a b", NULL, reason, sizeof(reason)), -EINVAL);
	assert_int_equal(seal_client_session(sv[0], NULL, "::1\n", reason, sizeof(reason)), -EINVAL);
	assert_int_equal(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(seal_client_session(-1, ED_FP, NULL, reason, sizeof(reason)), -ENOTCONN);
	close(sv[0]);
	close(sv[1]);

	/* Client and broker together: the broker stores what the client sent. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct broker_session sess = { 0 };
		struct broker_outcome o;
		int rc;

		close(sv[0]);
		do
			rc = broker_serve_one(&tab, sv[1], &sess, &o);
		while (rc == -EAGAIN && usleep(1000) == 0);
		_exit(rc == 0 && strcmp(sess.key_fp, RSA_FP) == 0 && strcmp(sess.client, "2001:db8::7") == 0
		      ? 0 : 1);
	}
	close(sv[1]);
	assert_int_equal(seal_client_session(sv[0], RSA_FP, "2001:db8::7", reason, sizeof(reason)), 0);
	{
		int st;

		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	close(sv[0]);
	(void)state;
}

static void
test_key_fingerprint(void **state)
{
	char fp[KEY_FINGERPRINT_SIZE], b64[128], broken[sizeof(ED_B64)];
	unsigned char blob[64];
	static const char cert[] = "ssh-ed25519-cert-v01@openssh.com";
	uint32_t be = htonl(sizeof(cert) - 1);

	/* What ssh-keygen -l prints. */
	assert_int_equal(key_fingerprint_base64("ssh-ed25519", ED_B64, strlen(ED_B64), fp), 0);
	assert_string_equal(fp, ED_FP);
	assert_int_equal(key_fingerprint_base64("ssh-rsa", RSA_B64, strlen(RSA_B64), fp), 0);
	assert_string_equal(fp, RSA_FP);
	assert_true(key_fingerprint_valid(ED_FP));
	assert_true(key_fingerprint_valid(RSA_FP));
	/* Only the base64 given counts (a comment may follow it on the line). */
	assert_int_equal(key_fingerprint_base64("ssh-ed25519", ED_B64 " c", strlen(ED_B64), fp), 0);
	assert_string_equal(fp, ED_FP);

	/* Not that key: another type, cut, a foreign character, bad padding. */
	assert_int_equal(key_fingerprint_base64("ssh-rsa", ED_B64, strlen(ED_B64), fp), -EINVAL);
	assert_int_equal(key_fingerprint_base64("ssh-ed25519", ED_B64, strlen(ED_B64) - 1, fp), -EINVAL);
	assert_int_equal(key_fingerprint_base64("ssh-ed25519", ED_B64, 0, fp), -EINVAL);
	memcpy(broken, ED_B64, sizeof(broken));
	broken[10] = '*';
	assert_int_equal(key_fingerprint_base64("ssh-ed25519", broken, strlen(broken), fp), -EINVAL);
	assert_int_equal(key_fingerprint_base64("ssh-rsa", "AAAA=AAA", 8, fp), -EINVAL);
	assert_int_equal(key_fingerprint_base64("", ED_B64, strlen(ED_B64), fp), -EINVAL);
	/* A certificate: its fingerprint would not be sshd's, so none. */
	memcpy(blob, &be, 4);
	memcpy(blob + 4, cert, sizeof(cert) - 1);
	memset(blob + 4 + sizeof(cert) - 1, 7, sizeof(blob) - 4 - (sizeof(cert) - 1));
	assert_true(EVP_EncodeBlock((unsigned char *)b64, blob, (int)sizeof(blob)) > 0);
	assert_int_equal(key_fingerprint_base64(cert, b64, strlen(b64), fp), -EOPNOTSUPP);

	/* The option's check: exactly SHA256: and 43 base64 characters. */
	assert_false(key_fingerprint_valid(NULL));
	assert_false(key_fingerprint_valid(""));
	assert_false(key_fingerprint_valid("SHA256:7TMFtkbLezzCEEehyYLlJqZxqwHa6rWcA3SROdDL0q"));
	assert_false(key_fingerprint_valid(ED_FP "o"));
	assert_false(key_fingerprint_valid(ED_FP "="));
	assert_false(key_fingerprint_valid("sha256:7TMFtkbLezzCEEehyYLlJqZxqwHa6rWcA3SROdDL0qo"));
	assert_false(key_fingerprint_valid("MD5:7TMFtkbLezzCEEehyYLlJqZxqwHa6rWcA3SROdDL0qo12"));
	assert_false(key_fingerprint_valid("SHA256:7TMFtkbLezzCEEehyYLlJqZxqwHa6rWcA3SROdDL0q-"));
	assert_false(key_fingerprint_valid("SHA256:7TMFtkbLezzCEEehyYLlJqZxqwHa6rWcA3SROdDL0q "));
	(void)state;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_wire),
		cmocka_unit_test(test_client),
		cmocka_unit_test(test_maintenance_peer),
		cmocka_unit_test(test_session_wire),
		cmocka_unit_test(test_session_client),
		cmocka_unit_test(test_key_fingerprint),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
