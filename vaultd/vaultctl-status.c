/* SPDX-License-Identifier: MIT */
/*
 * vaultctl status: asks the running vaultd over its control socket
 * (vaultd/control.h) and prints what it says: a table, or with --json
 * the JSON object for scripts. Exit 1 when vaultd cannot be reached.
 */
#include <getopt.h>
#include <stdio.h>

#include "vaultctl.h"

int
status_main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "control", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *config = VAULTCTL_DEFAULT_CONFIG, *sock = NULL;
	const char *req;
	char path[256];
	bool ok;
	int c, json = 0;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 's': sock = optarg; break;
		case 'j': json = 1; break;
		case 'h':
			printf("usage: vaultctl status [--json] [--config FILE] [--control SOCKET]\n"
			       "Asks the running vaultd how it is: watcher, counters, catch-up scan,\n"
			       "tenants. --json prints one JSON object for scripts.\n");
			return 0;
		default: return 2;
		}
	}
	if (optind != argc)
		return 2;
	if (vaultctl_control_path(config, sock, path, sizeof(path)) < 0)
		return 1;
	req = json ? "status" : "status\0text";
	return vaultctl_ask(path, req, json ? 7 : 12, &ok) > 0 ? 0 : 1;
}
