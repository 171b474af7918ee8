/* SPDX-License-Identifier: MIT */
/*
 * The client side of vaultd's seal broker (vaultd/broker-proto.h), used by
 * vault-sftp: connect once before confinement, then one request per sealed
 * file. Needs only sendmsg, poll and read once connected (the seccomp list).
 */
#ifndef SEALVAULT_SEAL_CLIENT_H
#define SEALVAULT_SEAL_CLIENT_H

#include <stddef.h>

/* How long seal_client_seal waits for the broker's reply. */
#define SEAL_CLIENT_TIMEOUT_MS	10000
/* seal_client_maintenance: vaultd walks the tenant's whole tree first. */
#define SEAL_CLIENT_MAINT_TIMEOUT_MS	120000

/* Connects to the broker's socket. Returns the fd (CLOEXEC) or a negative errno. */
int seal_client_connect(const char *socket_path);

/*
 * Asks the broker to seal fd, the file at vpath inside the tenant's root.
 * Returns 0 once the broker says the file is immutable, the broker's
 * negative errno (reason filled with its explanation), or a local negative
 * errno (-ETIMEDOUT, -EPROTO, -EPIPE, ...; reason says what). reason may be
 * NULL when n is 0.
 */
int seal_client_seal(int sock, int fd, const char *vpath, char *reason, size_t n);

/*
 * Asks the broker to move fd, the versioned file at vpath, into the attic
 * (it is replaced or removed next). Same returns as seal_client_seal.
 */
int seal_client_attic(int sock, int fd, const char *vpath, char *reason, size_t n);

/*
 * Tells the broker that a maintenance session (this process runs as the
 * tenant's maintenance user) begins, and waits until vaultd opened the
 * tenant's directories to it. Same returns as seal_client_seal.
 */
int seal_client_maintenance(int sock, char *reason, size_t n);

/*
 * Tells the broker who the client of this session is, once, right after
 * connecting: key_fp, the SSH key's fingerprint ("SHA256:..."), and client,
 * its address; either may be NULL or "" (unknown). Both must be graphic
 * ASCII (0x21..0x7e) and shorter than SEAL_PROTO_KEY_MAX and
 * SEAL_PROTO_CLIENT_MAX: -EINVAL, nothing sent. Waits for the reply; same
 * returns as seal_client_seal. A vaultd that predates the message replies
 * -EPROTO and closes the connection.
 */
int seal_client_session(int sock, const char *key_fp, const char *client, char *reason, size_t n);

/*
 * Tells the broker about a refusal given to the client, for vaultd's audit
 * trail. No reply; never blocks (a full socket drops the report). Fields
 * too long are cut. Returns 0 or a negative errno.
 */
int seal_client_report(int sock, const char *op, const char *vpath, const char *reason);

#endif
