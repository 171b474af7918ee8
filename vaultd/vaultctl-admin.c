/* SPDX-License-Identifier: MIT */
/*
 * vaultctl prune, unlock and attic: the admin requests of vaultd's control
 * socket (vaultd/admin.h). vaultd does the moves and audits them; vaultctl
 * builds the request, names the sudo user for the audit, and prints what
 * vaultd says, line by line. Exit 0 when vaultd ends with "ok", 1 on an
 * error, 2 on a usage error.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "policy.h"
#include "vaultctl.h"


struct request;
static void add(struct request *r, const char *word);

struct request {
	char buf[CONTROL_REQUEST_MAX];
	size_t len;
	bool too_long;
};

/* A path as vaultd printed it: plain, or quoted with \\, \", \n, \t and \xNN escapes. */
static void
unquote(const char *in, char *out, size_t size)
{
	size_t len = strlen(in), o = 0;

	if (len < 2 || in[0] != '"' || in[len - 1] != '"') {
		snprintf(out, size, "%s", in);
		return;
	}
	for (size_t i = 1; i + 1 < len && o + 1 < size; i++) {
		char c = in[i];

		if (c == '\\' && i + 2 < len) {
			c = in[++i];
			if (c == 'n')
				c = '\n';
			else if (c == 't')
				c = '\t';
			else if (c == 'x' && i + 3 < len) {
				char hex[3] = { in[i + 1], in[i + 2], 0 };

				c = (char)strtoul(hex, NULL, 16);
				i += 2;
			}
		}
		out[o++] = c;
	}
	out[o] = '\0';
}

static void
add_path(struct request *r, const char *arg)
{
	char buf[CONTROL_REQUEST_MAX];

	unquote(arg, buf, sizeof(buf));
	add(r, buf);
}

static void
add(struct request *r, const char *word)
{
	size_t n = strlen(word) + 1;

	if (r->len + n > sizeof(r->buf)) {
		r->too_long = true;
		return;
	}
	memcpy(r->buf + r->len, word, n);
	r->len += n;
}

/* Who asked, for vaultd's audit: the sudo user if any (the uid comes from the socket). */
static const char *
by(void)
{
	const char *s = getenv("SUDO_USER");

	return s != NULL ? s : "";
}

/* Sends the request and prints every reply line; the last decides the exit status. */
static int
ask(const char *path, const struct request *req)
{
	bool ok;

	if (req->too_long) {
		fprintf(stderr, "vaultctl: request too long (more than %d bytes)\n", CONTROL_REQUEST_MAX);
		return 2;
	}
	return vaultctl_ask(path, req->buf, req->len, &ok) > 0 && ok ? 0 : 1;
}

static const struct option common_opts[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "control", required_argument, NULL, 's' },
	{ "older-than", required_argument, NULL, 'o' },
	{ "dry-run", no_argument, NULL, 'n' },
	{ "force", no_argument, NULL, 'f' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

struct opts {
	const char *config, *sock, *older;
	bool dry, force;
};

static int
parse(int argc, char *argv[], struct opts *o, const char *usage)
{
	int c;

	*o = (struct opts){ .config = VAULTCTL_DEFAULT_CONFIG };
	optind = 1;
	while ((c = getopt_long(argc, argv, "", common_opts, NULL)) != -1) {
		switch (c) {
		case 'c': o->config = optarg; break;
		case 's': o->sock = optarg; break;
		case 'o': o->older = optarg; break;
		case 'n': o->dry = true; break;
		case 'f': o->force = true; break;
		case 'h': fputs(usage, stdout); return 1;
		default: fputs(usage, stderr); return 2;
		}
	}
	return 0;
}

/*
 * The start every admin command shares: options, at least min_args words
 * after them, the control socket's path. 0 to go on; otherwise the exit
 * status (after --help: 0).
 */
static int
begin(int argc, char *argv[], struct opts *o, const char *usage, int min_args, char *path,
      size_t size)
{
	int r = parse(argc, argv, o, usage);

	if (r != 0)
		return r == 1 ? -1 : r;
	if (argc - optind < min_args) {
		fputs(usage, stderr);
		return 2;
	}
	return vaultctl_control_path(o->config, o->sock, path, size) < 0 ? 1 : 0;
}

int
prune_main(int argc, char *argv[])
{
	static const char usage[] =
		"usage: vaultctl prune TENANT --older-than DURATION [--dry-run] [--config FILE]\n"
		"Moves every file vaultd sealed more than DURATION ago (by the seal time vaultd\n"
		"recorded, never a client's mtime or name) into the tenant's attic. A tenant's\n"
		"retention refuses anything younger. --dry-run lists what would move.\n";
	struct request req = { .len = 0 };
	char path[256], secs[32];
	struct opts o;
	uint64_t older;
	int r = begin(argc, argv, &o, usage, 1, path, sizeof(path));

	if (r != 0)
		return r < 0 ? 0 : r;
	if (optind + 1 != argc || o.older == NULL || policy_parse_duration(o.older, &older) < 0) {
		fputs(usage, stderr);
		return 2;
	}
	snprintf(secs, sizeof(secs), "%llu", (unsigned long long)older);
	add(&req, "prune");
	add(&req, argv[optind]);
	add(&req, secs);
	add(&req, o.dry ? "dry-run" : "run");
	add(&req, by());
	return ask(path, &req);
}

int
unlock_main(int argc, char *argv[])
{
	static const char usage[] =
		"usage: vaultctl unlock TENANT PATH... [--force] [--config FILE]\n"
		"Moves the named sealed files into the tenant's attic, where they stay sealed\n"
		"until restored or purged. --force overrides the tenant's retention.\n";
	struct request req = { .len = 0 };
	char path[256];
	struct opts o;
	int r = begin(argc, argv, &o, usage, 2, path, sizeof(path));

	if (r != 0)
		return r < 0 ? 0 : r;
	add(&req, "unlock");
	add(&req, argv[optind]);
	add(&req, o.force ? "force" : "normal");
	add(&req, by());
	for (int i = optind + 1; i < argc; i++)
		add_path(&req, argv[i]);
	return ask(path, &req);
}

int
attic_main(int argc, char *argv[])
{
	static const char usage[] =
		"usage: vaultctl attic list TENANT [--config FILE]\n"
		"       vaultctl attic restore TENANT ENTRY\n"
		"       vaultctl attic purge TENANT [ENTRY...] [--force]\n"
		"ENTRY is a path as 'attic list' prints it. restore puts the file back where it\n"
		"was (the name must be free), still sealed. purge deletes for good what moved\n"
		"into the attic longer ago than attic-grace; --force purges sooner.\n";
	struct request req = { .len = 0 };
	const char *verb;
	char path[256];
	struct opts o;
	int r = begin(argc, argv, &o, usage, 2, path, sizeof(path));

	if (r != 0)
		return r < 0 ? 0 : r;
	verb = argv[optind];
	if (strcmp(verb, "list") == 0 && optind + 2 == argc) {
		add(&req, "attic-list");
		add(&req, argv[optind + 1]);
	} else if (strcmp(verb, "restore") == 0 && optind + 3 == argc) {
		add(&req, "attic-restore");
		add(&req, argv[optind + 1]);
		add(&req, by());
		add_path(&req, argv[optind + 2]);
	} else if (strcmp(verb, "purge") == 0) {
		add(&req, "attic-purge");
		add(&req, argv[optind + 1]);
		add(&req, o.force ? "force" : "grace");
		add(&req, by());
		for (int i = optind + 2; i < argc; i++)
			add_path(&req, argv[i]);
	} else {
		fputs(usage, stderr);
		return 2;
	}
	return ask(path, &req);
}
