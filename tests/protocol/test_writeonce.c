/* SPDX-License-Identifier: MIT */
/*
 * Write-once: every request that would delete, truncate, overwrite, append
 * to, rename, link over, chmod/chown or re-time a finished file is refused,
 * with a message naming the path and the reason, one log line per refusal,
 * and the file's inode, bytes, mode and mtime unchanged. The harmless
 * requests real clients send (narrowing chmod, no-op setstat, identical
 * re-upload, attributes on their own upload handle) are accepted.
 *
 * Reading chosen where the spec is terse: "a permission change that only
 * removes write bits" is taken literally, so removing read or execute bits
 * (0644 -> 0600) is refused too; a refusal is the safe side.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define ATTR_PERM	SSH_FILEXFER_ATTR_PERMISSIONS
#define ATTR_SIZE	SSH_FILEXFER_ATTR_SIZE
#define ATTR_UIDGID	SSH_FILEXFER_ATTR_UIDGID
#define ATTR_TIMES	SSH_FILEXFER_ATTR_ACMODTIME

#define WCT	(SSH_FXF_WRITE | SSH_FXF_CREAT | SSH_FXF_TRUNC)

/* A status, a message naming the path, and (if given) the reason word. */
#define assert_refused(s, got, code, path, word) \
	assert_refused_((s), (got), (code), (path), (word), #got, __FILE__, __LINE__)

static void
assert_refused_(struct h_server *s, int got, int code, const char *path, const char *word,
		const char *what, const char *file, int line)
{
	h_assert_status_(s, got, code, what, file, line);
	if (!strstr(s->last_msg, path) || !strstr(s->last_msg, "refuses") ||
	    (word && !strstr(s->last_msg, word))) {
		print_error("%s:%d: %s: message \"%s\" should name %s and say \"%s\"\n", file, line,
			    what, s->last_msg, path, word ? word : "refuses");
		_fail(file, line);
	}
}

/* Exactly one refusal line mentions a path under dir ("/w-x/"), none for others. */
static void
assert_one_refusal_line(struct h_server *s, const char *dir)
{
	char needle[256];

	snprintf(needle, sizeof(needle), "\"%s", dir);
	size_t n = h_log_count(s, "refused ", needle);
	if (n != 1) {
		h_log_dump(s);
		fail_msg("%zu log lines `refused ... \"%s...`, expected exactly 1", n, dir);
	}
}

static void
assert_no_refusal_line(struct h_server *s, const char *dir)
{
	char needle[256];

	snprintf(needle, sizeof(needle), "\"%s", dir);
	size_t n = h_log_count(s, "refused ", needle);
	if (n != 0) {
		h_log_dump(s);
		fail_msg("%zu refusal lines for %s, which was accepted", n, dir);
	}
}

/* Ends the session (so the log is complete) and checks the exit. */
static void
end_session(struct h_ctx *c)
{
	h_finish(c->s);
	h_assert_exit_ok(c->s);
}

static void
remove_refused(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	struct h_snap a, d;

	h_disk_put_str(c, "w-remove/a", "backup bytes\n");
	h_disk_mkdir(c, "w-rmdir-as-remove/d", 0755);
	h_snap_take(c, "w-remove/a", &a);
	h_snap_take(c, "w-rmdir-as-remove/d", &d);

	assert_refused(s, h_remove(s, "/w-remove/a"), SSH_FX_PERMISSION_DENIED, "/w-remove/a",
		       "refuses delete");
	h_assert_unchanged(c, "w-remove/a", &a, true);
	assert_int_equal(h_remove(s, "/w-remove/absent"), SSH_FX_NO_SUCH_FILE);
	int st = h_remove(s, "/w-rmdir-as-remove/d");
	h_assert_status(s, st, SSH_FX_PERMISSION_DENIED);
	h_assert_unchanged(c, "w-rmdir-as-remove/d", &d, false);

	/* Its own upload, finished a moment ago, is sealed too. */
	h_disk_mkdir(c, "w-own", 0755);
	h_assert_status(s, h_put(s, "/w-own/fresh", WCT, "fresh", 5), SSH_FX_OK);
	assert_refused(s, h_remove(s, "/w-own/fresh"), SSH_FX_PERMISSION_DENIED, "/w-own/fresh",
		       "refuses delete");
	assert_true(h_disk_exists(c, "w-own/fresh"));

	end_session(c);
	assert_int_equal(h_log_refusals(s, "/w-remove/a"), 1);
	assert_int_equal(h_log_refusals(s, "/w-own/fresh"), 1);
	assert_one_refusal_line(s, "/w-remove/");
	assert_one_refusal_line(s, "/w-own/");
	assert_one_refusal_line(s, "/w-rmdir-as-remove/");
}

static void
rmdir_refused(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	struct stat st;

	h_disk_mkdir(c, "w-rmdir1/empty", 0755);
	h_disk_put_str(c, "w-rmdir2/full/file", "x");
	assert_refused(s, h_rmdir(s, "/w-rmdir1/empty"), SSH_FX_PERMISSION_DENIED,
		       "/w-rmdir1/empty", NULL);
	assert_refused(s, h_rmdir(s, "/w-rmdir2/full"), SSH_FX_PERMISSION_DENIED,
		       "/w-rmdir2/full", NULL);
	assert_int_equal(h_disk_lstat(c, "w-rmdir1/empty", &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_true(h_disk_exists(c, "w-rmdir2/full/file"));
	/* A directory made in this session is evidence as well. */
	h_assert_status(s, h_mkdir(s, "/w-rmdir3", NULL), SSH_FX_OK);
	assert_refused(s, h_rmdir(s, "/w-rmdir3"), SSH_FX_PERMISSION_DENIED, "/w-rmdir3", NULL);
	assert_true(h_disk_exists(c, "w-rmdir3"));
	int r = h_rmdir(s, "/");
	if (r == SSH_FX_OK)
		fail_msg("RMDIR / answered OK");
	end_session(c);
	assert_int_equal(h_log_refusals(s, "/w-rmdir1/empty"), 1);
	assert_int_equal(h_log_refusals(s, "/w-rmdir2/full"), 1);
	assert_one_refusal_line(s, "/w-rmdir1/");
	assert_one_refusal_line(s, "/w-rmdir2/");
}

static void
check_rename_refused(struct h_ctx *c, bool posix, const char *dir)
{
	struct h_server *s = c->s;
	char src[128], dst[128], other[128], sdir[128];
	struct h_snap a, b, d;

	snprintf(src, sizeof(src), "/%s/src", dir);
	snprintf(dst, sizeof(dst), "/%s/dst-new", dir);
	snprintf(other, sizeof(other), "/%s/other", dir);
	snprintf(sdir, sizeof(sdir), "/%s/sub", dir);
	h_disk_put_str(c, src, "source bytes\n");
	h_disk_put_str(c, other, "other bytes\n");
	h_disk_mkdir(c, sdir, 0755);
	h_snap_take(c, src, &a);
	h_snap_take(c, other, &b);
	h_snap_take(c, sdir, &d);

	int (*fn)(struct h_server *, const char *, const char *) =
		posix ? h_posix_rename : h_rename;
	/* onto a new name */
	assert_refused(s, fn(s, src, dst), SSH_FX_PERMISSION_DENIED, src, NULL);
	h_assert_unchanged(c, src, &a, true);
	assert_false(h_disk_exists(c, dst));
	/* onto an existing name (posix-rename would replace it) */
	h_assert_status(s, fn(s, other, src), SSH_FX_PERMISSION_DENIED);
	h_assert_unchanged(c, src, &a, true);
	h_assert_unchanged(c, other, &b, true);
	/* a directory */
	h_assert_status(s, fn(s, sdir, dst), SSH_FX_PERMISSION_DENIED);
	h_assert_unchanged(c, sdir, &d, false);
	assert_false(h_disk_exists(c, dst));
}

static void
rename_refused(void **state)
{
	struct h_ctx *c = *state;

	check_rename_refused(c, false, "w-ren");
	end_session(c);
	assert_int_equal(h_log_count(c->s, "refused ", "\"/w-ren/"), 3);
}

/* Not advertised, but a hostile client sends it anyway. */
static void
posix_rename_refused(void **state)
{
	struct h_ctx *c = *state;

	check_rename_refused(c, true, "w-prn");
	end_session(c);
	assert_int_equal(h_log_count(c->s, "refused ", "\"/w-prn/"), 3);
}

static void
symlink_refused(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	struct h_snap a;
	static const struct {
		const char *a;
		const char *b;
	} cases[] = {
		{ "/w-sym/abs", "/etc/passwd" },
		{ "/etc/passwd", "/w-sym/abs2" },
		{ "/w-sym/rel", "../x" },
		{ "../x", "/w-sym/rel2" },
		{ "/w-sym/esc", "../../../../../../etc/shadow" },
		{ "../../../../../../etc/shadow", "/w-sym/esc2" },
		{ "/w-sym/sealed", "/etc/passwd" },	/* over an existing file */
		{ "/etc/passwd", "/w-sym/sealed" },
	};

	h_disk_put_str(c, "w-sym/sealed", "sealed\n");
	h_snap_take(c, "w-sym/sealed", &a);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int st = h_symlink(s, cases[i].a, cases[i].b);
		if (st != SSH_FX_PERMISSION_DENIED)
			fail_msg("SYMLINK \"%s\" \"%s\": %s (%s), expected PERMISSION_DENIED",
				 cases[i].a, cases[i].b, h_status_name(st), s->last_msg);
		if (!strstr(s->last_msg, "refuses"))
			fail_msg("SYMLINK refusal message \"%s\" gives no reason", s->last_msg);
	}
	h_assert_unchanged(c, "w-sym/sealed", &a, true);
	char **names;
	size_t n;
	h_assert_status(s, h_listdir(s, "/w-sym", &names, &n), SSH_FX_OK);
	assert_int_equal(n, 3);	/* ".", "..", "sealed" */
	assert_false(h_disk_exists(c, "etc"));
}

static void
hardlink_refused(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	struct h_snap a, b;

	h_disk_put_str(c, "w-hl/src", "sealed\n");
	h_disk_put_str(c, "w-hl/other", "other\n");
	h_snap_take(c, "w-hl/src", &a);
	h_snap_take(c, "w-hl/other", &b);
	assert_refused(s, h_hardlink(s, "/w-hl/src", "/w-hl/new"), SSH_FX_PERMISSION_DENIED,
		       "/w-hl/", NULL);
	assert_false(h_disk_exists(c, "w-hl/new"));
	h_assert_status(s, h_hardlink(s, "/w-hl/other", "/w-hl/src"), SSH_FX_PERMISSION_DENIED);
	h_assert_unchanged(c, "w-hl/src", &a, true);
	h_assert_unchanged(c, "w-hl/other", &b, true);
	/* Outside the root as link source: refused, nothing appears. */
	h_assert_status(s, h_hardlink(s, "/../outside/secret", "/w-hl/stolen"),
			SSH_FX_PERMISSION_DENIED);
	assert_false(h_disk_exists(c, "w-hl/stolen"));
}

enum via { VIA_SETSTAT, VIA_FSETSTAT, VIA_LSETSTAT };
static const char *const via_name[] = { "SETSTAT", "FSETSTAT", "lsetstat" };

static int
setstat_via(struct h_server *s, enum via v, const char *path, const struct h_attrs *a)
{
	struct h_handle h;
	int st;

	switch (v) {
	case VIA_SETSTAT:
		return h_setstat(s, path, a);
	case VIA_LSETSTAT:
		return h_lsetstat(s, path, a);
	case VIA_FSETSTAT:
		st = h_open(s, path, SSH_FXF_READ, NULL, &h);
		if (st != SSH_FX_OK)
			fail_msg("OPEN READ %s for FSETSTAT: %s", path, h_status_name(st));
		st = h_fsetstat(s, &h, a);
		char msg[sizeof(s->last_msg)];
		memcpy(msg, s->last_msg, sizeof(msg));
		h_assert_status(s, h_close(s, &h), SSH_FX_OK);
		memcpy(s->last_msg, msg, sizeof(msg));
		return st;
	}
	return -1;
}

/* size, owner, times, added or non-write permission bits: refused, nothing applied. */
static void
setstat_finished_file_refused(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	static const struct {
		const char *what;
		mode_t mode;		/* the file's mode */
		struct h_attrs a;
	} cases[] = {
		{ "truncate", 0644, { .flags = ATTR_SIZE, .size = 0 } },
		{ "shrink", 0644, { .flags = ATTR_SIZE, .size = 5 } },
		{ "grow", 0644, { .flags = ATTR_SIZE, .size = 1 << 20 } },
		{ "chown", 0644, { .flags = ATTR_UIDGID, .uid = 12345, .gid = 12345 } },
		{ "times", 0644, { .flags = ATTR_TIMES, .atime = 1, .mtime = 1 } },
		{ "times-now", 0644, { .flags = ATTR_TIMES, .atime = 2000000000, .mtime = 2000000000 } },
		{ "add-write", 0444, { .flags = ATTR_PERM, .perm = 0644 } },
		{ "add-world-write", 0644, { .flags = ATTR_PERM, .perm = 0666 } },
		{ "add-exec", 0644, { .flags = ATTR_PERM, .perm = 0755 } },
		{ "add-setuid", 0644, { .flags = ATTR_PERM, .perm = 04644 } },
		{ "add-sticky", 0644, { .flags = ATTR_PERM, .perm = 01644 } },
		{ "remove-read", 0644, { .flags = ATTR_PERM, .perm = 0600 } },
		{ "remove-all", 0644, { .flags = ATTR_PERM, .perm = 0000 } },
		{ "narrow-plus-times", 0644,
		  { .flags = ATTR_PERM | ATTR_TIMES, .perm = 0444, .atime = 1, .mtime = 1 } },
		{ "narrow-plus-size", 0644, { .flags = ATTR_PERM | ATTR_SIZE, .perm = 0444, .size = 0 } },
		{ "all", 0644,
		  { .flags = ATTR_PERM | ATTR_SIZE | ATTR_UIDGID | ATTR_TIMES, .perm = 0777,
		    .size = 0, .uid = 1, .gid = 1, .atime = 1, .mtime = 1 } },
	};
	int failures = 0;

	for (enum via v = VIA_SETSTAT; v <= VIA_LSETSTAT; v++) {
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			char rel[128];
			struct h_snap snap;

			snprintf(rel, sizeof(rel), "/w-setstat/%s-%s", via_name[v], cases[i].what);
			h_disk_put(c, rel, "finished backup\n", 16, cases[i].mode);
			h_snap_take(c, rel, &snap);
			int st = setstat_via(s, v, rel, &cases[i].a);
			if (st != SSH_FX_PERMISSION_DENIED) {
				print_error("%s %s (%s): got %s (%s), expected PERMISSION_DENIED\n",
					    via_name[v], cases[i].what, rel, h_status_name(st),
					    s->last_msg);
				failures++;
			} else if (!strstr(s->last_msg, rel) || !strstr(s->last_msg, "refuses")) {
				print_error("%s %s: message \"%s\" should name %s and give a reason\n",
					    via_name[v], cases[i].what, s->last_msg, rel);
				failures++;
			}
			struct h_snap now;
			h_snap_take(c, rel, &now);
			if (now.st.st_ino != snap.st.st_ino || now.st.st_mode != snap.st.st_mode ||
			    now.st.st_size != snap.st.st_size || now.st.st_uid != snap.st.st_uid ||
			    now.st.st_mtim.tv_sec != snap.st.st_mtim.tv_sec ||
			    now.st.st_ctim.tv_sec != snap.st.st_ctim.tv_sec ||
			    now.st.st_ctim.tv_nsec != snap.st.st_ctim.tv_nsec ||
			    now.len != snap.len || memcmp(now.data, snap.data, now.len) != 0) {
				print_error("%s %s: the file changed (mode 0%o -> 0%o, size %lld)\n",
					    via_name[v], cases[i].what, snap.st.st_mode,
					    now.st.st_mode, (long long)now.st.st_size);
				failures++;
			}
		}
	}
	if (failures)
		fail_msg("%d setstat cases wrong", failures);
	end_session(c);
	for (enum via v = VIA_SETSTAT; v <= VIA_LSETSTAT; v++) {
		char rel[128];
		snprintf(rel, sizeof(rel), "/w-setstat/%s-truncate", via_name[v]);
		assert_int_equal(h_log_refusals(s, rel), 1);
	}
}

/* restic makes each finished file read-only: accepted, and applied. */
static void
narrowing_chmod_accepted(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	static const struct {
		mode_t from;
		mode_t to;
	} cases[] = {
		{ 0644, 0444 }, { 0600, 0400 }, { 0664, 0644 }, { 0666, 0444 }, { 0755, 0555 },
		{ 0620, 0400 },
	};

	for (enum via v = VIA_SETSTAT; v <= VIA_LSETSTAT; v++) {
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			char rel[128];
			struct h_snap snap;
			struct h_attrs a = { .flags = ATTR_PERM, .perm = cases[i].to };

			snprintf(rel, sizeof(rel), "/w-narrow/%s-%o-%o", via_name[v],
				 cases[i].from, cases[i].to);
			h_disk_put(c, rel, "finished\n", 9, cases[i].from);
			h_snap_take(c, rel, &snap);
			int st = setstat_via(s, v, rel, &a);
			if (st != SSH_FX_OK)
				fail_msg("%s chmod 0%o -> 0%o: %s (%s), expected OK", via_name[v],
					 cases[i].from, cases[i].to, h_status_name(st), s->last_msg);
			struct stat now;
			assert_int_equal(h_disk_lstat(c, rel, &now), 0);
			if ((now.st_mode & 07777) != cases[i].to)
				fail_msg("%s chmod 0%o -> 0%o accepted but mode is 0%o", via_name[v],
					 cases[i].from, cases[i].to, now.st_mode & 07777);
			assert_int_equal(now.st_ino, snap.st.st_ino);
			assert_int_equal(now.st_mtim.tv_sec, snap.st.st_mtim.tv_sec);
			assert_int_equal(now.st_size, snap.st.st_size);
			/* The permission bits in the request may carry the file type (OpenSSH's
			 * client sends st_mode as it is). */
			a.perm = S_IFREG | cases[i].to;
			h_assert_status(s, setstat_via(s, v, rel, &a), SSH_FX_OK);
		}
	}
	/* Also through the SFTP view: STAT shows it. */
	struct h_attrs got;
	h_assert_status(s, h_stat(s, "/w-narrow/SETSTAT-644-444", &got), SSH_FX_OK);
	assert_int_equal(got.perm & 07777, 0444);
	end_session(c);
	assert_no_refusal_line(s, "/w-narrow/");
}

static void
noop_setstat_accepted(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	struct h_snap snap;
	struct h_attrs same = { .flags = ATTR_PERM, .perm = 0644 };
	struct h_attrs none = { .flags = 0 };

	h_disk_put_str(c, "w-noop/f", "finished\n");
	h_snap_take(c, "w-noop/f", &snap);
	for (enum via v = VIA_SETSTAT; v <= VIA_LSETSTAT; v++) {
		int st = setstat_via(s, v, "/w-noop/f", &same);
		if (st != SSH_FX_OK)
			fail_msg("%s chmod 0644 on a 0644 file: %s (%s)", via_name[v],
				 h_status_name(st), s->last_msg);
		st = setstat_via(s, v, "/w-noop/f", &none);
		if (st != SSH_FX_OK)
			fail_msg("%s with no attributes: %s (%s)", via_name[v], h_status_name(st),
				 s->last_msg);
	}
	h_assert_unchanged(c, "w-noop/f", &snap, false);
	end_session(c);
	assert_no_refusal_line(s, "/w-noop/");
}

/* A chmod 555 on a directory would stop every later backup. */
static void
setstat_directory(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	struct h_snap snap, rsnap;
	struct stat st;
	static const struct h_attrs refused[] = {
		{ .flags = ATTR_PERM, .perm = 0555 },
		{ .flags = ATTR_PERM, .perm = 0700 },
		{ .flags = ATTR_PERM, .perm = 0777 },
		{ .flags = ATTR_PERM, .perm = 0 },
		{ .flags = ATTR_TIMES, .atime = 1, .mtime = 1 },
		{ .flags = ATTR_UIDGID, .uid = 12345, .gid = 12345 },
		{ .flags = ATTR_SIZE, .size = 0 },
	};

	h_disk_mkdir(c, "w-dir/d", 0755);
	h_disk_put_str(c, "w-dir/d/f", "f");
	h_snap_take(c, "w-dir/d", &snap);
	h_snap_take(c, "/", &rsnap);
	for (enum via v = VIA_SETSTAT; v <= VIA_LSETSTAT; v++) {
		if (v == VIA_FSETSTAT)
			continue;	/* no handle to a directory accepts FSETSTAT */
		for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
			int r = v == VIA_SETSTAT ? h_setstat(s, "/w-dir/d", &refused[i])
				: h_lsetstat(s, "/w-dir/d", &refused[i]);
			if (r != SSH_FX_PERMISSION_DENIED)
				fail_msg("%s on a directory, flags 0x%x perm 0%o: %s (%s)",
					 via_name[v], refused[i].flags, refused[i].perm,
					 h_status_name(r), s->last_msg);
			h_assert_unchanged(c, "w-dir/d", &snap, true);
			r = v == VIA_SETSTAT ? h_setstat(s, "/", &refused[i])
				: h_lsetstat(s, "/", &refused[i]);
			if (r != SSH_FX_PERMISSION_DENIED)
				fail_msg("%s on /, flags 0x%x perm 0%o: %s (%s)", via_name[v],
					 refused[i].flags, refused[i].perm, h_status_name(r),
					 s->last_msg);
			h_assert_unchanged(c, "/", &rsnap, true);
		}
	}
	struct h_attrs same = { .flags = ATTR_PERM, .perm = 0755 };
	h_assert_status(s, h_setstat(s, "/w-dir/d", &same), SSH_FX_OK);
	assert_int_equal(h_disk_lstat(c, "w-dir/d", &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	same.perm = S_IFDIR | 0755;
	h_assert_status(s, h_setstat(s, "/w-dir/d", &same), SSH_FX_OK);
	/* A directory handle does not make FSETSTAT a way around it. */
	struct h_handle dh;
	h_assert_status(s, h_opendir(s, "/w-dir/d", &dh), SSH_FX_OK);
	struct h_attrs mode555 = { .flags = ATTR_PERM, .perm = 0555 };
	int r = h_fsetstat(s, &dh, &mode555);
	if (r == SSH_FX_OK)
		fail_msg("FSETSTAT chmod 555 on a directory handle answered OK");
	h_assert_status(s, h_close(s, &dh), SSH_FX_OK);
	assert_int_equal(h_disk_lstat(c, "w-dir/d", &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
}

static void
reupload_identical_ok(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	enum { LEN = 100000 };
	uint8_t *data = h_pattern_alloc(LEN, 21);
	struct h_snap snap;
	struct h_handle h;

	h_disk_put(c, "w-same/f", data, LEN, 0644);
	h_snap_take(c, "w-same/f", &snap);

	/* WRITE|CREAT|TRUNC, sequential: what every client sends. */
	h_assert_status(s, h_put(s, "/w-same/f", WCT, data, LEN), SSH_FX_OK);
	h_assert_unchanged(c, "w-same/f", &snap, true);
	assert_int_equal(h_disk_partials(c, "w-same", NULL), 0);

	/* EXCL-less WRITE|CREAT, chunks out of order. */
	h_assert_status(s, h_open(s, "/w-same/f", SSH_FXF_WRITE | SSH_FXF_CREAT, NULL, &h),
			SSH_FX_OK);
	for (int i = 3; i >= 0; i--) {
		size_t off = (size_t)i * 32768, n = LEN - off < 32768 ? LEN - off : 32768;
		h_assert_status(s, h_write(s, &h, off, data + off, n), SSH_FX_OK);
	}
	h_assert_status(s, h_close(s, &h), SSH_FX_OK);
	h_assert_unchanged(c, "w-same/f", &snap, true);

	/* WRITE only. */
	h_assert_status(s, h_put(s, "/w-same/f", SSH_FXF_WRITE, data, LEN), SSH_FX_OK);
	h_assert_unchanged(c, "w-same/f", &snap, true);

	/* An empty file, re-uploaded empty. */
	struct h_snap esnap;
	h_disk_put(c, "w-same/empty", "", 0, 0644);
	h_snap_take(c, "w-same/empty", &esnap);
	h_assert_status(s, h_put(s, "/w-same/empty", WCT, "", 0), SSH_FX_OK);
	h_assert_unchanged(c, "w-same/empty", &esnap, true);
	assert_int_equal(h_disk_partials(c, "w-same", NULL), 0);

	end_session(c);
	assert_no_refusal_line(s, "/w-same/");
}

static void
reupload_different_refused(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	enum { LEN = 70000 };
	uint8_t *data = h_pattern_alloc(LEN, 22);
	uint8_t *evil = h_pattern_alloc(LEN + 10, 22);
	struct h_snap snap;

	h_disk_put(c, "w-diff/f", data, LEN, 0644);
	h_snap_take(c, "w-diff/f", &snap);

	evil[LEN / 2] ^= 0x01;	/* one bit differs */
	int st = h_put(s, "/w-diff/f", WCT, evil, LEN);
	assert_refused(s, st, SSH_FX_PERMISSION_DENIED, "/w-diff/f", "refuses overwrite");
	h_assert_unchanged(c, "w-diff/f", &snap, true);
	assert_int_equal(h_disk_partials(c, "w-diff", NULL), 0);

	/* shorter: a prefix of the sealed bytes */
	h_assert_status(s, h_put(s, "/w-diff/f", WCT, data, LEN - 1), SSH_FX_PERMISSION_DENIED);
	h_assert_unchanged(c, "w-diff/f", &snap, true);
	h_assert_status(s, h_put(s, "/w-diff/f", WCT, data, 0), SSH_FX_PERMISSION_DENIED);
	h_assert_unchanged(c, "w-diff/f", &snap, true);

	/* longer: the sealed bytes plus more (an append in disguise) */
	uint8_t *longer = h_xmalloc(LEN + 10);
	memcpy(longer, data, LEN);
	memset(longer + LEN, 'A', 10);
	h_assert_status(s, h_put(s, "/w-diff/f", WCT, longer, LEN + 1), SSH_FX_PERMISSION_DENIED);
	h_assert_unchanged(c, "w-diff/f", &snap, true);
	h_assert_status(s, h_put(s, "/w-diff/f", WCT, longer, LEN + 10), SSH_FX_PERMISSION_DENIED);
	h_assert_unchanged(c, "w-diff/f", &snap, true);

	/* the right bytes, plus one written past the end through a second WRITE */
	struct h_handle h;
	h_assert_status(s, h_open(s, "/w-diff/f", WCT, NULL, &h), SSH_FX_OK);
	h_assert_status(s, h_write(s, &h, 0, data, LEN), SSH_FX_OK);
	h_assert_status(s, h_write(s, &h, LEN + 4096, "X", 1), SSH_FX_OK);
	h_assert_status(s, h_close(s, &h), SSH_FX_PERMISSION_DENIED);
	h_assert_unchanged(c, "w-diff/f", &snap, true);
	/* a hole where the sealed file has bytes */
	h_assert_status(s, h_open(s, "/w-diff/f", WCT, NULL, &h), SSH_FX_OK);
	h_assert_status(s, h_write(s, &h, LEN - 100, data + LEN - 100, 100), SSH_FX_OK);
	h_assert_status(s, h_close(s, &h), SSH_FX_PERMISSION_DENIED);
	h_assert_unchanged(c, "w-diff/f", &snap, true);
	assert_int_equal(h_disk_partials(c, "w-diff", NULL), 0);

	end_session(c);
	assert_int_equal(h_log_refusals(s, "/w-diff/f"), 7);
}

static void
write_on_read_handle_refused(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	struct h_snap snap;
	struct h_handle h;

	h_disk_put_str(c, "w-rh/f", "read only\n");
	h_snap_take(c, "w-rh/f", &snap);
	h_assert_status(s, h_open(s, "/w-rh/f", SSH_FXF_READ, NULL, &h), SSH_FX_OK);
	h_assert_status(s, h_write(s, &h, 0, "EVIL", 4), SSH_FX_PERMISSION_DENIED);
	h_assert_status(s, h_write(s, &h, 10, "APPENDED", 8), SSH_FX_PERMISSION_DENIED);
	h_assert_status(s, h_write(s, &h, 0, "", 0), SSH_FX_PERMISSION_DENIED);
	h_assert_status(s, h_close(s, &h), SSH_FX_OK);
	h_assert_unchanged(c, "w-rh/f", &snap, true);
	/* A read handle stays a read handle after a refused write. */
	struct h_reply r;
	h_assert_status(s, h_open(s, "/w-rh/f", SSH_FXF_READ, NULL, &h), SSH_FX_OK);
	h_assert_status(s, h_write(s, &h, 0, "EVIL", 4), SSH_FX_PERMISSION_DENIED);
	h_assert_status(s, h_read(s, &h, 0, 100, &r), SSH_FX_OK);
	assert_int_equal(r.data_len, 10);
	assert_memory_equal(r.data, "read only\n", 10);
	h_assert_status(s, h_close(s, &h), SSH_FX_OK);
	h_assert_unchanged(c, "w-rh/f", &snap, true);
}

/* restic and lftp set attributes on the handle they upload through. */
static void
fsetstat_own_upload_handle(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	struct h_handle h;
	struct stat st;
	uint8_t *data = h_pattern_alloc(5000, 23);

	h_disk_mkdir(c, "w-up", 0755);
	h_assert_status(s, h_open(s, "/w-up/f", SSH_FXF_WRITE | SSH_FXF_CREAT | SSH_FXF_EXCL, NULL,
				  &h), SSH_FX_OK);
	struct h_attrs perm = { .flags = ATTR_PERM, .perm = 0600 };
	h_assert_status(s, h_fsetstat(s, &h, &perm), SSH_FX_OK);
	h_assert_status(s, h_write(s, &h, 0, data, 5000), SSH_FX_OK);
	struct h_attrs size = { .flags = ATTR_SIZE, .size = 4000 };
	h_assert_status(s, h_fsetstat(s, &h, &size), SSH_FX_OK);
	struct h_attrs times = { .flags = ATTR_TIMES, .atime = 1500000000, .mtime = 1500000001 };
	h_assert_status(s, h_fsetstat(s, &h, &times), SSH_FX_OK);
	struct h_attrs own = { .flags = ATTR_UIDGID, .uid = 12345, .gid = 12345 };
	h_assert_status(s, h_fsetstat(s, &h, &own), SSH_FX_PERMISSION_DENIED);
	struct h_attrs fa;
	h_assert_status(s, h_fstat(s, &h, &fa), SSH_FX_OK);
	assert_int_equal(fa.size, 4000);
	assert_int_equal(fa.perm & 07777, 0600);
	assert_false(h_disk_exists(c, "w-up/f"));
	h_assert_status(s, h_close(s, &h), SSH_FX_OK);

	assert_int_equal(h_disk_lstat(c, "w-up/f", &st), 0);
	assert_int_equal(st.st_size, 4000);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_mtim.tv_sec, 1500000001);
	assert_int_equal(st.st_uid, getuid());
	size_t len;
	uint8_t *got = h_disk_get(c, "w-up/f", &len);
	assert_int_equal(len, 4000);
	assert_memory_equal(got, data, 4000);

	/* Once finished, such requests by path are refused. */
	size.size = 10;
	times.mtime = 1;
	h_assert_status(s, h_setstat(s, "/w-up/f", &size), SSH_FX_PERMISSION_DENIED);
	h_assert_status(s, h_setstat(s, "/w-up/f", &times), SSH_FX_PERMISSION_DENIED);
	assert_int_equal(h_disk_lstat(c, "w-up/f", &st), 0);
	assert_int_equal(st.st_size, 4000);
	assert_int_equal(st.st_mtim.tv_sec, 1500000001);
}

/* A re-upload handle is not an upload handle of a new file: its attributes
 * must not reach the sealed file. */
static void
fsetstat_on_reupload_handle(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	struct h_handle h;
	struct h_snap snap;

	h_disk_put_str(c, "w-rf/f", "sealed content\n");
	h_snap_take(c, "w-rf/f", &snap);
	h_assert_status(s, h_open(s, "/w-rf/f", WCT, NULL, &h), SSH_FX_OK);
	struct h_attrs a = { .flags = ATTR_PERM | ATTR_TIMES | ATTR_SIZE, .perm = 0777,
			     .atime = 1, .mtime = 1, .size = 0 };
	int st = h_fsetstat(s, &h, &a);
	(void)st;	/* applies to the partial, or is refused: either way ... */
	h_assert_unchanged(c, "w-rf/f", &snap, true);	/* ... the sealed file is untouched */
	h_assert_status(s, h_write(s, &h, 0, "sealed content\n", 15), SSH_FX_OK);
	st = h_close(s, &h);
	if (st != SSH_FX_OK && st != SSH_FX_PERMISSION_DENIED)
		fail_msg("CLOSE of an identical re-upload after FSETSTAT: %s", h_status_name(st));
	h_assert_unchanged(c, "w-rf/f", &snap, true);
	assert_int_equal(h_disk_partials(c, "w-rf", NULL), 0);
}

/* One refusal of every kind, each under its own directory: one log line each,
 * of the form `refused OP "PATH": REASON`. */
static void
every_refusal_logged_once(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	static const char *const dirs[] = {
		"/l-remove/", "/l-rmdir/", "/l-rename/", "/l-prename/", "/l-symlink/",
		"/l-hardlink/", "/l-setstat/", "/l-fsetstat/", "/l-lsetstat/", "/l-append/",
		"/l-trunc/", "/l-overwrite/", "/l-write/", "/l-reserved/", "/l-dirmode/",
	};
	static const char *const single[] = {
		"/l-remove/f", "/l-rmdir/d", "/l-setstat/f", "/l-lsetstat/f", "/l-append/f",
		"/l-trunc/f", "/l-overwrite/f", "/l-dirmode/d",
	};
	struct h_attrs times = { .flags = ATTR_TIMES, .atime = 1, .mtime = 1 };
	struct h_attrs d555 = { .flags = ATTR_PERM, .perm = 0555 };
	struct h_handle h;

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		char rel[64];
		snprintf(rel, sizeof(rel), "%sf", dirs[i]);
		h_disk_put_str(c, rel, "sealed\n");
	}
	h_disk_mkdir(c, "l-rmdir/d", 0755);
	h_disk_mkdir(c, "l-dirmode/d", 0755);

	h_assert_status(s, h_remove(s, "/l-remove/f"), SSH_FX_PERMISSION_DENIED);
	h_assert_status(s, h_rmdir(s, "/l-rmdir/d"), SSH_FX_PERMISSION_DENIED);
	h_assert_status(s, h_rename(s, "/l-rename/f", "/l-rename/g"), SSH_FX_PERMISSION_DENIED);
	h_assert_status(s, h_posix_rename(s, "/l-prename/f", "/l-prename/g"),
			SSH_FX_PERMISSION_DENIED);
	h_assert_status(s, h_symlink(s, "/l-symlink/g", "/l-symlink/f"), SSH_FX_PERMISSION_DENIED);
	h_assert_status(s, h_hardlink(s, "/l-hardlink/f", "/l-hardlink/g"),
			SSH_FX_PERMISSION_DENIED);
	h_assert_status(s, h_setstat(s, "/l-setstat/f", &times), SSH_FX_PERMISSION_DENIED);
	h_assert_status(s, setstat_via(s, VIA_FSETSTAT, "/l-fsetstat/f", &times),
			SSH_FX_PERMISSION_DENIED);
	h_assert_status(s, h_lsetstat(s, "/l-lsetstat/f", &times), SSH_FX_PERMISSION_DENIED);
	h_assert_status(s, h_open(s, "/l-append/f", SSH_FXF_WRITE | SSH_FXF_APPEND, NULL, &h),
			SSH_FX_PERMISSION_DENIED);
	h_assert_status(s, h_open(s, "/l-trunc/f", SSH_FXF_READ | SSH_FXF_TRUNC, NULL, &h),
			SSH_FX_PERMISSION_DENIED);
	h_assert_status(s, h_put(s, "/l-overwrite/f", WCT, "other\n", 6), SSH_FX_PERMISSION_DENIED);
	h_assert_status(s, h_open(s, "/l-write/f", SSH_FXF_READ, NULL, &h), SSH_FX_OK);
	h_assert_status(s, h_write(s, &h, 0, "x", 1), SSH_FX_PERMISSION_DENIED);
	h_assert_status(s, h_close(s, &h), SSH_FX_OK);
	h_assert_status(s, h_open(s, "/l-reserved/.sealvault.part.0000000000000000", WCT, NULL, &h),
			SSH_FX_PERMISSION_DENIED);
	h_assert_status(s, h_setstat(s, "/l-dirmode/d", &d555), SSH_FX_PERMISSION_DENIED);

	end_session(c);
	int failures = 0;
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		char needle[64];
		snprintf(needle, sizeof(needle), "\"%s", dirs[i]);
		size_t n = h_log_count(s, "refused ", needle);
		if (n != 1) {
			print_error("%zu refusal log lines for %s..., expected 1\n", n, dirs[i]);
			failures++;
		}
	}
	for (size_t i = 0; i < sizeof(single) / sizeof(single[0]); i++) {
		if (h_log_refusals(s, single[i]) != 1) {
			print_error("no line `refused OP \"%s\": REASON`\n", single[i]);
			failures++;
		}
	}
	if (failures) {
		h_log_dump(s);
		fail_msg("%d refusals not logged exactly once", failures);
	}
}

int
main(int argc, char **argv)
{
	h_main_init(argc, argv);
	const struct CMUnitTest tests[] = {
		H_TEST(remove_refused),
		H_TEST(rmdir_refused),
		H_TEST(rename_refused),
		H_TEST(posix_rename_refused),
		H_TEST(symlink_refused),
		H_TEST(hardlink_refused),
		H_TEST(setstat_finished_file_refused),
		H_TEST(narrowing_chmod_accepted),
		H_TEST(noop_setstat_accepted),
		H_TEST(setstat_directory),
		H_TEST(reupload_identical_ok),
		H_TEST(reupload_different_refused),
		H_TEST(write_on_read_handle_refused),
		H_TEST(fsetstat_own_upload_handle),
		H_TEST(fsetstat_on_reupload_handle),
		H_TEST(every_refusal_logged_once),
	};
	return cmocka_run_group_tests_name("protocol_writeonce", tests, NULL, NULL);
}
