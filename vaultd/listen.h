/* SPDX-License-Identifier: MIT */
/*
 * vault-listen, the standalone SSH/SFTP listener: its parts share this.
 *   listen.c         the listener: sockets, limits, one process per connection, workers
 *   listen-conn.c    the per-connection process: SSH through libssh, relay to vault-sftp
 *   listen-worker.c  vault-sftp started as the tenant's user for one channel
 *   listen-keys.c    host key and authorized keys
 */
#ifndef SEALVAULT_LISTEN_H
#define SEALVAULT_LISTEN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdnoreturn.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <libssh/libssh.h>

#include "listen-keys.h"
#include "policy.h"

struct listen_tenant_keys {
	struct listen_keyring keys;		/* authorized-keys */
	struct listen_keyring maint_keys;	/* maintenance-keys */
};

struct listen_ctx {
	const char *config_path;
	const char *vault_sftp;		/* the binary each session runs */
	const char *log_level;		/* passed on to vault-sftp */
	struct policy *policy;
	struct listen_tenant_keys *keys;	/* one per policy tenant */
	bool privileged;		/* started as root: sessions run as tenant users */
	uid_t self_uid;			/* not privileged: the one user everything runs as */
	uid_t listen_uid;		/* privileged: the pre-auth user (listen-user) */
	gid_t listen_gid;
};

/* One connection as the listener accepted it. */
struct listen_peer {
	char addr[64];		/* numeric, IPv4-mapped IPv6 shown as IPv4 */
	unsigned port;
	char local_addr[64];
	unsigned local_port;
};

/* Milliseconds on the monotonic clock, for deadlines. */
static inline int64_t
listen_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Log priorities are syslog's; lines go to stderr as "vault-listen[PID]: ...". */
void listen_log(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void listen_set_log_level(int priority);

/*
 * The per-connection process (listen-conn.c), after the fork: drops to
 * the listen-user, confines itself, runs the key exchange, authentication
 * and the channels of session, asking the listener over ctl. Exits.
 */
noreturn void listen_conn_run(const struct listen_ctx *ctx, ssh_session session, int ctl,
			      const struct listen_peer *peer);

/*
 * Starts vault-sftp for one channel (listen-worker.c): a socket pair, a
 * child as the tenant's (or maintenance) user with the pair's one end as
 * stdin and stdout, SSH_CONNECTION set from peer, SSH_ORIGINAL_COMMAND
 * from command (NULL: the sftp subsystem). Its stderr is the listener's
 * (log lines, --log-stderr) for the subsystem; for a command it is a pipe
 * to the client's stderr and the log goes to syslog, as under sshd.
 * Returns 0 with *ret_pid, ret_fds[0] (the pair's other end) and
 * ret_fds[1] (the stderr pipe, or -1), or -errno with reason filled.
 */
/*
 * The user a session may run as: it exists, is not root, and (not
 * privileged) is ours. NULL with reason filled when not.
 */
struct passwd;
const struct passwd *listen_check_user(const struct listen_ctx *ctx, const char *user, char *reason,
				       size_t reason_size);

int listen_worker_spawn(const struct listen_ctx *ctx, const struct policy_tenant *t, bool maintenance,
			const char *fingerprint, const char *command, const struct listen_peer *peer,
			pid_t *ret_pid, int ret_fds[2], char *reason, size_t reason_size);

#endif
