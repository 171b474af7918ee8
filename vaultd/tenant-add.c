/* SPDX-License-Identifier: MIT */
/*
 * vaultctl tenant add. Checks everything first, then takes its steps in
 * order (user, root, key file, conf.d file, sshd drop-in), each recorded in
 * an undo log, so that a failure (sshd -t refusing the drop-in, a config
 * that does not load) rolls every earlier step back: nothing is left
 * half-done. An identical second add changes nothing; a different one
 * refuses and says what differs. One line per step; audited.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/acl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy.h"
#include "protect.h"
#include "vaultctl-tenant.h"
#include "vaultctl.h"

#define UNDO_MAX	32

enum undo_kind { UNDO_RMDIR, UNDO_UNLINK, UNDO_USERDEL, UNDO_RESTORE_DIR };

static const char *const undo_done[] = {
	[UNDO_RMDIR] = "removed", [UNDO_UNLINK] = "removed", [UNDO_USERDEL] = "removed user",
	[UNDO_RESTORE_DIR] = "restored owner, mode and ACL of",
};

struct undo {
	struct {
		enum undo_kind kind;
		char *path;		/* or the user name */
		struct stat st;		/* UNDO_RESTORE_DIR: owner and mode before */
		acl_t acl;		/* UNDO_RESTORE_DIR: access ACL before */
	} step[UNDO_MAX];
	size_t n;
};

/* The lines the drop-in always has; --sshd-option may not set these keywords. */
static const char *const match_lines[] = {
	"AllowTcpForwarding no", "AllowStreamLocalForwarding no", "AllowAgentForwarding no",
	"X11Forwarding no", "PermitTTY no", "PermitTunnel no", "GatewayPorts no", "PermitUserRC no",
};

/* ------------------------------------------------------------ checks */

static bool
name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > TENANT_USER_MAX || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/* Debian's NAME_REGEX: no glob, quote or blank can reach sshd's "Match User". */
static bool
user_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > TENANT_USER_MAX || !((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

static bool
word_ok(const char *s)
{
	return s[0] != '\0' && strspn(s, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") ==
	       strlen(s);
}

/* 1 if path holds exactly text, 0 if it differs, -errno (-ENOENT: missing). */
static int
file_holds(const char *path, const char *text)
{
	char *have;
	int r;

	r = file_read(path, TENANT_OUT_MAX, &have, NULL);
	if (r < 0)
		return r;
	r = strcmp(have, text) == 0;
	free(have);
	return r;
}

/* ------------------------------------------------------------ the undo log */

static int
undo_push(struct undo *u, enum undo_kind kind, const char *path)
{
	if (u->n == UNDO_MAX)
		return -E2BIG;
	u->step[u->n].path = strdup(path);
	if (u->step[u->n].path == NULL)
		return -ENOMEM;
	u->step[u->n].kind = kind;
	u->step[u->n].acl = NULL;
	return (int)u->n++;
}

static void
undo_free(struct undo *u)
{
	for (size_t i = 0; i < u->n; i++) {
		free(u->step[i].path);
		if (u->step[i].acl != NULL)
			acl_free(u->step[i].acl);
	}
	u->n = 0;
}

/* Undoes every recorded step, last first; a step that fails is reported and the rest still run. */
static void
rollback(struct undo *u)
{
	char out[4096];

	for (size_t i = u->n; i-- > 0;) {
		const char *p = u->step[i].path;
		const struct stat *st = &u->step[i].st;
		int r = 0;

		switch (u->step[i].kind) {
		case UNDO_RMDIR:
			r = rmdir(p) < 0 ? -errno : 0;
			break;
		case UNDO_UNLINK:
			r = unlink(p) < 0 ? -errno : 0;
			break;
		case UNDO_USERDEL:
			r = user_del(p, out, sizeof(out));
			break;
		case UNDO_RESTORE_DIR:
			if ((u->step[i].acl != NULL &&
			     acl_set_file(p, ACL_TYPE_ACCESS, u->step[i].acl) < 0) ||
			    lchown(p, st->st_uid, st->st_gid) < 0 || chmod(p, st->st_mode & 07777) < 0)
				r = -errno;
			break;
		}
		if (r < 0)
			fprintf(stderr, "vaultctl: rollback: cannot undo the step on %s: %s\n", p,
				r == -EIO ? out : strerror(-r));
		else
			printf("rolled back: %s %s\n", undo_done[u->step[i].kind], p);
	}
	undo_free(u);
}

/* mkdir -p, root-owned with mode; each directory made is recorded. */
static int
make_dirs(struct undo *u, const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	struct stat st;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *s = buf + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;

		*s = '\0';
		if (mkdir(buf, mode) == 0) {
			if (chown(buf, 0, 0) < 0 || chmod(buf, mode) < 0 ||
			    undo_push(u, UNDO_RMDIR, buf) < 0) {
				int r = -errno;

				rmdir(buf);
				return tenant_fail("cannot set up the directory %s: %s", buf, strerror(-r));
			}
			printf("created directory %s (root, %04o)\n", buf, (unsigned)mode);
		} else if (errno != EEXIST || stat(buf, &st) < 0 || !S_ISDIR(st.st_mode)) {
			return tenant_fail("cannot create the directory %s: %s", buf,
				    strerror(errno == EEXIST ? ENOTDIR : errno));
		}
		if (c == '\0')
			return 0;
		*s = c;
	}
}

/* Writes a new file (recorded), or fails if it exists. */
static int
write_new(struct undo *u, const char *path, const char *text, const char *what)
{
	int r;

	if (access(path, F_OK) == 0)
		return tenant_fail("%s exists already", path);
	r = file_write_atomic(path, text, strlen(text), 0644);
	if (r < 0)
		return tenant_fail("cannot write %s %s: %s", what, path, strerror(-r));
	if (undo_push(u, UNDO_UNLINK, path) < 0) {
		unlink(path);
		return tenant_fail("out of memory");
	}
	return 0;
}

/* ------------------------------------------------------------ rendering */

static char *
render_conf(const struct tenant_opts *o, const struct tenant_plan *pl, const char *profile)
{
	char *s = NULL;
	size_t len;
	FILE *f = open_memstream(&s, &len);

	if (f == NULL)
		return NULL;
	fprintf(f, "# tenant %s: written by vaultctl tenant add; change it with vaultctl tenant.\n"
		   "tenant %s {\n\tuser %s\n\troot %s\n\tprofile %s\n\tauthorized-keys %s\n",
		pl->name, pl->name, pl->user, pl->root, profile, pl->key_path);
	if (o->quota_bytes != NULL)
		fprintf(f, "\tquota-bytes %s\n", o->quota_bytes);
	if (o->quota_files != NULL)
		fprintf(f, "\tquota-files %s\n", o->quota_files);
	if (o->write_only)
		fprintf(f, "\twrite-only yes\n");
	if (o->retention != NULL)
		fprintf(f, "\tretention %s\n", o->retention);
	/* maintenance-keys: sshd reads its drop-in; vault-listen reads this. */
	if (pl->maint_user[0] != '\0')
		fprintf(f, "\tmaintenance-user %s\n\tmaintenance-from %s\n\tmaintenance-keys %s\n", pl->maint_user,
			pl->maint_from, pl->maint_key_path);
	fprintf(f, "}\n");
	if (fclose(f) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

/* One Match block: the tenant's user, or its maintenance user (the same vault-sftp, its own keys). */
static void
render_match(FILE *f, const struct tenant_opts *o, const char *user, const char *key_path)
{
	fprintf(f, "Match User %s\n\tAuthorizedKeysFile %s\n\tForceCommand %s --config %s%s\n", user, key_path,
		o->vault_sftp, o->config, o->require_broker ? " --require-broker" : "");
	for (size_t i = 0; i < sizeof(match_lines) / sizeof(match_lines[0]); i++)
		fprintf(f, "\t%s\n", match_lines[i]);
	for (size_t i = 0; i < o->n_sshd_options; i++)
		fprintf(f, "\t%s\n", o->sshd_options[i]);
}

static char *
render_dropin(const struct tenant_opts *o, const struct tenant_plan *pl)
{
	char *s = NULL;
	size_t len;
	FILE *f = open_memstream(&s, &len);

	if (f == NULL)
		return NULL;
	fprintf(f,
		"# sealvault tenant %s: written by vaultctl tenant add; "
		"remove it with vaultctl tenant remove.\n",
		pl->name);
	render_match(f, o, pl->user, pl->key_path);
	if (pl->maint_user[0] != '\0') {
		/* Its key says from where (from=); vault-sftp checks the address again (maintenance-from). */
		fprintf(f, "# the maintenance user of tenant %s: prunes into the attic\n", pl->name);
		render_match(f, o, pl->maint_user, pl->maint_key_path);
	}
	if (fclose(f) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

/*
 * The maintenance key file: each key bound to the addresses (sshd's from=,
 * the first of the two walls) and restricted (no forwarding, pty, agent,
 * X11, user rc).
 */
static char *
render_maint_keys(const struct tenant_plan *pl)
{
	char *s = NULL, from[sizeof(pl->maint_from)];
	size_t len;
	FILE *f = open_memstream(&s, &len);

	if (f == NULL)
		return NULL;
	snprintf(from, sizeof(from), "%s", pl->maint_from);
	for (char *c = from; *c != '\0'; c++)
		if (*c == ' ')
			*c = ',';
	for (size_t i = 0; i < pl->maint_keys.n; i++) {
		const struct tenant_key *k = &pl->maint_keys.v[i];

		fprintf(f, "restrict,from=\"%s\" %s %s%s%s\n", from, k->type, k->blob, k->comment[0] ? " " : "",
			k->comment);
	}
	if (fclose(f) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

static void
plan_free(struct tenant_plan *pl)
{
	free(pl->conf_text);
	free(pl->dropin_text);
	free(pl->keys_text);
	tenant_keys_free(&pl->keys);
	free(pl->maint_keys_text);
	tenant_keys_free(&pl->maint_keys);
}

/* Warns when sshd would not run the drop-in's ForceCommand for user (the tenant's, or its maintenance user). */
static void
sshd_check_effective(const struct tenant_opts *o, const char *user)
{
	char spec[128], want[PATH_MAX * 3], *out, *line;
	const char *const argv[] = { o->sshd, "-T", "-f", o->sshd_config, "-C", spec, NULL };

	snprintf(spec, sizeof(spec), "user=%s,host=localhost,addr=127.0.0.1", user);
	snprintf(want, sizeof(want), "\nforcecommand %s --config %s%s\n", o->vault_sftp, o->config,
		 o->require_broker ? " --require-broker" : "");
	out = malloc(TENANT_OUT_MAX + 1);
	if (out == NULL)
		return;
	out[0] = '\n';
	if (run_command(argv, out + 1, TENANT_OUT_MAX) == 0 && strstr(out, want) != NULL) {
		free(out);
		return;
	}
	line = strstr(out, "\nforcecommand ");
	if (line != NULL)
		line[strcspn(line + 1, "\n") + 1] = '\0';
	fprintf(stderr, "vaultctl: WARNING: sshd -T says user %s gets \"%s\", not the drop-in's "
		"ForceCommand: does %s Include %s/*.conf, before any Match block that catches this user?\n",
		user, line != NULL ? line + 1 : "forcecommand ?", o->sshd_config, o->sshd_dir);
	free(out);
}

/* ------------------------------------------------------------ tenant add */

static int
check_sshd_options(const struct tenant_opts *o)
{
	for (size_t i = 0; i < o->n_sshd_options; i++) {
		const char *l = o->sshd_options[i];
		size_t kw = strcspn(l, " \t");

		for (const char *c = l; *c != '\0'; c++)
			if ((unsigned char)*c < ' ' || (unsigned char)*c >= 0x7f)
				return tenant_fail("--sshd-option \"%s\": one line of printable ASCII", l);
		if (kw == 0 || l[kw] == '\0')
			return tenant_fail("--sshd-option \"%s\": give KEYWORD VALUE", l);
		if ((kw == 5 && strncasecmp(l, "Match", 5) == 0) ||
		    (kw == 7 && strncasecmp(l, "Include", 7) == 0) ||
		    (kw == 18 && strncasecmp(l, "AuthorizedKeysFile", 18) == 0) ||
		    (kw == 12 && strncasecmp(l, "ForceCommand", 12) == 0))
			return tenant_fail("--sshd-option \"%s\": the drop-in sets %.*s itself", l, (int)kw,
					   l);
		for (size_t j = 0; j < sizeof(match_lines) / sizeof(match_lines[0]); j++)
			if (strncasecmp(l, match_lines[j], kw) == 0 && match_lines[j][kw] == ' ')
				return tenant_fail("--sshd-option \"%s\": the drop-in sets %.*s itself", l,
						   (int)kw, l);
	}
	return 0;
}

/* sshd's StrictModes: every existing directory up to the key file root-owned, not group/world-writable. */
static int
check_strict_modes(const char *path)
{
	char buf[PATH_MAX];
	struct stat st;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *s = strrchr(buf, '/'); s != NULL; s = strrchr(buf, '/')) {
		*s = '\0';
		if (stat(buf[0] != '\0' ? buf : "/", &st) < 0)
			continue;	/* made by us, as it should be */
		if (st.st_uid != 0 || (st.st_mode & 022))
			return tenant_fail("sshd's StrictModes would refuse the key file: %s is %s",
				    buf[0] != '\0' ? buf : "/",
				    st.st_uid != 0 ? "not owned by root" : "group or world writable");
	}
	return 0;
}

static int
check_vault_sftp(const char *path)
{
	const char *base = strrchr(path, '/');
	struct stat st;

	if (base == NULL || strcmp(base + 1, "vault-sftp") != 0)
		return tenant_fail(
			"--vault-sftp %s: the binary must be named vault-sftp (it is the login shell too)",
			path);
	if (stat(path, &st) < 0)
		return tenant_fail("%s: %s (install vault-sftp, or say where it is with --vault-sftp)", path,
				   strerror(errno));
	if (!S_ISREG(st.st_mode) || !(st.st_mode & S_IXOTH))
		return tenant_fail("%s: not an executable file every user may run", path);
	if (st.st_uid != 0 || (st.st_mode & 022))
		return tenant_fail("%s: must be owned by root and not group or world writable", path);
	return 0;
}

/* The tenant exists in the config: is it exactly what is asked? Exit status. */
static int
add_again(const struct tenant_opts *o, const struct tenant_plan *pl, const struct policy_tenant *t,
	  const struct policy_tenant *want)
{
	const struct passwd *pw = getpwnam(pl->user);
	struct stat st;
	unsigned n = 0;

#define DIFF(...) (n++, printf("  differs: " __VA_ARGS__), putchar('\n'))
	if (!tenant_same_file(t->file, pl->conf_path))
		DIFF("tenant %s is defined in %s:%u, not in %s by vaultctl", pl->name, t->file, t->line,
		     pl->conf_path);
	if (strcmp(t->user, want->user) != 0)
		DIFF("user is %s, asked %s", t->user, want->user);
	if (strcmp(t->root, want->root) != 0)
		DIFF("root is %s, asked %s", t->root, want->root);
	if (strcmp(t->profile_name, o->profile) != 0)
		DIFF("profile is %s, asked %s", t->profile_name, o->profile);
	if (t->authorized_keys == NULL || strcmp(t->authorized_keys, pl->key_path) != 0)
		DIFF("authorized-keys is %s, asked %s", t->authorized_keys ? t->authorized_keys : "(none)",
		     pl->key_path);
	if (t->quota_bytes != want->quota_bytes)
		DIFF("quota-bytes is %llu, asked %llu", (unsigned long long)t->quota_bytes,
		     (unsigned long long)want->quota_bytes);
	if (t->quota_files != want->quota_files)
		DIFF("quota-files is %llu, asked %llu", (unsigned long long)t->quota_files,
		     (unsigned long long)want->quota_files);
	if (t->write_only != want->write_only)
		DIFF("write-only is %s, asked %s", t->write_only ? "yes" : "no",
		     want->write_only ? "yes" : "no");
	if (t->retention_s != want->retention_s)
		DIFF("retention is %llus, asked %llus", (unsigned long long)t->retention_s,
		     (unsigned long long)want->retention_s);
	if ((t->maint_user == NULL) != (want->maint_user == NULL) ||
	    (t->maint_user != NULL && strcmp(t->maint_user, want->maint_user) != 0))
		DIFF("maintenance-user is %s, asked %s", t->maint_user ? t->maint_user : "(none)",
		     want->maint_user ? want->maint_user : "(none)");
	if ((t->maint_keys == NULL) != (want->maint_keys == NULL) ||
	    (t->maint_keys != NULL && strcmp(t->maint_keys, want->maint_keys) != 0))
		DIFF("maintenance-keys is %s, asked %s", t->maint_keys ? t->maint_keys : "(none)",
		     want->maint_keys ? want->maint_keys : "(none)");
	if (t->n_maint_from != want->n_maint_from ||
	    (t->n_maint_from > 0 && memcmp(t->maint_from, want->maint_from,
					   t->n_maint_from * sizeof(*t->maint_from)) != 0))
		DIFF("maintenance-from differs from %s", pl->maint_from[0] ? pl->maint_from : "(none)");
	if (pw == NULL)
		DIFF("the user %s does not exist", pl->user);
	else if (strcmp(pw->pw_dir, pl->root) != 0 || strcmp(pw->pw_shell, o->vault_sftp) != 0)
		DIFF("the user %s has home %s and shell %s, asked %s and %s", pl->user, pw->pw_dir,
		     pw->pw_shell, pl->root, o->vault_sftp);
	if (pl->maint_user[0] != '\0') {
		const struct passwd *mpw = getpwnam(pl->maint_user);

		if (mpw == NULL)
			DIFF("the maintenance user %s does not exist", pl->maint_user);
		else if (strcmp(mpw->pw_dir, pl->root) != 0 || strcmp(mpw->pw_shell, o->vault_sftp) != 0)
			DIFF("the maintenance user %s has home %s and shell %s, asked %s and %s", pl->maint_user,
			     mpw->pw_dir, mpw->pw_shell, pl->root, o->vault_sftp);
		if (file_holds(pl->maint_key_path, pl->maint_keys_text) != 1)
			DIFF("%s does not hold exactly the maintenance keys of %s", pl->maint_key_path,
			     o->maint_key_file);
	}
	if (lstat(pl->root, &st) < 0 || !protect_dir_is_done(&st))
		DIFF("the root %s is missing or not protected (root-owned, sticky)", pl->root);
	if (file_holds(pl->key_path, pl->keys_text) != 1)
		DIFF("%s does not hold exactly the keys of %s (see vaultctl tenant key add|remove)",
		     pl->key_path, o->key_file);
	if (file_holds(pl->dropin_path, pl->dropin_text) != 1)
		DIFF("the sshd drop-in %s is missing or says something else", pl->dropin_path);
#undef DIFF
	if (n > 0) {
		fprintf(stderr,
			"vaultctl: tenant %s exists and differs from what is asked (%u difference%s above); "
			"nothing changed\n",
			pl->name, n, n == 1 ? "" : "s");
		vaultctl_audit("tenant add", pl->name, false, "exists and differs");
		return 1;
	}
	printf("tenant %s is already set up as asked\n", pl->name);
	vaultctl_audit("tenant add", pl->name, true, "already set up as asked, nothing changed");
	return 0;
}

/* Everything that can be checked before a change. 0 go on, 1 add_again decided (*ret_status), -1 refused. */
static int
add_validate(const struct tenant_opts *o, struct tenant_plan *pl, const struct policy *p, int *ret_status)
{
	const char *paths[] = { o->config, o->conf_dir, o->keys_dir, o->sshd_dir, o->sshd_config, o->sshd,
				o->vault_sftp, pl->root };
	struct policy_error perr = { 0 };
	struct policy *check = NULL;
	const struct policy_tenant *t;
	char err[256], *probe;
	struct stat st;
	int r;

	if (!user_ok(pl->user))
		return tenant_fail(
			"bad user name \"%s\" ([a-z_][a-z0-9_-]*, at most %d; give one with --user)",
			pl->user, TENANT_USER_MAX);
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (!host_path_is_clean(paths[i]) || !path_is_plain(paths[i]))
			return tenant_fail(
				"%s: paths must be absolute and clean, of letters, digits and / . _ + -",
				paths[i]);
	if ((o->quota_bytes != NULL && !word_ok(o->quota_bytes)) ||
	    (o->quota_files != NULL && !word_ok(o->quota_files)) ||
	    (o->retention != NULL && !word_ok(o->retention)))
		return tenant_fail(
			"--quota-bytes, --quota-files and --retention take a number with an optional suffix");
	if (check_sshd_options(o) < 0)
		return -1;
	if (policy_profile(p, o->profile) == NULL)
		return tenant_fail("no profile %s in %s", o->profile, o->config);
	if ((o->maint_user != NULL) != (o->maint_key_file != NULL) ||
	    (o->maint_user != NULL) != (o->maint_from != NULL))
		return tenant_fail("--maintenance-user, --maintenance-key and --maintenance-from go together");
	if (o->maint_user != NULL) {
		if (!user_ok(pl->maint_user))
			return tenant_fail("bad maintenance user name \"%s\" ([a-z_][a-z0-9_-]*, at most %d)",
					   pl->maint_user, TENANT_USER_MAX);
		if (strcmp(pl->maint_user, pl->user) == 0)
			return tenant_fail("the maintenance user must be another user than the tenant's (%s)",
					   pl->user);
		/* Checked again by the config parser; this keeps sshd's from="..." well quoted. */
		if (o->maint_from[0] == '\0' || strlen(o->maint_from) >= sizeof(pl->maint_from) ||
		    strspn(o->maint_from, "0123456789abcdefABCDEF.:/,") != strlen(o->maint_from))
			return tenant_fail("--maintenance-from takes IPv4 or IPv6 addresses or ADDR/BITS "
					   "prefixes, separated by commas");
	}

	/* The values, checked by the config parser itself (with a built-in profile: any will do). */
	probe = render_conf(o, pl, "generic");
	pl->conf_text = render_conf(o, pl, o->profile);
	pl->dropin_text = render_dropin(o, pl);
	if (probe == NULL || pl->conf_text == NULL || pl->dropin_text == NULL) {
		free(probe);
		return tenant_fail("out of memory");
	}
	r = policy_load_string(probe, pl->conf_path, &check, &perr);
	free(probe);
	if (r < 0)
		return tenant_fail("%s", perr.message);

	r = tenant_keys_read(o->key_file, &pl->keys, err, sizeof(err));
	if (r == -EPERM)
		fprintf(stderr, "vaultctl: REFUSED: %s: %s\n", o->key_file, err);
	if (r < 0) {
		policy_free(check);
		return r == -EPERM ? -1 : tenant_fail("%s: %s", o->key_file, err);
	}
	pl->keys_text = tenant_keys_render(&pl->keys);
	if (pl->keys_text == NULL) {
		policy_free(check);
		return tenant_fail("out of memory");
	}
	if (o->maint_key_file != NULL) {
		r = tenant_keys_read(o->maint_key_file, &pl->maint_keys, err, sizeof(err));
		if (r == -EPERM)
			fprintf(stderr, "vaultctl: REFUSED: %s: %s\n", o->maint_key_file, err);
		if (r < 0) {
			policy_free(check);
			return r == -EPERM ? -1 : tenant_fail("%s: %s", o->maint_key_file, err);
		}
		/* One key for both users would let the tenant's key prune. */
		for (size_t i = 0; i < pl->maint_keys.n; i++)
			if (tenant_keys_find(&pl->keys, pl->maint_keys.v[i].blob, NULL) >= 0) {
				policy_free(check);
				return tenant_fail("key %s is the tenant's key and a maintenance key: the "
						   "maintenance credential must be a key of its own",
						   pl->maint_keys.v[i].fingerprint);
			}
		pl->maint_keys_text = render_maint_keys(pl);
		if (pl->maint_keys_text == NULL) {
			policy_free(check);
			return tenant_fail("out of memory");
		}
	}

	t = policy_tenant(p, pl->name);
	if (t != NULL) {
		*ret_status = add_again(o, pl, t, &check->tenants[0]);
		policy_free(check);
		return 1;
	}
	policy_free(check);

	for (size_t i = 0; i < p->n_tenants; i++) {
		t = &p->tenants[i];
		if (strcmp(t->user, pl->user) == 0 || (t->maint_user != NULL && strcmp(t->maint_user, pl->user) == 0))
			return tenant_fail("user %s already belongs to tenant %s", pl->user, t->name);
		if (pl->maint_user[0] != '\0' &&
		    (strcmp(t->user, pl->maint_user) == 0 ||
		     (t->maint_user != NULL && strcmp(t->maint_user, pl->maint_user) == 0)))
			return tenant_fail("user %s already belongs to tenant %s", pl->maint_user, t->name);
		if (path_is_below(pl->root, t->root) || path_is_below(t->root, pl->root))
			return tenant_fail("root %s overlaps tenant %s's root %s", pl->root, t->name,
					   t->root);
	}
	if (path_is_below(pl->key_path, pl->root) || path_is_below(pl->maint_key_path, pl->root) ||
	    path_is_below(pl->conf_path, pl->root) ||
	    path_is_below(o->config, pl->root) || path_is_below(pl->dropin_path, pl->root) ||
	    path_is_below(o->vault_sftp, pl->root))
		return tenant_fail(
			"root %s would hold the vault's own files (config, keys, drop-in, vault-sftp)",
			pl->root);
	if (getpwnam(pl->user) != NULL)
		return tenant_fail(
			"user %s exists already: vaultctl creates the tenant's user (choose one with --user)",
			pl->user);
	if (getgrnam(pl->user) != NULL)
		return tenant_fail("a group %s exists already: useradd --user-group could not create it",
				   pl->user);
	if (pl->maint_user[0] != '\0' && getpwnam(pl->maint_user) != NULL)
		return tenant_fail("user %s exists already: vaultctl creates the maintenance user too",
				   pl->maint_user);
	if (pl->maint_user[0] != '\0' && getgrnam(pl->maint_user) != NULL)
		return tenant_fail("a group %s exists already: useradd --user-group could not create it",
				   pl->maint_user);
	if (pl->maint_user[0] != '\0' && access(pl->maint_key_path, F_OK) == 0)
		return tenant_fail("%s exists already, but %s has no tenant %s: remove the leftover first",
				   pl->maint_key_path, o->config, pl->name);
	if (access(pl->key_path, F_OK) == 0 || access(pl->conf_path, F_OK) == 0 ||
	    access(pl->dropin_path, F_OK) == 0)
		return tenant_fail(
			"%s, %s or %s exists already, but %s has no tenant %s: remove the leftover first",
			pl->key_path, pl->conf_path, pl->dropin_path, o->config, pl->name);
	if (lstat(pl->root, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return tenant_fail("root %s exists and is not a directory", pl->root);
		if (dir_is_empty(pl->root) != 1)
			return tenant_fail("root %s exists and is not empty", pl->root);
	}
	if (check_vault_sftp(o->vault_sftp) < 0 || check_strict_modes(pl->key_path) < 0)
		return -1;
	if (access(o->sshd, X_OK) < 0)
		return tenant_fail("%s: %s (say where sshd is with --sshd)", o->sshd, strerror(errno));
	/* A config sshd refuses already would be blamed on the drop-in. */
	if (tenant_sshd_test(o) < 0)
		return tenant_fail(
			"sshd refuses its config before any change: fix that first; nothing changed");
	return 0;
}

/* The tenant root: made (or an empty one taken over) and protected for uid (and maint_uid). */
static int
make_root(struct undo *u, const struct tenant_plan *pl, uid_t uid, uid_t maint_uid)
{
	char parent[PATH_MAX];
	struct stat st;
	int fd, r, i;

	snprintf(parent, sizeof(parent), "%.*s", (int)(strrchr(pl->root, '/') - pl->root), pl->root);
	if (parent[0] != '\0' && make_dirs(u, parent, 0755) < 0)
		return -1;
	if (lstat(pl->root, &st) == 0) {
		i = undo_push(u, UNDO_RESTORE_DIR, pl->root);
		if (i < 0)
			return tenant_fail("out of memory");
		u->step[i].st = st;
		u->step[i].acl = acl_get_file(pl->root, ACL_TYPE_ACCESS);
	} else {
		/* 0700: besides root, only the tenant (by the ACL below) sees in. */
		if (mkdir(pl->root, 0700) < 0)
			return tenant_fail("cannot create the root %s: %s", pl->root, strerror(errno));
		if (undo_push(u, UNDO_RMDIR, pl->root) < 0) {
			rmdir(pl->root);
			return tenant_fail("out of memory");
		}
		if (chown(pl->root, 0, 0) < 0)
			return tenant_fail("cannot chown the root %s: %s", pl->root, strerror(errno));
	}
	fd = open(pl->root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return tenant_fail("cannot open the root %s: %s", pl->root, strerror(errno));
	r = protect_dir(fd, uid, maint_uid, NULL);
	close(fd);
	if (r < 0)
		return tenant_fail("cannot protect the root %s: %s%s", pl->root, strerror(-r),
			    r == -EOPNOTSUPP ? " (the filesystem has no ACLs)" : "");
	printf("tenant root %s: owner root, sticky, ACL user:%s:rwx%s%s%s\n", pl->root, pl->user,
	       pl->maint_user[0] ? ", user:" : "", pl->maint_user, pl->maint_user[0] ? ":rwx" : "");
	return 0;
}

/*
 * Creates a tenant's user (what: "user" or "maintenance user"), undone by
 * u on a later failure; *ret_uid gets its uid, which must be neither 0
 * nor other_uid.
 */
static int
add_user(const struct tenant_opts *o, const struct tenant_plan *pl, struct undo *u, const char *name,
	 const char *what, uid_t other_uid, uid_t *ret_uid)
{
	char comment[128], *out = malloc(TENANT_OUT_MAX);
	const struct passwd *pw;
	int r;

	if (out == NULL)
		return tenant_fail("out of memory");
	snprintf(comment, sizeof(comment), "sealvault %s of tenant %s", what, pl->name);
	r = user_add(name, pl->root, o->vault_sftp, comment, out, TENANT_OUT_MAX);
	if (r == 0 && undo_push(u, UNDO_USERDEL, name) < 0)
		r = -ENOMEM;
	if (r < 0) {
		tenant_fail("useradd %s failed: %s", name, r == -EIO ? out : strerror(-r));
		free(out);
		return -1;
	}
	free(out);
	pw = getpwnam(name);
	if (pw == NULL || pw->pw_uid == 0 || pw->pw_uid == other_uid)
		return tenant_fail("user %s is not there after useradd", name);
	*ret_uid = pw->pw_uid;
	printf("created %s %s (uid %u, shell %s, home %s)\n", what, name, (unsigned)*ret_uid, o->vault_sftp,
	       pl->root);
	return 0;
}

static int
add_steps(const struct tenant_opts *o, const struct tenant_plan *pl, struct undo *u)
{
	struct policy *p = NULL;
	const struct policy_tenant *t;
	uid_t uid, maint_uid = PROTECT_NO_UID;
	int r;

	if (add_user(o, pl, u, pl->user, "user", 0, &uid) < 0)
		return -1;
	if (pl->maint_user[0] != '\0' &&
	    add_user(o, pl, u, pl->maint_user, "maintenance user", uid, &maint_uid) < 0)
		return -1;

	if (make_root(u, pl, uid, maint_uid) < 0)
		return -1;

	if (make_dirs(u, o->keys_dir, 0755) < 0 ||
	    write_new(u, pl->key_path, pl->keys_text, "the key file") < 0)
		return -1;
	printf("wrote key file %s (%zu key%s, root, 0644)\n", pl->key_path, pl->keys.n,
	       pl->keys.n == 1 ? "" : "s");
	if (pl->maint_user[0] != '\0') {
		if (write_new(u, pl->maint_key_path, pl->maint_keys_text, "the maintenance key file") < 0)
			return -1;
		printf("wrote maintenance key file %s (%zu key%s, from=\"%s\", restrict)\n", pl->maint_key_path,
		       pl->maint_keys.n, pl->maint_keys.n == 1 ? "" : "s", o->maint_from);
	}

	if (make_dirs(u, o->conf_dir, 0755) < 0 ||
	    write_new(u, pl->conf_path, pl->conf_text, "the tenant config") < 0)
		return -1;
	if (tenant_load_config(o->config, &p) < 0)
		return tenant_fail("the config does not load with %s", pl->conf_path);
	t = policy_tenant(p, pl->name);
	r = t != NULL && tenant_same_file(t->file, pl->conf_path) ? 0 : -1;
	policy_free(p);
	if (r < 0)
		return tenant_fail("%s does not read %s: it needs \"include %s/*.conf\"", o->config,
				   pl->conf_path, o->conf_dir);
	printf("wrote %s; %s loads with tenant %s\n", pl->conf_path, o->config, pl->name);

	if (access(o->sshd_dir, F_OK) < 0)
		fprintf(stderr, "vaultctl: WARNING: %s did not exist: make sure %s Includes %s/*.conf\n",
			o->sshd_dir, o->sshd_config, o->sshd_dir);
	if (make_dirs(u, o->sshd_dir, 0755) < 0 ||
	    write_new(u, pl->dropin_path, pl->dropin_text, "the sshd drop-in") < 0)
		return -1;
	if (tenant_sshd_test(o) < 0)
		return tenant_fail("sshd refuses the drop-in %s", pl->dropin_path);
	printf("wrote sshd drop-in %s; sshd -t accepts %s\n", pl->dropin_path, o->sshd_config);
	sshd_check_effective(o, pl->user);
	if (pl->maint_user[0] != '\0')
		sshd_check_effective(o, pl->maint_user);
	return 0;
}

int
tenant_add(const struct tenant_opts *o, const char *name)
{
	struct tenant_plan pl = { 0 };
	struct undo *u = NULL;
	struct policy *p = NULL;
	char detail[PATH_MAX + 128];
	int status = 1, r;

	if (o->profile == NULL || o->key_file == NULL) {
		tenant_fail("tenant add needs --profile and --key");
		return 2;
	}
	if (!name_ok(name)) {
		tenant_fail("bad tenant name \"%s\" ([a-z0-9][a-z0-9_-]*, at most %d)", name,
			    TENANT_USER_MAX);
		return 2;
	}
	tenant_plan_paths(o, &pl, name);
	if (tenant_load_config(o->config, &p) < 0)
		goto out;
	r = add_validate(o, &pl, p, &status);
	if (r != 0) {
		if (r < 0) {
			status = 1;
			vaultctl_audit("tenant add", name, false, "refused before any change");
		}
		goto out;
	}
	u = calloc(1, sizeof(*u));
	if (u == NULL) {
		tenant_fail("out of memory");
		goto out;
	}
	if (add_steps(o, &pl, u) < 0) {
		fprintf(stderr, "vaultctl: tenant add %s failed: rolling back every step\n", name);
		rollback(u);
		vaultctl_audit("tenant add", name, false, "failed, rolled back");
		goto out;
	}
	undo_free(u);
	/* Set up and checked: from here on, a failed reload is a warning, not a rollback. */
	if (sshd_reload(o->reload) < 0)
		fprintf(stderr, "vaultctl: WARNING: reload sshd yourself: until then the tenant cannot log in\n");
	if (vaultd_reload(p->control_socket) < 0)
		fprintf(stderr, "vaultctl: WARNING: reload vaultd yourself (SIGHUP): until then it does not "
			"seal for %s\n", name);
	printf("tenant %s is set up: user %s, root %s, profile %s\n", name, pl.user, pl.root, o->profile);
	if (pl.maint_user[0] != '\0')
		printf("tenant %s has a maintenance user: %s, from %s\n", name, pl.maint_user, o->maint_from);
	snprintf(detail, sizeof(detail), "user %s, root %s, profile %s%s%s", pl.user, pl.root, o->profile,
		 pl.maint_user[0] ? ", maintenance user " : "", pl.maint_user);
	vaultctl_audit("tenant add", name, true, detail);
	status = 0;
out:
	free(u);
	plan_free(&pl);
	policy_free(p);
	return status;
}

