/* SPDX-License-Identifier: MIT */
/*
 * Per-tenant quotas (quota-bytes, quota-files; sftp-subsystem/quota.h): the
 * count starts from what the root holds (attic and partial uploads
 * included) and follows the session. Each case sets the quota just above
 * what it put in the root, then checks that the request passing it gets
 * FAILURE "quota exceeded" (a byte quota at the WRITE, a file quota at the
 * OPEN or MKDIR), that the upload is not published, that nothing stored
 * before changes, and that a removal frees quota within the same session.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define WCT	(SSH_FXF_WRITE | SSH_FXF_CREAT | SSH_FXF_TRUNC)

#define PROFILE \
	"\tpath **/*.tmp temp\n" \
	"\tpath locks/* mutable\n" \
	"\tpath vers/ versioned\n" \
	"\tpath ** seal\n"

static struct h_server *
start(struct h_ctx *c, const char *tenant_extra)
{
	h_write_config(c, "case", PROFILE, tenant_extra);
	return h_spawn_tenant(c, NULL, true);
}

/* What every case stores first: 3 inodes (d, d/f1, f2), 150 bytes. */
struct existing {
	struct h_snap f1, f2;
};

static void
store_existing(struct h_ctx *c, struct existing *e)
{
	h_disk_put(c, "d/f1", h_pattern_alloc(100, 11), 100, 0644);
	h_disk_put(c, "f2", h_pattern_alloc(50, 12), 50, 0644);
	h_snap_take(c, "d/f1", &e->f1);
	h_snap_take(c, "f2", &e->f2);
}

static void
assert_existing_unchanged(struct h_ctx *c, const struct existing *e)
{
	h_assert_unchanged(c, "d/f1", &e->f1, true);
	h_assert_unchanged(c, "f2", &e->f2, true);
}

static void
assert_quota_failure(struct h_server *s, int got, const char *path)
{
	h_assert_status(s, got, SSH_FX_FAILURE);
	h_assert_msg(s, path, "quota exceeded");
}

static void
end_session(struct h_server *s)
{
	h_finish(s);
	h_assert_exit_ok(s);
}

static void
quota_bytes_refused_at_write(void **state)
{
	struct h_ctx *c = *state;
	struct existing e;
	struct h_server *s;
	struct h_handle h;
	uint8_t *p40 = h_pattern_alloc(40, 1), *p20 = h_pattern_alloc(20, 2), *p10 = h_pattern_alloc(10, 3);

	store_existing(c, &e);
	s = start(c, "\tquota-bytes 200");	/* 50 bytes free */

	h_assert_status(s, h_put(s, "/new1", WCT, p40, 40), SSH_FX_OK);
	h_assert_disk(c, "new1", p40, 40);

	h_assert_status(s, h_open(s, "/new2", WCT, NULL, &h), SSH_FX_OK);
	assert_quota_failure(s, h_write(s, &h, 0, p20, 20), "/new2");
	h_assert_status(s, h_close(s, &h), SSH_FX_FAILURE);
	h_assert_disk_absent(c, "new2");

	/* Up to the quota exactly is fine; one byte more is not. */
	h_assert_status(s, h_put(s, "/new3", WCT, p10, 10), SSH_FX_OK);
	h_assert_disk(c, "new3", p10, 10);
	h_assert_status(s, h_open(s, "/new4", WCT, NULL, &h), SSH_FX_OK);
	assert_quota_failure(s, h_write(s, &h, 0, "x", 1), "/new4");
	h_assert_status(s, h_close(s, &h), SSH_FX_FAILURE);
	h_assert_disk_absent(c, "new4");

	assert_existing_unchanged(c, &e);
	h_assert_disk(c, "new1", p40, 40);
	end_session(s);
	if (h_log_count(s, "quota exceeded", NULL) < 2) {
		h_log_dump(s);
		fail_msg("quota refusals not logged");
	}
}

/* An upload that passes the quota in its second WRITE is not published either. */
static void
quota_bytes_second_chunk(void **state)
{
	struct h_ctx *c = *state;
	struct existing e;
	struct h_server *s;
	struct h_handle h;
	uint8_t *p = h_pattern_alloc(120, 4);

	store_existing(c, &e);
	s = start(c, "\tquota-bytes 250");	/* 100 bytes free */
	h_assert_status(s, h_open(s, "/big", WCT, NULL, &h), SSH_FX_OK);
	h_assert_status(s, h_write(s, &h, 0, p, 60), SSH_FX_OK);
	assert_quota_failure(s, h_write(s, &h, 60, p + 60, 60), "/big");
	h_assert_status(s, h_close(s, &h), SSH_FX_FAILURE);
	h_assert_disk_absent(c, "big");
	/* A sparse write far out is counted by the size it makes. */
	h_assert_status(s, h_open(s, "/sparse", WCT, NULL, &h), SSH_FX_OK);
	assert_quota_failure(s, h_write(s, &h, 1000000, "x", 1), "/sparse");
	h_assert_status(s, h_close(s, &h), SSH_FX_FAILURE);
	h_assert_disk_absent(c, "sparse");
	/* And growing by FSETSTAT size on the upload handle. */
	h_assert_status(s, h_open(s, "/grown", WCT, NULL, &h), SSH_FX_OK);
	assert_quota_failure(s, h_fsetstat(s, &h, &(struct h_attrs){ .flags = SSH_FILEXFER_ATTR_SIZE,
								    .size = 1000000 }), "/grown");
	h_close(s, &h);
	{
		struct stat st;
		if (h_disk_lstat(c, "grown", &st) == 0 && st.st_size > 100)
			fail_msg("/grown stored with %lld bytes past the quota", (long long)st.st_size);
	}
	assert_existing_unchanged(c, &e);
	end_session(s);
}

static void
quota_files_refused(void **state)
{
	struct h_ctx *c = *state;
	struct existing e;
	struct h_server *s;
	struct h_handle h;

	store_existing(c, &e);
	s = start(c, "\tquota-files 5");	/* 3 used: two more inodes */

	h_assert_status(s, h_put(s, "/a", WCT, "a", 1), SSH_FX_OK);
	h_assert_status(s, h_mkdir(s, "/b", NULL), SSH_FX_OK);
	assert_quota_failure(s, h_open(s, "/c", WCT, NULL, &h), "/c");
	h_assert_disk_absent(c, "c");
	assert_quota_failure(s, h_mkdir(s, "/e", NULL), "/e");
	h_assert_disk_absent(c, "e");
	assert_quota_failure(s, h_mkdir(s, "/d/sub", NULL), "/d/sub");
	h_assert_disk_absent(c, "d/sub");
	assert_int_equal(h_disk_partials(c, "", NULL), 0);
	assert_existing_unchanged(c, &e);
	h_assert_disk_str(c, "a", "a");
	end_session(s);
}

/* Removing a temp file gives its inode and bytes back at once. */
static void
quota_freed_by_temp_remove(void **state)
{
	struct h_ctx *c = *state;
	struct existing e;
	struct h_server *s;
	struct h_handle h;
	uint8_t *p100 = h_pattern_alloc(100, 5);

	store_existing(c, &e);
	s = start(c, "\tquota-files 4\n\tquota-bytes 250");	/* one inode, 100 bytes free */
	h_assert_status(s, h_put(s, "/x.tmp", WCT, p100, 100), SSH_FX_OK);
	assert_quota_failure(s, h_open(s, "/y", WCT, NULL, &h), "/y");
	h_assert_status(s, h_remove(s, "/x.tmp"), SSH_FX_OK);
	h_assert_disk_absent(c, "x.tmp");
	h_assert_status(s, h_put(s, "/y", WCT, p100, 100), SSH_FX_OK);
	h_assert_disk(c, "y", p100, 100);
	assert_existing_unchanged(c, &e);
	end_session(s);
}

static void
quota_bytes_freed_by_temp_remove(void **state)
{
	struct h_ctx *c = *state;
	struct existing e;
	struct h_server *s;
	struct h_handle h;
	uint8_t *p100 = h_pattern_alloc(100, 6), *p50 = h_pattern_alloc(50, 7);

	store_existing(c, &e);
	s = start(c, "\tquota-bytes 250");
	h_assert_status(s, h_put(s, "/x.tmp", WCT, p100, 100), SSH_FX_OK);
	h_assert_status(s, h_open(s, "/y", WCT, NULL, &h), SSH_FX_OK);
	assert_quota_failure(s, h_write(s, &h, 0, p50, 50), "/y");
	h_assert_status(s, h_close(s, &h), SSH_FX_FAILURE);
	h_assert_disk_absent(c, "y");
	h_assert_status(s, h_remove(s, "/x.tmp"), SSH_FX_OK);
	h_assert_status(s, h_put(s, "/y", WCT, p50, 50), SSH_FX_OK);
	h_assert_disk(c, "y", p50, 50);

	/* posix-rename of a temp over another gives the replaced one's bytes back. */
	h_assert_status(s, h_put(s, "/a.tmp", WCT, p50, 25), SSH_FX_OK);
	h_assert_status(s, h_put(s, "/b.tmp", WCT, p50, 25), SSH_FX_OK);	/* full now */
	h_assert_status(s, h_posix_rename(s, "/a.tmp", "/b.tmp"), SSH_FX_OK);
	h_assert_status(s, h_put(s, "/z", WCT, p50, 25), SSH_FX_OK);
	assert_existing_unchanged(c, &e);
	end_session(s);
}

/*
 * A mutable file rewritten with TRUNC: the new copy needs room while it is
 * written, and the old one's bytes are given back when it is replaced.
 */
static void
quota_mutable_rewrite(void **state)
{
	struct h_ctx *c = *state;
	struct existing e;
	struct h_server *s;
	struct h_handle h;
	uint8_t *p = h_pattern_alloc(100, 8), *q = h_pattern_alloc(100, 9), *r = h_pattern_alloc(100, 10);

	store_existing(c, &e);
	h_disk_mkdir(c, "locks", 0755);	/* a directory is an inode, not bytes */
	s = start(c, "\tquota-bytes 350");	/* 200 free: m and one copy of it */
	h_assert_status(s, h_put(s, "/locks/m", WCT, p, 100), SSH_FX_OK);
	h_assert_status(s, h_put(s, "/locks/m", WCT, q, 100), SSH_FX_OK);
	h_assert_disk(c, "locks/m", q, 100);
	/* The replaced version's bytes came back: another 100 fit. */
	h_assert_status(s, h_put(s, "/n", WCT, r, 100), SSH_FX_OK);
	/* Now full: growing m is refused (at the OPEN, which copies it, or at the WRITE), m unchanged. */
	int st = h_open(s, "/locks/m", SSH_FXF_WRITE | SSH_FXF_APPEND, NULL, &h);
	if (st == SSH_FX_OK) {
		assert_quota_failure(s, h_write(s, &h, 0, "x", 1), "/locks/m");
		h_assert_status(s, h_close(s, &h), SSH_FX_FAILURE);
	} else {
		assert_quota_failure(s, st, "/locks/m");
	}
	h_assert_disk(c, "locks/m", q, 100);
	assert_existing_unchanged(c, &e);
	end_session(s);
}

/* What the vault keeps (attic, partial uploads) takes space: it counts at the start and after a versioned remove. */
static void
quota_counts_kept_data(void **state)
{
	struct h_ctx *c = *state;
	struct existing e;
	struct h_server *s;
	struct h_handle h;

	store_existing(c, &e);
	h_disk_put(c, ".sealvault/attic/old~20240101T000000Z-00000000", h_pattern_alloc(40, 1), 40, 0400);
	h_disk_put(c, "d/.sealvault.part.0123456789abcdef", h_pattern_alloc(10, 1), 10, 0400);
	h_disk_put(c, "vers/v", h_pattern_alloc(30, 1), 30, 0644);
	/* 150 + 40 + 10 + 30 = 230 bytes. */
	s = start(c, "\tquota-bytes 230");
	h_assert_status(s, h_open(s, "/n", WCT, NULL, &h), SSH_FX_OK);
	assert_quota_failure(s, h_write(s, &h, 0, "x", 1), "/n");
	h_assert_status(s, h_close(s, &h), SSH_FX_FAILURE);
	/* Removing a versioned file moves it into the attic: nothing is freed. */
	h_assert_status(s, h_remove(s, "/vers/v"), SSH_FX_OK);
	h_assert_status(s, h_open(s, "/n", WCT, NULL, &h), SSH_FX_OK);
	assert_quota_failure(s, h_write(s, &h, 0, "x", 1), "/n");
	h_assert_status(s, h_close(s, &h), SSH_FX_FAILURE);
	h_assert_disk_absent(c, "n");
	assert_existing_unchanged(c, &e);
	end_session(s);
}

int
main(int argc, char **argv)
{
	h_main_init(argc, argv);
	const struct CMUnitTest tests[] = {
		H_TEST_BARE(quota_bytes_refused_at_write),
		H_TEST_BARE(quota_bytes_second_chunk),
		H_TEST_BARE(quota_files_refused),
		H_TEST_BARE(quota_freed_by_temp_remove),
		H_TEST_BARE(quota_bytes_freed_by_temp_remove),
		H_TEST_BARE(quota_mutable_rewrite),
		H_TEST_BARE(quota_counts_kept_data),
	};
	return cmocka_run_group_tests_name("protocol_quota", tests, NULL, NULL);
}
