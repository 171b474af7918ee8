/* SPDX-License-Identifier: MIT */
/*
 * vaultctl tenant: the command line, the helpers its parts share, and the
 * subcommands that only read or touch the key file: list, show, key add,
 * key remove. add is tenant-add.c, remove tenant-remove.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy.h"
#include "vaultctl-tenant.h"
#include "vaultctl.h"

#ifndef SEALVAULT_VAULT_SFTP_PATH
#define SEALVAULT_VAULT_SFTP_PATH "/usr/bin/vault-sftp"
#endif
#define DEFAULT_ROOTS		"/srv/sealvault"
#define DEFAULT_SSHD_DIR	"/etc/ssh/sshd_config.d"
#define DEFAULT_SSHD_CONFIG	"/etc/ssh/sshd_config"
#define DEFAULT_SSHD		"/usr/sbin/sshd"

enum sub {
	SUB_ADD = 1 << 0, SUB_LIST = 1 << 1, SUB_SHOW = 1 << 2,
	SUB_KEY_ADD = 1 << 3, SUB_KEY_REMOVE = 1 << 4, SUB_REMOVE = 1 << 5,
};
#define SUB_ALL	(SUB_ADD | SUB_LIST | SUB_SHOW | SUB_KEY_ADD | SUB_KEY_REMOVE | SUB_REMOVE)

/* ------------------------------------------------------------ shared helpers */

int
tenant_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("vaultctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -1;
}

int
tenant_load_config(const char *path, struct policy **ret)
{
	struct policy_error err = { 0 };

	if (policy_load(path, ret, &err) == 0) {
		vaultctl_audit_to((*ret)->control_socket);	/* records go to this config's vaultd */
		return 0;
	}
	if (err.line > 0)
		return tenant_fail("%s:%u: %s", err.file, err.line, err.message);
	return tenant_fail("%s: %s", err.file[0] != '\0' ? err.file : path, err.message);
}

bool
tenant_same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static const char *
duration_text(uint64_t s, char *buf, size_t size)
{
	if (s == 0)
		snprintf(buf, size, "none");
	else if (s % 86400 == 0)
		snprintf(buf, size, "%llud", (unsigned long long)(s / 86400));
	else
		snprintf(buf, size, "%llus", (unsigned long long)s);
	return buf;
}

/* A maintenance-from entry as vault.conf takes it ("10.0.0.0/8"). */
static const char *
addr_text(const struct policy_addr *a, char *buf, size_t size)
{
	char ip[INET6_ADDRSTRLEN];

	if (inet_ntop(a->family, a->addr, ip, sizeof(ip)) == NULL)
		snprintf(ip, sizeof(ip), "?");
	if (a->prefix == (a->family == AF_INET ? 32u : 128u))
		snprintf(buf, size, "%s", ip);
	else
		snprintf(buf, size, "%s/%u", ip, a->prefix);
	return buf;
}

static void
json_string(const char *s)
{
	putchar('"');
	for (; s != NULL && *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

void
tenant_plan_paths(const struct tenant_opts *o, struct tenant_plan *pl, const char *name)
{
	pl->name = name;
	snprintf(pl->user, sizeof(pl->user), "%s", o->user != NULL ? o->user : name);
	if (o->root != NULL)
		snprintf(pl->root, sizeof(pl->root), "%s", o->root);
	else
		snprintf(pl->root, sizeof(pl->root), DEFAULT_ROOTS "/%s", name);
	snprintf(pl->key_path, sizeof(pl->key_path), "%s/%s", o->keys_dir, name);
	snprintf(pl->maint_key_path, sizeof(pl->maint_key_path), "%s/%s.maintenance", o->keys_dir, name);
	snprintf(pl->maint_user, sizeof(pl->maint_user), "%s", o->maint_user != NULL ? o->maint_user : "");
	/* "a,b" on the command line (sshd's from= takes it so), "a b" in vault.conf. */
	snprintf(pl->maint_from, sizeof(pl->maint_from), "%s", o->maint_from != NULL ? o->maint_from : "");
	for (char *c = pl->maint_from; *c != '\0'; c++)
		if (*c == ',')
			*c = ' ';
	snprintf(pl->conf_path, sizeof(pl->conf_path), "%s/%s.conf", o->conf_dir, name);
	snprintf(pl->dropin_path, sizeof(pl->dropin_path), "%s/sealvault-%s.conf", o->sshd_dir, name);
}

int
tenant_sshd_test(const struct tenant_opts *o)
{
	const char *const argv[] = { o->sshd, "-t", "-f", o->sshd_config, NULL };
	char *out = malloc(TENANT_OUT_MAX);
	int r;

	if (out == NULL)
		return tenant_fail("out of memory");
	r = run_command(argv, out, TENANT_OUT_MAX);
	if (r != 0) {
		fprintf(stderr, "vaultctl: %s -t -f %s refuses the sshd config:\n%s", o->sshd, o->sshd_config,
			r < 0 ? strerror(-r) : out);
		if (r < 0 || (out[0] != '\0' && out[strlen(out) - 1] != '\n'))
			fputc('\n', stderr);
	}
	free(out);
	return r == 0 ? 0 : -1;
}

const struct policy_tenant *
tenant_find(const struct policy *p, const char *name)
{
	const struct policy_tenant *t = policy_tenant(p, name);

	if (t == NULL)
		tenant_fail("no tenant %s in the config", name);
	return t;
}

/* ------------------------------------------------------------ list, show */

/* The tenant's keys, or none (a missing or broken file is reported, not fatal). */
static void
read_keys(const struct policy_tenant *t, struct tenant_keys *k, bool quiet)
{
	char err[256];

	*k = (struct tenant_keys){ 0 };
	if (t->authorized_keys != NULL && tenant_keys_read(t->authorized_keys, k, err, sizeof(err)) < 0 &&
	    !quiet)
		fprintf(stderr, "vaultctl: %s: %s\n", t->authorized_keys, err);
}

static long
tenant_uid(const struct policy_tenant *t)
{
	const struct passwd *pw = getpwnam(t->user);

	return pw != NULL ? (long)pw->pw_uid : -1;
}

static int
cmd_list(const struct tenant_opts *o)
{
	struct policy *p;

	if (tenant_load_config(o->config, &p) < 0)
		return 1;
	if (!o->json)
		printf("%-20s %-20s %7s %-12s %4s  %s\n", "NAME", "USER", "UID", "PROFILE", "KEYS", "ROOT");
	else
		printf("[");
	for (size_t i = 0; i < p->n_tenants; i++) {
		const struct policy_tenant *t = &p->tenants[i];
		struct tenant_keys k;
		long uid = tenant_uid(t);
		char uids[24];

		read_keys(t, &k, true);
		if (o->json) {
			printf("%s\n {\"name\": ", i == 0 ? "" : ",");
			json_string(t->name);
			printf(", \"user\": ");
			json_string(t->user);
			printf(uid >= 0 ? ", \"uid\": %ld" : ", \"uid\": null", uid);
			printf(", \"profile\": ");
			json_string(t->profile_name);
			printf(", \"keys\": %zu, \"root\": ", k.n);
			json_string(t->root);
			printf("}");
		} else {
			snprintf(uids, sizeof(uids), uid >= 0 ? "%ld" : "-", uid);
			printf("%-20s %-20s %7s %-12s %4zu  %s\n", t->name, t->user, uids, t->profile_name,
			       k.n, t->root);
		}
		tenant_keys_free(&k);
	}
	if (o->json)
		printf("%s]\n", p->n_tenants > 0 ? "\n" : "");
	policy_free(p);
	return 0;
}

static int
cmd_show(const struct tenant_opts *o, const char *name)
{
	const struct policy_tenant *t;
	struct tenant_keys k;
	struct policy *p;
	char dropin[PATH_MAX], buf[64];
	bool has_dropin;
	long uid;

	if (tenant_load_config(o->config, &p) < 0)
		return 1;
	t = tenant_find(p, name);
	if (t == NULL) {
		policy_free(p);
		return 1;
	}
	read_keys(t, &k, false);
	uid = tenant_uid(t);
	snprintf(dropin, sizeof(dropin), "%s/sealvault-%s.conf", o->sshd_dir, name);
	has_dropin = access(dropin, F_OK) == 0;
	if (o->json) {
		printf("{\"name\": ");
		json_string(t->name);
		printf(", \"user\": ");
		json_string(t->user);
		printf(uid >= 0 ? ", \"uid\": %ld" : ", \"uid\": null", uid);
		printf(", \"root\": ");
		json_string(t->root);
		printf(", \"profile\": ");
		json_string(t->profile_name);
		printf(", \"quota_bytes\": %llu, \"quota_files\": %llu", (unsigned long long)t->quota_bytes,
		       (unsigned long long)t->quota_files);
		printf(", \"write_only\": %s, \"retention_s\": %llu", t->write_only ? "true" : "false",
		       (unsigned long long)t->retention_s);
		printf(", \"maintenance_user\": ");
		if (t->maint_user != NULL)
			json_string(t->maint_user);
		else
			printf("null");
		printf(", \"maintenance_from\": [");
		for (size_t i = 0; i < t->n_maint_from; i++) {
			printf("%s", i == 0 ? "" : ", ");
			json_string(addr_text(&t->maint_from[i], buf, sizeof(buf)));
		}
		printf("]");
		printf(", \"config_file\": ");
		json_string(t->file);
		printf(", \"authorized_keys\": ");
		if (t->authorized_keys != NULL)
			json_string(t->authorized_keys);
		else
			printf("null");
		printf(", \"keys\": [");
		for (size_t i = 0; i < k.n; i++) {
			printf("%s{\"type\": ", i == 0 ? "" : ", ");
			json_string(k.v[i].type);
			printf(", \"fingerprint\": ");
			json_string(k.v[i].fingerprint);
			printf(", \"comment\": ");
			json_string(k.v[i].comment);
			printf("}");
		}
		printf("], \"sshd_dropin\": ");
		json_string(dropin);
		printf(", \"sshd_dropin_present\": %s}\n", has_dropin ? "true" : "false");
	} else {
		printf("%-14s %s\n", "tenant", t->name);
		printf("%-14s %s:%u\n", "defined in", t->file, t->line);
		if (uid >= 0)
			printf("%-14s %s (uid %ld)\n", "user", t->user, uid);
		else
			printf("%-14s %s (no such user)\n", "user", t->user);
		printf("%-14s %s\n%-14s %s\n", "root", t->root, "profile", t->profile_name);
		printf("%-14s %llu%s\n", "quota-bytes", (unsigned long long)t->quota_bytes,
		       t->quota_bytes == 0 ? " (none)" : "");
		printf("%-14s %llu%s\n", "quota-files", (unsigned long long)t->quota_files,
		       t->quota_files == 0 ? " (none)" : "");
		printf("%-14s %s\n", "write-only", t->write_only ? "yes" : "no");
		printf("%-14s %s\n", "retention", duration_text(t->retention_s, buf, sizeof(buf)));
		if (t->maint_user != NULL) {
			printf("%-14s %s, from", "maintenance", t->maint_user);
			for (size_t i = 0; i < t->n_maint_from; i++)
				printf(" %s", addr_text(&t->maint_from[i], buf, sizeof(buf)));
			printf("\n");
		}
		printf("%-14s %s\n", "key file", t->authorized_keys != NULL ? t->authorized_keys : "(none)");
		for (size_t i = 0; i < k.n; i++)
			printf("%-14s %s %s %s\n", "key", k.v[i].fingerprint, k.v[i].type, k.v[i].comment);
		printf("%-14s %s%s\n", "sshd drop-in", dropin, has_dropin ? "" : " (missing)");
	}
	tenant_keys_free(&k);
	policy_free(p);
	return 0;
}

/* ------------------------------------------------------------ keys */

static int
cmd_key(const struct tenant_opts *o, bool add, const char *name, const char *arg)
{
	const struct policy_tenant *t;
	struct tenant_keys have = { 0 }, more = { 0 };
	struct policy *p;
	char err[256], *text = NULL, detail[256] = "";
	unsigned changed = 0;
	int status = 1, r = 0;

	if (tenant_load_config(o->config, &p) < 0)
		return 1;
	t = tenant_find(p, name);
	if (t == NULL)
		goto out;
	if (t->authorized_keys == NULL) {
		tenant_fail("tenant %s has no authorized-keys file in the config", name);
		goto out;
	}
	r = tenant_keys_read(t->authorized_keys, &have, err, sizeof(err));
	if (r < 0 && !(add && r == -ENODATA)) {
		tenant_fail("%s: %s", t->authorized_keys, err);
		goto out;
	}
	if (add) {
		r = tenant_keys_read(arg, &more, err, sizeof(err));
		if (r < 0) {
			fprintf(stderr, "vaultctl: %s%s: %s\n", r == -EPERM ? "REFUSED: " : "", arg, err);
			goto out;
		}
		for (size_t i = 0; i < more.n && r == 0; i++) {
			if (tenant_keys_find(&have, more.v[i].blob, NULL) >= 0) {
				printf("key %s is there already\n", more.v[i].fingerprint);
				continue;
			}
			r = tenant_keys_add(&have, &more.v[i]);
			if (r == 0) {
				printf("adding key %s %s %s\n", more.v[i].fingerprint, more.v[i].type,
				       more.v[i].comment);
				snprintf(detail + strlen(detail), sizeof(detail) - strlen(detail), "%s%s",
					 changed++ ? " " : "added ", more.v[i].fingerprint);
			}
		}
		if (r < 0) {
			tenant_fail("cannot add the keys: %s", strerror(-r));
			goto out;
		}
	} else {
		ssize_t i = tenant_keys_find(&have, NULL, arg);

		if (i < 0) {
			tenant_fail("tenant %s has no key %s (vaultctl tenant show %s lists them)", name, arg,
				    name);
			vaultctl_audit("tenant key remove", name, false, "no such key");
			goto out;
		}
		printf("removing key %s %s %s\n", have.v[i].fingerprint, have.v[i].type, have.v[i].comment);
		snprintf(detail, sizeof(detail), "removed %s", have.v[i].fingerprint);
		tenant_keys_remove(&have, (size_t)i);
		changed = 1;
	}
	if (changed == 0) {
		printf("nothing to change\n");
		status = 0;
		goto out;
	}
	text = tenant_keys_render(&have);
	r = text != NULL ? file_write_atomic(t->authorized_keys, text, strlen(text), 0644) : -ENOMEM;
	if (r < 0) {
		tenant_fail("cannot write %s: %s", t->authorized_keys, strerror(-r));
		vaultctl_audit(add ? "tenant key add" : "tenant key remove", name, false, detail);
		goto out;
	}
	printf("wrote %s: %zu key%s (sshd reads it at each login)\n", t->authorized_keys, have.n,
	       have.n == 1 ? "" : "s");
	if (have.n == 0)
		fprintf(stderr, "vaultctl: WARNING: tenant %s has no key left: it cannot log in\n", name);
	vaultctl_audit(add ? "tenant key add" : "tenant key remove", name, true, detail);
	status = 0;
out:
	free(text);
	tenant_keys_free(&have);
	tenant_keys_free(&more);
	policy_free(p);
	return status;
}

/* ------------------------------------------------------------ the command line */

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: vaultctl tenant add NAME --profile P --key PUBKEY_FILE [--root DIR] [--user USER]\n"
		"           [--quota-bytes SIZE] [--quota-files N] [--write-only] [--retention DURATION]\n"
		"           [--vault-sftp PATH] [--no-require-broker] [--sshd-option 'KEYWORD VALUE']...\n"
		"           [--maintenance-user USER --maintenance-key PUBKEY_FILE --maintenance-from ADDR,...]\n"
		"       vaultctl tenant list [--json]\n"
		"       vaultctl tenant show NAME [--json]\n"
		"       vaultctl tenant key add NAME PUBKEY_FILE\n"
		"       vaultctl tenant key remove NAME FINGERPRINT\n"
		"       vaultctl tenant remove NAME [--archive DIR]\n"
		"common: [--config FILE (" VAULTCTL_DEFAULT_CONFIG
		")] [--conf-dir DIR (CONFIG's dir/conf.d)]\n"
		"        [--keys-dir DIR (CONFIG's dir/keys)] [--sshd-dir DIR (" DEFAULT_SSHD_DIR ")]\n"
		"add, remove: [--sshd-config FILE (" DEFAULT_SSHD_CONFIG ")] [--sshd PATH (" DEFAULT_SSHD
		")]\n"
		"        [--reload systemd|pidfile:PATH|none]\n"
		"add's defaults: --root " DEFAULT_ROOTS
		"/NAME, --user NAME, --vault-sftp " SEALVAULT_VAULT_SFTP_PATH "\n");
}

enum {
	OPT_CONFIG = 256, OPT_CONF_DIR, OPT_KEYS_DIR, OPT_SSHD_DIR, OPT_SSHD_CONFIG, OPT_SSHD, OPT_VAULT_SFTP,
	OPT_RELOAD, OPT_NO_REQUIRE_BROKER, OPT_PROFILE, OPT_KEY, OPT_ROOT, OPT_USER, OPT_QUOTA_BYTES,
	OPT_QUOTA_FILES, OPT_WRITE_ONLY, OPT_RETENTION, OPT_SSHD_OPTION, OPT_ARCHIVE, OPT_JSON, OPT_HELP,
	OPT_MAINT_USER, OPT_MAINT_KEY, OPT_MAINT_FROM,
};

/* Which subcommands take each option. */
static const unsigned opt_subs[] = {
	[OPT_CONFIG - 256] = SUB_ALL, [OPT_CONF_DIR - 256] = SUB_ALL, [OPT_KEYS_DIR - 256] = SUB_ALL,
	[OPT_SSHD_DIR - 256] = SUB_ALL,
	[OPT_SSHD_CONFIG - 256] = SUB_ADD | SUB_REMOVE, [OPT_SSHD - 256] = SUB_ADD | SUB_REMOVE,
	[OPT_RELOAD - 256] = SUB_ADD | SUB_REMOVE,
	[OPT_VAULT_SFTP - 256] = SUB_ADD,
	[OPT_NO_REQUIRE_BROKER - 256] = SUB_ADD,
	[OPT_PROFILE - 256] = SUB_ADD,
	[OPT_KEY - 256] = SUB_ADD,
	[OPT_ROOT - 256] = SUB_ADD,
	[OPT_USER - 256] = SUB_ADD,
	[OPT_QUOTA_BYTES - 256] = SUB_ADD,
	[OPT_QUOTA_FILES - 256] = SUB_ADD,
	[OPT_WRITE_ONLY - 256] = SUB_ADD,
	[OPT_RETENTION - 256] = SUB_ADD,
	[OPT_SSHD_OPTION - 256] = SUB_ADD,
	[OPT_ARCHIVE - 256] = SUB_REMOVE,
	[OPT_JSON - 256] = SUB_LIST | SUB_SHOW,
	[OPT_HELP - 256] = SUB_ALL,
	[OPT_MAINT_USER - 256] = SUB_ADD,
	[OPT_MAINT_KEY - 256] = SUB_ADD,
	[OPT_MAINT_FROM - 256] = SUB_ADD,
};

static int
parse_options(int argc, char *argv[], const char *label, enum sub sub, struct tenant_opts *o)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "conf-dir", required_argument, NULL, OPT_CONF_DIR },
		{ "keys-dir", required_argument, NULL, OPT_KEYS_DIR },
		{ "sshd-dir", required_argument, NULL, OPT_SSHD_DIR },
		{ "sshd-config", required_argument, NULL, OPT_SSHD_CONFIG },
		{ "sshd", required_argument, NULL, OPT_SSHD },
		{ "vault-sftp", required_argument, NULL, OPT_VAULT_SFTP },
		{ "reload", required_argument, NULL, OPT_RELOAD },
		{ "no-require-broker", no_argument, NULL, OPT_NO_REQUIRE_BROKER },
		{ "profile", required_argument, NULL, OPT_PROFILE },
		{ "key", required_argument, NULL, OPT_KEY },
		{ "root", required_argument, NULL, OPT_ROOT },
		{ "user", required_argument, NULL, OPT_USER },
		{ "quota-bytes", required_argument, NULL, OPT_QUOTA_BYTES },
		{ "quota-files", required_argument, NULL, OPT_QUOTA_FILES },
		{ "write-only", no_argument, NULL, OPT_WRITE_ONLY },
		{ "retention", required_argument, NULL, OPT_RETENTION },
		{ "sshd-option", required_argument, NULL, OPT_SSHD_OPTION },
		{ "archive", required_argument, NULL, OPT_ARCHIVE },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, OPT_HELP },
		{ "maintenance-user", required_argument, NULL, OPT_MAINT_USER },
		{ "maintenance-key", required_argument, NULL, OPT_MAINT_KEY },
		{ "maintenance-from", required_argument, NULL, OPT_MAINT_FROM },
		{ 0 },
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c < 256 || !(opt_subs[c - 256] & sub)) {
			if (c >= 256)
				fprintf(stderr, "vaultctl: tenant %s does not take --%s\n", label,
					longopts[c - 256].name);
			return 2;
		}
		switch (c) {
		case OPT_CONFIG: o->config = optarg; break;
		case OPT_CONF_DIR: o->conf_dir = optarg; break;
		case OPT_KEYS_DIR: o->keys_dir = optarg; break;
		case OPT_SSHD_DIR: o->sshd_dir = optarg; break;
		case OPT_SSHD_CONFIG: o->sshd_config = optarg; break;
		case OPT_SSHD: o->sshd = optarg; break;
		case OPT_VAULT_SFTP: o->vault_sftp = optarg; break;
		case OPT_RELOAD: o->reload = optarg; break;
		case OPT_NO_REQUIRE_BROKER: o->require_broker = false; break;
		case OPT_PROFILE: o->profile = optarg; break;
		case OPT_KEY: o->key_file = optarg; break;
		case OPT_ROOT: o->root = optarg; break;
		case OPT_USER: o->user = optarg; break;
		case OPT_QUOTA_BYTES: o->quota_bytes = optarg; break;
		case OPT_QUOTA_FILES: o->quota_files = optarg; break;
		case OPT_WRITE_ONLY: o->write_only = true; break;
		case OPT_RETENTION: o->retention = optarg; break;
		case OPT_SSHD_OPTION:
			if (o->n_sshd_options == TENANT_SSHD_OPTIONS_MAX) {
				fprintf(stderr, "vaultctl: at most %d --sshd-option\n",
					TENANT_SSHD_OPTIONS_MAX);
				return 2;
			}
			o->sshd_options[o->n_sshd_options++] = optarg;
			break;
		case OPT_ARCHIVE: o->archive = optarg; break;
		case OPT_JSON: o->json = true; break;
		case OPT_HELP: usage(stdout); return 1;
		case OPT_MAINT_USER: o->maint_user = optarg; break;
		case OPT_MAINT_KEY: o->maint_key_file = optarg; break;
		case OPT_MAINT_FROM: o->maint_from = optarg; break;
		}
	}
	if (strcmp(o->reload, "systemd") != 0 && strcmp(o->reload, "none") != 0 &&
	    !(strncmp(o->reload, "pidfile:", 8) == 0 && o->reload[8] == '/')) {
		fprintf(stderr, "vaultctl: --reload takes systemd, pidfile:/PATH or none\n");
		return 2;
	}
	if (o->config[0] != '/') {
		fprintf(stderr, "vaultctl: --config needs an absolute path (sshd runs vault-sftp with it)\n");
		return 2;
	}
	/* conf.d and keys/ sit beside the config unless told otherwise. */
	if (o->conf_dir == NULL || o->keys_dir == NULL) {
		int n = (int)(strrchr(o->config, '/') - o->config);

		snprintf(o->conf_dir_buf, sizeof(o->conf_dir_buf), "%.*s/conf.d", n, o->config);
		snprintf(o->keys_dir_buf, sizeof(o->keys_dir_buf), "%.*s/keys", n, o->config);
		if (o->conf_dir == NULL)
			o->conf_dir = o->conf_dir_buf;
		if (o->keys_dir == NULL)
			o->keys_dir = o->keys_dir_buf;
	}
	return 0;
}

int
tenant_main(int argc, char *argv[])
{
	static const struct {
		const char *name, *second;
		enum sub sub;
		int nargs;
	} subs[] = {
		{ "add", NULL, SUB_ADD, 1 }, { "list", NULL, SUB_LIST, 0 }, { "show", NULL, SUB_SHOW, 1 },
		{ "key", "add", SUB_KEY_ADD, 2 }, { "key", "remove", SUB_KEY_REMOVE, 2 },
		{ "remove", NULL, SUB_REMOVE, 1 },
	};
	struct tenant_opts o = {
		.config = VAULTCTL_DEFAULT_CONFIG,
		.sshd_dir = DEFAULT_SSHD_DIR,
		.sshd_config = DEFAULT_SSHD_CONFIG,
		.sshd = DEFAULT_SSHD,
		.vault_sftp = SEALVAULT_VAULT_SFTP_PATH,
		.require_broker = true,
		.reload = access("/run/systemd/system", F_OK) == 0 ? "systemd" : "pidfile:/run/sshd.pid",
	};
	char label[16];
	size_t i;
	int skip, r;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (strcmp(argv[1], subs[i].name) == 0 &&
		    (subs[i].second == NULL || (argc > 2 && strcmp(argv[2], subs[i].second) == 0)))
			break;
	if (i == sizeof(subs) / sizeof(subs[0])) {
		fprintf(stderr, "vaultctl: unknown tenant command '%s'\n", argv[1]);
		usage(stderr);
		return 2;
	}
	skip = subs[i].second != NULL ? 2 : 1;
	snprintf(label, sizeof(label), "%s%s%s", subs[i].name, subs[i].second ? " " : "",
		 subs[i].second ? subs[i].second : "");
	r = parse_options(argc - skip, argv + skip, label, subs[i].sub, &o);
	if (r != 0)
		return r == 1 ? 0 : 2;
	if (argc - skip - optind != subs[i].nargs) {
		usage(stderr);
		return 2;
	}
	argv += skip + optind;
	umask(022);
	/* One line per step, in order with the error lines on stderr. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	switch (subs[i].sub) {
	case SUB_ADD: return tenant_add(&o, argv[0]);
	case SUB_LIST: return cmd_list(&o);
	case SUB_SHOW: return cmd_show(&o, argv[0]);
	case SUB_KEY_ADD: return cmd_key(&o, true, argv[0], argv[1]);
	case SUB_KEY_REMOVE: return cmd_key(&o, false, argv[0], argv[1]);
	case SUB_REMOVE: return tenant_remove(&o, argv[0]);
	}
	return 2;
}
