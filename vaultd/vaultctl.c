/* SPDX-License-Identifier: MIT */
/*
 * vaultctl: the admin's tool. One table of subcommands; the usage text is
 * printed from the same table, so it cannot drift from the code.
 */
#include <stdio.h>
#include <string.h>

#include "vaultctl.h"

#ifndef SEALVAULT_VERSION
#define SEALVAULT_VERSION "unknown"
#endif

static const struct {
	const char *name;
	int (*fn)(int argc, char *argv[]);
	const char *description;
} subcommands[] = {
	{ "policy", policy_main, "check the configuration, explain what a path gets" },
	{ "status", status_main, "ask the running vaultd how it is" },
	{ "tenant", tenant_main, "add, list, show or remove tenants and their keys" },
	{ "prune", prune_main, "move files sealed longer ago than asked into the attic" },
	{ "unlock", unlock_main, "move named sealed files into the attic" },
	{ "attic", attic_main, "list, restore or purge what the attic holds" },
	{ "verify", verify_main, "re-hash sealed files against vaultd's ledger" },
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: vaultctl COMMAND [ARGS...]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		fprintf(f, "  %-10s %s\n", subcommands[i].name, subcommands[i].description);
	fprintf(f, "\n'vaultctl COMMAND --help' tells more.\n");
}

int
main(int argc, char *argv[])
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("vaultctl %s\n", SEALVAULT_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		if (strcmp(argv[1], subcommands[i].name) == 0)
			return subcommands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "vaultctl: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
