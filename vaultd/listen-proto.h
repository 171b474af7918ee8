/* SPDX-License-Identifier: MIT */
/*
 * What vault-listen's per-connection process and the listener say to each
 * other, over a SOCK_SEQPACKET pair made before the fork. The connection
 * process speaks SSH with the client and proves that it holds a key; the
 * listener decides who that makes it (it checks the key against the
 * tenant's keys and the client address it accepted itself) and starts
 * vault-sftp as the tenant's user. A connection process taken over by a
 * libssh bug can therefore name only a key that is really authorized
 * from its client's address, never another uid or a shell.
 *
 * Both ends are the same binary: messages are one fixed struct.
 */
#ifndef SEALVAULT_LISTEN_PROTO_H
#define SEALVAULT_LISTEN_PROTO_H

#include <stddef.h>
#include <stdint.h>

/* Channels (sessions) one connection may have open at once, as sshd's MaxSessions. */
#define LISTEN_CHANNELS_MAX	10
/* Room for channels and workers that are closed but not yet freed or reaped. */
#define LISTEN_SLOTS		(2 * LISTEN_CHANNELS_MAX)

#define LISTEN_NAME_MAX		64
#define LISTEN_KEY_TEXT_MAX	8192	/* "type base64" of a public key; RSA 16384 fits */
#define LISTEN_COMMAND_MAX	4096
#define LISTEN_REASON_MAX	256

enum listen_msg_type {
	/* connection → listener */
	LISTEN_MSG_AUTH = 1,	/* login + key the client proved it holds; reply: REPLY */
	LISTEN_MSG_START,	/* start vault-sftp for a channel; reply: REPLY with the socket */
	/* listener → connection */
	LISTEN_MSG_REPLY,
	LISTEN_MSG_EXIT,	/* a channel's vault-sftp ended: worker, status */
};

struct listen_msg {
	uint32_t type;
	int32_t status;			/* REPLY: 0 or -errno; EXIT: the wait status */
	int32_t worker;			/* START reply and EXIT: the worker's pid */
	char login[LISTEN_NAME_MAX];	/* AUTH: the SSH user name */
	char tenant[LISTEN_NAME_MAX];	/* AUTH reply: the tenant it logs into */
	char fingerprint[64];		/* AUTH reply: "SHA256:..." */
	uint8_t maintenance;		/* AUTH reply: a maintenance session */
	uint8_t probe;			/* AUTH: only whether the key would do (no signature yet) */
	char key[LISTEN_KEY_TEXT_MAX];	/* AUTH: "type base64" */
	char command[LISTEN_COMMAND_MAX];	/* START: "" for the sftp subsystem, else the exec command */
	char reason[LISTEN_REASON_MAX];	/* REPLY: why not */
};

/* A START reply passes vault-sftp's stdin/stdout socket and, for a command, its stderr. */
#define LISTEN_MSG_FDS	2

/* listen-msg.c. Sends m with n_fds descriptors, without blocking. Returns 0 or -errno. */
int listen_msg_send(int sock, const struct listen_msg *m, const int *fds, size_t n_fds);
/*
 * Receives one message, its strings NUL-terminated, and the passed fds in
 * ret_fds (-1 where none). flags: MSG_DONTWAIT or 0. Returns 0, -EAGAIN,
 * -ECONNRESET (the other end is gone), -EPROTO (a message of the wrong
 * size; passed fds are closed) or -errno.
 */
int listen_msg_recv(int sock, struct listen_msg *m, int ret_fds[LISTEN_MSG_FDS], int flags);

#endif
