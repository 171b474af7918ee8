/* SPDX-License-Identifier: MIT */
/*
 * vaultctl policy check [FILE]: loads the configuration as every part of
 * the vault would, and says "FILE:LINE: message" on the first error (exit 1),
 * like sshd -t.
 * vaultctl policy explain [--config FILE] TENANT PATH [OP]: which rule
 * decides PATH for TENANT, its class, and what each operation gets.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "path.h"
#include "policy.h"
#include "vaultctl.h"

static const struct {
	const char *name;
	enum policy_op op;
} ops[] = {
	{ "read", POLICY_OP_READ }, { "list", POLICY_OP_LIST }, { "create", POLICY_OP_CREATE },
	{ "replace", POLICY_OP_REPLACE }, { "append", POLICY_OP_APPEND },
	{ "truncate", POLICY_OP_TRUNCATE }, { "remove", POLICY_OP_REMOVE }, { "mkdir", POLICY_OP_MKDIR },
	{ "rmdir", POLICY_OP_RMDIR }, { "rename-from", POLICY_OP_RENAME_FROM },
	{ "rename-to-new", POLICY_OP_RENAME_TO_NEW },
	{ "rename-to-existing", POLICY_OP_RENAME_TO_EXISTING },
	{ "chmod-narrow", POLICY_OP_CHMOD_NARROW }, { "chmod", POLICY_OP_CHMOD },
	{ "times", POLICY_OP_TIMES }, { "chown", POLICY_OP_CHOWN }, { "link", POLICY_OP_LINK },
};

static const char *
action_text(enum policy_action a)
{
	switch (a) {
	case POLICY_ALLOW: return "allowed";
	case POLICY_REFUSE: return "refused";
	case POLICY_COMPARE: return "allowed only for byte-identical content";
	case POLICY_ATTIC: return "allowed, the previous version goes to the attic";
	case POLICY_IGNORE: return "answered OK, nothing changes";
	}
	return "?";
}

static int
load(const char *path, struct policy **ret)
{
	struct policy_error err = { 0 };

	if (policy_load(path, ret, &err) == 0)
		return 0;
	if (err.line > 0)
		fprintf(stderr, "%s:%u: %s\n", err.file, err.line, err.message);
	else
		fprintf(stderr, "%s: %s\n", err.file[0] != '\0' ? err.file : path, err.message);
	return -1;
}

static int
check(const char *path)
{
	struct policy *p;

	if (load(path, &p) < 0)
		return 1;
	printf("%s: %zu tenants, %zu profiles: OK\n", path, p->n_tenants, p->n_profiles);
	policy_free(p);
	return 0;
}

static void
explain_op(const struct policy_tenant *t, const char *vpath, size_t i)
{
	struct policy_decision d = policy_decide(t->profile, t->write_only, ops[i].op, vpath);

	printf("  %-19s %s%s%s\n", ops[i].name, action_text(d.action), d.reason ? ": " : "",
	       d.reason ? d.reason : "");
}

static int
explain(const char *path, const char *tenant, const char *raw, const char *op)
{
	const struct policy_tenant *t;
	const struct policy_rule *rule;
	char vpath[4096];
	struct policy *p;
	size_t n = 0;
	int ret = 1;

	if (load(path, &p) < 0)
		return 1;
	if ((t = policy_tenant(p, tenant)) == NULL) {
		fprintf(stderr, "vaultctl: no tenant '%s' in %s\n", tenant, path);
		goto out;
	}
	/* The same normalisation as vault-sftp: absolute, no ".", ".." stops at "/". */
	if (path_normalize(raw, vpath, sizeof(vpath)) < 0) {
		fprintf(stderr, "vaultctl: path too long\n");
		goto out;
	}
	rule = policy_match(t->profile, vpath);
	printf("tenant %s, profile %s: %s\n", t->name, t->profile->name, vpath);
	if (rule != NULL)
		printf("  rule %s:%u: path %s %s\n", rule->file, rule->line, rule->pattern,
		       policy_class_name(rule->cls));
	else
		printf("  no rule matches: %s\n", policy_class_name(POLICY_SEAL));
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		if (op != NULL && strcmp(op, ops[i].name) != 0)
			continue;
		explain_op(t, vpath, i);
		n++;
	}
	if (n == 0) {
		fprintf(stderr, "vaultctl: unknown operation '%s'\n", op);
		goto out;
	}
	ret = 0;
out:
	policy_free(p);
	return ret;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: vaultctl policy check [FILE]\n"
		   "       vaultctl policy explain [--config FILE] TENANT PATH [OP]\n"
		   "FILE defaults to " VAULTCTL_DEFAULT_CONFIG ". OP is one of:");
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		fprintf(f, " %s", ops[i].name);
	fprintf(f, "\n");
}

int
policy_main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *config = VAULTCTL_DEFAULT_CONFIG;
	int c;

	if (argc < 2 || strcmp(argv[1], "--help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "check") == 0) {
		if (argc > 3) {
			usage(stderr);
			return 2;
		}
		return check(argc == 3 ? argv[2] : config);
	}
	if (strcmp(argv[1], "explain") != 0) {
		usage(stderr);
		return 2;
	}
	optind = 2;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == 'c') {
			config = optarg;
		} else {
			usage(c == 'h' ? stdout : stderr);
			return c == 'h' ? 0 : 2;
		}
	}
	if (argc - optind < 2 || argc - optind > 3) {
		usage(stderr);
		return 2;
	}
	return explain(config, argv[optind], argv[optind + 1], argc - optind == 3 ? argv[optind + 2] : NULL);
}
