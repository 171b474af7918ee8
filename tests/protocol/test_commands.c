/* SPDX-License-Identifier: MIT */
/*
 * What vault-sftp does with SSH_ORIGINAL_COMMAND (sshd's ForceCommand),
 * and with a configuration it cannot use.
 *
 * md5sum/sha1sum [PATH] are answered by the vault itself, for a readable
 * path inside the root, in md5sum's output format; the sftp-server,
 * internal-sftp and vault-sftp words mean SFTP (with the admin's options,
 * never the client's); anything else exits 1 having changed nothing. The
 * expected digests come from the system's md5sum/sha1sum.
 *
 * Config errors: vault-sftp exits 1 and names FILE:LINE (on stderr with
 * --log-stderr); an unknown --tenant exits 1. In both cases nothing is
 * served.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define WCT	(SSH_FXF_WRITE | SSH_FXF_CREAT | SSH_FXF_TRUNC)

#define PROFILE \
	"\tpath **/*.tmp temp\n" \
	"\tpath .ssh/ deny\n" \
	"\tpath ** seal\n"

#define MD5_EMPTY	"d41d8cd98f00b204e9800998ecf8427e"
#define SHA1_EMPTY	"da39a3ee5e6b4b0d3255bfef95601890afd80709"

struct run {
	char *out;	/* stdout, NUL-terminated */
	size_t out_len;
	char *err;	/* stderr, NUL-terminated */
};

/* Runs vault-sftp --config base/vault.conf [--tenant T] with SSH_ORIGINAL_COMMAND=cmd (if any), stdin empty. */
static struct run
run_with(struct h_ctx *c, const char *tenant, const char *cmd, int expect_exit)
{
	char *conf = h_xmalloc(PATH_MAX), *env = NULL;
	const char *args[6] = { "--config", conf, NULL, NULL, NULL, NULL };
	const char *envv[2] = { NULL, NULL };
	struct h_spawn_opts o = { .args = args, .env = envv, .no_root = true, .close_stdin = true,
				  .expect_exit = expect_exit };
	struct run r = { 0 };
	struct h_server *s;
	bool ok;

	if (snprintf(conf, PATH_MAX, "%s/vault.conf", c->base) >= PATH_MAX)
		fail_msg("path too long");
	if (tenant != NULL) {
		args[2] = "--tenant";
		args[3] = tenant;
	}
	if (cmd != NULL) {
		size_t n = strlen(cmd) + 32;
		env = h_xmalloc(n);
		snprintf(env, n, "SSH_ORIGINAL_COMMAND=%s", cmd);
		envv[0] = env;
	}
	s = h_spawn_ex(c, &o);
	h_finish(s);
	r.out = h_xmalloc(s->in.len + 1);
	memcpy(r.out, s->in.p ? (char *)s->in.p : "", s->in.len);
	r.out[s->in.len] = '\0';
	r.out_len = s->in.len;
	r.err = h_xmalloc(s->err.len + 1);
	memcpy(r.err, s->err.p ? (char *)s->err.p : "", s->err.len);
	r.err[s->err.len] = '\0';
	ok = h_release(c, s);
	if (!ok)
		fail_msg("SSH_ORIGINAL_COMMAND=\"%s\": stdout \"%s\"", cmd ? cmd : "(unset)", r.out);
	return r;
}

static struct run
run_cmd(struct h_ctx *c, const char *cmd, int expect_exit)
{
	return run_with(c, "case", cmd, expect_exit);
}

/* The digest the system's tool prints for a file on disk (a path without quotes). */
static const char *
system_digest(const char *tool, const char *host_path)
{
	char cmd[PATH_MAX + 64], line[256];
	char *hex = h_xmalloc(64);
	FILE *p;

	snprintf(cmd, sizeof(cmd), "%s < '%s'", tool, host_path);
	p = popen(cmd, "r");
	if (p == NULL || fgets(line, sizeof(line), p) == NULL)
		fail_msg("cannot run %s", cmd);
	pclose(p);
	sscanf(line, "%63[0-9a-f]", hex);
	if (strlen(hex) != (strcmp(tool, "md5sum") == 0 ? 32 : 40))
		fail_msg("%s printed \"%s\"", tool, line);
	return hex;
}

static const char *
root_digest(struct h_ctx *c, const char *tool, const char *rel)
{
	char p[PATH_MAX];

	h_path(c, rel, p);
	return system_digest(tool, p);
}

static void
assert_output(const struct run *r, const char *hex, const char *path)
{
	char want[PATH_MAX + 128];

	snprintf(want, sizeof(want), "%s  %s\n", hex, path);
	if (strcmp(r->out, want) != 0)
		fail_msg("stdout \"%s\", expected \"%s\" (stderr: %s)", r->out, want, r->err);
}

static void
assert_refused_run(const struct run *r, const char *cmd)
{
	if (r->out_len != 0)
		fail_msg("\"%s\": stdout \"%s\", expected nothing", cmd, r->out);
}

/* ---- md5sum / sha1sum -------------------------------------------------------- */

static void
digests_of_a_file(void **state)
{
	struct h_ctx *c = *state;
	uint8_t *data = h_pattern_alloc(200000, 1);	/* more than one read chunk */
	struct run r;

	h_write_config(c, "case", PROFILE, NULL);
	h_disk_put(c, "data/file.bin", data, 200000, 0644);
	h_disk_put_str(c, "data/my file", "spaced\n");

	r = run_cmd(c, "md5sum /data/file.bin", 0);
	assert_output(&r, root_digest(c, "md5sum", "data/file.bin"), "/data/file.bin");
	r = run_cmd(c, "sha1sum /data/file.bin", 0);
	assert_output(&r, root_digest(c, "sha1sum", "data/file.bin"), "/data/file.bin");
	/* As rclone quotes it. */
	r = run_cmd(c, "md5sum \"/data/file.bin\"", 0);
	assert_output(&r, root_digest(c, "md5sum", "data/file.bin"), "/data/file.bin");
	r = run_cmd(c, "sha1sum '/data/my file'", 0);
	assert_output(&r, root_digest(c, "sha1sum", "data/my file"), "/data/my file");
	/* Relative to the root. */
	r = run_cmd(c, "md5sum data/file.bin", 0);
	assert_output(&r, root_digest(c, "md5sum", "data/file.bin"), "data/file.bin");
	h_assert_disk(c, "data/file.bin", data, 200000);
}

static void
digests_of_empty_stdin(void **state)
{
	struct h_ctx *c = *state;
	struct run r;

	h_write_config(c, "case", PROFILE, NULL);
	r = run_cmd(c, "md5sum", 0);
	assert_output(&r, MD5_EMPTY, "-");
	r = run_cmd(c, "sha1sum", 0);
	assert_output(&r, SHA1_EMPTY, "-");
}

/* "/../../etc/passwd" is the root's etc/passwd, never the host's. */
static void
digest_dotdot_stays_in_root(void **state)
{
	struct h_ctx *c = *state;
	static const char fake[] = "root:x:0:0:not the host's passwd:/nonexistent:/bin/false\n";
	const char *host = NULL, *mine;
	struct run r;

	h_write_config(c, "case", PROFILE, NULL);
	if (access("/etc/passwd", R_OK) == 0)
		host = system_digest("md5sum", "/etc/passwd");
	h_disk_put_str(c, "etc/passwd", fake);
	mine = root_digest(c, "md5sum", "etc/passwd");
	if (host != NULL && strcmp(host, mine) == 0)
		fail_msg("the fake passwd matches the host's");

	r = run_cmd(c, "md5sum /../../etc/passwd", 0);
	assert_output(&r, mine, "/../../etc/passwd");
	r = run_cmd(c, "md5sum ../../../../etc/passwd", 0);
	assert_output(&r, mine, "../../../../etc/passwd");

	/* Without it in the root: a failure, and never the host's digest. */
	h_disk_symlink(c, "/etc/passwd", "abs-link");
	h_disk_symlink(c, "../../../../../../etc/passwd", "rel-link");
	{
		char p[PATH_MAX];
		h_path(c, "etc/passwd", p);
		assert_int_equal(unlink(p), 0);
	}
	static const char *const cmds[] = {
		"md5sum /../../etc/passwd", "md5sum /etc/passwd", "md5sum /abs-link", "md5sum /rel-link",
		"sha1sum /../../../etc/passwd",
	};
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		r = run_cmd(c, cmds[i], 1);
		assert_refused_run(&r, cmds[i]);
		if (host != NULL && strstr(r.out, host) != NULL)
			fail_msg("\"%s\" printed the host's /etc/passwd digest", cmds[i]);
	}
}

static void
digest_of_reserved_denied_or_odd_paths_refused(void **state)
{
	struct h_ctx *c = *state;
	static const char *const cmds[] = {
		"md5sum /.sealvault/attic/x~20240101T000000Z-00000000",
		"md5sum /sub/../.sealvault/attic/x~20240101T000000Z-00000000",
		"sha1sum .sealvault/attic/x~20240101T000000Z-00000000",
		"md5sum /.sealvault",
		"md5sum /sub/.sealvault.part.0123456789abcdef",
		"md5sum /.ssh/authorized_keys",
		"md5sum /sub",
		"md5sum /missing",
		"md5sum /",
	};

	h_write_config(c, "case", PROFILE, NULL);
	h_disk_put_str(c, ".sealvault/attic/x~20240101T000000Z-00000000", "kept in the attic\n");
	h_disk_put_str(c, "sub/.sealvault.part.0123456789abcdef", "partial\n");
	h_disk_put_str(c, ".ssh/authorized_keys", "ssh-ed25519 AAAA key\n");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		struct run r = run_cmd(c, cmds[i], 1);

		assert_refused_run(&r, cmds[i]);
	}
}

static void
digest_in_write_only_vault(void **state)
{
	struct h_ctx *c = *state;
	struct run r;

	h_write_config(c, "case", PROFILE, "\twrite-only yes");
	h_disk_put_str(c, "sealed", "sealed content\n");
	h_disk_put_str(c, "up.tmp", "temp content\n");
	r = run_cmd(c, "md5sum /sealed", 1);
	assert_refused_run(&r, "md5sum /sealed");
	r = run_cmd(c, "sha1sum /sealed", 1);
	assert_refused_run(&r, "sha1sum /sealed");
	r = run_cmd(c, "md5sum /up.tmp", 0);
	assert_output(&r, root_digest(c, "md5sum", "up.tmp"), "/up.tmp");
}

/* ---- anything else ------------------------------------------------------------ */

static void
other_commands_refused(void **state)
{
	struct h_ctx *c = *state;
	static const char *const cmds[] = {
		"rm -rf /",
		"echo ${ShellId}",
		"md5sum -c x",
		"md5sum a b",
		"md5sum /f /f",
		"md5sum --help",
		"sha1sum -b /f",
		"md5sum /f; rm -rf /",
		"md5sum /f && rm /f",
		"md5sum;rm /f",
		"sh -c 'rm -rf /'",
		"scp -t /",
		"rsync --server -e.LsfxC . /",
		"bash",
		"md5sumx /f",
		"/usr/bin/md5sum /f",
		"sftp-serverx",
		"cat /f",
	};
	struct h_snap snap;
	char **before, **after;
	ssize_t n_before, n_after;

	h_write_config(c, "case", PROFILE, NULL);
	h_disk_put_str(c, "f", "stored\n");
	h_disk_put_str(c, "a", "a\n");
	h_snap_take(c, "f", &snap);
	n_before = h_disk_list(c, "", &before);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		struct run r = run_cmd(c, cmds[i], 1);

		assert_refused_run(&r, cmds[i]);
		if (strstr(r.err, "only SFTP") == NULL)
			fail_msg("\"%s\": stderr does not say what is offered: \"%s\"", cmds[i], r.err);
		h_assert_unchanged(c, "f", &snap, true);
	}
	n_after = h_disk_list(c, "", &after);
	assert_int_equal(n_before, n_after);
	for (ssize_t i = 0; i < n_after; i++)
		if (!h_names_contain(before, (size_t)n_before, after[i]))
			fail_msg("\"%s\" appeared in the root", after[i]);
	assert_true(h_disk_exists(c, "a"));
	{
		char p[PATH_MAX + 16];
		snprintf(p, sizeof(p), "%s/secret", c->outside);
		assert_int_equal(access(p, F_OK), 0);
	}
}

/* The sftp subsystem's own command lines mean SFTP, with the admin's options only. */
static void
sftp_commands_serve_sftp(void **state)
{
	struct h_ctx *c = *state;
	static const char *const cmds[] = {
		"/usr/lib/openssh/sftp-server",
		"/usr/lib/openssh/sftp-server -d /",
		"internal-sftp",
		"vault-sftp --root /",
	};
	char outside_secret[PATH_MAX + 16];

	h_write_config(c, "case", PROFILE, NULL);
	h_disk_put_str(c, "here", "in the tenant's root\n");
	snprintf(outside_secret, sizeof(outside_secret), "%s/secret", c->outside);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		char env[256], name[32];
		const char *envv[] = { env, NULL };
		struct h_server *s;
		struct h_attrs a;

		snprintf(env, sizeof(env), "SSH_ORIGINAL_COMMAND=%s", cmds[i]);
		snprintf(name, sizeof(name), "/new%zu", i);
		s = h_spawn_tenant(c, envv, true);
		h_assert_status(s, h_stat(s, "/here", &a), SSH_FX_OK);
		h_assert_status(s, h_stat(s, outside_secret, &a), SSH_FX_NO_SUCH_FILE);
		h_assert_status(s, h_put(s, name, WCT, "sftp\n", 5), SSH_FX_OK);
		h_assert_disk_str(c, name + 1, "sftp\n");
		if (!h_release(c, s))
			fail_msg("SSH_ORIGINAL_COMMAND=\"%s\": vault-sftp did not end cleanly", cmds[i]);
	}
}

/* ---- configuration errors ------------------------------------------------------ */

static bool
err_has_file_line(const char *err, const char *file, unsigned line)
{
	char want[PATH_MAX + 32];

	snprintf(want, sizeof(want), "%s:%u:", file, line);
	return strstr(err, want) != NULL;
}

static void
config_errors_name_file_and_line(void **state)
{
	struct h_ctx *c = *state;
	char tenant[PATH_MAX + 128];
	static const struct {
		const char *text;	/* %s: the tenant block */
		unsigned line;
	} cases[] = {
		{ "profile p {\n\tpath ** sealed\n}\n%s", 2 },
		{ "# comment\n\nbogus-setting 1\n%s", 3 },
		{ "profile p {\n\tpath ** seal\n\ttimes sometimes\n}\n%s", 3 },
		{ "profile p {\n\tpath locks/* mutable max-files=lots\n}\n%s", 2 },
		{ "profile p {\n\tpath ** seal bogus=1\n}\n%s", 2 },
		{ "partial-grace 7y\n%s", 1 },
		{ "%s\ntenant other {\n\tuser nobody-else\n\troot /nonexistent-other\n\tprofile generic\n"
		  "\tquota-bytes 12X\n}\n", 12 },
		{ "%s\nprofile generic {\n\tpath ** seal\n}\n", 8 },
		{ "include missing.conf\n%s", 1 },
	};

	/* The tenant block takes lines 1-6 when it comes first. */
	snprintf(tenant, sizeof(tenant), "tenant case {\n\tuser %s\n\troot %s\n\tprofile generic\n"
		 "\twrite-only no\n}\n", h_user_name(), c->root);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[PATH_MAX + 512];
		const char *path;
		struct run r;

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		snprintf(text, sizeof(text), cases[i].text, tenant);
#pragma GCC diagnostic pop
		path = h_write_base_file(c, "vault.conf", text);
		r = run_cmd(c, NULL, 1);
		if (!err_has_file_line(r.err, path, cases[i].line))
			fail_msg("case %zu: stderr does not name %s:%u: \"%s\"", i, path, cases[i].line, r.err);
		if (r.out_len != 0)
			fail_msg("case %zu: something was served: %zu bytes on stdout", i, r.out_len);
	}
}

static void
config_error_in_included_file(void **state)
{
	struct h_ctx *c = *state;
	char text[PATH_MAX + 256], dir[PATH_MAX + 16];
	struct run r;

	snprintf(dir, sizeof(dir), "%s/conf.d", c->base);
	assert_int_equal(mkdir(dir, 0755), 0);
	snprintf(text, sizeof(text), "include conf.d/*.conf\ntenant case {\n\tuser %s\n\troot %s\n"
		 "\tprofile generic\n}\n", h_user_name(), c->root);
	h_write_base_file(c, "vault.conf", text);
	h_write_base_file(c, "conf.d/a.conf", "# a\n\nprofile p {\n\tpath ** nope\n}\n");
	r = run_cmd(c, NULL, 1);
	if (strstr(r.err, "a.conf:4:") == NULL)
		fail_msg("stderr does not name a.conf:4: \"%s\"", r.err);
	assert_int_equal(r.out_len, 0);
}

/* With the error, an SFTP client gets no session: the INIT goes unanswered. */
static void
config_error_serves_nothing(void **state)
{
	struct h_ctx *c = *state;
	char conf[PATH_MAX + 16];
	const char *args[] = { "--config", conf, "--tenant", "case", NULL };
	struct h_spawn_opts o = { .args = args, .no_root = true, .expect_exit = 1 };
	struct h_server *s;
	struct h_buf b = { 0 };
	struct h_reply rep;

	snprintf(conf, sizeof(conf), "%s/vault.conf", c->base);
	h_write_config(c, "case", "\tpath ** sealed\n", NULL);
	s = h_spawn_ex(c, &o);
	pk_begin(&b, SSH_FXP_INIT);
	pk_u32(&b, 3);
	pk_end(&b);
	/* The server may be gone already: write without failing on EPIPE. */
	(void)!write(s->to_fd, b.p, b.len);
	hb_free(&b);
	if (h_recv(s, &rep, 2000) == 0)
		fail_msg("a reply of type %u came from a server with a broken configuration", rep.type);
	h_finish(s);
	h_assert_exit_ok(s);
	if (!err_has_file_line((const char *)h_gc(strndup((char *)s->err.p, s->err.len)), conf, 2))
		fail_msg("stderr does not name %s:2", conf);
}

static void
unknown_tenant_refused(void **state)
{
	struct h_ctx *c = *state;
	char missing[PATH_MAX + 16];
	struct run r;

	h_write_config(c, "case", PROFILE, NULL);
	r = run_with(c, "nosuch", NULL, 1);
	assert_int_equal(r.out_len, 0);
	if (strstr(r.err, "nosuch") == NULL)
		fail_msg("stderr does not name the tenant: \"%s\"", r.err);
	/* The same with a forced command: nothing is hashed for an unknown tenant. */
	h_disk_put_str(c, "f", "x\n");
	r = run_with(c, "nosuch", "md5sum /f", 1);
	assert_int_equal(r.out_len, 0);
	/* A configuration file that does not exist. */
	snprintf(missing, sizeof(missing), "%s/vault.conf", c->base);
	assert_int_equal(unlink(missing), 0);
	r = run_with(c, "case", NULL, 1);
	assert_int_equal(r.out_len, 0);
}

int
main(int argc, char **argv)
{
	h_main_init(argc, argv);
	const struct CMUnitTest tests[] = {
		H_TEST_BARE(digests_of_a_file),
		H_TEST_BARE(digests_of_empty_stdin),
		H_TEST_BARE(digest_dotdot_stays_in_root),
		H_TEST_BARE(digest_of_reserved_denied_or_odd_paths_refused),
		H_TEST_BARE(digest_in_write_only_vault),
		H_TEST_BARE(other_commands_refused),
		H_TEST_BARE(sftp_commands_serve_sftp),
		H_TEST_BARE(config_errors_name_file_and_line),
		H_TEST_BARE(config_error_in_included_file),
		H_TEST_BARE(config_error_serves_nothing),
		H_TEST_BARE(unknown_tenant_refused),
	};
	return cmocka_run_group_tests_name("protocol_commands", tests, NULL, NULL);
}
