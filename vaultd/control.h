/* SPDX-License-Identifier: MIT */
/*
 * vaultd's control socket: a Unix SOCK_SEQPACKET socket, mode 0600 (root
 * only), one request per connection, words separated by NUL; vaultd
 * closes the connection after the last reply message. "status" is
 * answered with one JSON object (vaultd/README.md), "status" "text" with
 * a table for people, "audit" by recording vaultctl's own action, the
 * admin requests (admin.h) by a child of vaultd; anything else with
 * {"error": "..."}. vaultctl is its client.
 */
#ifndef SEALVAULT_CONTROL_H
#define SEALVAULT_CONTROL_H

#include <stddef.h>

#include "daemon.h"

#define CONTROL_REQUEST_MAX	(64 * 1024)
#define CONTROL_WORDS_MAX	1024
#define CONTROL_REPLY_MAX	(256 * 1024)

/*
 * Answers the request on a connected control socket. Returns 0 (nothing
 * to read yet), or -errno when the caller must close its copy of conn:
 * answered, an error, the peer's end, or handed to an admin child.
 */
int control_serve_one(struct vaultd *vd, int conn);

/* Write the status as JSON or as text into buf; return its length, or -ENOBUFS. */
int control_status_json(struct vaultd *vd, char *buf, size_t size);
int control_status_text(struct vaultd *vd, char *buf, size_t size);

#endif
