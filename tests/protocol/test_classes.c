/* SPDX-License-Identifier: MIT */
/*
 * Path classes (policy/README.md, "Classes and what each operation gets"):
 * each case writes a vault.conf with one tenant whose root is the case's
 * temp root and a profile of its own, starts vault-sftp with
 * --config/--tenant, and checks the answers against the class table, the
 * bytes on disk and the attic.
 *
 * Readings chosen where the spec is terse:
 * - a request on a mutable name that is a symlink or has several hard links
 *   must not succeed: answering OK would claim a write that either went
 *   through to another file or did not happen;
 * - a mutable file never grows past max-size, whatever the request (WRITE,
 *   APPEND, FSETSTAT size), and max-files holds for uploads open at once;
 * - a refused WRITE leaves the upload unpublished: CLOSE answers FAILURE.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define ATTR_PERM	SSH_FILEXFER_ATTR_PERMISSIONS
#define ATTR_SIZE	SSH_FILEXFER_ATTR_SIZE
#define ATTR_TIMES	SSH_FILEXFER_ATTR_ACMODTIME

#define WCT	(SSH_FXF_WRITE | SSH_FXF_CREAT | SSH_FXF_TRUNC)
#define PD	SSH_FX_PERMISSION_DENIED

/* One profile for most cases: every class, in the order the README's example uses. */
#define PROFILE_MAIN \
	"\tpath **/*.tmp temp\n" \
	"\tpath locks/* mutable max-files=3 max-size=100\n" \
	"\tpath vers/ versioned\n" \
	"\tpath secret/ deny\n" \
	"\tpath .ssh/ deny\n" \
	"\tpath ** seal\n"

static struct h_server *
start(struct h_ctx *c, const char *body, const char *tenant_extra)
{
	h_write_config(c, "case", body, tenant_extra);
	return h_spawn_tenant(c, NULL, true);
}

static struct h_server *
start_builtin(struct h_ctx *c, const char *profile)
{
	h_write_config(c, profile, NULL, NULL);
	return h_spawn_tenant(c, NULL, true);
}

static void
end_session(struct h_ctx *c, struct h_server *s)
{
	h_finish(s);
	h_assert_exit_ok(s);
	(void)c;
}

/* The status is one of two (where the spec allows either). */
#define assert_status_either(s, got, a, b) do { \
	int st_ = (got); \
	if (st_ != (a) && st_ != (b)) \
		h_assert_status_((s), st_, (a), #got, __FILE__, __LINE__); \
} while (0)

static void
assert_listed(struct h_server *s, const char *dir, const char *name, bool want)
{
	char **names;
	size_t n;

	h_assert_status(s, h_listdir(s, dir, &names, &n), SSH_FX_OK);
	if (h_names_contain(names, n, name) != want)
		fail_msg("READDIR %s %s \"%s\"", dir, want ? "does not list" : "lists", name);
}

/* The attic entries of a file: "<root>/.sealvault/attic<dir>/<name>~<time>-<hex>". */
static size_t
attic_versions(const struct h_ctx *c, const char *vdir, const char *name, char ***ret)
{
	char rel[PATH_MAX];
	char **all, **out;
	size_t n = 0, len = strlen(name);
	ssize_t total;

	snprintf(rel, sizeof(rel), ".sealvault/attic%s", strcmp(vdir, "/") == 0 ? "" : vdir);
	total = h_disk_list(c, rel, &all);
	out = h_xmalloc(sizeof(char *) * (total > 0 ? (size_t)total : 1));
	for (ssize_t i = 0; i < total; i++) {
		const char *e = all[i], *t, *dash;

		if (strncmp(e, name, len) != 0 || e[len] != '~')
			continue;
		t = e + len + 1;
		dash = strrchr(t, '-');
		/* <time> is UTC YYYYMMDDTHHMMSSZ, <hex> lowercase hex digits. */
		if (dash == NULL || dash - t != 16 || t[8] != 'T' || t[15] != 'Z' || dash[1] == '\0' ||
		    strspn(dash + 1, "0123456789abcdef") != strlen(dash + 1))
			fail_msg("attic entry \"%s\" is not <name>~<YYYYMMDDTHHMMSSZ>-<hex>", e);
		char *full = h_xmalloc(PATH_MAX);
		if (snprintf(full, PATH_MAX, "%s/%s", rel, e) >= PATH_MAX)
			fail_msg("attic path too long");
		out[n++] = full;
	}
	*ret = out;
	return n;
}

/* ---- temp ------------------------------------------------------------------- */

static void
temp_lifecycle(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = start(c, PROFILE_MAIN, NULL);
	struct h_handle h;
	uint8_t *got;
	size_t len;

	h_assert_status(s, h_put(s, "/a.tmp", WCT, "hello", 5), SSH_FX_OK);
	h_assert_disk_str(c, "a.tmp", "hello");
	/* Not sealed: overwritten, written in place, appended to. */
	h_assert_status(s, h_put(s, "/a.tmp", WCT, "HI", 2), SSH_FX_OK);
	h_assert_disk_str(c, "a.tmp", "HI");
	h_assert_status(s, h_open(s, "/a.tmp", SSH_FXF_WRITE, NULL, &h), SSH_FX_OK);
	h_assert_status(s, h_write(s, &h, 1, "J", 1), SSH_FX_OK);
	h_assert_status(s, h_close(s, &h), SSH_FX_OK);
	h_assert_disk_str(c, "a.tmp", "HJ");
	h_assert_status(s, h_open(s, "/a.tmp", SSH_FXF_WRITE | SSH_FXF_APPEND, NULL, &h), SSH_FX_OK);
	h_assert_status(s, h_write(s, &h, 0, "!!", 2), SSH_FX_OK);
	h_assert_status(s, h_close(s, &h), SSH_FX_OK);
	h_assert_disk_str(c, "a.tmp", "HJ!!");
	h_assert_status(s, h_get(s, "/a.tmp", &got, &len), SSH_FX_OK);
	assert_int_equal(len, 4);
	assert_memory_equal(got, "HJ!!", 4);
	h_assert_status(s, h_remove(s, "/a.tmp"), SSH_FX_OK);
	h_assert_disk_absent(c, "a.tmp");
	assert_listed(s, "/", "a.tmp", false);
	end_session(c, s);
}

/* "size: only on an open upload": SETSTAT size by path is refused for every class. */
static void
temp_mutable_setstat_size(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = start(c, PROFILE_MAIN, NULL);
	struct h_attrs size1 = { .flags = ATTR_SIZE, .size = 1 };

	h_disk_mkdir(c, "locks", 0755);
	h_assert_status(s, h_put(s, "/a.tmp", WCT, "hello", 5), SSH_FX_OK);
	h_assert_status(s, h_put(s, "/locks/m", WCT, "hello", 5), SSH_FX_OK);
	h_assert_status(s, h_setstat(s, "/a.tmp", &size1), SSH_FX_PERMISSION_DENIED);
	h_assert_disk_str(c, "a.tmp", "hello");
	h_assert_status(s, h_setstat(s, "/locks/m", &size1), SSH_FX_PERMISSION_DENIED);
	h_assert_disk_str(c, "locks/m", "hello");
	end_session(c, s);
}

/*
 * A temp file being rewritten when a rename publishes it as sealed: the
 * write goes to a new copy ("through a new copy, never in place"), so the
 * sealed file keeps what it held when it was published.
 */
static void
temp_handle_open_across_publish(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = start(c, PROFILE_MAIN, NULL);
	struct h_handle h;
	struct h_snap snap;

	h_assert_status(s, h_put(s, "/a.tmp", WCT, "original", 8), SSH_FX_OK);
	h_assert_status(s, h_open(s, "/a.tmp", SSH_FXF_WRITE, NULL, &h), SSH_FX_OK);
	h_assert_status(s, h_posix_rename(s, "/a.tmp", "/final"), SSH_FX_OK);
	h_snap_take(c, "final", &snap);
	h_write(s, &h, 0, "EVIL", 4);
	h_close(s, &h);
	h_assert_unchanged(c, "final", &snap, true);
	h_assert_disk_str(c, "final", "original");
	/* Likewise for a handle opened with TRUNC and APPEND. */
	h_assert_status(s, h_put(s, "/b.tmp", WCT, "second", 6), SSH_FX_OK);
	h_assert_status(s, h_open(s, "/b.tmp", SSH_FXF_WRITE | SSH_FXF_APPEND, NULL, &h), SSH_FX_OK);
	h_assert_status(s, h_posix_rename(s, "/b.tmp", "/final2"), SSH_FX_OK);
	h_snap_take(c, "final2", &snap);
	h_write(s, &h, 0, "EVIL", 4);
	h_close(s, &h);
	h_assert_unchanged(c, "final2", &snap, true);
	h_assert_status(s, h_put(s, "/c.tmp", WCT, "third", 5), SSH_FX_OK);
	h_assert_status(s, h_open(s, "/c.tmp", WCT, NULL, &h), SSH_FX_OK);
	h_assert_status(s, h_posix_rename(s, "/c.tmp", "/final3"), SSH_FX_OK);
	h_snap_take(c, "final3", &snap);
	h_write(s, &h, 0, "EVIL", 4);
	h_close(s, &h);
	h_assert_unchanged(c, "final3", &snap, true);
	h_assert_disk_str(c, "final3", "third");
	end_session(c, s);
}

static void
temp_posix_rename_publishes_sealed(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = start(c, PROFILE_MAIN, NULL);
	struct h_handle h;
	struct h_snap snap;

	h_disk_mkdir(c, "d", 0755);
	h_assert_status(s, h_put(s, "/d/x.tmp", WCT, "payload", 7), SSH_FX_OK);
	h_assert_status(s, h_posix_rename(s, "/d/x.tmp", "/d/x"), SSH_FX_OK);
	h_assert_disk_absent(c, "d/x.tmp");
	h_assert_disk_str(c, "d/x", "payload");
	h_snap_take(c, "d/x", &snap);

	/* Published under the target's class: write-once from now on. */
	h_assert_status(s, h_put(s, "/d/x", WCT, "other!!", 7), PD);
	h_assert_status(s, h_put(s, "/d/x", WCT, "payload", 7), SSH_FX_OK);
	h_assert_status(s, h_remove(s, "/d/x"), PD);
	h_assert_status(s, h_open(s, "/d/x", SSH_FXF_WRITE | SSH_FXF_APPEND, NULL, &h), PD);
	h_assert_status(s, h_rename(s, "/d/x", "/d/y"), PD);
	h_assert_status(s, h_posix_rename(s, "/d/x", "/d/z.tmp"), PD);
	h_assert_unchanged(c, "d/x", &snap, true);
	h_assert_disk_absent(c, "d/y");
	h_assert_disk_absent(c, "d/z.tmp");

	/* Plain RENAME onto a new name publishes too. */
	h_assert_status(s, h_put(s, "/d/w.tmp", WCT, "w", 1), SSH_FX_OK);
	h_assert_status(s, h_rename(s, "/d/w.tmp", "/d/w"), SSH_FX_OK);
	h_assert_disk_str(c, "d/w", "w");
	h_assert_disk_absent(c, "d/w.tmp");
	h_assert_status(s, h_put(s, "/d/w", WCT, "W", 1), PD);
	h_assert_status(s, h_remove(s, "/d/w"), PD);
	h_assert_disk_str(c, "d/w", "w");
	end_session(c, s);
}

static void
temp_plain_rename_never_replaces(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = start(c, PROFILE_MAIN, NULL);
	struct h_snap sealed;

	h_disk_put_str(c, "f", "sealed\n");
	h_snap_take(c, "f", &sealed);
	h_assert_status(s, h_put(s, "/a.tmp", WCT, "new", 3), SSH_FX_OK);
	h_assert_status(s, h_put(s, "/b.tmp", WCT, "bbb", 3), SSH_FX_OK);

	/* SFTP v3 RENAME never replaces, whatever the target's class. */
	h_assert_status(s, h_rename(s, "/a.tmp", "/f"), SSH_FX_FAILURE);
	h_assert_status(s, h_rename(s, "/a.tmp", "/b.tmp"), SSH_FX_FAILURE);
	h_assert_unchanged(c, "f", &sealed, true);
	h_assert_disk_str(c, "a.tmp", "new");
	h_assert_disk_str(c, "b.tmp", "bbb");

	/* posix-rename onto an existing temp name replaces it ("rename onto an existing name: temp yes"). */
	h_assert_status(s, h_posix_rename(s, "/a.tmp", "/b.tmp"), SSH_FX_OK);
	h_assert_disk_absent(c, "a.tmp");
	h_assert_disk_str(c, "b.tmp", "new");
	end_session(c, s);
}

static void
temp_posix_rename_onto_sealed_refused(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = start(c, PROFILE_MAIN, NULL);
	struct h_snap sealed, sub;

	h_disk_put_str(c, "f", "sealed\n");
	h_disk_put_str(c, "d/g", "sealed too\n");
	h_snap_take(c, "f", &sealed);
	h_snap_take(c, "d/g", &sub);
	h_assert_status(s, h_put(s, "/a.tmp", WCT, "new content", 11), SSH_FX_OK);
	h_assert_status(s, h_put(s, "/d/same.tmp", WCT, "sealed too\n", 11), SSH_FX_OK);

	h_assert_status(s, h_posix_rename(s, "/a.tmp", "/f"), PD);
	h_assert_status(s, h_posix_rename(s, "/a.tmp", "/d/g"), PD);
	/* Even byte-identical: "rename onto an existing name: seal no". */
	h_assert_status(s, h_posix_rename(s, "/d/same.tmp", "/d/g"), PD);
	h_assert_unchanged(c, "f", &sealed, true);
	h_assert_unchanged(c, "d/g", &sub, true);
	h_assert_disk_str(c, "a.tmp", "new content");
	h_assert_disk_str(c, "d/same.tmp", "sealed too\n");
	end_session(c, s);
}

static void
rename_directory_refused(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = start(c, PROFILE_MAIN, NULL);
	struct h_snap inner;
	char **names;
	ssize_t n;

	/* A directory matching the temp pattern, holding a sealed file. */
	h_assert_status(s, h_mkdir(s, "/dir.tmp", NULL), SSH_FX_OK);
	h_disk_put_str(c, "dir.tmp/sealed", "evidence\n");
	h_snap_take(c, "dir.tmp/sealed", &inner);

	h_assert_status(s, h_rename(s, "/dir.tmp", "/moved"), PD);
	h_assert_status(s, h_posix_rename(s, "/dir.tmp", "/moved"), PD);
	h_assert_status(s, h_posix_rename(s, "/dir.tmp", "/other.tmp"), PD);
	h_assert_status(s, h_rename(s, "/dir.tmp", "/other.tmp"), PD);
	h_assert_unchanged(c, "dir.tmp/sealed", &inner, true);
	h_assert_disk_absent(c, "moved");
	h_assert_disk_absent(c, "other.tmp");
	n = h_disk_list(c, "dir.tmp", &names);
	assert_int_equal(n, 1);
	end_session(c, s);
}

static void
rename_of_non_temp_refused(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = start(c, PROFILE_MAIN, NULL);
	struct h_snap f, m, v;

	h_disk_put_str(c, "f", "sealed\n");
	h_disk_put_str(c, "locks/m", "lock\n");
	h_disk_put_str(c, "vers/v", "versioned\n");
	h_snap_take(c, "f", &f);
	h_snap_take(c, "locks/m", &m);
	h_snap_take(c, "vers/v", &v);

	/* "rename from": only temp. */
	h_assert_status(s, h_rename(s, "/f", "/g"), PD);
	h_assert_status(s, h_posix_rename(s, "/f", "/g"), PD);
	h_assert_status(s, h_posix_rename(s, "/f", "/g.tmp"), PD);
	h_assert_status(s, h_rename(s, "/locks/m", "/locks/n"), PD);
	h_assert_status(s, h_posix_rename(s, "/locks/m", "/locks/n"), PD);
	h_assert_status(s, h_rename(s, "/vers/v", "/vers/w"), PD);
	h_assert_status(s, h_posix_rename(s, "/vers/v", "/vers/w"), PD);
	h_assert_unchanged(c, "f", &f, true);
	h_assert_unchanged(c, "locks/m", &m, true);
	h_assert_unchanged(c, "vers/v", &v, true);
	h_assert_disk_absent(c, "g");
	h_assert_disk_absent(c, "g.tmp");
	h_assert_disk_absent(c, "locks/n");
	h_assert_disk_absent(c, "vers/w");
	end_session(c, s);
}

static void
posix_rename_advertised_only_with_temp(void **state)
{
	struct h_ctx *c = *state;
	static const struct {
		const char *profile, *body;
		bool temp;
	} cases[] = {
		{ "case", PROFILE_MAIN, true },
		{ "case", "\tpath locks/* mutable\n\tpath vers/ versioned\n\tpath ** seal\n", false },
		{ "generic", NULL, false },
		{ "rclone", NULL, false },
		{ "restic", NULL, true },
		{ "pgbackrest", NULL, true },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct h_server *s = cases[i].body ? start(c, cases[i].body, NULL) :
						     start_builtin(c, cases[i].profile);

		if (h_has_ext(s, "posix-rename@openssh.com", NULL) != cases[i].temp)
			fail_msg("profile %s (case %zu): posix-rename %sadvertised", cases[i].profile, i,
				 cases[i].temp ? "not " : "");
		if (h_has_ext(s, "hardlink@openssh.com", NULL))
			fail_msg("profile %s: hardlink advertised", cases[i].profile);
		if (!cases[i].temp && cases[i].body != NULL) {
			/* Without a temp rule nothing can be renamed. */
			h_disk_put_str(c, "locks/m", "lock\n");
			h_assert_status(s, h_posix_rename(s, "/locks/m", "/locks/n"), PD);
			h_assert_disk_absent(c, "locks/n");
		}
		if (!h_release(c, s))
			fail_msg("vault-sftp did not end cleanly (profile %s)", cases[i].profile);
	}
}

/* ---- mutable ---------------------------------------------------------------- */

static void
mutable_ordinary_semantics(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = start(c, PROFILE_MAIN, NULL);
	struct h_attrs times = { .flags = ATTR_TIMES, .atime = H_OLD_TIME + 100, .mtime = H_OLD_TIME + 200 };
	struct h_attrs p600 = { .flags = ATTR_PERM, .perm = 0600 };
	struct h_handle h;
	struct stat st;

	h_disk_mkdir(c, "locks", 0755);

	h_assert_status(s, h_put(s, "/locks/a", WCT, "one", 3), SSH_FX_OK);
	h_assert_disk_str(c, "locks/a", "one");
	/* Overwrite with TRUNC. */
	h_assert_status(s, h_put(s, "/locks/a", WCT, "second", 6), SSH_FX_OK);
	h_assert_disk_str(c, "locks/a", "second");
	/* Overwrite in place without TRUNC: the rest stays. */
	h_assert_status(s, h_open(s, "/locks/a", SSH_FXF_WRITE, NULL, &h), SSH_FX_OK);
	h_assert_status(s, h_write(s, &h, 0, "S", 1), SSH_FX_OK);
	h_assert_status(s, h_close(s, &h), SSH_FX_OK);
	h_assert_disk_str(c, "locks/a", "Second");
	h_assert_status(s, h_open(s, "/locks/a", SSH_FXF_WRITE | SSH_FXF_CREAT, NULL, &h), SSH_FX_OK);
	h_assert_status(s, h_write(s, &h, 1, "E", 1), SSH_FX_OK);
	h_assert_status(s, h_close(s, &h), SSH_FX_OK);
	h_assert_disk_str(c, "locks/a", "SEcond");
	/* Append. */
	h_assert_status(s, h_open(s, "/locks/a", SSH_FXF_WRITE | SSH_FXF_APPEND, NULL, &h), SSH_FX_OK);
	h_assert_status(s, h_write(s, &h, 0, "+", 1), SSH_FX_OK);
	h_assert_status(s, h_close(s, &h), SSH_FX_OK);
	h_assert_disk_str(c, "locks/a", "SEcond+");
	/* Times and chmod apply. */
	h_assert_status(s, h_setstat(s, "/locks/a", &times), SSH_FX_OK);
	h_assert_status(s, h_setstat(s, "/locks/a", &p600), SSH_FX_OK);
	assert_int_equal(h_disk_lstat(c, "locks/a", &st), 0);
	assert_int_equal(st.st_mtime, H_OLD_TIME + 200);
	assert_int_equal(st.st_mode & 07777, 0600);
	h_assert_status(s, h_remove(s, "/locks/a"), SSH_FX_OK);
	h_assert_disk_absent(c, "locks/a");
	end_session(c, s);
}

static void
mutable_max_files(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = start(c, PROFILE_MAIN, NULL);

	h_disk_mkdir(c, "locks", 0755);

	h_assert_status(s, h_put(s, "/locks/a", WCT, "a", 1), SSH_FX_OK);
	h_assert_status(s, h_put(s, "/locks/b", WCT, "b", 1), SSH_FX_OK);
	h_assert_status(s, h_put(s, "/locks/c", WCT, "c", 1), SSH_FX_OK);
	h_assert_status(s, h_put(s, "/locks/d", WCT, "d", 1), PD);
	h_assert_msg(s, "/locks/d", "too many files");
	h_assert_disk_absent(c, "locks/d");
	assert_int_equal(h_disk_partials(c, "locks", NULL), 0);
	/* Nor by renaming a temp file in. */
	h_assert_status(s, h_put(s, "/n.tmp", WCT, "n", 1), SSH_FX_OK);
	h_assert_status(s, h_posix_rename(s, "/n.tmp", "/locks/d"), PD);
	h_assert_status(s, h_rename(s, "/n.tmp", "/locks/d"), PD);
	h_assert_disk_absent(c, "locks/d");
	h_assert_disk_str(c, "n.tmp", "n");
	/* The others are still fine. */
	h_assert_status(s, h_put(s, "/locks/a", WCT, "A2", 2), SSH_FX_OK);
	h_assert_disk_str(c, "locks/a", "A2");
	h_assert_status(s, h_remove(s, "/locks/b"), SSH_FX_OK);
	h_assert_status(s, h_put(s, "/locks/d", WCT, "d", 1), SSH_FX_OK);
	h_assert_disk_str(c, "locks/d", "d");
	/* Other directories hold their own count: seal-class files elsewhere are unaffected. */
	h_assert_status(s, h_put(s, "/other", WCT, "o", 1), SSH_FX_OK);
	end_session(c, s);
}

/* Uploads open at the same time count too: the rule never holds more than max-files. */
static void
mutable_max_files_concurrent_uploads(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = start(c, PROFILE_MAIN, NULL);
	struct h_handle h[3];
	int st[3], ok = 0;
	char **names;
	ssize_t total, n = 0;

	h_disk_put_str(c, "locks/a", "a");
	h_disk_put_str(c, "locks/b", "b");
	for (int i = 0; i < 3; i++) {
		char path[32];
		snprintf(path, sizeof(path), "/locks/n%d", i);
		st[i] = h_open(s, path, WCT, NULL, &h[i]);
	}
	for (int i = 0; i < 3; i++) {
		if (st[i] != SSH_FX_OK)
			continue;
		h_assert_status(s, h_write(s, &h[i], 0, "x", 1), SSH_FX_OK);
		if (h_close(s, &h[i]) == SSH_FX_OK)
			ok++;
	}
	total = h_disk_list(c, "locks", &names);
	for (ssize_t i = 0; i < total; i++)
		if (strncmp(names[i], ".sealvault.part.", 16) != 0)
			n++;
	if (n > 3 || ok != 1)
		fail_msg("max-files=3 with 2 present: %d of 3 concurrent uploads stored, %zd files now",
			 ok, n);
	end_session(c, s);
}

static void
mutable_max_size(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = start(c, PROFILE_MAIN, NULL);
	uint8_t *big = h_pattern_alloc(101, 1);
	uint8_t *full = h_pattern_alloc(100, 2);
	struct h_attrs grow = { .flags = ATTR_SIZE, .size = 4096 };
	struct h_snap snap;
	struct h_handle h;
	struct stat st;

	h_disk_mkdir(c, "locks", 0755);

	/* A new upload past max-size: the WRITE is refused, the upload not published. */
	h_assert_status(s, h_open(s, "/locks/big", WCT, NULL, &h), SSH_FX_OK);
	h_assert_status(s, h_write(s, &h, 0, big, 101), PD);
	h_assert_msg(s, "/locks/big", "too large");
	h_assert_status(s, h_close(s, &h), SSH_FX_FAILURE);
	h_assert_disk_absent(c, "locks/big");

	/* Exactly max-size is fine. */
	h_assert_status(s, h_put(s, "/locks/full", WCT, full, 100), SSH_FX_OK);
	h_assert_disk(c, "locks/full", full, 100);
	h_snap_take(c, "locks/full", &snap);

	/* In place past the end. */
	h_assert_status(s, h_open(s, "/locks/full", SSH_FXF_WRITE, NULL, &h), SSH_FX_OK);
	h_assert_status(s, h_write(s, &h, 99, "xy", 2), PD);
	h_close(s, &h);
	h_assert_disk(c, "locks/full", full, 100);

	/* Append to a full file: the offset of an APPEND write means nothing, the size does. */
	h_assert_status(s, h_open(s, "/locks/full", SSH_FXF_WRITE | SSH_FXF_APPEND, NULL, &h), SSH_FX_OK);
	h_assert_status(s, h_write(s, &h, 0, "z", 1), PD);
	h_close(s, &h);
	h_assert_disk(c, "locks/full", full, 100);

	/* Nor by renaming a temp file in, new name or existing. */
	h_assert_status(s, h_put(s, "/big.tmp", WCT, big, 101), SSH_FX_OK);
	h_assert_status(s, h_posix_rename(s, "/big.tmp", "/locks/full"), PD);
	h_assert_status(s, h_posix_rename(s, "/big.tmp", "/locks/new"), PD);
	h_assert_disk(c, "locks/full", full, 100);
	h_assert_disk_absent(c, "locks/new");
	h_assert_status(s, h_put(s, "/small.tmp", WCT, "small", 5), SSH_FX_OK);
	h_assert_status(s, h_posix_rename(s, "/small.tmp", "/locks/full"), SSH_FX_OK);
	h_assert_disk_str(c, "locks/full", "small");
	h_assert_status(s, h_put(s, "/locks/full", WCT, full, 100), SSH_FX_OK);
	h_snap_take(c, "locks/full", &snap);

	/* Growing by FSETSTAT size, on a new upload and on a rewrite. */
	h_assert_status(s, h_open(s, "/locks/sparse", WCT, NULL, &h), SSH_FX_OK);
	h_assert_status(s, h_fsetstat(s, &h, &grow), PD);
	h_close(s, &h);
	if (h_disk_lstat(c, "locks/sparse", &st) == 0 && st.st_size > 100)
		fail_msg("/locks/sparse stored with %lld bytes, max-size=100", (long long)st.st_size);
	h_assert_status(s, h_open(s, "/locks/full", SSH_FXF_WRITE, NULL, &h), SSH_FX_OK);
	h_assert_status(s, h_fsetstat(s, &h, &grow), PD);
	h_close(s, &h);
	h_assert_disk(c, "locks/full", full, 100);
	end_session(c, s);
}

/*
 * A mutable name that is a symlink, or a second hard link, never leads a
 * change to the sealed file. Every request is tried; the case lists each
 * one that answered OK or changed the sealed file.
 */
static bool
link_target_changed(struct h_ctx *c, const char *rel, const struct h_snap *snap)
{
	struct h_snap now;

	h_snap_take(c, rel, &now);
	return !now.exists || now.st.st_ino != snap->st.st_ino || now.st.st_mode != snap->st.st_mode ||
	       now.st.st_size != snap->st.st_size || now.st.st_nlink != snap->st.st_nlink ||
	       now.st.st_mtim.tv_sec != snap->st.st_mtim.tv_sec ||
	       now.st.st_mtim.tv_nsec != snap->st.st_mtim.tv_nsec ||
	       now.st.st_ctim.tv_sec != snap->st.st_ctim.tv_sec ||
	       now.st.st_ctim.tv_nsec != snap->st.st_ctim.tv_nsec ||
	       now.len != snap->len || memcmp(now.data, snap->data, now.len) != 0;
}

static void
mutable_links_never_written_through(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = start(c, PROFILE_MAIN, NULL);
	struct h_attrs size0 = { .flags = ATTR_SIZE, .size = 0 };
	struct h_attrs times = { .flags = ATTR_TIMES, .atime = H_OLD_TIME + 5, .mtime = H_OLD_TIME + 5 };
	struct h_attrs p755 = { .flags = ATTR_PERM, .perm = 0755 };
	static const struct {
		const char *name, *target;
	} links[] = { { "/locks/sym", "sealed" }, { "/locks/hard", "sealed2" } };
	enum { OP_PUT, OP_WRITE, OP_APPEND, OP_TRUNC, OP_SIZE, OP_TIMES, OP_CHMOD, N_OPS };
	static const char *const op_names[] = {
		"OPEN WRITE|CREAT|TRUNC + WRITE", "OPEN WRITE + WRITE", "OPEN WRITE|APPEND + WRITE",
		"OPEN READ|TRUNC", "SETSTAT size 0", "SETSTAT mtime", "SETSTAT chmod 0755",
	};
	struct h_snap snaps[2];
	int failures = 0;

	h_disk_put(c, "sealed", "SEALED\n", 7, 0644);
	h_disk_put(c, "sealed2", "SEALED2\n", 8, 0644);
	h_disk_symlink(c, "../sealed", "locks/sym");
	h_disk_link(c, "sealed2", "locks/hard");

	for (size_t i = 0; i < 2; i++) {
		for (int op = 0; op < N_OPS; op++) {
			const char *p = links[i].name;
			struct h_handle h;
			int st;

			h_snap_take(c, "sealed", &snaps[0]);
			h_snap_take(c, "sealed2", &snaps[1]);
			switch (op) {
			case OP_PUT:
				st = h_put(s, p, WCT, "evil", 4);
				break;
			case OP_WRITE:
			case OP_APPEND:
			case OP_TRUNC:
				st = h_open(s, p, op == OP_WRITE ? SSH_FXF_WRITE :
					    op == OP_APPEND ? SSH_FXF_WRITE | SSH_FXF_APPEND :
					    SSH_FXF_READ | SSH_FXF_TRUNC, NULL, &h);
				if (st == SSH_FX_OK) {
					if (op != OP_TRUNC)
						h_write(s, &h, 0, "E", 1);
					h_close(s, &h);
				}
				break;
			case OP_SIZE:
				st = h_setstat(s, p, &size0);
				break;
			case OP_TIMES:
				st = h_setstat(s, p, &times);
				break;
			default:
				st = h_setstat(s, p, &p755);
				break;
			}
			bool changed = link_target_changed(c, "sealed", &snaps[0]) ||
				       link_target_changed(c, "sealed2", &snaps[1]);
			if (st == SSH_FX_OK || changed) {
				print_error("%s -> %s: %s, sealed \"%s\" %s (%s)\n", op_names[op], p,
					    h_status_name(st), links[i].target,
					    changed ? "CHANGED" : "unchanged", s->last_msg);
				failures++;
			}
		}
	}
	end_session(c, s);
	if (failures)
		fail_msg("%d requests on a link went through or answered OK", failures);
}

/*
 * The same through a directory: "locks" (mutable) and "vers" (versioned)
 * are symlinks, planted on disk, to directories of sealed files. A sealed
 * file is never removed, replaced, moved to the attic or re-timed by a
 * request that names it through such an alias.
 */
static void
mutable_dir_symlink_never_reaches_sealed(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = start(c, PROFILE_MAIN, NULL);
	struct h_attrs times = { .flags = ATTR_TIMES, .atime = H_OLD_TIME + 5, .mtime = H_OLD_TIME + 5 };
	static const struct {
		const char *what, *vpath, *sealed;
	} reqs[] = {
		{ "REMOVE", "/locks/f", "sealdir/f" },
		{ "PUT", "/locks/f", "sealdir/f" },
		{ "SETSTAT mtime", "/locks/f", "sealdir/f" },
		{ "posix-rename a temp onto", "/locks/f", "sealdir/f" },
		{ "REMOVE", "/vers/g", "sealdir2/g" },
		{ "PUT", "/vers/g", "sealdir2/g" },
		{ "posix-rename a temp onto", "/vers/g", "sealdir2/g" },
	};
	int failures = 0;

	h_disk_put_str(c, "sealdir/f", "SEALED F\n");
	h_disk_put_str(c, "sealdir2/g", "SEALED G\n");
	h_disk_symlink(c, "sealdir", "locks");
	h_disk_symlink(c, "sealdir2", "vers");
	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		struct h_snap snap;
		int st;

		h_snap_take(c, reqs[i].sealed, &snap);
		if (strcmp(reqs[i].what, "REMOVE") == 0) {
			st = h_remove(s, reqs[i].vpath);
		} else if (strcmp(reqs[i].what, "PUT") == 0) {
			st = h_put(s, reqs[i].vpath, WCT, "evil", 4);
		} else if (strcmp(reqs[i].what, "SETSTAT mtime") == 0) {
			st = h_setstat(s, reqs[i].vpath, &times);
		} else {
			h_assert_status(s, h_put(s, "/x.tmp", WCT, "evil", 4), SSH_FX_OK);
			st = h_posix_rename(s, "/x.tmp", reqs[i].vpath);
			h_remove(s, "/x.tmp");
		}
		if (link_target_changed(c, reqs[i].sealed, &snap)) {
			print_error("%s %s (a symlinked directory): %s, sealed \"%s\" CHANGED or gone\n",
				    reqs[i].what, reqs[i].vpath, h_status_name(st), reqs[i].sealed);
			failures++;
			/* Put it back for the next request. */
			h_disk_put_str(c, reqs[i].sealed, strcmp(reqs[i].sealed, "sealdir/f") == 0 ?
				       "SEALED F\n" : "SEALED G\n");
		}
	}
	end_session(c, s);
	if (failures)
		fail_msg("%d requests through a symlinked mutable/versioned directory changed a sealed file",
			 failures);
}

/* ---- versioned -------------------------------------------------------------- */

static void
versioned_replace_keeps_old_in_attic(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = start(c, PROFILE_MAIN, NULL);
	static const char v1[] = "version 1\n", v2[] = "version 2, longer\n", v3[] = "v3\n";
	char **att;
	struct h_handle h;
	time_t before = time(NULL);

	h_disk_put_str(c, "vers/db.json", v1);
	h_assert_status(s, h_put(s, "/vers/db.json", WCT, v2, strlen(v2)), SSH_FX_OK);
	h_assert_disk_str(c, "vers/db.json", v2);
	assert_int_equal(attic_versions(c, "/vers", "db.json", &att), 1);
	h_assert_disk_str(c, att[0], v1);
	/* The time in the name is the replacement's, in UTC. */
	{
		const char *t = strrchr(att[0], '~') + 1;
		struct tm tm = { 0 };
		char when[17];

		memcpy(when, t, 16);
		when[16] = '\0';
		if (sscanf(when, "%4d%2d%2dT%2d%2d%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
			   &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
			fail_msg("attic time \"%s\" unreadable", when);
		tm.tm_year -= 1900;
		tm.tm_mon -= 1;
		time_t at = timegm(&tm);
		if (at < before - 2 || at > time(NULL) + 2)
			fail_msg("attic time %s is not the time of the replacement", when);
	}
	/* A second replacement keeps both earlier versions. */
	h_assert_status(s, h_put(s, "/vers/db.json", WCT, v3, strlen(v3)), SSH_FX_OK);
	h_assert_disk_str(c, "vers/db.json", v3);
	assert_int_equal(attic_versions(c, "/vers", "db.json", &att), 2);
	{
		size_t l0, l1;
		uint8_t *a = h_disk_get(c, att[0], &l0), *b = h_disk_get(c, att[1], &l1);
		bool one = (l0 == strlen(v1) && memcmp(a, v1, l0) == 0 && l1 == strlen(v2) &&
			    memcmp(b, v2, l1) == 0) ||
			   (l1 == strlen(v1) && memcmp(b, v1, l1) == 0 && l0 == strlen(v2) &&
			    memcmp(a, v2, l0) == 0);
		if (!one)
			fail_msg("the attic does not hold versions 1 and 2 byte for byte");
	}
	/* Append and truncate stay refused ("append, truncate: versioned no"). */
	h_assert_status(s, h_open(s, "/vers/db.json", SSH_FXF_WRITE | SSH_FXF_APPEND, NULL, &h), PD);
	h_assert_status(s, h_open(s, "/vers/db.json", SSH_FXF_READ | SSH_FXF_TRUNC, NULL, &h), PD);
	h_assert_disk_str(c, "vers/db.json", v3);
	end_session(c, s);
}

static void
versioned_remove_into_attic(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = start(c, PROFILE_MAIN, NULL);
	uint8_t *data = h_pattern_alloc(5000, 7);
	struct h_attrs a;
	char **att;

	h_disk_put(c, "vers/sub/old.bin", data, 5000, 0644);
	h_assert_status(s, h_remove(s, "/vers/sub/old.bin"), SSH_FX_OK);
	h_assert_status(s, h_stat(s, "/vers/sub/old.bin", &a), SSH_FX_NO_SUCH_FILE);
	assert_listed(s, "/vers/sub", "old.bin", false);
	h_assert_disk_absent(c, "vers/sub/old.bin");
	assert_int_equal(attic_versions(c, "/vers/sub", "old.bin", &att), 1);
	h_assert_disk(c, att[0], data, 5000);
	end_session(c, s);
}

static void
attic_invisible(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = start(c, PROFILE_MAIN, NULL);
	char **att, vpath[PATH_MAX], dotdot[PATH_MAX];
	struct h_handle h;
	struct h_attrs a;
	struct h_snap snap;
	uint8_t *got;
	size_t len;

	h_disk_put_str(c, "vers/x", "kept\n");
	h_assert_status(s, h_remove(s, "/vers/x"), SSH_FX_OK);
	assert_int_equal(attic_versions(c, "/vers", "x", &att), 1);
	h_snap_take(c, att[0], &snap);
	snprintf(vpath, sizeof(vpath), "/%s", att[0]);
	snprintf(dotdot, sizeof(dotdot), "/vers/../%s", att[0]);

	assert_listed(s, "/", ".sealvault", false);
	h_assert_status(s, h_stat(s, "/.sealvault", &a), PD);
	h_assert_status(s, h_stat(s, "/.sealvault/attic", &a), PD);
	h_assert_status(s, h_stat(s, vpath, &a), PD);
	h_assert_status(s, h_lstat(s, vpath, &a), PD);
	h_assert_status(s, h_stat(s, dotdot, &a), PD);
	h_assert_status(s, h_open(s, vpath, SSH_FXF_READ, NULL, &h), PD);
	h_assert_status(s, h_open(s, dotdot, SSH_FXF_READ, NULL, &h), PD);
	h_assert_status(s, h_get(s, vpath, &got, &len), PD);
	h_assert_status(s, h_opendir(s, "/.sealvault/attic", &h), PD);
	h_assert_status(s, h_opendir(s, "/.sealvault/attic/vers", &h), PD);
	h_assert_status(s, h_remove(s, vpath), PD);
	h_assert_status(s, h_posix_rename(s, vpath, "/vers/x"), PD);
	h_assert_status(s, h_rename(s, vpath, "/back"), PD);
	h_assert_status(s, h_put(s, vpath, WCT, "forged", 6), PD);
	h_assert_status(s, h_put(s, "/.sealvault/attic/vers/new", WCT, "forged", 6), PD);
	h_assert_status(s, h_mkdir(s, "/.sealvault/attic/new", NULL), PD);
	h_assert_status(s, h_rmdir(s, "/.sealvault/attic/vers"), PD);
	/* Nothing can be renamed into the vault's names either. */
	h_assert_status(s, h_put(s, "/z.tmp", WCT, "z", 1), SSH_FX_OK);
	h_assert_status(s, h_posix_rename(s, "/z.tmp", vpath), PD);
	h_assert_status(s, h_posix_rename(s, "/z.tmp", "/.sealvault/attic/vers/forged"), PD);
	h_assert_status(s, h_rename(s, "/z.tmp", "/.sealvault.part.0123456789abcdef"), PD);
	h_assert_disk_str(c, "z.tmp", "z");
	h_assert_disk_absent(c, ".sealvault/attic/vers/forged");
	h_assert_disk_absent(c, ".sealvault.part.0123456789abcdef");
	h_assert_unchanged(c, att[0], &snap, true);
	h_assert_disk_absent(c, "vers/x");
	h_assert_disk_absent(c, "back");
	h_assert_disk_absent(c, ".sealvault/attic/vers/new");
	end_session(c, s);
}

/* "rmdir: temp yes, mutable yes, versioned yes (empty), seal no". */
static void
rmdir_by_class(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = start(c, PROFILE_MAIN, NULL);
	struct h_snap snap;
	static const char *const dirs[] = { "/vers/d", "/locks/sub", "/d.tmp" };
	int failures = 0;

	h_disk_mkdir(c, "vers", 0755);
	h_disk_mkdir(c, "locks", 0755);
	/* Not empty: refused, nothing moves. */
	h_disk_put_str(c, "vers/full/f", "data\n");
	h_snap_take(c, "vers/full/f", &snap);
	assert_status_either(s, h_rmdir(s, "/vers/full"), SSH_FX_FAILURE, PD);
	h_assert_unchanged(c, "vers/full/f", &snap, true);
	/* A seal-class directory stays, empty or not. */
	h_disk_mkdir(c, "plain", 0755);
	h_assert_status(s, h_rmdir(s, "/plain"), PD);
	assert_true(h_disk_exists(c, "plain"));
	/* Empty directories of the classes that allow it. */
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		int st;

		h_assert_status(s, h_mkdir(s, dirs[i], NULL), SSH_FX_OK);
		st = h_rmdir(s, dirs[i]);
		if (st != SSH_FX_OK || h_disk_exists(c, dirs[i] + 1)) {
			print_error("RMDIR %s (empty): %s \"%s\", %s on disk\n", dirs[i], h_status_name(st),
				    s->last_msg, h_disk_exists(c, dirs[i] + 1) ? "still" : "not");
			failures++;
		}
	}
	end_session(c, s);
	if (failures)
		fail_msg("%d empty directories of classes that allow rmdir were not removed", failures);
}

static void
temp_renamed_onto_versioned(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = start(c, PROFILE_MAIN, NULL);
	struct h_snap snap;
	char **att;

	h_disk_put_str(c, "vers/info", "old info\n");
	h_assert_status(s, h_put(s, "/vers/info.tmp", WCT, "new info\n", 9), SSH_FX_OK);
	h_assert_status(s, h_posix_rename(s, "/vers/info.tmp", "/vers/info"), SSH_FX_OK);
	h_assert_disk_absent(c, "vers/info.tmp");
	h_assert_disk_str(c, "vers/info", "new info\n");
	assert_int_equal(attic_versions(c, "/vers", "info", &att), 1);
	h_assert_disk_str(c, att[0], "old info\n");

	/* Plain RENAME never replaces, not even a versioned file. */
	h_snap_take(c, "vers/info", &snap);
	h_assert_status(s, h_put(s, "/vers/info2.tmp", WCT, "newer\n", 6), SSH_FX_OK);
	h_assert_status(s, h_rename(s, "/vers/info2.tmp", "/vers/info"), SSH_FX_FAILURE);
	h_assert_unchanged(c, "vers/info", &snap, true);
	h_assert_disk_str(c, "vers/info2.tmp", "newer\n");
	assert_int_equal(attic_versions(c, "/vers", "info", &att), 1);

	/* Onto a new versioned name: stored, then replaceable with the attic. */
	h_assert_status(s, h_posix_rename(s, "/vers/info2.tmp", "/vers/fresh"), SSH_FX_OK);
	h_assert_disk_str(c, "vers/fresh", "newer\n");
	h_assert_status(s, h_put(s, "/vers/fresh", WCT, "newest\n", 7), SSH_FX_OK);
	assert_int_equal(attic_versions(c, "/vers", "fresh", &att), 1);
	h_assert_disk_str(c, att[0], "newer\n");
	end_session(c, s);
}

/* ---- deny ------------------------------------------------------------------- */

static void
check_ssh_denied(struct h_ctx *c, struct h_server *s, const char *profile)
{
	struct h_attrs a;
	struct h_handle h;

	h_assert_status(s, h_stat(s, "/.ssh", &a), PD);
	h_assert_status(s, h_lstat(s, "/.ssh", &a), PD);
	h_assert_status(s, h_stat(s, "/.ssh/authorized_keys", &a), PD);
	h_assert_status(s, h_stat(s, "/x/../.ssh/authorized_keys", &a), PD);
	h_assert_status(s, h_stat(s, "//.ssh", &a), PD);
	h_assert_status(s, h_opendir(s, "/.ssh", &h), PD);
	h_assert_status(s, h_open(s, "/.ssh/authorized_keys", SSH_FXF_READ, NULL, &h), PD);
	h_assert_status(s, h_open(s, "/.ssh/authorized_keys", WCT, NULL, &h), PD);
	h_assert_status(s, h_open(s, "/.ssh/authorized_keys", SSH_FXF_WRITE | SSH_FXF_APPEND, NULL, &h), PD);
	h_assert_status(s, h_open(s, "/.ssh/new_key", WCT, NULL, &h), PD);
	h_assert_status(s, h_mkdir(s, "/.ssh/sub", NULL), PD);
	h_assert_status(s, h_remove(s, "/.ssh/authorized_keys"), PD);
	h_assert_status(s, h_rmdir(s, "/.ssh"), PD);
	h_assert_status(s, h_rename(s, "/.ssh/authorized_keys", "/stolen"), PD);
	h_assert_status(s, h_setstat(s, "/.ssh/authorized_keys",
				     &(struct h_attrs){ .flags = SSH_FILEXFER_ATTR_PERMISSIONS, .perm = 0644 }), PD);
	h_assert_disk_absent(c, "stolen");
	assert_listed(s, "/", ".ssh", false);
	assert_listed(s, "/", "visible", true);
	h_assert_disk_absent(c, ".ssh/new_key");
	h_assert_disk_absent(c, ".ssh/sub");
	(void)profile;
}

static void
deny_ssh_in_builtin_profiles(void **state)
{
	struct h_ctx *c = *state;
	static const char *const builtins[] = {
		"generic", "restic", "rclone", "duplicity", "lftp", "pgbackrest", "duplicati",
	};
	static const char keys[] = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB test@sealvault\n";
	struct h_snap snap;

	h_disk_put(c, ".ssh/authorized_keys", keys, strlen(keys), 0600);
	h_disk_put_str(c, "visible", "v\n");
	h_snap_take(c, ".ssh/authorized_keys", &snap);
	for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++) {
		struct h_server *s = start_builtin(c, builtins[i]);

		print_message("profile %s\n", builtins[i]);
		check_ssh_denied(c, s, builtins[i]);
		if (!h_release(c, s))
			fail_msg("vault-sftp did not end cleanly (profile %s)", builtins[i]);
		h_assert_unchanged(c, ".ssh/authorized_keys", &snap, true);
	}
}

static void
deny_ssh_absent_cannot_be_created(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = start_builtin(c, "generic");
	struct h_handle h;
	struct h_attrs a;

	h_assert_status(s, h_mkdir(s, "/.ssh", NULL), PD);
	h_assert_status(s, h_mkdir(s, "./.ssh", NULL), PD);
	h_assert_status(s, h_open(s, "/.ssh/authorized_keys", WCT, NULL, &h), PD);
	h_assert_status(s, h_stat(s, "/.ssh", &a), PD);
	h_assert_disk_absent(c, ".ssh");
	end_session(c, s);
}

static void
deny_custom_rule_and_rename_onto_denied(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = start(c, PROFILE_MAIN, NULL);
	struct h_handle h;
	struct h_attrs a;
	struct h_snap snap;

	h_disk_put_str(c, "secret/key", "private\n");
	h_disk_put_str(c, "public", "p\n");
	h_snap_take(c, "secret/key", &snap);
	assert_listed(s, "/", "secret", false);
	assert_listed(s, "/", "public", true);
	h_assert_status(s, h_stat(s, "/secret/key", &a), PD);
	h_assert_status(s, h_opendir(s, "/secret", &h), PD);
	h_assert_status(s, h_open(s, "/secret/key", SSH_FXF_READ, NULL, &h), PD);
	h_assert_status(s, h_put(s, "/secret/new", WCT, "n", 1), PD);
	h_assert_status(s, h_mkdir(s, "/secret/dir", NULL), PD);
	/* A temp file cannot be published under a denied name. */
	h_assert_status(s, h_put(s, "/a.tmp", WCT, "x", 1), SSH_FX_OK);
	h_assert_status(s, h_posix_rename(s, "/a.tmp", "/secret/key"), PD);
	h_assert_status(s, h_rename(s, "/a.tmp", "/secret/other"), PD);
	h_assert_status(s, h_rename(s, "/a.tmp", "/.ssh"), PD);
	h_assert_unchanged(c, "secret/key", &snap, true);
	h_assert_disk_absent(c, "secret/new");
	h_assert_disk_absent(c, "secret/other");
	h_assert_disk_absent(c, ".ssh");
	h_assert_disk_str(c, "a.tmp", "x");
	end_session(c, s);
}

/* ---- times / chmod ------------------------------------------------------------ */

static int
setstat_on(struct h_ctx *c, const char *body, const char *rel, const struct h_attrs *a, bool *changed)
{
	struct h_server *s = start(c, body, NULL);
	char vpath[PATH_MAX];
	struct h_snap snap;
	struct stat st;
	int st_code;

	h_disk_put(c, rel, "finished\n", 9, 0644);
	h_snap_take(c, rel, &snap);
	snprintf(vpath, sizeof(vpath), "/%s", rel);
	st_code = h_setstat(s, vpath, a);
	assert_int_equal(h_disk_lstat(c, rel, &st), 0);
	*changed = st.st_mtim.tv_sec != snap.st.st_mtim.tv_sec || st.st_mode != snap.st.st_mode ||
		   st.st_ctim.tv_sec != snap.st.st_ctim.tv_sec ||
		   st.st_ctim.tv_nsec != snap.st.st_ctim.tv_nsec;
	if (!h_release(c, s))
		fail_msg("vault-sftp did not end cleanly");
	return st_code;
}

static void
times_and_chmod_by_profile(void **state)
{
	struct h_ctx *c = *state;
	struct h_attrs times = { .flags = ATTR_TIMES, .atime = H_OLD_TIME + 3600, .mtime = H_OLD_TIME + 3600 };
	struct h_attrs chmod755 = { .flags = ATTR_PERM, .perm = 0755 };
	static const struct {
		const char *body, *rel;
		int times, chmod;	/* expected statuses */
	} cases[] = {
		{ "\tpath ** seal\n\ttimes ignore\n", "f", SSH_FX_OK, PD },
		{ "\tpath ** seal\n\tchmod ignore\n", "f", PD, SSH_FX_OK },
		{ "\tpath ** seal\n\ttimes ignore\n\tchmod ignore\n", "f", SSH_FX_OK, SSH_FX_OK },
		{ "\tpath ** seal\n", "f", PD, PD },
		{ "\tpath ** seal\n\ttimes refuse\n\tchmod refuse\n", "f", PD, PD },
		{ "\tpath v/ versioned\n\ttimes ignore\n", "v/f", SSH_FX_OK, PD },
		{ "\tpath v/ versioned\n", "v/f", PD, PD },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool changed;
		int st;

		st = setstat_on(c, cases[i].body, cases[i].rel, &times, &changed);
		if (st != cases[i].times || changed)
			fail_msg("case %zu: SETSTAT mtime: %s, on disk %s; expected %s, unchanged", i,
				 h_status_name(st), changed ? "changed" : "unchanged",
				 h_status_name(cases[i].times));
		st = setstat_on(c, cases[i].body, cases[i].rel, &chmod755, &changed);
		if (st != cases[i].chmod || changed)
			fail_msg("case %zu: SETSTAT chmod 0755: %s, on disk %s; expected %s, unchanged", i,
				 h_status_name(st), changed ? "changed" : "unchanged",
				 h_status_name(cases[i].chmod));
	}
}

/* times ignore answers OK for the whole request only when nothing else in it is refused. */
static void
times_ignore_does_not_cover_size(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = start(c, "\tpath ** seal\n\ttimes ignore\n\tchmod ignore\n", NULL);
	struct h_attrs both = { .flags = ATTR_TIMES | ATTR_SIZE, .atime = 5, .mtime = 5, .size = 1 };
	struct h_attrs narrow = { .flags = ATTR_PERM, .perm = 0444 };
	struct h_snap snap;
	struct h_handle h;
	struct stat st;

	h_disk_put(c, "f", "finished\n", 9, 0644);
	h_snap_take(c, "f", &snap);
	h_assert_status(s, h_setstat(s, "/f", &both), PD);
	h_assert_unchanged(c, "f", &snap, true);
	/* FSETSTAT on a read handle obeys the same rule. */
	h_assert_status(s, h_open(s, "/f", SSH_FXF_READ, NULL, &h), SSH_FX_OK);
	h_assert_status(s, h_fsetstat(s, &h, &(struct h_attrs){ .flags = ATTR_TIMES, .atime = 7, .mtime = 7 }),
			SSH_FX_OK);
	h_assert_status(s, h_close(s, &h), SSH_FX_OK);
	h_assert_unchanged(c, "f", &snap, true);
	/* A narrowing chmod is applied whatever the profile says. */
	h_assert_status(s, h_setstat(s, "/f", &narrow), SSH_FX_OK);
	assert_int_equal(h_disk_lstat(c, "f", &st), 0);
	assert_int_equal(st.st_mode & 07777, 0444);
	end_session(c, s);
}

/* ---- write-only ------------------------------------------------------------- */

static void
write_only_tenant(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = start(c, PROFILE_MAIN, "\twrite-only yes");
	struct h_snap snap;
	struct h_handle h;
	struct h_attrs a;
	struct h_reply r;
	uint8_t *got;
	size_t len;
	int st;

	h_disk_put_str(c, "sealed", "SEALED CONTENT\n");
	h_disk_put_str(c, "vers/v", "VERSIONED\n");
	h_disk_put_str(c, "a.tmp", "temp bytes\n");
	h_disk_put_str(c, "locks/m", "lock bytes\n");
	h_snap_take(c, "sealed", &snap);

	h_assert_status(s, h_open(s, "/sealed", SSH_FXF_READ, NULL, &h), PD);
	h_assert_status(s, h_open(s, "/vers/v", SSH_FXF_READ, NULL, &h), PD);
	assert_listed(s, "/", "sealed", true);
	h_assert_status(s, h_stat(s, "/sealed", &a), SSH_FX_OK);
	assert_int_equal(a.size, 15);
	h_assert_status(s, h_get(s, "/a.tmp", &got, &len), SSH_FX_OK);
	assert_int_equal(len, 11);
	assert_memory_equal(got, "temp bytes\n", 11);
	h_assert_status(s, h_get(s, "/locks/m", &got, &len), SSH_FX_OK);
	assert_int_equal(len, 11);
	assert_memory_equal(got, "lock bytes\n", 11);

	/*
	 * Upload onto an existing sealed name: "write-only: no, a compare would
	 * reveal content". Neither the answer nor a READ on the handle may tell
	 * the client anything about the stored bytes.
	 */
	st = h_open(s, "/sealed", SSH_FXF_READ | SSH_FXF_WRITE, NULL, &h);
	if (st == SSH_FX_OK) {
		int rst = h_read(s, &h, 0, 64, &r);
		if (rst == SSH_FX_OK && r.data_len > 0 && memmem(r.data, r.data_len, "SEALED", 6) != NULL)
			fail_msg("a re-upload handle read back the sealed content in a write-only vault");
		h_close(s, &h);
	}
	h_assert_status(s, st, PD);
	h_assert_status(s, h_put(s, "/sealed", WCT, "SEALED CONTENT\n", 15), PD);
	h_assert_status(s, h_put(s, "/sealed", WCT, "a wrong guess!\n", 15), PD);
	h_assert_unchanged(c, "sealed", &snap, true);

	/* A temp file renamed to a seal-class name can no longer be read back. */
	h_assert_status(s, h_put(s, "/up.tmp", WCT, "up\n", 3), SSH_FX_OK);
	h_assert_status(s, h_get(s, "/up.tmp", &got, &len), SSH_FX_OK);
	h_assert_status(s, h_posix_rename(s, "/up.tmp", "/up"), SSH_FX_OK);
	h_assert_status(s, h_open(s, "/up", SSH_FXF_READ, NULL, &h), PD);
	end_session(c, s);
}

int
main(int argc, char **argv)
{
	h_main_init(argc, argv);
	const struct CMUnitTest tests[] = {
		H_TEST_BARE(temp_lifecycle),
		H_TEST_BARE(temp_mutable_setstat_size),
		H_TEST_BARE(temp_handle_open_across_publish),
		H_TEST_BARE(temp_posix_rename_publishes_sealed),
		H_TEST_BARE(temp_plain_rename_never_replaces),
		H_TEST_BARE(temp_posix_rename_onto_sealed_refused),
		H_TEST_BARE(rename_directory_refused),
		H_TEST_BARE(rename_of_non_temp_refused),
		H_TEST_BARE(posix_rename_advertised_only_with_temp),
		H_TEST_BARE(mutable_ordinary_semantics),
		H_TEST_BARE(mutable_max_files),
		H_TEST_BARE(mutable_max_files_concurrent_uploads),
		H_TEST_BARE(mutable_max_size),
		H_TEST_BARE(mutable_links_never_written_through),
		H_TEST_BARE(mutable_dir_symlink_never_reaches_sealed),
		H_TEST_BARE(versioned_replace_keeps_old_in_attic),
		H_TEST_BARE(versioned_remove_into_attic),
		H_TEST_BARE(attic_invisible),
		H_TEST_BARE(rmdir_by_class),
		H_TEST_BARE(temp_renamed_onto_versioned),
		H_TEST_BARE(deny_ssh_in_builtin_profiles),
		H_TEST_BARE(deny_ssh_absent_cannot_be_created),
		H_TEST_BARE(deny_custom_rule_and_rename_onto_denied),
		H_TEST_BARE(times_and_chmod_by_profile),
		H_TEST_BARE(times_ignore_does_not_cover_size),
		H_TEST_BARE(write_only_tenant),
	};
	return cmocka_run_group_tests_name("protocol_classes", tests, NULL, NULL);
}
