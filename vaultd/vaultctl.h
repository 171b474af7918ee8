/* SPDX-License-Identifier: MIT */
/* vaultctl's subcommands, one file each. */
#ifndef SEALVAULT_VAULTCTL_H
#define SEALVAULT_VAULTCTL_H

#define VAULTCTL_DEFAULT_CONFIG "/etc/sealvault/vault.conf"

/* Each returns the exit status: 0 fine, 1 failure, 2 usage. */
int policy_main(int argc, char *argv[]);
int status_main(int argc, char *argv[]);
int prune_main(int argc, char *argv[]);
int unlock_main(int argc, char *argv[]);
int attic_main(int argc, char *argv[]);

#endif
