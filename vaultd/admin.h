/* SPDX-License-Identifier: MIT */
/*
 * The admin requests of the control socket (vaultctl prune, unlock,
 * attic): retention and unlock never destroy in one step. Files leave the
 * tenant's tree only into its attic, selected by the server-side seal time
 * (SEAL_XATTR_SEALED, never a client-written mtime or name); a tenant's
 * minimum retention refuses anything younger; the attic is purged only
 * after attic-grace unless forced. Every action is audited (AUDIT_ADMIN),
 * with the admin's uid and the sudo user vaultctl names.
 *
 * Each request runs in a child of vaultd (admin_fork), which answers on
 * the connection and exits, so a long walk never holds up the broker.
 *
 * Requests: NUL-separated words.
 *   prune  TENANT SECONDS dry-run|run BY
 *   unlock TENANT normal|force BY PATH...
 *   attic-list TENANT
 *   attic-restore TENANT BY REL
 *   attic-purge TENANT grace|force BY [REL...]
 * Reply: text lines, one message each; the last one "ok ..." or
 * "error ..."; then the connection closes.
 */
#ifndef SEALVAULT_ADMIN_H
#define SEALVAULT_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "daemon.h"

#define ADMIN_CHILDREN_MAX	4

/* True if words[0] names an admin request. */
bool admin_is_request(const char *word);

/*
 * Runs the request in a child that answers on conn; the parent closes its
 * copy. Returns the child's pid, or -errno (then nothing was answered).
 * peer_uid/peer_pid: the control socket's peer, for the audit.
 */
pid_t admin_fork(struct vaultd *vd, int conn, char **words, size_t n, uid_t peer_uid, pid_t peer_pid);

#endif
