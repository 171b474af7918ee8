/* SPDX-License-Identifier: MIT */
/*
 * The ordinary, non-destructive part of the protocol: INIT and the extension
 * list, REALPATH, STAT/LSTAT/FSTAT, OPENDIR/READDIR (hidden vault entries),
 * READLINK and the OpenSSH extensions a client uses to look around.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"

/* Extensions vault-sftp must advertise, with the version strings OpenSSH's
 * client checks (sftp-client.c compares them with strcmp). */
static const struct {
	const char *name;
	const char *data;
} required_ext[] = {
	{ "statvfs@openssh.com", "2" },
	{ "fstatvfs@openssh.com", "2" },
	{ "fsync@openssh.com", "1" },
	{ "limits@openssh.com", "1" },
	{ "expand-path@openssh.com", "1" },
	{ "home-directory", "1" },
	{ "users-groups-by-id@openssh.com", "1" },
};

/* Allowed besides the required ones (the spec's table handles it). */
static const char *const optional_ext[] = { "lsetstat@openssh.com" };

/* Refused or unsupported: advertising them would invite clients to rely on them. */
static const char *const forbidden_ext[] = {
	"posix-rename@openssh.com", "hardlink@openssh.com", "copy-data",
};

static void
init_version_and_extensions(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;

	assert_int_equal(s->version, 3);
	for (size_t i = 0; i < sizeof(required_ext) / sizeof(required_ext[0]); i++) {
		const char *data = NULL;
		if (!h_has_ext(s, required_ext[i].name, &data))
			fail_msg("extension %s not advertised", required_ext[i].name);
		if (strcmp(data, required_ext[i].data) != 0)
			fail_msg("extension %s advertised with \"%s\", OpenSSH's client wants \"%s\"",
				 required_ext[i].name, data, required_ext[i].data);
	}
	for (size_t i = 0; i < sizeof(forbidden_ext) / sizeof(forbidden_ext[0]); i++)
		if (h_has_ext(s, forbidden_ext[i], NULL))
			fail_msg("extension %s must not be advertised", forbidden_ext[i]);
	for (size_t i = 0; i < s->n_ext; i++) {
		bool known = false;
		for (size_t j = 0; j < sizeof(required_ext) / sizeof(required_ext[0]); j++)
			known |= strcmp(s->ext_names[i], required_ext[j].name) == 0;
		for (size_t j = 0; j < sizeof(optional_ext) / sizeof(optional_ext[0]); j++)
			known |= strcmp(s->ext_names[i], optional_ext[j]) == 0;
		if (!known)
			fail_msg("unexpected extension advertised: %s", s->ext_names[i]);
		for (size_t j = 0; j < i; j++)
			if (strcmp(s->ext_names[i], s->ext_names[j]) == 0)
				fail_msg("extension %s advertised twice", s->ext_names[i]);
	}
}

/* lftp announces version 6; the server answers with 3. */
static void
init_client_version_6(void **state)
{
	struct h_ctx *c = *state;

	assert_int_equal(h_init(c->s, 6), 0);
	assert_int_equal(c->s->version, 3);
	char *p;
	h_assert_status(c->s, h_realpath(c->s, ".", &p), SSH_FX_OK);
	assert_string_equal(p, "/");
}

/* Version-6 style extension pairs after the version in INIT are ignored. */
static void
init_with_trailing_pairs(void **state)
{
	struct h_ctx *c = *state;
	struct h_buf b = { 0 };
	struct h_reply r;

	pk_begin(&b, SSH_FXP_INIT);
	pk_u32(&b, 3);
	pk_cstr(&b, "newline@vandyke.com");
	pk_cstr(&b, "\n");
	pk_end(&b);
	h_send_raw(c->s, b.p, b.len);
	hb_free(&b);
	h_recv_must(c->s, &r);
	assert_int_equal(r.type, SSH_FXP_VERSION);
	assert_int_equal(r.id, 3);
	char *p;
	h_assert_status(c->s, h_realpath(c->s, "a/..", &p), SSH_FX_OK);
	assert_string_equal(p, "/");
}

static void
realpath_lexical(void **state)
{
	struct h_ctx *c = *state;
	static const struct {
		const char *in;
		const char *out;
	} cases[] = {
		{ ".", "/" },
		{ "", "/" },
		{ "/", "/" },
		{ "..", "/" },
		{ "../../..", "/" },
		{ "/../../etc", "/etc" },
		{ "a", "/a" },
		{ "a/b/../c", "/a/c" },
		{ "a//b/./c/", "/a/b/c" },
		{ "/a/b/..", "/a" },
		{ "./a/./b/.", "/a/b" },
		{ "a/../../../b", "/b" },
		{ "no/such/dir/file", "/no/such/dir/file" },
		{ "////x////", "/x" },
		{ "lnk", "/lnk" },		/* a symlink: not followed */
		{ "lnk/..", "/" },
	};

	h_disk_symlink(c, "some/where/else", "lnk");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *out = NULL;
		int st = h_realpath(c->s, cases[i].in, &out);
		if (st != SSH_FX_OK)
			fail_msg("REALPATH \"%s\": %s (%s)", cases[i].in, h_status_name(st),
				 c->s->last_msg);
		if (strcmp(out, cases[i].out) != 0)
			fail_msg("REALPATH \"%s\" = \"%s\", expected \"%s\"", cases[i].in, out,
				 cases[i].out);
	}
}

static void
assert_attrs_match_disk(struct h_ctx *c, const struct h_attrs *a, const char *rel)
{
	struct stat st;
	const uint32_t all = SSH_FILEXFER_ATTR_SIZE | SSH_FILEXFER_ATTR_UIDGID |
		SSH_FILEXFER_ATTR_PERMISSIONS | SSH_FILEXFER_ATTR_ACMODTIME;

	assert_int_equal(h_disk_lstat(c, rel, &st), 0);
	if ((a->flags & all) != all)
		fail_msg("attrs of %s carry flags 0x%x, expected at least 0x%x", rel, a->flags, all);
	assert_int_equal(a->size, (uint64_t)st.st_size);
	assert_int_equal(a->uid, st.st_uid);
	assert_int_equal(a->gid, st.st_gid);
	assert_int_equal(a->perm, st.st_mode);
	assert_int_equal(a->mtime, (uint32_t)st.st_mtim.tv_sec);
}

static void
stat_lstat_fstat(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	struct h_attrs a;
	uint8_t *data = h_pattern_alloc(1234, 1);

	h_disk_put(c, "dir/file", data, 1234, 0640);
	h_disk_symlink(c, "file", "dir/lnk");
	h_disk_symlink(c, "nowhere", "dir/dangling");

	h_assert_status(s, h_stat(s, "dir/file", &a), SSH_FX_OK);
	assert_attrs_match_disk(c, &a, "dir/file");
	assert_int_equal(a.size, 1234);
	assert_int_equal(a.perm, S_IFREG | 0640);
	assert_int_equal(a.mtime, H_OLD_TIME);
	assert_int_equal(a.atime, H_OLD_TIME);

	h_assert_status(s, h_lstat(s, "/dir/file", &a), SSH_FX_OK);
	assert_attrs_match_disk(c, &a, "dir/file");

	h_assert_status(s, h_stat(s, "dir", &a), SSH_FX_OK);
	assert_attrs_match_disk(c, &a, "dir");
	assert_true(S_ISDIR(a.perm));

	h_assert_status(s, h_stat(s, "/", &a), SSH_FX_OK);
	assert_true(S_ISDIR(a.perm));

	/* An in-root symlink: the vault follows none (STAT answers NO_SUCH_FILE), LSTAT shows the link. */
	h_assert_status(s, h_stat(s, "dir/lnk", &a), SSH_FX_NO_SUCH_FILE);
	h_assert_status(s, h_lstat(s, "dir/lnk", &a), SSH_FX_OK);
	assert_true(S_ISLNK(a.perm));
	h_assert_status(s, h_lstat(s, "dir/dangling", &a), SSH_FX_OK);
	assert_true(S_ISLNK(a.perm));
	h_assert_status(s, h_stat(s, "dir/dangling", &a), SSH_FX_NO_SUCH_FILE);

	h_assert_status(s, h_stat(s, "dir/missing", &a), SSH_FX_NO_SUCH_FILE);
	h_assert_status(s, h_lstat(s, "missing/x", &a), SSH_FX_NO_SUCH_FILE);

	struct h_handle h;
	h_assert_status(s, h_open(s, "dir/file", SSH_FXF_READ, NULL, &h), SSH_FX_OK);
	h_assert_status(s, h_fstat(s, &h, &a), SSH_FX_OK);
	assert_attrs_match_disk(c, &a, "dir/file");
	h_assert_status(s, h_close(s, &h), SSH_FX_OK);
}

static void
readdir_hides_vault_entries(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	char **names;
	size_t n;

	h_disk_put_str(c, "d/a", "aaa");
	h_disk_put_str(c, "d/b", "bbbbbb");
	h_disk_put_str(c, "d/.hidden", "h");
	h_disk_mkdir(c, "d/sub", 0755);
	h_disk_put_str(c, "d/.sealvault.part.0123456789abcdef", "partial");
	h_disk_put_str(c, "d/.sealvault", "reserved");
	h_disk_mkdir(c, "d/.sealvault.attic", 0700);
	h_disk_put_str(c, "d/.sealvaultx", "reserved");
	h_disk_put_str(c, "d/x.sealvault", "not reserved: does not start with it");
	h_disk_mkdir(c, "only-partials", 0755);
	h_disk_put_str(c, "only-partials/.sealvault.part.fedcba9876543210", "p");

	h_assert_status(s, h_listdir(s, "d", &names, &n), SSH_FX_OK);
	static const char *const want[] = { ".", "..", "a", "b", ".hidden", "sub", "x.sealvault" };
	for (size_t i = 0; i < n; i++) {
		if (strncmp(names[i], ".sealvault", 10) == 0)
			fail_msg("READDIR listed the vault's entry \"%s\"", names[i]);
		for (size_t j = 0; j < i; j++)
			if (strcmp(names[i], names[j]) == 0)
				fail_msg("READDIR listed \"%s\" twice", names[i]);
	}
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (!h_names_contain(names, n, want[i]))
			fail_msg("READDIR did not list \"%s\"", want[i]);
	assert_int_equal(n, sizeof(want) / sizeof(want[0]));

	h_assert_status(s, h_listdir(s, "/only-partials/", &names, &n), SSH_FX_OK);
	assert_int_equal(n, 2);
	assert_true(h_names_contain(names, n, "."));
	assert_true(h_names_contain(names, n, ".."));

	/* The root itself. */
	h_disk_put_str(c, ".sealvault.part.00000000000000aa", "root partial");
	h_assert_status(s, h_listdir(s, "/", &names, &n), SSH_FX_OK);
	assert_true(h_names_contain(names, n, "d"));
	assert_false(h_names_contain(names, n, ".sealvault.part.00000000000000aa"));
}

/* Entries carry attrs and an ls -l style long name. */
static void
readdir_attrs_and_longnames(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	struct h_handle h;
	bool seen_file = false, seen_dir = false;

	h_disk_put(c, "e/file.bin", "0123456789", 10, 0644);
	h_disk_mkdir(c, "e/subdir", 0750);
	h_assert_status(s, h_opendir(s, "e", &h), SSH_FX_OK);
	for (int round = 0; round < 10; round++) {
		struct h_reply r;
		int st = h_readdir(s, &h, &r);
		if (st == SSH_FX_EOF)
			break;
		h_assert_status(s, st, SSH_FX_OK);
		for (uint32_t i = 0; i < r.count; i++) {
			struct h_name *e = &r.names[i];
			size_t ll = strlen(e->longname), nl = strlen(e->name);
			if (strcmp(e->name, "file.bin") == 0) {
				seen_file = true;
				assert_true(e->a.flags & SSH_FILEXFER_ATTR_SIZE);
				assert_int_equal(e->a.size, 10);
				assert_int_equal(e->a.perm, S_IFREG | 0644);
				assert_int_equal(e->a.mtime, H_OLD_TIME);
				assert_true(strncmp(e->longname, "-rw-r--r--", 10) == 0);
			}
			if (strcmp(e->name, "subdir") == 0) {
				seen_dir = true;
				assert_int_equal(e->a.perm, S_IFDIR | 0750);
				assert_true(strncmp(e->longname, "drwxr-x---", 10) == 0);
			}
			if (ll < nl || strcmp(e->longname + ll - nl, e->name) != 0)
				fail_msg("long name \"%s\" does not end with the name \"%s\"",
					 e->longname, e->name);
		}
	}
	h_assert_status(s, h_close(s, &h), SSH_FX_OK);
	assert_true(seen_file);
	assert_true(seen_dir);
}

/* A directory bigger than one READDIR reply: every entry once, then EOF (and EOF again). */
static void
readdir_many_entries(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	enum { N = 350 };
	char **names;
	size_t n;
	char rel[64];

	for (int i = 0; i < N; i++) {
		snprintf(rel, sizeof(rel), "many/file-%04d", i);
		h_disk_put_str(c, rel, "x");
		if (i % 50 == 0) {
			snprintf(rel, sizeof(rel), "many/.sealvault.part.%016x", i);
			h_disk_put_str(c, rel, "p");
		}
	}
	h_assert_status(s, h_listdir(s, "many", &names, &n), SSH_FX_OK);
	assert_int_equal(n, N + 2);
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(names[i], names[j]) == 0)
				fail_msg("READDIR listed \"%s\" twice", names[i]);
	for (int i = 0; i < N; i++) {
		snprintf(rel, sizeof(rel), "file-%04d", i);
		assert_true(h_names_contain(names, n, rel));
	}

	struct h_handle h;
	struct h_reply r;
	h_assert_status(s, h_opendir(s, "many", &h), SSH_FX_OK);
	int st;
	for (int i = 0; i < 1000 && (st = h_readdir(s, &h, &r)) == SSH_FX_OK; i++)
		;
	h_assert_status(s, st, SSH_FX_EOF);
	h_assert_status(s, h_readdir(s, &h, &r), SSH_FX_EOF);
	h_assert_status(s, h_close(s, &h), SSH_FX_OK);
}

static void
opendir_errors(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	struct h_handle h;

	h_disk_put_str(c, "plain", "x");
	h_assert_status(s, h_opendir(s, "nope", &h), SSH_FX_NO_SUCH_FILE);
	h_assert_status(s, h_opendir(s, "nope/deeper", &h), SSH_FX_NO_SUCH_FILE);
	/* As OpenSSH: errno_to_portable() maps ENOTDIR to NO_SUCH_FILE. */
	h_assert_status(s, h_opendir(s, "plain", &h), SSH_FX_NO_SUCH_FILE);
	h_assert_status(s, h_opendir(s, "plain/below", &h), SSH_FX_NO_SUCH_FILE);
	/* The session goes on. */
	h_assert_status(s, h_opendir(s, "/", &h), SSH_FX_OK);
	h_assert_status(s, h_close(s, &h), SSH_FX_OK);
}

static void
readlink_planted(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	char *t;

	h_disk_symlink(c, "target/x", "l1");
	h_disk_symlink(c, "/abs/target", "sub/l2");
	h_disk_put_str(c, "regular", "r");
	h_assert_status(s, h_readlink(s, "l1", &t), SSH_FX_OK);
	assert_string_equal(t, "target/x");
	h_assert_status(s, h_readlink(s, "/sub/l2", &t), SSH_FX_OK);
	assert_string_equal(t, "/abs/target");
	h_assert_status(s, h_readlink(s, "missing", &t), SSH_FX_NO_SUCH_FILE);
	int st = h_readlink(s, "regular", &t);
	if (st == SSH_FX_OK)
		fail_msg("READLINK of a regular file answered a name \"%s\"", t);
}

static void
check_statvfs_reply(struct h_ctx *c, const struct h_reply *r)
{
	struct statvfs v;

	assert_int_equal(r->type, SSH_FXP_EXTENDED_REPLY);
	assert_int_equal(r->data_len, 11 * 8);
	assert_int_equal(statvfs(c->root, &v), 0);
	const uint8_t *p = r->data;
	assert_int_equal(h_get_u64(p + 0), v.f_bsize);
	assert_int_equal(h_get_u64(p + 8), v.f_frsize);
	assert_int_equal(h_get_u64(p + 16), v.f_blocks);
	uint64_t bfree = h_get_u64(p + 24);
	uint64_t slack = v.f_blocks / 100 + 1024;
	assert_true(bfree + slack >= v.f_bfree && bfree <= v.f_bfree + slack);
	assert_true(h_get_u64(p + 32) <= v.f_blocks);	/* bavail */
	assert_int_equal(h_get_u64(p + 40), v.f_files);
	assert_int_equal(h_get_u64(p + 64), v.f_fsid);
	assert_int_equal(h_get_u64(p + 72) & SSH_FXE_STATVFS_ST_RDONLY,
			 (v.f_flag & ST_RDONLY) ? SSH_FXE_STATVFS_ST_RDONLY : 0);
	assert_int_equal(h_get_u64(p + 80), v.f_namemax);
}

static void
statvfs_and_fstatvfs(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	struct h_buf b = { 0 };
	struct h_reply r;
	struct h_handle h;

	pk_begin_ext(s, &b, "statvfs@openssh.com");
	pk_cstr(&b, "/");
	pk_end(&b);
	h_assert_status(s, h_call(s, &b, SSH_FXP_EXTENDED_REPLY, &r), SSH_FX_OK);
	check_statvfs_reply(c, &r);

	pk_begin_ext(s, &b, "statvfs@openssh.com");
	pk_cstr(&b, "missing/dir");
	pk_end(&b);
	h_assert_status(s, h_call(s, &b, SSH_FXP_EXTENDED_REPLY, &r), SSH_FX_NO_SUCH_FILE);

	h_disk_put_str(c, "f", "data");
	h_assert_status(s, h_open(s, "f", SSH_FXF_READ, NULL, &h), SSH_FX_OK);
	pk_begin_ext(s, &b, "fstatvfs@openssh.com");
	pk_handle(&b, &h);
	pk_end(&b);
	h_assert_status(s, h_call(s, &b, SSH_FXP_EXTENDED_REPLY, &r), SSH_FX_OK);
	check_statvfs_reply(c, &r);
	h_assert_status(s, h_close(s, &h), SSH_FX_OK);
	hb_free(&b);
}

static void
limits(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	struct h_buf b = { 0 };
	struct h_reply r;

	pk_begin_ext(s, &b, "limits@openssh.com");
	pk_end(&b);
	h_assert_status(s, h_call(s, &b, SSH_FXP_EXTENDED_REPLY, &r), SSH_FX_OK);
	hb_free(&b);
	assert_int_equal(r.data_len, 4 * 8);
	assert_int_equal(h_get_u64(r.data + 0), H_MAX_PACKET);
	assert_int_equal(h_get_u64(r.data + 8), H_MAX_RW);
	assert_int_equal(h_get_u64(r.data + 16), H_MAX_RW);
	uint64_t handles = h_get_u64(r.data + 24);
	/* Default 1024; pgBackRest needs about 800 during a restore. */
	if (handles < 800 || handles > 1024)
		fail_msg("limits: max-open-handles %llu, expected 800..1024",
			 (unsigned long long)handles);
}

static void
limits_follow_max_handles(void **state)
{
	struct h_ctx *c = *state;
	static const char *const args[] = { "--max-handles", "7", NULL };
	struct h_server *s = h_spawn(c, args);
	struct h_buf b = { 0 };
	struct h_reply r;

	assert_int_equal(h_init(s, 3), 0);
	pk_begin_ext(s, &b, "limits@openssh.com");
	pk_end(&b);
	h_assert_status(s, h_call(s, &b, SSH_FXP_EXTENDED_REPLY, &r), SSH_FX_OK);
	hb_free(&b);
	assert_int_equal(r.data_len, 32);
	assert_int_equal(h_get_u64(r.data + 24), 7);
}

static void
expand_path(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	static const struct {
		const char *in;
		const char *out;
	} cases[] = {
		{ "~", "/" },
		{ "~/", "/" },
		{ "~/x/y", "/x/y" },
		{ ".", "/" },
		{ "", "/" },
		{ "a/../b", "/b" },
		{ "/abs/./p", "/abs/p" },
		{ "~/../../..", "/" },
	};
	struct h_buf b = { 0 };

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct h_reply r;
		pk_begin_ext(s, &b, "expand-path@openssh.com");
		pk_cstr(&b, cases[i].in);
		pk_end(&b);
		int st = h_call(s, &b, SSH_FXP_NAME, &r);
		if (st != SSH_FX_OK)
			fail_msg("expand-path \"%s\": %s (%s)", cases[i].in, h_status_name(st),
				 s->last_msg);
		assert_int_equal(r.count, 1);
		if (strcmp(r.names[0].name, cases[i].out) != 0)
			fail_msg("expand-path \"%s\" = \"%s\", expected \"%s\"", cases[i].in,
				 r.names[0].name, cases[i].out);
	}
	hb_free(&b);
}

static void
home_directory(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	struct h_buf b = { 0 };
	struct h_reply r;
	const char *me = getenv("USER");

	pk_begin_ext(s, &b, "home-directory");
	pk_cstr(&b, me && *me ? me : "root");
	pk_end(&b);
	h_assert_status(s, h_call(s, &b, SSH_FXP_NAME, &r), SSH_FX_OK);
	assert_int_equal(r.count, 1);
	assert_string_equal(r.names[0].name, "/");

	/* Another user's home is no business of the client: never a host path. */
	pk_begin_ext(s, &b, "home-directory");
	pk_cstr(&b, "nobody");
	pk_end(&b);
	int st = h_call(s, &b, SSH_FXP_NAME, &r);
	if (st == SSH_FX_OK && strcmp(r.names[0].name, "/") != 0)
		fail_msg("home-directory \"nobody\" leaked \"%s\"", r.names[0].name);
	hb_free(&b);
}

static void
users_groups_by_id(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	struct h_buf b = { 0 }, ids = { 0 };
	struct h_reply r;

	pk_begin_ext(s, &b, "users-groups-by-id@openssh.com");
	pk_u32(&ids, 0);
	pk_u32(&ids, 3999999999u);
	pk_u32(&ids, (uint32_t)getuid());
	pk_str(&b, ids.p, ids.len);
	hb_reset(&ids);
	pk_u32(&ids, 3999999999u);
	pk_str(&b, ids.p, ids.len);
	pk_end(&b);
	h_assert_status(s, h_call(s, &b, SSH_FXP_EXTENDED_REPLY, &r), SSH_FX_OK);

	/* string(users: string x3) string(groups: string x1) */
	const uint8_t *p = r.data, *end = r.data + r.data_len;
	assert_true(end - p >= 4);
	uint32_t ulen = h_get_u32(p);
	p += 4;
	assert_true((size_t)(end - p) >= ulen);
	const uint8_t *u = p, *uend = p + ulen;
	p += ulen;
	size_t nusers = 0;
	char names[3][64];
	while (u < uend) {
		assert_true(uend - u >= 4);
		uint32_t n = h_get_u32(u);
		u += 4;
		assert_true((size_t)(uend - u) >= n);
		if (nusers < 3)
			snprintf(names[nusers], sizeof(names[0]), "%.*s", (int)n, (const char *)u);
		nusers++;
		u += n;
	}
	assert_int_equal(nusers, 3);
	assert_string_equal(names[1], "");	/* no such uid */
	assert_true(end - p >= 4);
	uint32_t glen = h_get_u32(p);
	p += 4;
	assert_int_equal((size_t)(end - p), glen);
	assert_int_equal(glen, 4);		/* one empty name */
	assert_int_equal(h_get_u32(p), 0);
	hb_free(&b);
	hb_free(&ids);
}

static void
fsync_on_read_handle(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	struct h_handle h;

	h_disk_put_str(c, "f", "abc");
	h_assert_status(s, h_open(s, "f", SSH_FXF_READ, NULL, &h), SSH_FX_OK);
	h_assert_status(s, h_fsync(s, &h), SSH_FX_OK);
	h_assert_status(s, h_close(s, &h), SSH_FX_OK);
}

/* READ on an existing name is for regular files only; a FIFO must not block the session. */
static int
check_not_regular(struct h_server *s, const char *path)
{
	struct h_handle h;
	int st = h_open(s, path, SSH_FXF_READ, NULL, &h);

	if (st == SSH_FX_OK)
		h_close(s, &h);
	if (st != SSH_FX_FAILURE || !strstr(s->last_msg, "not a regular file")) {
		print_error("OPEN READ %s: %s \"%s\", expected FAILURE \"not a regular file\"\n",
			    path, h_status_name(st), s->last_msg);
		return 1;
	}
	return 0;
}

static void
open_special_files(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	struct h_handle h;
	char p[PATH_MAX];
	int failures = 0;

	h_disk_mkdir(c, "spec", 0755);
	h_path(c, "spec/fifo", p);
	assert_int_equal(mkfifo(p, 0644), 0);
	failures += check_not_regular(s, "spec/fifo");

	h_path(c, "spec/sock", p);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	assert_true(strlen(p) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, p, strlen(p) + 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	failures += check_not_regular(s, "spec/sock");

	h_path(c, "spec/null", p);
	if (mknod(p, S_IFCHR | 0666, makedev(1, 3)) == 0)
		failures += check_not_regular(s, "spec/null");
	else
		print_message("mknod not permitted here (%s): device case skipped\n",
			      strerror(errno));

	/* A directory is not a regular file either (OpenSSH would open it). */
	int st = h_open(s, "spec", SSH_FXF_READ, NULL, &h);
	if (st != SSH_FX_FAILURE) {
		print_error("OPEN READ of a directory: %s, expected FAILURE\n", h_status_name(st));
		failures++;
		if (st == SSH_FX_OK)
			h_close(s, &h);
	}

	/* The session still works. */
	h_disk_put_str(c, "spec/ok", "fine");
	h_assert_status(s, h_open(s, "spec/ok", SSH_FXF_READ, NULL, &h), SSH_FX_OK);
	h_assert_status(s, h_close(s, &h), SSH_FX_OK);
	if (failures)
		fail_msg("%d special files not refused as \"not a regular file\"", failures);
}

static void
mkdir_new_and_existing(void **state)
{
	struct h_ctx *c = *state;
	struct h_server *s = c->s;
	struct stat st;

	h_assert_status(s, h_mkdir(s, "newdir", NULL), SSH_FX_OK);
	assert_int_equal(h_disk_lstat(c, "newdir", &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	h_assert_status(s, h_mkdir(s, "newdir/inner", NULL), SSH_FX_OK);
	assert_true(h_disk_exists(c, "newdir/inner"));
	/* As OpenSSH: an existing directory is FAILURE (duplicity retries mkdir). */
	h_assert_status(s, h_mkdir(s, "newdir", NULL), SSH_FX_FAILURE);
	h_disk_put_str(c, "afile", "x");
	h_assert_status(s, h_mkdir(s, "afile", NULL), SSH_FX_FAILURE);
	assert_int_equal(h_disk_lstat(c, "afile", &st), 0);
	assert_true(S_ISREG(st.st_mode));
	h_assert_status(s, h_mkdir(s, "no/parent/here", NULL), SSH_FX_NO_SUCH_FILE);
	assert_false(h_disk_exists(c, "no"));
}

int
main(int argc, char **argv)
{
	h_main_init(argc, argv);
	const struct CMUnitTest tests[] = {
		H_TEST(init_version_and_extensions),
		H_TEST_RAW(init_client_version_6),
		H_TEST_RAW(init_with_trailing_pairs),
		H_TEST(realpath_lexical),
		H_TEST(stat_lstat_fstat),
		H_TEST(readdir_hides_vault_entries),
		H_TEST(readdir_attrs_and_longnames),
		H_TEST(readdir_many_entries),
		H_TEST(opendir_errors),
		H_TEST(readlink_planted),
		H_TEST(statvfs_and_fstatvfs),
		H_TEST(limits),
		H_TEST(limits_follow_max_handles),
		H_TEST(expand_path),
		H_TEST(home_directory),
		H_TEST(users_groups_by_id),
		H_TEST(fsync_on_read_handle),
		H_TEST(open_special_files),
		H_TEST(mkdir_new_and_existing),
	};
	return cmocka_run_group_tests_name("protocol_basic", tests, NULL, NULL);
}
