/* SPDX-License-Identifier: MIT */
/* vaultctl's subcommands, one file each. */
#ifndef SEALVAULT_VAULTCTL_H
#define SEALVAULT_VAULTCTL_H

#include <stdbool.h>

#include <stdbool.h>
#include <stddef.h>

#define VAULTCTL_DEFAULT_CONFIG "/etc/sealvault/vault.conf"

/* Each returns the exit status: 0 fine, 1 failure, 2 usage. */
int policy_main(int argc, char *argv[]);
int status_main(int argc, char *argv[]);
int tenant_main(int argc, char *argv[]);
int prune_main(int argc, char *argv[]);
int unlock_main(int argc, char *argv[]);
int attic_main(int argc, char *argv[]);
int verify_main(int argc, char *argv[]);

/*
 * Records one admin action: who (uid, SUDO_USER), action ("tenant add"),
 * target (a tenant), the result, and a detail. Today a syslog line
 * (LOG_AUTHPRIV, ident vaultctl); later through vaultd's audit.
 */
void vaultctl_audit(const char *action, const char *target, bool ok, const char *detail);
/* Where vaultctl_audit() finds vaultd: the control socket of the config in use. */
void vaultctl_audit_to(const char *control_socket);

/*
 * vaultctl-control.c: the control socket's path (sock if given, else the
 * config's control-socket; -1 with the error printed), and one request:
 * every reply message is printed; returns how many came, or -errno.
 * *last_ok: the last one began with "ok".
 */
int vaultctl_control_path(const char *config, const char *sock, char *out, size_t size);
int vaultctl_ask(const char *path, const void *req, size_t len, bool *last_ok);

#endif
