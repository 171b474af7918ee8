/* SPDX-License-Identifier: MIT */
/*
 * Uploads as real clients drive them: pipelined and out-of-order writes,
 * many uploads interleaved, hundreds of read handles (pgBackRest restore),
 * the handle limit, interrupted uploads and their retry, two sessions
 * racing for one name, and byte-exact read back.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "harness.h"

#define WCT	(SSH_FXF_WRITE | SSH_FXF_CREAT | SSH_FXF_TRUNC)

static void
ping_ok(struct h_server *s)
{
	char *p;

	h_assert_status(s, h_realpath(s, ".", &p), SSH_FX_OK);
	assert_string_equal(p, "/");
}

static void
assert_disk_bytes(struct h_ctx *c, const char *rel, const uint8_t *want, size_t len)
{
	size_t got_len;
	uint8_t *got = h_disk_get(c, rel, &got_len);

	if (got == NULL)
		fail_msg("%s: not on disk", rel);
	if (got_len != len)
		fail_msg("%s: %zu bytes on disk, expected %zu", rel, got_len, len);
	for (size_t i = 0; i < len; i++)
		if (got[i] != want[i])
			fail_msg("%s: byte %zu differs on disk", rel, i);
}

/* Builds a WRITE packet without sending it. */
static uint32_t
build_write(struct h_server *s, struct h_buf *b, const struct h_handle *h, uint64_t off,
	    const void *data, size_t len)
{
	uint32_t id = pk_begin_req(s, b, SSH_FXP_WRITE);

	pk_handle(b, h);
	pk_u64(b, off);
	pk_str(b, data, len);
	pk_end(b);
	return id;
}

/* Collects n STATUS replies to pipelined requests; all must be OK, each id once. */
static void
collect_ok(struct h_server *s, uint32_t first_id, size_t n)
{
	bool *seen = h_xmalloc(n);

	memset(seen, 0, n);
	for (size_t i = 0; i < n; i++) {
		struct h_reply r;
		h_recv_must(s, &r);
		if (r.type != SSH_FXP_STATUS || r.id < first_id || r.id >= first_id + n)
			fail_msg("pipelined reply %zu: type %u id %u", i, r.type, r.id);
		if (seen[r.id - first_id])
			fail_msg("two replies for id %u", r.id);
		seen[r.id - first_id] = true;
		if (r.status != SSH_FX_OK)
			fail_msg("pipelined request id %u: %s (%s)", r.id, h_status_name((int)r.status),
				 r.msg);
	}
}

static void
pipelined_out_of_order_writes(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	enum { CHUNK = 8192, N = 64, LEN = CHUNK * N - 123 };
	uint8_t *data = h_pattern_alloc(LEN, 31);
	int order[N];
	struct h_handle h;
	struct h_buf all = { 0 }, one = { 0 };

	for (int i = 0; i < N; i++)
		order[i] = i;
	uint32_t x = 12345;
	for (int i = N - 1; i > 0; i--) {
		x = x * 1103515245 + 12345;
		int j = (int)((x >> 8) % (uint32_t)(i + 1));
		int t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	h_disk_mkdir(c, "up", 0755);
	h_assert_status(s, h_open(s, "up/pipelined", WCT, NULL, &h), SSH_FX_OK);
	uint32_t first = s->next_id;
	for (int i = 0; i < N; i++) {
		size_t off = (size_t)order[i] * CHUNK;
		size_t n = LEN - off < CHUNK ? LEN - off : CHUNK;
		build_write(s, &one, &h, off, data + off, n);
		pk_raw(&all, one.p, one.len);
	}
	h_send_raw(s, all.p, all.len);	/* all 64 at once, like sftp -R 64 */
	collect_ok(s, first, N);
	assert_false(h_disk_exists(c, "up/pipelined"));
	h_assert_status(s, h_close(s, &h), SSH_FX_OK);
	assert_disk_bytes(c, "up/pipelined", data, LEN);

	/* A gap: the hole reads as zeros. */
	h_assert_status(s, h_open(s, "up/sparse", WCT, NULL, &h), SSH_FX_OK);
	h_assert_status(s, h_write(s, &h, 100000, "tail", 4), SSH_FX_OK);
	h_assert_status(s, h_write(s, &h, 0, "head", 4), SSH_FX_OK);
	h_assert_status(s, h_close(s, &h), SSH_FX_OK);
	uint8_t *want = h_xmalloc(100004);
	memset(want, 0, 100004);
	memcpy(want, "head", 4);
	memcpy(want + 100000, "tail", 4);
	assert_disk_bytes(c, "up/sparse", want, 100004);

	/* Overlapping writes: the last one wins, as on a file. */
	h_assert_status(s, h_open(s, "up/overlap", WCT, NULL, &h), SSH_FX_OK);
	h_assert_status(s, h_write(s, &h, 0, "aaaaaaaa", 8), SSH_FX_OK);
	h_assert_status(s, h_write(s, &h, 2, "bbbb", 4), SSH_FX_OK);
	h_assert_status(s, h_close(s, &h), SSH_FX_OK);
	assert_disk_bytes(c, "up/overlap", (const uint8_t *)"aabbbbaa", 8);
	hb_free(&all);
	hb_free(&one);
}

static void
many_concurrent_uploads(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	enum { FILES = 40, CHUNK = 1024, CHUNKS = 20 };
	struct h_handle *h = h_xmalloc(sizeof(*h) * FILES);
	uint8_t *data[FILES];
	char name[64];
	struct h_buf all = { 0 }, one = { 0 };

	h_disk_mkdir(c, "multi", 0755);
	for (int f = 0; f < FILES; f++) {
		snprintf(name, sizeof(name), "multi/file-%02d", f);
		data[f] = h_pattern_alloc(CHUNK * CHUNKS, 100 + (uint32_t)f);
		h_assert_status(s, h_open(s, name, f % 2 ? WCT : SSH_FXF_WRITE | SSH_FXF_CREAT |
					  SSH_FXF_EXCL, NULL, &h[f]), SSH_FX_OK);
	}
	for (int f = 0; f < FILES; f++)
		for (int g = 0; g < f; g++)
			if (h[f].len == h[g].len && memcmp(h[f].b, h[g].b, h[f].len) == 0)
				fail_msg("two open uploads share a handle");
	uint32_t first = s->next_id;
	for (int k = 0; k < CHUNKS; k++) {
		for (int f = 0; f < FILES; f++) {
			int kk = (f % 3 == 0) ? CHUNKS - 1 - k : k;	/* some go backwards */
			build_write(s, &one, &h[f], (uint64_t)kk * CHUNK, data[f] + kk * CHUNK, CHUNK);
			pk_raw(&all, one.p, one.len);
		}
		h_send_raw(s, all.p, all.len);
		hb_reset(&all);
	}
	collect_ok(s, first, FILES * CHUNKS);
	/* Close in a scrambled order. */
	for (int i = 0; i < FILES; i++) {
		int f = (i * 7) % FILES;
		h_assert_status(s, h_close(s, &h[f]), SSH_FX_OK);
	}
	for (int f = 0; f < FILES; f++) {
		snprintf(name, sizeof(name), "multi/file-%02d", f);
		assert_disk_bytes(c, name, data[f], CHUNK * CHUNKS);
	}
	assert_int_equal(h_disk_partials(c, "multi", NULL), 0);
	hb_free(&all);
	hb_free(&one);
}

/* pgBackRest restore keeps about 800 read handles open. */
static void
eight_hundred_fifty_read_handles(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	enum { N = 850 };
	struct h_handle *h = h_xmalloc(sizeof(*h) * N);
	char name[64], content[64];

	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "repo/pg_data/base/%04d", i);
		snprintf(content, sizeof(content), "file %04d content\n", i);
		h_disk_put_str(c, name, content);
	}
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "repo/pg_data/base/%04d", i);
		int st = h_open(s, name, SSH_FXF_READ, NULL, &h[i]);
		if (st != SSH_FX_OK)
			fail_msg("OPEN READ #%d of %d: %s (%s)", i + 1, N, h_status_name(st),
				 s->last_msg);
	}
	for (int i = N - 1; i >= 0; i--) {
		struct h_reply r;
		snprintf(content, sizeof(content), "file %04d content\n", i);
		h_assert_status(s, h_read(s, &h[i], 0, 4096, &r), SSH_FX_OK);
		assert_int_equal(r.data_len, strlen(content));
		assert_memory_equal(r.data, content, strlen(content));
	}
	for (int i = 0; i < N; i++)
		h_assert_status(s, h_close(s, &h[i]), SSH_FX_OK);
}

static uint64_t
max_handles(struct h_server *s)
{
	struct h_buf b = { 0 };
	struct h_reply r;

	pk_begin_ext(s, &b, "limits@openssh.com");
	pk_end(&b);
	h_assert_status(s, h_call(s, &b, SSH_FXP_EXTENDED_REPLY, &r), SSH_FX_OK);
	hb_free(&b);
	assert_int_equal(r.data_len, 32);
	return h_get_u64(r.data + 24);
}

/* The advertised limit is the real one: that many open, one more does not. */
static void
handle_limit(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	uint64_t n = max_handles(s);
	struct h_handle *h;

	assert_true(n >= 800 && n <= 4096);
	h = h_xmalloc(sizeof(*h) * (n + 1));
	h_disk_put_str(c, "lim/f", "x");
	for (uint64_t i = 0; i < n; i++) {
		int st = i % 2 ? h_open(s, "lim/f", SSH_FXF_READ, NULL, &h[i])
			: h_opendir(s, "lim", &h[i]);
		if (st != SSH_FX_OK)
			fail_msg("open #%llu of the advertised %llu: %s (%s)",
				 (unsigned long long)i + 1, (unsigned long long)n,
				 h_status_name(st), s->last_msg);
	}
	struct h_handle extra;
	h_assert_status(s, h_open(s, "lim/f", SSH_FXF_READ, NULL, &extra), SSH_FX_FAILURE);
	h_assert_status(s, h_open(s, "lim/new", WCT, NULL, &extra), SSH_FX_FAILURE);
	h_assert_status(s, h_opendir(s, "lim", &extra), SSH_FX_FAILURE);
	assert_false(h_disk_exists(c, "lim/new"));
	assert_int_equal(h_disk_partials(c, "lim", NULL), 0);
	/* Freeing one makes room for one. */
	h_assert_status(s, h_close(s, &h[1]), SSH_FX_OK);
	h_assert_status(s, h_open(s, "lim/new", WCT, NULL, &h[1]), SSH_FX_OK);
	h_assert_status(s, h_write(s, &h[1], 0, "new", 3), SSH_FX_OK);
	h_assert_status(s, h_close(s, &h[1]), SSH_FX_OK);
	for (uint64_t i = 0; i < n; i++)
		if (i != 1)
			h_assert_status(s, h_close(s, &h[i]), SSH_FX_OK);
	assert_disk_bytes(c, "lim/new", (const uint8_t *)"new", 3);
}

static void
small_handle_limit(void **state)
{
	struct h_ctx *c = *state;
	static const char *const args[] = { "--max-handles", "5", NULL };
	struct h_server *s = h_spawn(c, args);
	struct h_handle h[6];

	assert_int_equal(h_init(s, 3), 0);
	assert_int_equal(max_handles(s), 5);
	h_disk_mkdir(c, "sl", 0755);
	for (int i = 0; i < 5; i++) {
		char name[32];
		snprintf(name, sizeof(name), "sl/u%d", i);
		h_assert_status(s, h_open(s, name, WCT, NULL, &h[i]), SSH_FX_OK);
	}
	h_assert_status(s, h_open(s, "sl/u5", WCT, NULL, &h[5]), SSH_FX_FAILURE);
	for (int i = 0; i < 5; i++)
		h_assert_status(s, h_close(s, &h[i]), SSH_FX_OK);
	assert_false(h_disk_exists(c, "sl/u5"));
	assert_int_equal(h_disk_partials(c, "sl", NULL), 0);
}

/* The partial left behind: hidden name, 0400 after an orderly end, the bytes, the xattr. */
static void
check_partial(struct h_ctx *c, const char *dir, const char *final_name, const uint8_t *data,
	      size_t len, bool want_0400)
{
	char **names;
	size_t n = h_disk_partials(c, dir, &names);
	char rel[PATH_MAX], p[PATH_MAX];
	struct stat st;

	if (n != 1)
		fail_msg("%zu partial files in %s, expected 1", n, dir);
	const char *hex = names[0] + strlen(".sealvault.part.");
	assert_int_equal(strlen(hex), 16);
	for (int i = 0; i < 16; i++)
		if (!strchr("0123456789abcdef", hex[i]))
			fail_msg("partial name %s is not .sealvault.part.<16 hex>", names[0]);
	snprintf(rel, sizeof(rel), "%s/%s", dir, names[0]);
	assert_int_equal(h_disk_lstat(c, rel, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	if (want_0400 && (st.st_mode & 07777) != 0400)
		fail_msg("partial %s has mode 0%o after the session ended, expected 0400", rel,
			 st.st_mode & 07777);
	assert_disk_bytes(c, rel, data, len);
	h_path(c, rel, p);
	char val[PATH_MAX];
	ssize_t vl = getxattr(p, "user.sealvault.target", val, sizeof(val) - 1);
	if (vl < 0) {
		fail_msg("partial %s has no user.sealvault.target xattr: %s", rel, strerror(errno));
		return;
	}
	val[vl] = '\0';
	size_t fl = strlen(final_name);
	if ((size_t)vl < fl || strcmp(val + vl - fl, final_name) != 0)
		fail_msg("user.sealvault.target is \"%s\", expected it to name \"%s\"", val,
			 final_name);
}

static void
interrupted_upload_then_retry(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	enum { LEN = 50000 };
	uint8_t *part = h_pattern_alloc(LEN, 41);
	uint8_t *full = h_pattern_alloc(LEN * 2, 42);
	struct h_handle h;

	h_disk_mkdir(c, "intr/sub", 0755);
	h_assert_status(s, h_open(s, "intr/sub/backup.tar", WCT, NULL, &h), SSH_FX_OK);
	h_assert_status(s, h_write(s, &h, 0, part, LEN), SSH_FX_OK);
	/* The connection drops: EOF without CLOSE. */
	h_finish(s);
	h_assert_exit_ok(s);
	assert_false(h_disk_exists(c, "intr/sub/backup.tar"));
	check_partial(c, "intr/sub", "backup.tar", part, LEN, true);

	/* The client retries in a new session: the name is free. */
	struct h_server *s2 = h_spawn(c, NULL);
	assert_int_equal(h_init(s2, 3), 0);
	h_assert_status(s2, h_stat(s2, "intr/sub/backup.tar", NULL), SSH_FX_NO_SUCH_FILE);
	h_assert_status(s2, h_put(s2, "intr/sub/backup.tar",
				  SSH_FXF_WRITE | SSH_FXF_CREAT | SSH_FXF_EXCL, full, LEN * 2),
			SSH_FX_OK);
	assert_disk_bytes(c, "intr/sub/backup.tar", full, LEN * 2);
	/* The partial stays, hidden and unreachable. */
	check_partial(c, "intr/sub", "backup.tar", part, LEN, true);
	char **names;
	size_t n;
	h_assert_status(s2, h_listdir(s2, "intr/sub", &names, &n), SSH_FX_OK);
	assert_int_equal(n, 3);
	assert_true(h_names_contain(names, n, "backup.tar"));
	char **partials;
	h_disk_partials(c, "intr/sub", &partials);
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "/intr/sub/%s", partials[0]);
	h_assert_status(s2, h_stat(s2, path, NULL), SSH_FX_PERMISSION_DENIED);
	struct h_handle ph;
	h_assert_status(s2, h_open(s2, path, SSH_FXF_READ, NULL, &ph), SSH_FX_PERMISSION_DENIED);
	h_assert_status(s2, h_remove(s2, path), SSH_FX_PERMISSION_DENIED);
	h_assert_status(s2, h_rename(s2, path, "/intr/sub/stolen"), SSH_FX_PERMISSION_DENIED);
	check_partial(c, "intr/sub", "backup.tar", part, LEN, true);
}

/* Interrupted with nothing written, and several open at once. */
static void
interrupted_several_uploads(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	struct h_handle h[3];

	h_disk_mkdir(c, "i3", 0755);
	h_assert_status(s, h_open(s, "i3/a", WCT, NULL, &h[0]), SSH_FX_OK);
	h_assert_status(s, h_open(s, "i3/b", WCT, NULL, &h[1]), SSH_FX_OK);
	h_assert_status(s, h_open(s, "i3/c", WCT, NULL, &h[2]), SSH_FX_OK);
	h_assert_status(s, h_write(s, &h[1], 0, "bbb", 3), SSH_FX_OK);
	h_assert_status(s, h_write(s, &h[2], 0, "ccc", 3), SSH_FX_OK);
	h_assert_status(s, h_close(s, &h[2]), SSH_FX_OK);
	h_finish(s);
	h_assert_exit_ok(s);
	assert_false(h_disk_exists(c, "i3/a"));
	assert_false(h_disk_exists(c, "i3/b"));
	assert_disk_bytes(c, "i3/c", (const uint8_t *)"ccc", 3);
	char **names;
	size_t n = h_disk_partials(c, "i3", &names);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++) {
		char rel[PATH_MAX];
		struct stat st;
		snprintf(rel, sizeof(rel), "i3/%s", names[i]);
		assert_int_equal(h_disk_lstat(c, rel, &st), 0);
		assert_int_equal(st.st_mode & 07777, 0400);
	}
}

/* vault-sftp itself killed mid-upload: the name stays free, the bytes stay. */
static void
killed_mid_upload_then_retry(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	struct h_handle h;
	uint8_t *part = h_pattern_alloc(20000, 43);

	h_disk_mkdir(c, "kill", 0755);
	h_assert_status(s, h_open(s, "kill/f", WCT, NULL, &h), SSH_FX_OK);
	h_assert_status(s, h_write(s, &h, 0, part, 20000), SSH_FX_OK);
	h_kill(s);
	assert_false(h_disk_exists(c, "kill/f"));
	check_partial(c, "kill", "f", part, 20000, false);

	struct h_server *s2 = h_spawn(c, NULL);
	assert_int_equal(h_init(s2, 3), 0);
	h_assert_status(s2, h_put(s2, "kill/f", WCT, "retried", 7), SSH_FX_OK);
	assert_disk_bytes(c, "kill/f", (const uint8_t *)"retried", 7);
}

/* An interrupted re-upload of a sealed name leaves the sealed file alone. */
static void
interrupted_reupload_keeps_sealed(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	struct h_handle h;
	struct h_snap snap;

	h_disk_put_str(c, "ir/sealed", "the sealed bytes\n");
	h_snap_take(c, "ir/sealed", &snap);
	h_assert_status(s, h_open(s, "ir/sealed", WCT, NULL, &h), SSH_FX_OK);
	h_assert_status(s, h_write(s, &h, 0, "EVIL", 4), SSH_FX_OK);
	h_finish(s);
	h_assert_exit_ok(s);
	h_assert_unchanged(c, "ir/sealed", &snap, true);
}

static void
two_sessions_same_name(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *a = c->s;
	struct h_server *b = h_spawn(c, NULL);
	struct h_handle ha, hb;
	enum { LEN = 30000 };
	uint8_t *data = h_pattern_alloc(LEN, 51);
	uint8_t *other = h_pattern_alloc(LEN, 52);
	struct stat st1, st2;

	assert_int_equal(h_init(b, 3), 0);
	h_disk_mkdir(c, "race", 0755);

	/* Identical content: the second CLOSE is a harmless re-upload. */
	h_assert_status(a, h_open(a, "race/same", WCT, NULL, &ha), SSH_FX_OK);
	h_assert_status(b, h_open(b, "race/same", WCT, NULL, &hb), SSH_FX_OK);
	h_assert_status(a, h_write(a, &ha, 0, data, LEN), SSH_FX_OK);
	h_assert_status(b, h_write(b, &hb, 0, data, LEN), SSH_FX_OK);
	h_assert_status(b, h_stat(b, "race/same", NULL), SSH_FX_NO_SUCH_FILE);
	h_assert_status(a, h_close(a, &ha), SSH_FX_OK);
	assert_int_equal(h_disk_lstat(c, "race/same", &st1), 0);
	h_assert_status(b, h_close(b, &hb), SSH_FX_OK);
	assert_int_equal(h_disk_lstat(c, "race/same", &st2), 0);
	assert_int_equal(st1.st_ino, st2.st_ino);
	assert_int_equal(st1.st_mtim.tv_nsec, st2.st_mtim.tv_nsec);
	assert_disk_bytes(c, "race/same", data, LEN);

	/* Different content: first CLOSE wins, the second is refused. Both EXCL:
	 * the name is free at OPEN time for both. */
	const uint32_t wce = SSH_FXF_WRITE | SSH_FXF_CREAT | SSH_FXF_EXCL;
	h_assert_status(b, h_open(b, "race/diff", wce, NULL, &hb), SSH_FX_OK);
	h_assert_status(a, h_open(a, "race/diff", wce, NULL, &ha), SSH_FX_OK);
	h_assert_status(b, h_write(b, &hb, 0, other, LEN), SSH_FX_OK);
	h_assert_status(a, h_write(a, &ha, 0, data, LEN), SSH_FX_OK);
	h_assert_status(a, h_close(a, &ha), SSH_FX_OK);
	assert_int_equal(h_disk_lstat(c, "race/diff", &st1), 0);
	h_assert_status(b, h_close(b, &hb), SSH_FX_PERMISSION_DENIED);
	if (!strstr(b->last_msg, "race/diff"))
		fail_msg("refusal \"%s\" does not name the path", b->last_msg);
	assert_int_equal(h_disk_lstat(c, "race/diff", &st2), 0);
	assert_int_equal(st1.st_ino, st2.st_ino);
	assert_disk_bytes(c, "race/diff", data, LEN);
	assert_int_equal(h_disk_partials(c, "race", NULL), 0);

	/* Same within one session. */
	h_assert_status(a, h_open(a, "race/one", WCT, NULL, &ha), SSH_FX_OK);
	h_assert_status(a, h_open(a, "race/one", WCT, NULL, &hb), SSH_FX_OK);
	h_assert_status(a, h_write(a, &ha, 0, "first", 5), SSH_FX_OK);
	h_assert_status(a, h_write(a, &hb, 0, "second", 6), SSH_FX_OK);
	h_assert_status(a, h_close(a, &hb), SSH_FX_OK);
	h_assert_status(a, h_close(a, &ha), SSH_FX_PERMISSION_DENIED);
	assert_disk_bytes(c, "race/one", (const uint8_t *)"second", 6);
}

static void
read_back_byte_identical(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	enum { LEN = (1 << 20) + 123 };
	uint8_t *data = h_pattern_alloc(LEN, 61);
	uint8_t *got;
	size_t len;
	struct h_attrs a;

	h_disk_mkdir(c, "rb", 0755);
	h_assert_status(s, h_put(s, "rb/big.bin", WCT, data, LEN), SSH_FX_OK);
	assert_disk_bytes(c, "rb/big.bin", data, LEN);
	h_assert_status(s, h_stat(s, "rb/big.bin", &a), SSH_FX_OK);
	assert_int_equal(a.size, LEN);
	h_assert_status(s, h_get(s, "rb/big.bin", &got, &len), SSH_FX_OK);
	assert_int_equal(len, LEN);
	assert_memory_equal(got, data, LEN);

	/* Reads at odd offsets and past the end. */
	struct h_handle h;
	struct h_reply r;
	h_assert_status(s, h_open(s, "rb/big.bin", SSH_FXF_READ, NULL, &h), SSH_FX_OK);
	h_assert_status(s, h_read(s, &h, LEN - 10, 100, &r), SSH_FX_OK);
	assert_int_equal(r.data_len, 10);
	assert_memory_equal(r.data, data + LEN - 10, 10);
	h_assert_status(s, h_read(s, &h, LEN, 100, &r), SSH_FX_EOF);
	h_assert_status(s, h_read(s, &h, 777777, 1, &r), SSH_FX_OK);
	assert_int_equal(r.data_len, 1);
	assert_int_equal(r.data[0], data[777777]);
	h_assert_status(s, h_close(s, &h), SSH_FX_OK);

	/* An upload handle opened READ|WRITE reads back what was written so far. */
	h_assert_status(s, h_open(s, "rb/rw", SSH_FXF_READ | WCT, NULL, &h), SSH_FX_OK);
	h_assert_status(s, h_write(s, &h, 0, "hello, vault", 12), SSH_FX_OK);
	h_assert_status(s, h_read(s, &h, 7, 100, &r), SSH_FX_OK);
	assert_int_equal(r.data_len, 5);
	assert_memory_equal(r.data, "vault", 5);
	h_assert_status(s, h_fsync(s, &h), SSH_FX_OK);
	h_assert_status(s, h_close(s, &h), SSH_FX_OK);
	assert_disk_bytes(c, "rb/rw", (const uint8_t *)"hello, vault", 12);
}

/* Names real tools use for their temp files upload like any other name. */
static void
tool_temp_names(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	static const char *const names[] = {
		"t/.duplicity-full.vol1.difftar.gz.part",
		"t/data-restic-temp-a0067d28b80f05628133981a1c794aaa",
		"t/backup.info.pgbackrest.tmp",
		"t/name with spaces and 'quotes' $x;",
		"t/\xc3\xa9t\xc3\xa9.bin",
	};

	h_disk_mkdir(c, "t", 0755);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		h_assert_status(s, h_put(s, names[i], WCT, names[i], strlen(names[i])), SSH_FX_OK);
		assert_disk_bytes(c, names[i], (const uint8_t *)names[i], strlen(names[i]));
	}
	char **list;
	size_t n;
	h_assert_status(s, h_listdir(s, "t", &list, &n), SSH_FX_OK);
	assert_int_equal(n, 2 + sizeof(names) / sizeof(names[0]));
}

/* While an upload is open, its name appears as something else: a directory
 * (MKDIR by the client), or a symlink planted by a local writer. CLOSE must
 * not replace or write through it. */
static void
name_taken_by_other_kind_before_close(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	struct h_handle h;
	struct h_snap other;
	struct stat st;

	h_disk_mkdir(c, "nt", 0755);
	h_assert_status(s, h_open(s, "nt/x", WCT, NULL, &h), SSH_FX_OK);
	h_assert_status(s, h_write(s, &h, 0, "upload", 6), SSH_FX_OK);
	h_assert_status(s, h_mkdir(s, "nt/x", NULL), SSH_FX_OK);
	int r = h_close(s, &h);
	if (r != SSH_FX_PERMISSION_DENIED && r != SSH_FX_FAILURE)
		fail_msg("CLOSE of an upload whose name became a directory: %s (%s)",
			 h_status_name(r), s->last_msg);
	assert_int_equal(h_disk_lstat(c, "nt/x", &st), 0);
	assert_true(S_ISDIR(st.st_mode));

	h_disk_put_str(c, "nt/other", "sealed other\n");
	h_snap_take(c, "nt/other", &other);
	h_assert_status(s, h_open(s, "nt/y", WCT, NULL, &h), SSH_FX_OK);
	h_assert_status(s, h_write(s, &h, 0, "EVIL", 4), SSH_FX_OK);
	h_disk_symlink(c, "other", "nt/y");
	r = h_close(s, &h);
	if (r == SSH_FX_OK)
		fail_msg("CLOSE published differing bytes onto a symlink to a sealed file");
	assert_int_equal(h_disk_lstat(c, "nt/y", &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	h_assert_unchanged(c, "nt/other", &other, true);
	ping_ok(s);
}

int
main(int argc, char **argv)
{
	h_main_init(argc, argv);
	const struct CMUnitTest tests[] = {
		H_TEST(pipelined_out_of_order_writes),
		H_TEST(many_concurrent_uploads),
		H_TEST(eight_hundred_fifty_read_handles),
		H_TEST(handle_limit),
		H_TEST(small_handle_limit),
		H_TEST(interrupted_upload_then_retry),
		H_TEST(interrupted_several_uploads),
		H_TEST(killed_mid_upload_then_retry),
		H_TEST(interrupted_reupload_keeps_sealed),
		H_TEST(two_sessions_same_name),
		H_TEST(read_back_byte_identical),
		H_TEST(tool_temp_names),
		H_TEST(name_taken_by_other_kind_before_close),
	};
	return cmocka_run_group_tests_name("protocol_uploads", tests, NULL, NULL);
}
