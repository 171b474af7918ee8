/* SPDX-License-Identifier: MIT */
/*
 * The engine in-process, through its hooks: the seal hook sees every file
 * the client publishes (whatever modes the client asked for), also on an
 * identical re-upload; log lines cannot be split by a file name, and a
 * client cannot flood the log.
 */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "policy.h"
#include "session.h"
#include "sftp-proto.h"

struct capture {
	int seals;
	ino_t sealed_ino;
	mode_t sealed_mode;
	int lines;
	bool saw_newline;
	char last[4096];
};

static int
seal_hook(void *ctx, int fd, const char *path)
{
	struct capture *c = ctx;
	struct stat st;

	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);
	c->seals++;
	c->sealed_ino = st.st_ino;
	c->sealed_mode = st.st_mode & 07777;
	return 0;
}

static void
log_hook(void *ctx, int priority, const char *line)
{
	struct capture *c = ctx;

	c->lines++;
	if (strchr(line, '\n') != NULL)
		c->saw_newline = true;
	snprintf(c->last, sizeof(c->last), "%s", line);
}

struct fixture {
	char root[64];
	int root_fd;
	struct capture cap;
	struct sftp_hooks hooks;
	struct sftp_session *s;
	uint8_t reply[300000];
	size_t reply_len;
};

static void put32(uint8_t **p, uint32_t v) { (*p)[0] = v >> 24; (*p)[1] = v >> 16; (*p)[2] = v >> 8; (*p)[3] = v; *p += 4; }
static void putstr(uint8_t **p, const void *s, size_t n) { put32(p, (uint32_t)n); memcpy(*p, s, n); *p += n; }

/* Sends one packet (type, then body) and returns the first reply's type. */
static uint8_t
request(struct fixture *f, uint8_t type, const uint8_t *body, size_t n)
{
	uint8_t pkt[4096], *p = pkt;
	const uint8_t *out;
	size_t len;

	put32(&p, (uint32_t)n + 1);
	*p++ = type;
	memcpy(p, body, n);
	p += n;
	assert_int_equal(sftp_session_feed(f->s, pkt, (size_t)(p - pkt)), p - pkt);
	out = sftp_session_output(f->s, &len);
	f->reply_len = len < sizeof(f->reply) ? len : sizeof(f->reply);
	memcpy(f->reply, out, f->reply_len);
	sftp_session_output_done(f->s, len);
	return len >= 5 ? out[4] : 0;
}

static uint32_t
reply_status(const struct fixture *f)
{
	assert_int_equal(f->reply[4], SSH_FXP_STATUS);
	return (uint32_t)f->reply[9] << 24 | f->reply[10] << 16 | f->reply[11] << 8 | f->reply[12];
}

static struct policy_rule rules[] = {
	{ .pattern = "**/*.tmp", .cls = POLICY_TEMP },
	{ .pattern = "**", .cls = POLICY_SEAL },
};
static struct policy_profile temp_profile = { .name = "t", .rules = rules, .n_rules = 2 };

static int
setup_common(void **state, const struct policy_profile *prof, uint64_t quota_bytes)
{
	static const uint8_t init[] = { 0, 0, 0, 5, SSH_FXP_INIT, 0, 0, 0, 3 };
	struct fixture *f = calloc(1, sizeof(*f));
	struct sftp_session_config cfg = { 0 };
	size_t len;

	snprintf(f->root, sizeof(f->root), "/tmp/sealvault-hooks-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	f->root_fd = open(f->root, O_RDONLY | O_DIRECTORY);
	f->hooks = (struct sftp_hooks){ .seal = seal_hook, .log = log_hook, .ctx = &f->cap };
	cfg.root_fd = f->root_fd;
	cfg.profile = prof;
	cfg.quota_bytes = quota_bytes;
	assert_int_equal(sftp_session_new(&cfg, &f->hooks, &f->s), 0);
	assert_int_equal(sftp_session_feed(f->s, init, sizeof(init)), sizeof(init));
	(void)sftp_session_output(f->s, &len);
	sftp_session_output_done(f->s, len);
	*state = f;
	return 0;
}

static int
setup(void **state)
{
	return setup_common(state, NULL, 0);
}

static int
setup_temp(void **state)
{
	return setup_common(state, &temp_profile, 0);
}

static int
setup_temp_quota(void **state)
{
	return setup_common(state, &temp_profile, 4096);
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	sftp_session_free(f->s);
	close(f->root_fd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* OPEN name (flags, optional permissions) and return the 8-byte handle. */
static void
open_upload(struct fixture *f, uint32_t id, const char *name, uint32_t pflags, int perm, uint8_t handle[8])
{
	uint8_t body[512], *p = body;

	put32(&p, id);
	putstr(&p, name, strlen(name));
	put32(&p, pflags);
	if (perm >= 0) {
		put32(&p, SSH_FILEXFER_ATTR_PERMISSIONS);
		put32(&p, (uint32_t)perm);
	} else {
		put32(&p, 0);
	}
	assert_int_equal(request(f, SSH_FXP_OPEN, body, (size_t)(p - body)), SSH_FXP_HANDLE);
	assert_int_equal(f->reply[9 + 3], 8);
	memcpy(handle, f->reply + 13, 8);
}

static void
write_close(struct fixture *f, uint32_t id, const uint8_t handle[8], const char *data, int fsetstat_perm)
{
	uint8_t body[512], *p = body;

	put32(&p, id);
	putstr(&p, handle, 8);
	put32(&p, 0);
	put32(&p, 0);
	putstr(&p, data, strlen(data));
	assert_int_equal(request(f, SSH_FXP_WRITE, body, (size_t)(p - body)), SSH_FXP_STATUS);
	assert_int_equal(reply_status(f), SSH_FX_OK);
	if (fsetstat_perm >= 0) {
		p = body;
		put32(&p, id + 1);
		putstr(&p, handle, 8);
		put32(&p, SSH_FILEXFER_ATTR_PERMISSIONS);
		put32(&p, (uint32_t)fsetstat_perm);
		assert_int_equal(request(f, SSH_FXP_FSETSTAT, body, (size_t)(p - body)), SSH_FXP_STATUS);
		assert_int_equal(reply_status(f), SSH_FX_OK);
	}
	p = body;
	put32(&p, id + 2);
	putstr(&p, handle, 8);
	request(f, SSH_FXP_CLOSE, body, (size_t)(p - body));
}

/* The mode of the one partial upload file in the root. */
static mode_t
partial_mode(const struct fixture *f)
{
	DIR *d = opendir(f->root);
	struct dirent *de;
	mode_t mode = 07777;
	struct stat st;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, ".sealvault.part.", 16) != 0)
			continue;
		assert_int_equal(fstatat(dirfd(d), de->d_name, &st, 0), 0);
		mode = st.st_mode & 07777;
	}
	closedir(d);
	return mode;
}

static void
seal_hook_sees_files_the_client_made_unreadable(void **state)
{
	struct fixture *f = *state;
	uint8_t h[8];
	struct stat st;
	char path[128];

	open_upload(f, 1, "mode0", SSH_FXF_WRITE | SSH_FXF_CREAT, 0, h);
	/* Until CLOSE the partial stays 0600: root would not notice a mode 0, the tenant would. */
	assert_int_equal(partial_mode(f), 0600);
	write_close(f, 2, h, "zero", -1);
	assert_int_equal(reply_status(f), SSH_FX_OK);
	assert_int_equal(f->cap.seals, 1);
	snprintf(path, sizeof(path), "%s/mode0", f->root);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(f->cap.sealed_ino, st.st_ino);
	assert_int_equal(f->cap.sealed_mode, 0);	/* the client's mode, applied at publication */

	open_upload(f, 10, "wronly", SSH_FXF_WRITE | SSH_FXF_CREAT, -1, h);
	write_close(f, 11, h, "data", 0200);
	assert_int_equal(reply_status(f), SSH_FX_OK);
	assert_int_equal(f->cap.seals, 2);
	assert_int_equal(f->cap.sealed_mode, 0200);
}

static void
identical_reupload_is_sealed_too(void **state)
{
	struct fixture *f = *state;
	uint8_t h[8];

	open_upload(f, 1, "f", SSH_FXF_WRITE | SSH_FXF_CREAT | SSH_FXF_TRUNC, 0644, h);
	write_close(f, 2, h, "same", -1);
	assert_int_equal(f->cap.seals, 1);
	open_upload(f, 10, "f", SSH_FXF_WRITE | SSH_FXF_CREAT | SSH_FXF_TRUNC, 0644, h);
	write_close(f, 11, h, "same", -1);
	assert_int_equal(reply_status(f), SSH_FX_OK);
	assert_int_equal(f->cap.seals, 2);
	open_upload(f, 20, "f", SSH_FXF_WRITE | SSH_FXF_CREAT | SSH_FXF_TRUNC, 0644, h);
	write_close(f, 21, h, "diff", -1);
	assert_int_equal(reply_status(f), SSH_FX_PERMISSION_DENIED);
	assert_int_equal(f->cap.seals, 2);
}

static void
log_lines_cannot_be_split_or_flooded(void **state)
{
	struct fixture *f = *state;
	static const char evil[] = "x\nvault-sftp[1]: forged";
	uint8_t body[256], *p = body;

	/* OPEN logs the raw path at info level before it is refused as missing. */
	put32(&p, 1);
	putstr(&p, evil, sizeof(evil) - 1);
	put32(&p, SSH_FXF_READ);
	put32(&p, 0);
	assert_int_equal(request(f, SSH_FXP_OPEN, body, (size_t)(p - body)), SSH_FXP_STATUS);
	assert_false(f->cap.saw_newline);
	assert_non_null(strstr(f->cap.last, "\\x0a"));

	/* A thousand empty packets: at most the per-second budget reaches the log. */
	for (int i = 0; i < 1000; i++) {
		static const uint8_t empty[4] = { 0 };

		assert_int_equal(sftp_session_feed(f->s, empty, sizeof(empty)), 4);
	}
	assert_true(f->cap.lines <= 60);
}

static uint8_t
path_request(struct fixture *f, uint8_t type, uint32_t id, const char *a, const char *b)
{
	uint8_t body[512], *p = body;

	put32(&p, id);
	putstr(&p, a, strlen(a));
	if (b != NULL)
		putstr(&p, b, strlen(b));
	return request(f, type, body, (size_t)(p - body));
}

static void
read_disk(const struct fixture *f, const char *name, char *buf, size_t size)
{
	char path[128];
	FILE *fp;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", f->root, name);
	fp = fopen(path, "r");
	assert_non_null(fp);
	n = fread(buf, 1, size - 1, fp);
	buf[n] = '\0';
	fclose(fp);
}

static void
posix_rename(struct fixture *f, uint32_t id, const char *from, const char *to)
{
	uint8_t body[512], *p = body;

	put32(&p, id);
	putstr(&p, "posix-rename@openssh.com", 24);
	putstr(&p, from, strlen(from));
	putstr(&p, to, strlen(to));
	assert_int_equal(request(f, SSH_FXP_EXTENDED, body, (size_t)(p - body)), SSH_FXP_STATUS);
}

/* WRITE of len bytes of c at offset; returns the status. */
static uint32_t
write_at(struct fixture *f, uint32_t id, const uint8_t handle[8], uint64_t offset, char c, size_t len)
{
	uint8_t body[2048], *p = body;

	assert_true(len <= 1024);
	put32(&p, id);
	putstr(&p, handle, 8);
	put32(&p, (uint32_t)(offset >> 32));
	put32(&p, (uint32_t)offset);
	put32(&p, (uint32_t)len);
	memset(p, c, len);
	p += len;
	assert_int_equal(request(f, SSH_FXP_WRITE, body, (size_t)(p - body)), SSH_FXP_STATUS);
	return reply_status(f);
}

/*
 * Review finding: a handle kept open on a temp file must not reach the file
 * once a rename published it as sealed. Writes of such a handle go to a
 * copy, never to the named file.
 */
static void
handle_on_temp_cannot_change_what_rename_sealed(void **state)
{
	struct fixture *f = *state;
	uint8_t h[8], old[8];
	char got[64];

	open_upload(f, 1, "a.tmp", SSH_FXF_WRITE | SSH_FXF_CREAT, 0644, h);
	write_close(f, 2, h, "GOOD", -1);
	assert_int_equal(reply_status(f), SSH_FX_OK);
	open_upload(f, 10, "a.tmp", SSH_FXF_WRITE, -1, old);	/* kept open across the rename */
	posix_rename(f, 11, "a.tmp", "backup.dat");
	assert_int_equal(reply_status(f), SSH_FX_OK);
	assert_int_equal(f->cap.seals, 1);	/* backup.dat is seal class: sealed by the rename */
	assert_int_equal(write_at(f, 12, old, 0, 'E', 4), SSH_FX_OK);
	read_disk(f, "backup.dat", got, sizeof(got));
	assert_string_equal(got, "GOOD");
}

/*
 * Review finding: a size set by SETSTAT, then a remove, gave back quota that
 * was never taken. Sizes change only on an open upload, and the quota holds.
 */
static void
quota_cannot_be_reset_by_resizing(void **state)
{
	struct fixture *f = *state;
	uint8_t h[8], body[512], *p = body;
	uint32_t status = SSH_FX_OK;
	int i;

	open_upload(f, 1, "z.tmp", SSH_FXF_WRITE | SSH_FXF_CREAT, 0644, h);
	write_close(f, 2, h, "x", -1);
	put32(&p, 5);
	putstr(&p, "z.tmp", 5);
	put32(&p, SSH_FILEXFER_ATTR_SIZE);
	put32(&p, 0);
	put32(&p, 1u << 30);
	assert_int_equal(request(f, SSH_FXP_SETSTAT, body, (size_t)(p - body)), SSH_FXP_STATUS);
	assert_int_equal(reply_status(f), SSH_FX_PERMISSION_DENIED);
	assert_int_equal(path_request(f, SSH_FXP_REMOVE, 6, "z.tmp", NULL), SSH_FXP_STATUS);
	assert_int_equal(reply_status(f), SSH_FX_OK);
	/* 4096 bytes of quota: the fifth KiB is refused before it reaches the disk. */
	open_upload(f, 10, "big.dat", SSH_FXF_WRITE | SSH_FXF_CREAT, 0644, h);
	for (i = 0; i < 5 && status == SSH_FX_OK; i++)
		status = write_at(f, 20 + (uint32_t)i, h, (uint64_t)i * 1024, 'b', 1024);
	assert_int_equal(i, 5);		/* four KiB stored, the fifth refused */
	assert_int_equal(status, SSH_FX_FAILURE);
	assert_non_null(strstr(f->cap.last, "quota exceeded"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(seal_hook_sees_files_the_client_made_unreadable, setup, teardown),
		cmocka_unit_test_setup_teardown(identical_reupload_is_sealed_too, setup, teardown),
		cmocka_unit_test_setup_teardown(log_lines_cannot_be_split_or_flooded, setup, teardown),
		cmocka_unit_test_setup_teardown(handle_on_temp_cannot_change_what_rename_sealed, setup_temp, teardown),
		cmocka_unit_test_setup_teardown(quota_cannot_be_reset_by_resizing, setup_temp_quota, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
