/* SPDX-License-Identifier: MIT */
/*
 * The audit module against a journal of our own: a SOCK_DGRAM socket bound
 * in a scratch dir stands in for journald, and each test parses the entries
 * that arrive (both serializations, memfd-passed entries). Also the stderr
 * fallback (stderr captured through a pipe), the rate limit and its notices,
 * the counters, the kernel audit text, and, as root, the kernel's ack.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/netlink.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "audit-internal.h"
#include "audit.h"

#define ID_SEALED	"0f548a214a9a46e88e66624bc47637c6"
#define ID_REFUSED	"f0da00e79bbc4ffca69a9669a9cb2e5d"
#define ID_DAEMON	"c1ee43d2b470405286ca0dd5d5d33f2e"

static char dir[64], jpath[96];
static int jfd = -1;

struct field {
	char key[64];
	char *val;		/* NUL-terminated copy; len may include NULs */
	size_t len;
	bool binary;		/* came in the KEY\n + le64 length form */
};

struct entry {
	struct field f[32];
	size_t n;
	bool memfd;
};

static void
entry_free(struct entry *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->f[i].val);
	e->n = 0;
}

static const struct field *
get(const struct entry *e, const char *key)
{
	const struct field *found = NULL;

	for (size_t i = 0; i < e->n; i++) {
		if (strcmp(e->f[i].key, key) != 0)
			continue;
		assert_null(found);	/* each key at most once */
		found = &e->f[i];
	}
	return found;
}

static const char *
val(const struct entry *e, const char *key)
{
	const struct field *f = get(e, key);

	return f != NULL ? f->val : NULL;
}

/* The native protocol's two forms; -1 on anything malformed. */
static int
parse(const char *p, size_t len, struct entry *e)
{
	size_t i = 0;

	e->n = 0;
	while (i < len) {
		struct field *f;
		size_t k = i;

		while (k < len && p[k] != '=' && p[k] != '\n')
			k++;
		if (k == len || k == i || k - i >= sizeof(e->f[0].key) || e->n == 32)
			return -1;
		f = &e->f[e->n];
		memcpy(f->key, p + i, k - i);
		f->key[k - i] = '\0';
		if (p[k] == '=') {
			size_t v = k + 1, end = v;

			while (end < len && p[end] != '\n')
				end++;
			if (end == len)
				return -1;
			f->len = end - v;
			f->binary = false;
			i = end + 1;
			f->val = malloc(f->len + 1);
			memcpy(f->val, p + v, f->len);
		} else {
			uint64_t le;

			if (len - (k + 1) < 8)
				return -1;
			memcpy(&le, p + k + 1, 8);
			f->len = (size_t)le64toh(le);
			if (len - (k + 9) < f->len + 1 || p[k + 9 + f->len] != '\n')
				return -1;
			f->binary = true;
			f->val = malloc(f->len + 1);
			memcpy(f->val, p + k + 9, f->len);
			i = k + 9 + f->len + 1;
		}
		f->val[f->len] = '\0';
		e->n++;
	}
	return 0;
}

/* One entry from the test journal within timeout_ms: 1, 0 on timeout. */
static int
recv_entry(int fd, int timeout_ms, struct entry *e)
{
	static char buf[1 << 20];
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int) * 4)];
	} ctl;
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
			     .msg_controllen = sizeof(ctl.b) };
	struct pollfd p = { .fd = fd, .events = POLLIN };
	struct cmsghdr *c;
	int memfd = -1;
	ssize_t n;

	if (poll(&p, 1, timeout_ms) <= 0)
		return 0;
	n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0)
		return 0;
	assert_false(mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC));
	for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
		assert_int_equal(c->cmsg_type, SCM_RIGHTS);
		assert_int_equal(c->cmsg_len, CMSG_LEN(sizeof(int)));	/* exactly one fd */
		memcpy(&memfd, CMSG_DATA(c), sizeof(int));
	}
	e->memfd = memfd >= 0;
	if (memfd >= 0) {
		struct stat st;
		char *data;
		int seals = fcntl(memfd, F_GET_SEALS);

		/* journald's rule: an fd comes alone, with no payload, and sealed. */
		assert_int_equal(n, 0);
		assert_true(seals >= 0);
		assert_int_equal(seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE),
				 F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
		assert_int_equal(fstat(memfd, &st), 0);
		data = malloc((size_t)st.st_size + 1);
		assert_non_null(data);
		assert_int_equal(pread(memfd, data, (size_t)st.st_size, 0), st.st_size);
		assert_int_equal(parse(data, (size_t)st.st_size, e), 0);
		free(data);
		close(memfd);
		return 1;
	}
	assert_int_equal(parse(buf, (size_t)n, e), 0);
	return 1;
}

static int
bind_journal(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", jpath);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static int
setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/sealvault-test-audit.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(jpath, sizeof(jpath), "%s/journal", dir);
	jfd = bind_journal();
	return 0;
}

static int
teardown(void **state)
{
	if (jfd >= 0)
		close(jfd);
	jfd = -1;
	unlink(jpath);
	rmdir(dir);
	return 0;
}

static struct audit *
open_journal(unsigned burst, unsigned interval_ms)
{
	struct audit_config cfg = { .journal_socket = jpath, .rate_burst = burst,
				    .rate_interval_ms = interval_ms };
	struct audit *a = NULL;

	assert_int_equal(audit_open(&cfg, &a), 0);
	assert_non_null(a);
	assert_string_equal(audit_backend(a), "journal");
	return a;
}

/* stderr into a pipe; no cmocka assertions while it is captured. */
struct capture {
	int saved, rd;
};

/* A pipe, or a stream socket as systemd gives services. */
static void
capture_start_as(struct capture *c, bool sock)
{
	int p[2];

	if (sock) {
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p), 0);
	} else {
		assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	}
	fflush(stderr);
	c->saved = dup(STDERR_FILENO);
	assert_true(c->saved >= 0);
	assert_int_equal(dup2(p[1], STDERR_FILENO), STDERR_FILENO);
	close(p[1]);
	c->rd = p[0];
}

static void
capture_start(struct capture *c)
{
	capture_start_as(c, false);
}

static char *
capture_end(struct capture *c)
{
	static char out[64 * 1024];
	size_t len = 0;
	ssize_t n;

	dup2(c->saved, STDERR_FILENO);
	close(c->saved);
	while (len < sizeof(out) - 1 && (n = read(c->rd, out + len, sizeof(out) - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(c->rd);
	return out;
}

static bool
printable(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

static void
test_journal_fields(void **state)
{
	struct audit *a = open_journal(0, 0);
	struct entry e = { 0 };

	audit_emit(a, &(struct audit_record){
		.event = AUDIT_SEALED, .priority = LOG_INFO, .op = "seal", .tenant = "t1",
		.path = "/a/b", .source = "fanotify", .uid = (uid_t)-1,
	});
	assert_int_equal(recv_entry(jfd, 2000, &e), 1);
	assert_false(e.memfd);
	assert_string_equal(val(&e, "MESSAGE"), "sealed \"/a/b\" tenant=t1 source=fanotify");
	assert_string_equal(val(&e, "PRIORITY"), "6");
	assert_string_equal(val(&e, "SYSLOG_IDENTIFIER"), "vaultd");
	assert_string_equal(val(&e, "MESSAGE_ID"), ID_SEALED);
	assert_string_equal(val(&e, "VAULT_OP"), "seal");
	assert_string_equal(val(&e, "VAULT_TENANT"), "t1");
	assert_string_equal(val(&e, "VAULT_PATH"), "/a/b");
	assert_false(get(&e, "VAULT_PATH")->binary);	/* plain values stay readable */
	assert_string_equal(val(&e, "VAULT_SOURCE"), "fanotify");
	/* NULL and "none" values are left out. */
	assert_null(get(&e, "VAULT_REASON"));
	assert_null(get(&e, "VAULT_UID"));
	assert_null(get(&e, "VAULT_PID"));
	assert_null(get(&e, "VAULT_KEY"));
	entry_free(&e);

	audit_emit(a, &(struct audit_record){
		.event = AUDIT_SEAL_REFUSED, .priority = LOG_NOTICE, .op = "seal", .tenant = "t1",
		.path = "/a/b", .reason = "not a regular file", .source = "broker",
		.key_fp = "SHA256:abc", .uid = 1001, .pid = 42,
	});
	assert_int_equal(recv_entry(jfd, 2000, &e), 1);
	assert_string_equal(val(&e, "MESSAGE"),
			    "refused seal \"/a/b\" tenant=t1 uid=1001 pid=42 source=broker key=SHA256:abc: "
			    "not a regular file");
	assert_string_equal(val(&e, "MESSAGE_ID"), ID_REFUSED);
	assert_string_equal(val(&e, "PRIORITY"), "5");
	assert_string_equal(val(&e, "VAULT_REASON"), "not a regular file");
	assert_string_equal(val(&e, "VAULT_UID"), "1001");
	assert_string_equal(val(&e, "VAULT_PID"), "42");
	assert_string_equal(val(&e, "VAULT_KEY"), "SHA256:abc");
	entry_free(&e);

	audit_daemon(a, LOG_INFO, "ready: %d tenants", 3);
	assert_int_equal(recv_entry(jfd, 2000, &e), 1);
	assert_string_equal(val(&e, "MESSAGE"), "ready: 3 tenants");
	assert_string_equal(val(&e, "MESSAGE_ID"), ID_DAEMON);
	assert_string_equal(val(&e, "VAULT_OP"), "daemon");
	entry_free(&e);
	audit_free(a);
}

/* Tenant-chosen names reach the journal byte for byte, and MESSAGE stays one printable line. */
static void
test_journal_untrusted_bytes(void **state)
{
	static const char nl_path[] = "/a/new\nline \"q\".bin";
	static const char bad_utf8[] = "/a/\xff\xfe\xc3(.bin";
	static const char reason[] = "bad\x1b[31m name\r\n";
	struct audit *a = open_journal(0, 0);
	struct entry e = { 0 };
	const struct field *f;
	const char *msg;

	audit_emit(a, &(struct audit_record){
		.event = AUDIT_CLIENT_REFUSAL, .priority = LOG_NOTICE, .op = "remove", .tenant = "t1",
		.path = nl_path, .reason = reason, .source = "vault-sftp", .uid = 1001, .pid = 7,
	});
	assert_int_equal(recv_entry(jfd, 2000, &e), 1);
	f = get(&e, "VAULT_PATH");
	assert_non_null(f);
	assert_true(f->binary);
	assert_int_equal(f->len, strlen(nl_path));
	assert_memory_equal(f->val, nl_path, f->len);
	f = get(&e, "VAULT_REASON");
	assert_true(f->binary);
	assert_int_equal(f->len, strlen(reason));
	assert_memory_equal(f->val, reason, f->len);
	f = get(&e, "MESSAGE");
	assert_true(printable(f->val, f->len));
	assert_string_equal(f->val, "refused remove \"/a/new\\nline \\\"q\\\".bin\" tenant=t1 uid=1001 pid=7 "
			    "source=vault-sftp: bad\\x1b[31m name\\x0d\\n");
	entry_free(&e);

	audit_emit(a, &(struct audit_record){
		.event = AUDIT_SEALED, .priority = LOG_INFO, .op = "seal", .tenant = "t1",
		.path = bad_utf8, .source = "scan", .uid = (uid_t)-1,
	});
	assert_int_equal(recv_entry(jfd, 2000, &e), 1);
	f = get(&e, "VAULT_PATH");
	assert_true(f->binary);
	assert_int_equal(f->len, strlen(bad_utf8));
	assert_memory_equal(f->val, bad_utf8, f->len);
	msg = val(&e, "MESSAGE");
	assert_true(printable(msg, strlen(msg)));
	assert_non_null(strstr(msg, "\"/a/\\xff\\xfe\\xc3(.bin\""));
	entry_free(&e);

	/* A caller's own message is made printable too. */
	audit_daemon(a, LOG_INFO, "scan of %s done", "/v/x\ny");
	assert_int_equal(recv_entry(jfd, 2000, &e), 1);
	assert_string_equal(val(&e, "MESSAGE"), "scan of /v/x\\ny done");
	entry_free(&e);
	audit_free(a);
}

/* Bigger than a datagram may be (EMSGSIZE): the entry comes in a sealed memfd, intact. */
static void
test_journal_memfd(void **state)
{
	struct audit *a = open_journal(0, 0);
	struct entry e = { 0 };
	const struct field *f;
	int sndbuf = 0;
	socklen_t sl = sizeof(sndbuf);
	size_t len;
	char *reason;

	/* A small send buffer (the kernel doubles it): the record must outgrow a datagram. */
	sndbuf = 64 * 1024;
	assert_int_equal(setsockopt(a->journal.fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
	assert_int_equal(getsockopt(a->journal.fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &sl), 0);
	len = (size_t)sndbuf + 4096;
	if (len < 300 * 1024)
		len = 300 * 1024;
	assert_true(len <= AUDIT_VALUE_MAX);
	reason = malloc(len + 1);
	assert_non_null(reason);
	for (size_t i = 0; i < len; i++)
		reason[i] = (char)('a' + i % 26);
	reason[len / 2] = '\n';	/* the binary form inside the memfd too */
	reason[len] = '\0';
	audit_emit(a, &(struct audit_record){
		.event = AUDIT_SEAL_FAILED, .priority = LOG_ERR, .op = "seal", .tenant = "t1",
		.path = "/big", .reason = reason, .source = "broker", .uid = (uid_t)-1,
	});
	assert_int_equal(recv_entry(jfd, 2000, &e), 1);
	assert_true(e.memfd);
	f = get(&e, "VAULT_REASON");
	assert_non_null(f);
	assert_true(f->binary);
	assert_int_equal(f->len, len);
	assert_memory_equal(f->val, reason, len);
	assert_string_equal(val(&e, "VAULT_PATH"), "/big");
	/* MESSAGE is bounded; the full reason is in VAULT_REASON. */
	assert_true(strlen(val(&e, "MESSAGE")) < AUDIT_MESSAGE_MAX);
	entry_free(&e);

	/* The socket still works for ordinary entries afterwards. */
	audit_daemon(a, LOG_INFO, "after");
	assert_int_equal(recv_entry(jfd, 2000, &e), 1);
	assert_false(e.memfd);
	assert_string_equal(val(&e, "MESSAGE"), "after");
	entry_free(&e);
	free(reason);
	audit_free(a);
}

static size_t
count_lines(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

static void
test_stderr_fallback(void **state)
{
	char missing[200], expect[1024];
	struct audit_config cfg = { .journal_socket = missing };
	struct audit *a = NULL;
	struct capture c;
	const char *out;

	snprintf(missing, sizeof(missing), "%s/no-such-socket", dir);
	capture_start(&c);
	audit_open(&cfg, &a);
	if (a != NULL) {
		audit_emit(a, &(struct audit_record){
			.event = AUDIT_SEALED, .priority = LOG_INFO, .op = "seal", .tenant = "t1",
			.path = "/a/b", .source = "fanotify", .uid = (uid_t)-1,
		});
		audit_emit(a, &(struct audit_record){
			.event = AUDIT_SEAL_REFUSED, .priority = LOG_NOTICE, .op = "seal", .tenant = "t1",
			.path = "/a/b\nc\"d", .reason = "bad\x1b[31m\nthing", .uid = 1001, .pid = 42,
		});
	}
	out = capture_end(&c);
	assert_non_null(a);
	assert_string_equal(audit_backend(a), "stderr");
	snprintf(expect, sizeof(expect),
		 "vaultd: journal socket %s unreachable (No such file or directory): audit records go to stderr\n"
		 "vaultd: sealed \"/a/b\" tenant=t1 source=fanotify\n"
		 "vaultd: refused seal \"/a/b\\nc\\\"d\" tenant=t1 uid=1001 pid=42: bad\\x1b[31m\\nthing\n",
		 missing);
	assert_string_equal(out, expect);
	audit_free(a);

	/* No journal configured: stderr, without a note (here a socket, as under systemd). */
	cfg.journal_socket = NULL;
	capture_start_as(&c, true);
	audit_open(&cfg, &a);
	if (a != NULL)
		audit_emit(a, &(struct audit_record){
			.event = AUDIT_DIR_PROTECTED, .priority = LOG_INFO, .op = "protect", .tenant = "t2",
			.path = "/x\x01y", .source = "broker", .uid = (uid_t)-1,
		});
	out = capture_end(&c);
	assert_non_null(a);
	assert_string_equal(audit_backend(a), "stderr");
	assert_string_equal(out, "vaultd: protected \"/x\\x01y\" tenant=t2 source=broker\n");
	assert_int_equal(count_lines(out), 1);
	audit_free(a);
}

/* The journal goes away: stderr for that record, the journal again once it is back. */
static void
test_journal_goes_away(void **state)
{
	struct audit *a = open_journal(0, 0);
	struct entry e = { 0 };
	struct capture c;
	const char *out;
	bool back = false;

	audit_daemon(a, LOG_INFO, "one");
	assert_int_equal(recv_entry(jfd, 2000, &e), 1);
	entry_free(&e);

	close(jfd);
	jfd = -1;
	unlink(jpath);
	capture_start(&c);
	audit_daemon(a, LOG_INFO, "two");
	out = capture_end(&c);
	assert_non_null(strstr(out, "went away"));
	assert_non_null(strstr(out, "vaultd: two\n"));
	assert_string_equal(audit_backend(a), "stderr");

	jfd = bind_journal();
	/* Bounded: reconnects are tried at most once a second. */
	for (int i = 0; i < 50 && !back; i++) {
		capture_start(&c);
		audit_daemon(a, LOG_INFO, "three");
		capture_end(&c);
		if (recv_entry(jfd, 100, &e) == 1) {
			assert_string_equal(val(&e, "MESSAGE"), "three");
			entry_free(&e);
			back = true;
		}
	}
	assert_true(back);
	assert_string_equal(audit_backend(a), "journal");
	audit_free(a);
}

static unsigned long long
notice_count(const char *msg, const char *kind)
{
	char tail[128];
	unsigned long long n;
	int used = 0;

	snprintf(tail, sizeof(tail), " audit records of kind %s suppressed", kind);
	if (sscanf(msg, "%llu%n", &n, &used) != 1 || strcmp(msg + used, tail) != 0)
		return 0;
	return n;
}

/* Everything that is waiting; counts per MESSAGE_ID, notices summed. */
struct tally {
	unsigned refused, sealed, notices;
	unsigned long long suppressed_reported;
	bool notice_not_first;
};

static void
drain(struct tally *t)
{
	struct entry e = { 0 };
	bool first = true;

	while (recv_entry(jfd, 0, &e) == 1) {
		const char *id = val(&e, "MESSAGE_ID");

		if (strcmp(id, ID_REFUSED) == 0) {
			t->refused++;
		} else if (strcmp(id, ID_SEALED) == 0) {
			t->sealed++;
		} else if (strcmp(id, ID_DAEMON) == 0 && strcmp(val(&e, "VAULT_OP"), "ratelimit") == 0) {
			unsigned long long n = notice_count(val(&e, "MESSAGE"), "seal-refused");

			assert_true(n > 0);
			t->suppressed_reported += n;
			t->notices++;
			/* The notice comes before the record whose emit reported it. */
			if (!first)
				t->notice_not_first = true;
		}
		first = false;
		entry_free(&e);
	}
}

static void
test_rate_limit(void **state)
{
	const unsigned burst = 5, interval = 50, total = 1000;
	struct audit *a = open_journal(burst, interval);
	struct tally t = { 0 };
	uint64_t start, elapsed;
	unsigned sealed_sent = 0;

	start = audit_now_ms();
	for (unsigned i = 0; i < total; i++) {
		char path[32];

		snprintf(path, sizeof(path), "/f%u", i);
		audit_emit(a, &(struct audit_record){
			.event = AUDIT_SEAL_REFUSED, .priority = LOG_NOTICE, .op = "seal", .tenant = "t1",
			.path = path, .reason = "flood", .source = "broker", .uid = 1001, .pid = 9,
		});
		/* Keep the test journal's queue short, so nothing is lost to EAGAIN. */
		drain(&t);
	}
	elapsed = audit_now_ms() - start;
	/* Another kind has its own budget, whatever the refusals used up. */
	audit_emit(a, &(struct audit_record){
		.event = AUDIT_SEALED, .priority = LOG_INFO, .op = "seal", .tenant = "t1",
		.path = "/other-kind", .uid = (uid_t)-1,
	});
	sealed_sent++;
	drain(&t);
	assert_int_equal(t.sealed, 1);

	assert_true(t.refused >= 1);
	assert_true(t.refused <= burst * (elapsed / interval + 2));
	assert_int_equal(audit_count(a, AUDIT_SEAL_REFUSED), total);
	/* Every refusal was either sent or counted as suppressed. */
	assert_int_equal(t.refused + audit_suppressed(a), total);

	/* The next records, once the window is over, are preceded by the notice (bounded wait). */
	for (int i = 0; i < 150 && t.suppressed_reported < audit_suppressed(a); i++) {
		struct timespec ts = { 0, 20 * 1000 * 1000 };

		nanosleep(&ts, NULL);
		audit_emit(a, &(struct audit_record){
			.event = AUDIT_SEALED, .priority = LOG_INFO, .op = "seal", .tenant = "t1",
			.path = "/after", .uid = (uid_t)-1,
		});
		sealed_sent++;
		drain(&t);
	}
	assert_true(t.notices >= 1);
	assert_false(t.notice_not_first);
	assert_int_equal(t.suppressed_reported, audit_suppressed(a));
	assert_int_equal(t.suppressed_reported, total - t.refused);
	assert_int_equal(t.sealed, sealed_sent);
	audit_free(a);
}

/* One tenant's flood does not use up another's budget (review finding: it hid records). */
static void
test_rate_limit_per_tenant(void **state)
{
	struct audit *a = open_journal(5, 60000);	/* one long window: no notices meanwhile */
	struct tally t = { 0 };

	for (unsigned i = 0; i < 300; i++) {
		audit_emit(a, &(struct audit_record){
			.event = AUDIT_SEAL_REFUSED, .priority = LOG_NOTICE, .op = "seal", .tenant = "flooder",
			.path = "/f", .reason = "flood", .source = "broker", .uid = 1001, .pid = 9,
		});
		drain(&t);
	}
	assert_int_equal(t.refused, 5);
	audit_emit(a, &(struct audit_record){
		.event = AUDIT_SEAL_REFUSED, .priority = LOG_NOTICE, .op = "seal", .tenant = "victim",
		.path = "/v", .reason = "real", .source = "broker", .uid = 1002, .pid = 10,
	});
	drain(&t);
	assert_int_equal(t.refused, 6);
	audit_free(a);
	drain(&t);	/* the notice audit_free() gives for the flood */
	(void)state;
}

/* journald is behind (its queue is full): records are dropped and counted, never waited for. */
static void
test_journal_full(void **state)
{
	struct audit *a = open_journal(100000, 50);
	struct entry e = { 0 };
	unsigned qlen = 10, total, got = 0;
	unsigned long long reported = 0;
	FILE *f = fopen("/proc/sys/net/unix/max_dgram_qlen", "r");

	if (f != NULL) {
		if (fscanf(f, "%u", &qlen) != 1)
			qlen = 10;
		fclose(f);
	}
	total = (qlen < 4000 ? qlen : 4000) + 100;
	for (unsigned i = 0; i < total; i++)
		audit_emit(a, &(struct audit_record){
			.event = AUDIT_SEALED, .priority = LOG_INFO, .op = "seal", .path = "/q",
			.uid = (uid_t)-1,
		});
	assert_true(audit_suppressed(a) > 0);
	while (recv_entry(jfd, 0, &e) == 1) {
		got++;
		entry_free(&e);
	}
	assert_int_equal(got + audit_suppressed(a), total);
	/* Reported once the window is over (bounded wait). */
	for (int i = 0; i < 150 && reported < audit_suppressed(a); i++) {
		struct timespec ts = { 0, 20 * 1000 * 1000 };

		nanosleep(&ts, NULL);
		audit_daemon(a, LOG_INFO, "tick");
		while (recv_entry(jfd, 0, &e) == 1) {
			reported += notice_count(val(&e, "MESSAGE"), "sealed");
			entry_free(&e);
		}
	}
	assert_int_equal(reported, audit_suppressed(a));
	audit_free(a);
}

static void
test_counters(void **state)
{
	struct audit *a = open_journal(2, 60 * 1000);
	struct entry e = { 0 };
	int got = 0;

	for (int i = 0; i < 3; i++)
		audit_emit(a, &(struct audit_record){ .event = AUDIT_SEALED, .op = "seal", .uid = (uid_t)-1 });
	audit_emit(a, &(struct audit_record){ .event = AUDIT_ADMIN, .op = "prune", .uid = 0 });
	audit_daemon(a, LOG_INFO, "hello");
	assert_int_equal(audit_count(a, AUDIT_SEALED), 3);
	assert_int_equal(audit_count(a, AUDIT_ADMIN), 1);
	assert_int_equal(audit_count(a, AUDIT_DAEMON), 1);
	assert_int_equal(audit_count(a, AUDIT_SEAL_FAILED), 0);
	assert_int_equal(audit_count(a, AUDIT_EVENT_MAX), 0);
	/* Burst 2 in a one-minute window: the third seal record was dropped and counted. */
	assert_int_equal(audit_suppressed(a), 1);
	while (recv_entry(jfd, 0, &e) == 1) {
		got++;
		entry_free(&e);
	}
	assert_int_equal(got, 4);
	/* audit_free reports what is still pending. */
	audit_free(a);
	assert_int_equal(recv_entry(jfd, 2000, &e), 1);
	assert_int_equal(notice_count(val(&e, "MESSAGE"), "sealed"), 1);
	entry_free(&e);

	/* NULL-safe. */
	assert_int_equal(audit_count(NULL, AUDIT_SEALED), 0);
	assert_int_equal(audit_suppressed(NULL), 0);
	assert_string_equal(audit_backend(NULL), "stderr");
	assert_null(audit_free(NULL));
}

static void
test_kernel_format(void **state)
{
	char buf[AUDIT_KERNEL_TEXT_MAX + 1], *path, *reason;
	const char *p;
	size_t n, hex;

	n = audit_kernel_format(buf, sizeof(buf), &(struct audit_record){
		.event = AUDIT_SEALED, .priority = LOG_INFO, .op = "seal", .tenant = "t1",
		.path = "/a/b", .source = "fanotify", .uid = (uid_t)-1,
	});
	assert_string_equal(buf, "op=seal tenant=\"t1\" path=\"/a/b\" source=\"fanotify\" res=success");
	assert_int_equal(n, strlen(buf));

	/* Space, newline, quote and bytes >= 0x7f: uppercase hex, no quotes. */
	audit_kernel_format(buf, sizeof(buf), &(struct audit_record){
		.event = AUDIT_SEAL_REFUSED, .priority = LOG_NOTICE, .op = "seal", .tenant = "t1",
		.path = "/a b", .reason = "x\ny", .source = "broker", .key_fp = "SHA256:abc",
		.uid = 1001, .pid = 42,
	});
	assert_string_equal(buf, "op=seal tenant=\"t1\" path=2F612062 reason=780A79 source=\"broker\" "
			    "fp=\"SHA256:abc\" peer_uid=1001 peer_pid=42 res=failed");
	audit_kernel_format(buf, sizeof(buf), &(struct audit_record){
		.event = AUDIT_SEALED, .priority = LOG_INFO, .op = "seal", .path = "/\xff\"\x7f",
		.uid = (uid_t)-1,
	});
	assert_string_equal(buf, "op=seal path=2FFF227F res=success");

	/* A daemon record's text goes in as its reason. */
	audit_kernel_format(buf, sizeof(buf), &(struct audit_record){
		.event = AUDIT_DAEMON, .priority = LOG_INFO, .op = "daemon", .uid = (uid_t)-1,
		.message = "ready",
	});
	assert_string_equal(buf, "op=daemon reason=\"ready\" res=success");

	/* Too long: cut on whole bytes, still ending in res=, within the kernel's limit. */
	path = malloc(4001);
	reason = malloc(20001);
	assert_non_null(path);
	assert_non_null(reason);
	memset(path, 'p', 4000);
	path[0] = '/';
	path[1] = ' ';
	path[4000] = '\0';
	memset(reason, 'r', 20000);
	reason[20000] = '\0';
	n = audit_kernel_format(buf, sizeof(buf), &(struct audit_record){
		.event = AUDIT_SEAL_FAILED, .priority = LOG_ERR, .op = "seal", .tenant = "t1",
		.path = path, .reason = reason, .source = "scan", .uid = (uid_t)-1,
	});
	assert_true(n <= AUDIT_KERNEL_TEXT_MAX);
	assert_int_equal(n, strlen(buf));
	assert_true(n > AUDIT_KERNEL_TEXT_MAX - 16);	/* the room is used */
	assert_string_equal(buf + n - strlen(" trunc=yes res=failed"), " trunc=yes res=failed");
	assert_non_null(strstr(buf, " source=\"scan\""));
	p = strstr(buf, " path=2F20");
	assert_non_null(p);
	hex = strcspn(p + 6, " ");
	assert_int_equal(hex % 2, 0);
	/* The path comes first, the reason keeps about a quarter of the room. */
	assert_true(hex > AUDIT_KERNEL_TEXT_MAX / 2);
	for (size_t i = 0; i < hex / 2; i++) {
		char h[3] = { p[6 + 2 * i], p[7 + 2 * i], '\0' };

		assert_int_equal(strtoul(h, NULL, 16), (unsigned char)path[i]);
	}
	p = strstr(buf, " reason=\"rrr");
	assert_non_null(p);
	assert_true(strcspn(p + 9, "\"") > AUDIT_KERNEL_TEXT_MAX / 5);
	free(path);
	free(reason);
}

/* The request itself: the text (with its NUL) is the payload, and an ack is asked for. */
static void
test_kernel_message(void **state)
{
	static const struct audit_record r = {
		.event = AUDIT_SEALED, .priority = LOG_INFO, .op = "seal", .tenant = "t1",
		.path = "/a/b", .source = "scan", .uid = (uid_t)-1,
	};
	char buf[AUDIT_KERNEL_MSG_SIZE] __attribute__((aligned(4)));
	char text[AUDIT_KERNEL_TEXT_MAX + 1];
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
	size_t len, tlen;

	memset(buf, 0x55, sizeof(buf));
	len = audit_kernel_build(buf, 77, &r);
	tlen = audit_kernel_format(text, sizeof(text), &r);
	assert_int_equal(len, nlh->nlmsg_len);
	assert_int_equal(nlh->nlmsg_type, AUDIT_TRUSTED_APP);
	assert_int_equal(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK);
	assert_int_equal(nlh->nlmsg_seq, 77);
	assert_true(len >= NLMSG_HDRLEN + tlen + 1);
	assert_string_equal(buf + NLMSG_HDRLEN, text);
}

/* Without CAP_AUDIT_WRITE the kernel refuses: reported once, then not tried again. */
static void
test_kernel_refused(void **state)
{
	pid_t pid;
	int status;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct audit_config cfg = { .kernel_audit = true };
		struct audit *a = NULL;
		struct capture c;
		const char *out, *hit;
		char big[12000];
		int last = 1, offs = 0;

		if (geteuid() == 0 &&
		    (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
		     setresuid(65534, 65534, 65534) < 0))
			_exit(10);
		/* Long, so a refusal that echoed the request would not fit an 8 KiB read. */
		memset(big, 'x', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		capture_start(&c);
		audit_open(&cfg, &a);
		if (a != NULL) {
			audit_emit(a, &(struct audit_record){
				.event = AUDIT_SEAL_REFUSED, .priority = LOG_NOTICE, .op = "seal",
				.path = big, .reason = big, .uid = (uid_t)-1,
			});
			last = a->kernel.last;
			audit_daemon(a, LOG_INFO, "second");
		}
		out = capture_end(&c);
		if (a == NULL)
			_exit(11);
		if (last != -EPERM && last != -ECONNREFUSED && last != -EPROTONOSUPPORT)
			_exit(12);
		if (a->kernel.nl != NULL || strcmp(audit_backend(a), "stderr") != 0)
			_exit(13);
		for (hit = out; (hit = strstr(hit, "kernel audit log off")) != NULL; hit++)
			offs++;
		if (offs != 1 || strstr(out, "vaultd: second\n") == NULL)
			_exit(14);
		audit_free(a);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* As root, with CAP_AUDIT_WRITE: the kernel acks AUDIT_USER_MSG with 0. */
static void
test_kernel_ack(void **state)
{
	struct audit_config cfg = { .journal_socket = jpath, .kernel_audit = true };
	struct audit *a = NULL;
	struct entry e = { 0 };
	char *reason;

	if (geteuid() != 0)
		skip();
	assert_int_equal(audit_open(&cfg, &a), 0);
	assert_string_equal(audit_backend(a), "journal+kernel");
	print_message("kernel audit_enabled=%d (0: the kernel acks but drops user records)\n",
		      a->kernel.enabled);
	while (recv_entry(jfd, 0, &e) == 1)	/* the "audit is disabled" note, if any */
		entry_free(&e);
	a->kernel.last = 1;
	audit_emit(a, &(struct audit_record){
		.event = AUDIT_SEALED, .priority = LOG_INFO, .op = "seal", .tenant = "t1",
		.path = "/a/b", .source = "fanotify", .uid = (uid_t)-1,
	});
	assert_int_equal(a->kernel.last, 0);
	/* The longest text we make, with hex, is accepted too. */
	reason = malloc(20001);
	assert_non_null(reason);
	memset(reason, 'x', 20000);
	reason[7] = '\n';
	reason[20000] = '\0';
	a->kernel.last = 1;
	audit_emit(a, &(struct audit_record){
		.event = AUDIT_SEAL_REFUSED, .priority = LOG_NOTICE, .op = "seal", .tenant = "t1",
		.path = "/new\nline", .reason = reason, .source = "broker", .uid = 1001, .pid = 42,
	});
	assert_int_equal(a->kernel.last, 0);
	assert_string_equal(audit_backend(a), "journal+kernel");
	while (recv_entry(jfd, 0, &e) == 1)
		entry_free(&e);
	free(reason);
	audit_free(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_journal_fields),
		cmocka_unit_test(test_journal_untrusted_bytes),
		cmocka_unit_test(test_journal_memfd),
		cmocka_unit_test(test_stderr_fallback),
		cmocka_unit_test(test_journal_goes_away),
		cmocka_unit_test(test_rate_limit),
		cmocka_unit_test(test_rate_limit_per_tenant),
		cmocka_unit_test(test_journal_full),
		cmocka_unit_test(test_counters),
		cmocka_unit_test(test_kernel_format),
		cmocka_unit_test(test_kernel_message),
		cmocka_unit_test(test_kernel_refused),
		cmocka_unit_test(test_kernel_ack),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
