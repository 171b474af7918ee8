/* SPDX-License-Identifier: MIT */
/*
 * vault-sftp: the write-once SFTP server sshd starts for a tenant, speaking
 * on stdin/stdout. It opens the root, confines itself and hands the bytes to
 * the engine (session.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "broker-proto.h"
#include "confine.h"
#include "hash-command.h"
#include "key-fingerprint.h"
#include "log.h"
#include "policy.h"
#include "seal-client.h"
#include "session.h"

#ifndef SEALVAULT_VERSION
#define SEALVAULT_VERSION "unknown"
#endif

#define IO_CHUNK	(256 * 1024)
#define MAX_ARGS	32
/* What is read of SSH_USER_AUTH: a few lines, one key each. */
#define AUTH_INFO_MAX	(32 * 1024)

struct options {
	bool login_shell;	/* started as "vault-sftp -c COMMAND" */
	const char *config;
	const char *tenant;
	const char *root;
	const char *label;
	const char *key_fp;	/* --key-fingerprint */
	bool log_stderr;
	int log_level;
	unsigned max_handles;
	bool require_landlock;
	bool require_broker;
};

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: vault-sftp --root DIR [--log-stderr] [--log-level LEVEL]\n"
		"       vault-sftp --config FILE [--tenant NAME] [--root DIR] [...]\n"
		"                  [--max-handles N] [--label TEXT] [--require-landlock]\n"
		"                  [--require-broker] [--key-fingerprint SHA256:...]\n"
		"       vault-sftp -c 'vault-sftp --root DIR ...'   (as a login shell)\n"
		"       vault-sftp --help | --version\n"
		"\n"
		"Serves SFTP on stdin/stdout with write-once semantics, confined to DIR.\n"
		"With --config, the tenant (default: the one named like the login user, or\n"
		"whose user it is) gives the root and the profile of path classes.\n"
		"In DIR, %%u is the login name, %%U the uid, %%h the home directory, %%%% a %%.\n"
		"LEVEL is error, notice (default), info or debug.\n"
		"With --config, finished uploads are made immutable by vaultd's seal broker\n"
		"(the config's broker-socket). If it cannot be reached, vault-sftp says that\n"
		"kernel sealing is off and serves anyway, or with --require-broker refuses\n"
		"to start.\n"
		"Run as a tenant's maintenance-user, it serves that tenant in maintenance\n"
		"mode: only from the addresses of maintenance-from (SSH_CONNECTION), and a\n"
		"removed or replaced sealed file goes to vaultd's attic.\n"
		"vaultd names the client's key and address in every audit record of the\n"
		"session: the key from --key-fingerprint (what the listener passes), else\n"
		"from the file SSH_USER_AUTH names (sshd's ExposeAuthInfo yes); the address\n"
		"from SSH_CONNECTION.\n");
}

static int
parse_level(const char *s)
{
	static const struct { const char *name; int level; } levels[] = {
		{ "error", LOG_ERR }, { "notice", LOG_NOTICE }, { "info", LOG_INFO },
		{ "debug", LOG_DEBUG },
	};

	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		if (strcmp(s, levels[i].name) == 0)
			return levels[i].level;
	return -1;
}

static int
parse_uint(const char *s, unsigned *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v == 0 || v > 1000000)
		return -EINVAL;
	*ret = (unsigned)v;
	return 0;
}

/* Returns 0 to run, 1 to exit 0 (help, version), 2 on a usage error. */
static int
parse_args(int argc, char *argv[], struct options *o)
{
	static const struct option longopts[] = {
		{ "root", required_argument, NULL, 'r' },
		{ "config", required_argument, NULL, 'C' },
		{ "tenant", required_argument, NULL, 'T' },
		{ "log-stderr", no_argument, NULL, 'e' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "max-handles", required_argument, NULL, 'm' },
		{ "label", required_argument, NULL, 'L' },
		{ "require-landlock", no_argument, NULL, 'R' },
		{ "require-broker", no_argument, NULL, 'B' },
		{ "key-fingerprint", required_argument, NULL, 'K' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		/*
		 * In login-shell mode the command line may come from the client
		 * (a Subsystem line without ForceCommand): logging and identity
		 * stay the admin's, whatever it asks for.
		 */
		if (o->login_shell && (c == 'e' || c == 'l' || c == 'L' || c == 'K')) {
			fprintf(stderr, "vault-sftp: %s is not accepted in login-shell mode\n", argv[optind - 1]);
			return 2;
		}
		switch (c) {
		case 'r': o->root = optarg; break;
		case 'C': o->config = optarg; break;
		case 'T': o->tenant = optarg; break;
		case 'e': o->log_stderr = true; break;
		case 'L': o->label = optarg; break;
		case 'R': o->require_landlock = true; break;
		case 'B': o->require_broker = true; break;
		case 'K':
			if (!key_fingerprint_valid(optarg)) {
				fprintf(stderr, "vault-sftp: --key-fingerprint wants SHA256: and 43 base64 "
					"characters, as ssh-keygen -l prints it\n");
				return 2;
			}
			o->key_fp = optarg;
			break;
		case 'l':
			if ((o->log_level = parse_level(optarg)) < 0) {
				fprintf(stderr, "vault-sftp: unknown log level '%s'\n", optarg);
				return 2;
			}
			break;
		case 'm':
			if (parse_uint(optarg, &o->max_handles) < 0) {
				fprintf(stderr, "vault-sftp: --max-handles wants a number from 1 to 1000000\n");
				return 2;
			}
			break;
		case 'h': usage(stdout); return 1;
		case 'V': printf("vault-sftp %s\n", SEALVAULT_VERSION); return 1;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "vault-sftp: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (o->root == NULL && o->config == NULL) {
		fprintf(stderr, "vault-sftp: this account only offers SFTP (--root or --config is missing)\n");
		return 2;
	}
	if (o->tenant != NULL && o->config == NULL) {
		fprintf(stderr, "vault-sftp: --tenant needs --config\n");
		return 2;
	}
	if (o->require_broker && o->config == NULL) {
		fprintf(stderr, "vault-sftp: --require-broker needs --config\n");
		return 2;
	}
	return 0;
}

/*
 * Login-shell mode: sshd runs "SHELL -c COMMAND" inside the chroot. Split
 * COMMAND on blanks (single and double quotes group, no other shell syntax)
 * and accept it only if it starts vault-sftp itself.
 */
static int
split_command(char *cmd, char *argv[], int max)
{
	int argc = 0;
	char *p = cmd;

	while (*p != '\0') {
		char *out, quote = 0;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		if (argc == max - 1)
			return -E2BIG;
		argv[argc++] = out = p;
		for (; *p != '\0' && (quote || (*p != ' ' && *p != '\t')); p++) {
			if (!quote && (*p == '\'' || *p == '"'))
				quote = *p;
			else if (quote && *p == quote)
				quote = 0;
			else
				*out++ = *p;
		}
		if (quote)
			return -EINVAL;
		if (*p != '\0')
			p++;
		*out = '\0';
	}
	argv[argc] = NULL;
	return argc;
}

static bool
is_vault_sftp(const char *word)
{
	const char *base = strrchr(word, '/');

	base = base != NULL ? base + 1 : word;
	return strcmp(base, "vault-sftp") == 0;
}

/* Expands %u, %U, %h and %% in the root path. */
static int
expand_root(const char *in, char *out, size_t size)
{
#ifndef SEALVAULT_STATIC_BUILD
	const struct passwd *pw = NULL;
#endif
	size_t o = 0;

	for (const char *p = in; *p != '\0'; p++) {
		char num[16];
		const char *add = NULL;
		size_t n;

		if (*p != '%') {
			if (o + 1 >= size)
				return -ENAMETOOLONG;
			out[o++] = *p;
			continue;
		}
		p++;
		if (*p == '%') {
			add = "%";
		} else if (*p == 'U') {
			snprintf(num, sizeof(num), "%u", (unsigned)getuid());
			add = num;
		} else if (*p == 'u' || *p == 'h') {
#ifdef SEALVAULT_STATIC_BUILD
			return -ENOTSUP;	/* no user database in a chroot; use --root / there */
#else
			if (pw == NULL && (pw = getpwuid(getuid())) == NULL)
				return -ENOENT;
			add = *p == 'u' ? pw->pw_name : pw->pw_dir;
#endif
		} else {
			return -EINVAL;
		}
		n = strlen(add);
		if (o + n >= size)
			return -ENAMETOOLONG;
		memcpy(out + o, add, n);
		o += n;
	}
	out[o] = '\0';
	return 0;
}

static int log_level = LOG_NOTICE;
static bool log_to_stderr;

static void
log_hook(void *ctx, int priority, const char *line)
{
	if (priority > log_level)
		return;
	if (log_to_stderr)
		fprintf(stderr, "vault-sftp[%d]: %s\n", (int)getpid(), line);
	else
		syslog(priority, "%s", line);
}

static void __attribute__((format(printf, 2, 3)))
say(int priority, const char *fmt, ...)
{
	char line[PATH_MAX + 256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_hook(NULL, priority, line);
}

/* Who the client is, for vaultd's audit records (the broker's session message); "" unknown. */
struct client_info {
	char key_fp[KEY_FINGERPRINT_SIZE];
	char addr[SEAL_PROTO_CLIENT_MAX];
};

#ifndef SEALVAULT_STATIC_BUILD
/*
 * sshd's ExposeAuthInfo: the file SSH_USER_AUTH names has one line per
 * authentication method that succeeded, "publickey TYPE BASE64 ..." for a
 * key. Read before the walls go up (it is outside the root); the first key
 * is the one named. Whatever goes wrong leaves the key unknown.
 */
static void
key_from_auth_info(const char *path, char fp[KEY_FINGERPRINT_SIZE])
{
	static char buf[AUTH_INFO_MAX + 1];
	char qpath[PATH_MAX + 16];
	size_t len = 0;
	struct stat st;
	int fd, r;

	log_quote(qpath, sizeof(qpath), path);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;

		/* Under ChrootDirectory sshd's file is outside the chroot: expected, not worth a notice. */
		say(e == ENOENT ? LOG_INFO : LOG_NOTICE, "cannot read SSH_USER_AUTH %s: %s: the key is not "
		    "known", qpath, strerror(e));
		return;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		say(LOG_NOTICE, "SSH_USER_AUTH %s is not a regular file: the key is not known", qpath);
		close(fd);
		return;
	}
	while (len < AUTH_INFO_MAX) {
		ssize_t n = read(fd, buf + len, AUTH_INFO_MAX - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	for (char *line = buf, *next; line != NULL; line = next) {
		char *type, *b64;

		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		if (strncmp(line, "publickey ", 10) != 0)
			continue;
		type = line + 10;
		b64 = strchr(type, ' ');
		r = -EINVAL;
		if (b64 != NULL) {
			*b64++ = '\0';
			r = key_fingerprint_base64(type, b64, strcspn(b64, " "), fp);
		}
		if (r == -EOPNOTSUPP)
			say(LOG_INFO, "SSH_USER_AUTH names a certificate: its key is not named");
		else if (r < 0)
			say(LOG_NOTICE, "SSH_USER_AUTH %s: a publickey line that is not a key: the key is "
			    "not known", qpath);
		if (r < 0)
			fp[0] = '\0';
		return;
	}
	say(LOG_INFO, "SSH_USER_AUTH %s names no public key", qpath);
}

/*
 * The key: --key-fingerprint (the listener's word, or the admin's), else
 * SSH_USER_AUTH. The address: SSH_CONNECTION's first word. Both were set
 * by sshd or the listener, never by the client.
 */
static void
client_info_init(const struct options *o, struct client_info *ci)
{
	const char *auth = getenv("SSH_USER_AUTH"), *conn = getenv("SSH_CONNECTION");
	size_t len = conn != NULL ? strcspn(conn, " ") : 0;

	*ci = (struct client_info){ 0 };
	if (o->key_fp != NULL)
		snprintf(ci->key_fp, sizeof(ci->key_fp), "%s", o->key_fp);
	else if (auth != NULL && auth[0] != '\0')
		key_from_auth_info(auth, ci->key_fp);
	if (len > 0 && len < sizeof(ci->addr)) {
		memcpy(ci->addr, conn, len);
		if (!seal_proto_session_field_ok(ci->addr))
			ci->addr[0] = '\0';
	}
	if (len > 0 && ci->addr[0] == '\0')
		say(LOG_NOTICE, "SSH_CONNECTION does not start with an address: the client's address is "
		    "not known");
}
#endif

/*
 * Right after connecting: tells vaultd who the client is, so that its
 * records of this connection name the key and address. A vaultd that
 * does not know the message closes the connection: then one new
 * connection without it. Returns the connection to use (or -errno).
 */
static int
tell_broker(int sock, const char *socket_path, const struct client_info *ci)
{
	char reason[SEAL_PROTO_REASON_MAX], qreason[2 * SEAL_PROTO_REASON_MAX];
	int r;

	if (sock < 0 || (ci->key_fp[0] == '\0' && ci->addr[0] == '\0'))
		return sock;
	r = seal_client_session(sock, ci->key_fp, ci->addr, reason, sizeof(reason));
	if (r == 0) {
		say(LOG_INFO, "vaultd names key %s client %s in this session's records",
		    ci->key_fp[0] ? ci->key_fp : "(unknown)", ci->addr[0] ? ci->addr : "(unknown)");
		return sock;
	}
	log_quote(qreason, sizeof(qreason), reason);
	say(LOG_NOTICE, "vaultd did not take the session's key and address: %s", qreason);
	if (r == -EINVAL || r == -EALREADY || r == -EPERM)
		return sock;	/* refused, the connection stays */
	close(sock);
	return seal_client_connect(socket_path);
}

/* Names of the ids a vault client meets (itself, its group, root), for long listings. */
struct id_names {
	struct sftp_id_name users[2], groups[2];
	size_t n_users, n_groups;
	char user[64], group[64];
};

static void
lookup_names(struct id_names *n)
{
	*n = (struct id_names){ 0 };
	n->users[n->n_users++] = (struct sftp_id_name){ 0, "root" };
	n->groups[n->n_groups++] = (struct sftp_id_name){ 0, "root" };
#ifndef SEALVAULT_STATIC_BUILD
	const struct passwd *pw = getpwuid(getuid());
	const struct group *gr = getgrgid(getgid());

	if (pw != NULL && getuid() != 0) {
		snprintf(n->user, sizeof(n->user), "%s", pw->pw_name);
		n->users[n->n_users++] = (struct sftp_id_name){ getuid(), n->user };
	}
	if (gr != NULL && getgid() != 0) {
		snprintf(n->group, sizeof(n->group), "%s", gr->gr_name);
		n->groups[n->n_groups++] = (struct sftp_id_name){ getgid(), n->group };
	}
#endif
}

static unsigned
raise_fd_limit(unsigned want_handles)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rlim_t want = rl.rlim_max < 65536 ? rl.rlim_max : 65536;

		if (rl.rlim_cur < want) {
			rl.rlim_cur = want;
			(void)setrlimit(RLIMIT_NOFILE, &rl);
			(void)getrlimit(RLIMIT_NOFILE, &rl);
		}
		/* An upload holds two descriptors; keep a few for ourselves. */
		if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 2 * (rlim_t)want_handles + 32)
			want_handles = rl.rlim_cur > 64 ? (unsigned)(rl.rlim_cur - 32) / 2 : 16;
	}
	return want_handles;
}

#ifndef SEALVAULT_STATIC_BUILD
static bool
is_maint_user(const struct policy_tenant *t, const struct passwd *pw)
{
	return pw != NULL && t->maint_user != NULL && strcmp(t->maint_user, pw->pw_name) == 0;
}

/*
 * The tenant this session serves: named by --tenant, else the one whose
 * maintenance-user the login user is, else the one named like the login
 * user, else the one whose user it is. A tenant of another user is
 * refused: the command line cannot pick someone else's vault. The
 * maintenance user gets its tenant in maintenance mode (*ret_maintenance).
 */
static const struct policy_tenant *
find_tenant(const struct policy *p, const char *wanted, bool *ret_maintenance)
{
	const struct passwd *pw = getpwuid(getuid());
	const struct policy_tenant *t = NULL;

	*ret_maintenance = false;
	if (wanted != NULL)
		t = policy_tenant(p, wanted);
	for (size_t i = 0; wanted == NULL && i < p->n_tenants && t == NULL; i++)
		if (is_maint_user(&p->tenants[i], pw))
			t = &p->tenants[i];
	if (t == NULL && wanted == NULL && pw != NULL && (t = policy_tenant(p, pw->pw_name)) == NULL)
		for (size_t i = 0; i < p->n_tenants && t == NULL; i++)
			if (strcmp(p->tenants[i].user, pw->pw_name) == 0)
				t = &p->tenants[i];
	if (t == NULL) {
		say(LOG_ERR, "no tenant %s%s in the configuration", wanted ? wanted : "for user ",
		    wanted ? "" : (pw ? pw->pw_name : "?"));
		return NULL;
	}
	*ret_maintenance = is_maint_user(t, pw);
	if (getuid() != 0 && !*ret_maintenance && (pw == NULL || strcmp(t->user, pw->pw_name) != 0)) {
		say(LOG_ERR, "tenant %s belongs to user %s, not to this one", t->name, t->user);
		return NULL;
	}
	return t;
}

/*
 * The first wall of a maintenance login is sshd's from= on its key; this
 * is the second: the client's address, as sshd put it in SSH_CONNECTION
 * (a client cannot set that variable), must be in maintenance-from.
 */
static int
check_maintenance_from(const struct policy *p, const struct policy_tenant *t, const struct client_info *ci)
{
	const char *conn = getenv("SSH_CONNECTION");
	char addr[64] = "", qaddr[160], why[256];
	size_t len = conn != NULL ? strcspn(conn, " ") : 0;
	int sock;

	if (len > 0) {
		/* Longer than any address: cut, it is refused anyway. */
		memcpy(addr, conn, len < sizeof(addr) ? len : sizeof(addr) - 1);
		if (len < sizeof(addr) && policy_maint_from_allows(t, addr))
			return 0;
		log_quote(qaddr, sizeof(qaddr), addr);
	} else {
		snprintf(qaddr, sizeof(qaddr), "an unknown address (no SSH_CONNECTION)");
	}
	snprintf(why, sizeof(why), "maintenance login from %s refused: not in maintenance-from", qaddr);
	say(LOG_ERR, "tenant %s: %s", t->name, why);
	fprintf(stderr, "vault-sftp: maintenance of tenant %s is not allowed from %s\n", t->name, qaddr);
	/* vaultd audits it under the tenant too, when it runs. */
	sock = tell_broker(seal_client_connect(p->broker_socket), p->broker_socket, ci);
	if (sock >= 0) {
		(void)seal_client_report(sock, "maintenance-login", "/", why);
		close(sock);
	}
	return -EPERM;
}

static int
load_tenant(const struct options *o, const struct client_info *ci, struct policy **ret_policy,
	    const struct policy_tenant **ret_tenant, bool *ret_maintenance)
{
	struct policy_error perr = { 0 };
	struct policy *p = NULL;
	int err;

	err = policy_load(o->config, &p, &perr);
	if (err < 0) {
		if (perr.line > 0)
			say(LOG_ERR, "%s:%u: %s", perr.file, perr.line, perr.message);
		else
			say(LOG_ERR, "%s: %s", perr.file[0] ? perr.file : o->config, perr.message);
		return err;
	}
	*ret_tenant = find_tenant(p, o->tenant, ret_maintenance);
	if (*ret_tenant == NULL) {
		policy_free(p);
		return -ENOENT;
	}
	if (*ret_maintenance && check_maintenance_from(p, *ret_tenant, ci) < 0) {
		policy_free(p);
		return -EPERM;
	}
	*ret_policy = p;
	return 0;
}
#endif

static int
write_out(struct sftp_session *s)
{
	size_t len;
	const uint8_t *p = sftp_session_output(s, &len);
	ssize_t n;

	if (len == 0)
		return 0;
	n = write(STDOUT_FILENO, p, len);
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : -errno;
	sftp_session_output_done(s, (size_t)n);
	return sftp_session_process(s);
}

static int
serve(struct sftp_session *s)
{
	static uint8_t in[IO_CHUNK];
	bool eof = false;

	for (;;) {
		size_t room = sftp_session_input_room(s), pending;
		struct pollfd pfd[2] = {
			{ .fd = STDIN_FILENO, .events = !eof && room > 0 ? POLLIN : 0 },
			{ .fd = STDOUT_FILENO },
		};
		int err;

		(void)sftp_session_output(s, &pending);
		pfd[1].events = pending > 0 ? POLLOUT : 0;
		if (pfd[0].events == 0 && pfd[1].events == 0)
			return 0;	/* the client is gone and every reply is out */
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (pfd[1].revents & (POLLOUT | POLLERR | POLLHUP) && (err = write_out(s)) < 0)
			return err;
		/* Poll reports a hangup even when we did not ask to read: read only with room. */
		if (pfd[0].events != 0 && pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = read(STDIN_FILENO, in, room < sizeof(in) ? room : sizeof(in));

			if (n < 0 && errno != EINTR && errno != EAGAIN)
				return -errno;
			if (n == 0)
				eof = true;
			if (n > 0) {
				ssize_t r = sftp_session_feed(s, in, (size_t)n);

				if (r < 0)
					return (int)r;
			}
		}
	}
}

/* The seal broker connection (-1: none); one per process, like the session. */
static int seal_sock = -1;

/*
 * One fd request to the broker (seal or attic). A refusal or a transport
 * failure fails the client's request; after a transport failure the
 * connection is dropped, since a late reply could be taken for the next one.
 */
static int
broker_request(int (*request)(int sock, int fd, const char *vpath, char *reason, size_t n), int fd,
	       const char *path, const char *what)
{
	char reason[SEAL_PROTO_REASON_MAX], qpath[512], qreason[2 * SEAL_PROTO_REASON_MAX];
	int r;

	if (seal_sock < 0) {
		log_quote(qpath, sizeof(qpath), path);
		say(LOG_ERR, "cannot %s %s: the connection to the seal broker is gone", what, qpath);
		return -ENOTCONN;
	}
	r = request(seal_sock, fd, path, reason, sizeof(reason));
	if (r == 0)
		return 0;
	log_quote(qpath, sizeof(qpath), path);
	log_quote(qreason, sizeof(qreason), reason);
	say(LOG_ERR, "the broker refused or failed to %s %s: %s", what, qpath, qreason);
	if (r == -ETIMEDOUT || r == -EPIPE || r == -ECONNRESET || r == -EPROTO || r == -ENOTCONN) {
		close(seal_sock);
		seal_sock = -1;
	}
	return r;
}

/*
 * hooks.seal: vaultd makes the file immutable before the engine replies; a
 * failure fails the CLOSE ("stored, but the vault could not seal it").
 */
static int
seal_hook(void *ctx, int fd, const char *path)
{
	(void)ctx;
	return broker_request(seal_client_seal, fd, path, "seal");
}

/* hooks.attic: vaultd moves a versioned file, which it sealed, into the attic. */
static int
attic_hook(void *ctx, int fd, const char *path)
{
	(void)ctx;
	return broker_request(seal_client_attic, fd, path, "move to the attic");
}

/* hooks.refusal: vaultd audits what vault-sftp refused, under the tenant of our uid. */
static void
refusal_hook(void *ctx, const char *op, const char *path, const char *reason)
{
	(void)ctx;
	if (seal_sock >= 0)
		(void)seal_client_report(seal_sock, op, path, reason);
}

/*
 * A maintenance session tells vaultd it begins (vaultd opens the tenant's
 * directories to the maintenance user). If vaultd refuses, the broker is
 * of no use to this session: seal_sock is closed (its error kept), and
 * the caller goes on as without a broker.
 */
static void
begin_maintenance(const struct policy_tenant *tenant)
{
	char reason[SEAL_PROTO_REASON_MAX], qreason[2 * SEAL_PROTO_REASON_MAX];
	int r = seal_client_maintenance(seal_sock, reason, sizeof(reason));

	if (r == 0) {
		say(LOG_NOTICE, "maintenance session of tenant %s: removed and replaced files go to the attic",
		    tenant->name);
		return;
	}
	log_quote(qreason, sizeof(qreason), reason);
	say(LOG_ERR, "vaultd refused the maintenance session of tenant %s: %s", tenant->name, qreason);
	close(seal_sock);
	seal_sock = r;
}

static int
run_session(const struct options *o, const struct policy_tenant *tenant, bool maintenance,
	    const char *broker_socket, const struct client_info *ci, const struct hash_request *hash)
{
	char root[PATH_MAX], uid_label[32], maint_label[96];
	struct confine_options copts = { .require_landlock = o->require_landlock };
	struct sftp_hooks hooks = { .log = log_hook };
	struct sftp_session_config cfg = { 0 };
	struct sftp_session *s = NULL;
	struct id_names names;
	const char *what = NULL;
	int err, root_fd, abi = 0;

	if (tenant != NULL) {
		cfg.profile = tenant->profile;
		cfg.write_only = tenant->write_only;
		cfg.quota_bytes = tenant->quota_bytes;
		cfg.quota_files = tenant->quota_files;
		cfg.maintenance = maintenance;
	}
	err = expand_root(o->root != NULL ? o->root : tenant->root, root, sizeof(root));
	if (err < 0) {
		say(LOG_ERR, "cannot expand the root '%s'", o->root != NULL ? o->root : tenant->root);
		return 1;
	}
	root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0) {
		say(LOG_ERR, "cannot open root '%s': %s", root, strerror(errno));
		return 1;
	}
	lookup_names(&names);
	/* Everything that reads /etc or connects must happen before the walls go up. */
	tzset();
	{
		time_t now = time(NULL);
		struct tm tm;

		(void)localtime_r(&now, &tm);
	}
	if (!log_to_stderr)
		openlog("vault-sftp", LOG_PID | LOG_NDELAY, LOG_AUTHPRIV);
	signal(SIGPIPE, SIG_IGN);
	if (hash != NULL && hash_prepare() < 0) {
		say(LOG_ERR, "cannot load the digests");
		close(root_fd);
		return 1;
	}
	cfg.max_handles = raise_fd_limit(o->max_handles ? o->max_handles : SFTP_DEFAULT_HANDLES);
	if (broker_socket != NULL && hash == NULL) {
		seal_sock = tell_broker(seal_client_connect(broker_socket), broker_socket, ci);
		if (seal_sock >= 0 && maintenance)
			begin_maintenance(tenant);
		if (seal_sock >= 0) {
			hooks.seal = seal_hook;
			hooks.refusal = refusal_hook;
			hooks.attic = attic_hook;
		} else if (o->require_broker) {
			say(LOG_ERR, "cannot reach the seal broker at %s: %s (--require-broker)",
			    broker_socket, strerror(-seal_sock));
			close(root_fd);
			return 1;
		} else {
			say(LOG_WARNING, "WARNING: kernel sealing is OFF: broker unreachable at %s: %s",
			    broker_socket, strerror(-seal_sock));
		}
		if (maintenance && seal_sock < 0)
			say(LOG_WARNING, "WARNING: maintenance without vaultd: removing or replacing sealed "
			    "and versioned files is refused");
	}

	err = confine_self(root_fd, &copts, &abi, &what);
	if (err < 0) {
		say(LOG_ERR, "cannot confine the session (%s): %s", what, strerror(-err));
		return 1;
	}
	if (abi == 0)
		say(LOG_WARNING, "WARNING: this kernel has no Landlock; the root is enforced by "
		    "openat2 and seccomp only");
	if (getuid() == 0)
		say(LOG_WARNING, "WARNING: running as root; sshd should run vault-sftp as the tenant's user");
	if (hash != NULL) {
		err = hash_command(hash, root_fd, cfg.profile, cfg.write_only, stdout, stderr);
		close(root_fd);
		return err;
	}

	cfg.root_fd = root_fd;
	cfg.users = names.users;
	cfg.n_users = names.n_users;
	cfg.groups = names.groups;
	cfg.n_groups = names.n_groups;
	if (o->label != NULL) {
		cfg.client_label = o->label;
	} else if (tenant != NULL && maintenance) {
		snprintf(maint_label, sizeof(maint_label), "%s (maintenance)", tenant->name);
		cfg.client_label = maint_label;
	} else if (tenant != NULL) {
		cfg.client_label = tenant->name;
	} else if (names.user[0] != '\0') {
		cfg.client_label = names.user;
	} else {
		/* Static build, or root: no name, but a log line must still say who. */
		snprintf(uid_label, sizeof(uid_label), "uid %u", (unsigned)getuid());
		cfg.client_label = uid_label;
	}
	err = sftp_session_new(&cfg, &hooks, &s);
	close(root_fd);
	if (err < 0) {
		say(LOG_ERR, "cannot start the session: %s", strerror(-err));
		return 1;
	}
	err = serve(s);
	s = sftp_session_free(s);
	if (err < 0 && err != -EPIPE && err != -ECONNRESET) {
		say(LOG_ERR, "session ended: %s", strerror(-err));
		return 1;
	}
	return 0;
}

static int
run(const struct options *o)
{
	const char *asked = getenv("SSH_ORIGINAL_COMMAND");
	const struct policy_tenant *tenant = NULL;
	struct policy *policy = NULL;
	struct client_info ci = { 0 };
	struct hash_request hash;
	enum client_command cmd;
	bool maintenance = false;
	int r;

	/* Under a ForceCommand, sshd says what the client asked for. */
	cmd = command_classify(asked, &hash);
	if (cmd == COMMAND_REFUSED) {
		char quoted[1024];

		log_quote(quoted, sizeof(quoted), asked);
		say(LOG_NOTICE, "refused command %s: only SFTP, md5sum and sha1sum are offered", quoted);
		fprintf(stderr, "vault-sftp: this account offers only SFTP (and md5sum/sha1sum of stored files)\n");
		return 1;
	}

	if (o->config != NULL) {
#ifdef SEALVAULT_STATIC_BUILD
		say(LOG_ERR, "--config is not available in the static build; use --root");
		return 1;
#else
		/* Only vaultd hears of it: without --config there is no broker to tell. */
		client_info_init(o, &ci);
		if (load_tenant(o, &ci, &policy, &tenant, &maintenance) < 0)
			return 1;
#endif
	}
	r = run_session(o, tenant, maintenance, policy != NULL ? policy->broker_socket : NULL, &ci,
			cmd == COMMAND_HASH ? &hash : NULL);
	policy_free(policy);
	return r;
}

int
main(int argc, char *argv[])
{
	struct options o = { .log_level = LOG_NOTICE };
	char *cmd_argv[MAX_ARGS], *cmd = NULL;
	int r;

	/* Login-shell mode: "vault-sftp -c 'COMMAND'". */
	if (argc == 3 && strcmp(argv[1], "-c") == 0) {
		int n;

		cmd = strdup(argv[2]);
		if (cmd == NULL)
			return 1;
		n = split_command(cmd, cmd_argv, MAX_ARGS);
		if (n < 1 || !is_vault_sftp(cmd_argv[0])) {
			fprintf(stderr, "vault-sftp: this account only offers SFTP\n");
			free(cmd);
			return 1;
		}
		/*
		 * Without a ForceCommand the client chooses this command line,
		 * --root included. sshd sets SSH_ORIGINAL_COMMAND exactly when a
		 * forced command replaced the client's; inside a chroot built for
		 * vault-sftp (no /proc there) the chroot bounds any --root.
		 * Anywhere else, refuse.
		 */
		if (getenv("SSH_ORIGINAL_COMMAND") == NULL && access("/proc/self", F_OK) == 0) {
			fprintf(stderr, "vault-sftp: this account only offers SFTP through sshd's ForceCommand\n");
			free(cmd);
			return 1;
		}
		argc = n;
		argv = cmd_argv;
		o.login_shell = true;
	}
	r = parse_args(argc, argv, &o);
	if (r != 0) {
		free(cmd);
		return r == 1 ? 0 : 2;
	}
	log_level = o.log_level;
	log_to_stderr = o.log_stderr;
	r = run(&o);
	free(cmd);
	return r;
}
