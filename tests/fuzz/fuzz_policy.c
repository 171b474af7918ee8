/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the configuration parser, through policy_load_string()
 * (the built-ins first, then the input, then the whole-config checks), like
 * wireguard-tools' fuzz/config.c. A policy that loads is walked and
 * classified against a few paths; one that does not must have said where
 * and why. The input's first two lines are also tried as a raw
 * pattern and path, which reaches the matcher with patterns the loader
 * would refuse.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const paths[] = {
	"/", "/a", "/.ssh/authorized_keys", "/locks/x", "/data/ab/abcdef", "/a/b/c/d/e/f/x.tmp",
	"/a/../b", "/state.json",
};

static void
walk(const struct policy *p)
{
	if (p->broker_socket == NULL || p->attic == NULL || p->broker_socket[0] != '/' || p->attic[0] != '/')
		abort();
	for (size_t i = 0; i < p->n_profiles; i++) {
		const struct policy_profile *prof = &p->profiles[i];

		if (policy_profile(p, prof->name) != prof)
			abort();
		for (size_t j = 0; j < sizeof(paths) / sizeof(paths[0]); j++) {
			const struct policy_rule *r = policy_match(prof, paths[j]);

			if (policy_class_name(policy_classify(prof, paths[j])) == NULL)
				abort();
			if (r != NULL && (r->pattern[0] == '\0' || r->pattern[0] == '/'))
				abort();
		}
	}
	for (size_t i = 0; i < p->n_tenants; i++) {
		const struct policy_tenant *t = &p->tenants[i];

		if (t->user == NULL || t->root == NULL || t->root[0] != '/' || t->profile == NULL ||
		    policy_tenant(p, t->name) != t)
			abort();
	}
}

/* Messages are safe to print: every byte of the input that reaches one is escaped. */
static bool
printable(const char *s, size_t size)
{
	const char *end = memchr(s, '\0', size);

	if (end == NULL)
		return false;
	for (; s < end; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy_error err;
	struct policy *p = NULL;
	char *text, *nl;
	int r;

	/* The text ends at its first NUL, as a C string does. */
	text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	r = policy_load_string(text, "fuzz.conf", &p, &err);
	if (r == 0) {
		if (p == NULL)
			abort();
		walk(p);
		p = policy_free(p);
	} else if (r > 0 || p != NULL || err.message[0] == '\0' || strcmp(err.file, "fuzz.conf") != 0 ||
		   !printable(err.message, sizeof(err.message))) {
		abort();
	}

	nl = strchr(text, '\n');
	if (nl != NULL) {
		char *path = nl + 1, *end = strchr(path, '\n');

		*nl = '\0';
		if (end != NULL)
			*end = '\0';
		(void)policy_glob_match(text, path);
	}
	free(text);
	return 0;
}
