/* SPDX-License-Identifier: MIT */
/*
 * sealvault policy: the configuration (global settings, profiles, tenants)
 * and the decision function shared by vault-sftp, vaultd and vaultctl.
 *
 * Pure library code: it reads configuration files and nothing else, never
 * logs, and returns negative errno values. The format is documented in
 * policy/README.md and vault.conf(5).
 */
#ifndef SEALVAULT_POLICY_H
#define SEALVAULT_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a path is, by the first rule of its tenant's profile that matches it. */
enum policy_class {
	POLICY_SEAL,		/* write-once: created, then sealed at CLOSE (the default) */
	POLICY_TEMP,		/* an upload's temporary name: writable, removable, published once by rename */
	POLICY_MUTABLE,		/* ordinary semantics, bounded (restic's locks/) */
	POLICY_VERSIONED,	/* may be replaced or removed; the previous version goes to the attic */
	POLICY_DENY,		/* cannot be created, read or touched (.ssh/ in a root) */
};

/* Answer to an attribute change the class does not allow outright. */
enum policy_setstat {
	POLICY_SETSTAT_REFUSE,	/* PERMISSION_DENIED */
	POLICY_SETSTAT_IGNORE,	/* OK, and nothing changes (for tools that fail on a refusal) */
};

struct policy_rule {
	char *pattern;		/* glob over the vault path without its leading '/' */
	enum policy_class cls;
	/* mutable only: limits on what this rule's files may hold (0: no limit) */
	uint64_t max_size;
	uint64_t max_files;
	unsigned line;		/* where it was defined, for explain */
	char *file;
};

struct policy_profile {
	char *name;
	struct policy_rule *rules;
	size_t n_rules;
	/* setstat of mtime/atime on a finished (sealed or versioned) file */
	enum policy_setstat times;
	/* a chmod of a finished file that does more than remove write bits */
	enum policy_setstat chmod;
	unsigned line;
	char *file;
};

/* An address or prefix of maintenance-from ("192.0.2.7", "2001:db8::/32"). */
struct policy_addr {
	int family;		/* AF_INET or AF_INET6 */
	uint8_t addr[16];	/* network byte order; the first 4 bytes for AF_INET */
	unsigned prefix;	/* bits that must match: 0..32 or 0..128 */
};

/* An address and port to listen on ("127.0.0.1:2222", "[::1]:2222"). */
struct policy_endpoint {
	int family;		/* AF_INET or AF_INET6 */
	uint8_t addr[16];	/* network byte order */
	uint16_t port;		/* host byte order */
};

struct policy_tenant {
	char *name;
	char *user;		/* the system user sshd runs vault-sftp as */
	char *root;		/* the directory the client sees as / */
	char *profile_name;
	const struct policy_profile *profile;	/* resolved by policy_load */
	char *authorized_keys;	/* root-owned file outside the root */
	char *maint_keys;	/* the maintenance-user's keys, for vault-listen; NULL: none */
	uint64_t quota_bytes;	/* 0: none */
	uint64_t quota_files;	/* 0: none */
	bool write_only;	/* list yes, read back sealed content no */
	uint64_t retention_s;	/* minimum age before vaultctl prunes; 0: none */
	/*
	 * maintenance-user: a second system user whose vault-sftp sessions on
	 * this root may remove or replace sealed and versioned files, each one
	 * moved into the attic by vaultd (a tool's own prune, restic forget
	 * --prune). NULL: none. Only from the maint_from addresses.
	 */
	char *maint_user;
	struct policy_addr *maint_from;
	size_t n_maint_from;
	unsigned line;
	char *file;
};

/* How vaultd learns of files that do not come through its broker. */
enum policy_watcher {
	POLICY_WATCHER_AUTO,		/* fanotify if the kernel and privileges allow, else inotify */
	POLICY_WATCHER_FANOTIFY,
	POLICY_WATCHER_INOTIFY,
	POLICY_WATCHER_OFF,		/* broker and catch-up scans only */
};

struct policy {
	/* global settings */
	char *broker_socket;
	char *control_socket;		/* vaultd's control socket for vaultctl */
	char *journal_socket;		/* journald's native socket; vaultd logs to stderr without it */
	char *attic;
	uint64_t partial_grace_s;	/* abandoned partial uploads go to the attic after this */
	enum policy_watcher watcher;
	bool kernel_audit;		/* vaultd also writes AUDIT_USER_MSG records (default yes) */
	uint64_t settle_s;		/* a catch-up scan leaves files changed this recently to the watcher */
	uint64_t attic_grace_s;		/* vaultctl attic purge waits this long after a move (default 30d) */
	char *state_dir;		/* vaultd's own records (the ledger); default /var/lib/sealvault */
	/* vault-listen, the standalone SSH listener (vaultd/listen.c) */
	struct policy_endpoint *listen;	/* none: vault-listen needs --listen */
	size_t n_listen;
	char *listen_user;		/* pre-auth processes run as this user (default nobody) */
	char *host_key;			/* Ed25519, made on first start; default <state-dir>/ssh_host_ed25519_key */
	uint64_t listen_max_connections;	/* at once, in all (default 64) */
	uint64_t listen_max_per_address;	/* at once, from one client address (default 16) */
	uint64_t listen_max_auth_tries;	/* failed authentications per connection (default 6) */
	uint64_t listen_login_grace_s;	/* key exchange and authentication (default 30 s) */
	uint64_t listen_idle_s;		/* no data either way; 0: none (default 15 min) */
	struct policy_profile *profiles;
	size_t n_profiles;
	struct policy_tenant *tenants;
	size_t n_tenants;
};

/* Where a configuration error is, and what it is. */
struct policy_error {
	char file[512];
	unsigned line;		/* 0: the file as a whole */
	char message[256];
};

/*
 * Reads path (vault.conf), its includes, and the built-in profiles (which a
 * file may not redefine). Checks the whole: every tenant names a known
 * profile and has a root and a user; names are unique. On failure returns a
 * negative errno, fills *reterr and leaves *ret untouched.
 */
int policy_load(const char *path, struct policy **ret, struct policy_error *reterr);

/* Same, from a string (tests, fuzzing). name is used in error messages; includes are refused. */
int policy_load_string(const char *text, const char *name, struct policy **ret,
		       struct policy_error *reterr);

struct policy *policy_free(struct policy *p);

const struct policy_tenant *policy_tenant(const struct policy *p, const char *name);
const struct policy_profile *policy_profile(const struct policy *p, const char *name);

/*
 * Glob match of a normalised vault path ("/a/b") against a rule pattern:
 * '*' and '?' never cross '/', "**" as a whole component matches any number
 * of components (zero included), "[...]" is a character class, a pattern
 * ending in "/" means "everything below". A path component ".." never
 * matches anything.
 */
bool policy_glob_match(const char *pattern, const char *vpath);

/* The rule that decides vpath (first match wins; a profile without a match means seal). */
const struct policy_rule *policy_match(const struct policy_profile *prof, const char *vpath);
enum policy_class policy_classify(const struct policy_profile *prof, const char *vpath);

const char *policy_class_name(enum policy_class c);

/*
 * An IPv4 or IPv6 address, or a prefix "ADDR/BITS" whose host bits are
 * zero (as sshd's from= wants them). 0 or -EINVAL.
 */
int policy_parse_addr(const char *s, struct policy_addr *ret);

/* "ADDR:PORT" (IPv4) or "[ADDR6]:PORT", numeric, port 1-65535. 0 or -EINVAL. */
int policy_parse_endpoint(const char *s, struct policy_endpoint *ret);

/*
 * Whether addr, a numeric client address as sshd puts it in
 * SSH_CONNECTION (an IPv4-mapped IPv6 address counts as IPv4), is in t's
 * maintenance-from. False for anything unparsable, or without the list.
 */
bool policy_maint_from_allows(const struct policy_tenant *t, const char *addr);
/* The same check against any list v of n addresses and prefixes (n 0: false). */
bool policy_addr_list_allows(const struct policy_addr *v, size_t n, const char *addr);

/* "90d", "12h", "30" (seconds): s, m, h, d or w. 0, -EINVAL or -ERANGE. */
int policy_parse_duration(const char *s, uint64_t *ret);
const char *policy_watcher_name(enum policy_watcher w);

/* What a client asks to do to one path. */
enum policy_op {
	POLICY_OP_READ,		/* open a file for reading */
	POLICY_OP_LIST,		/* stat, lstat, opendir, readlink, statvfs */
	POLICY_OP_CREATE,	/* upload to a new name */
	POLICY_OP_REPLACE,	/* upload onto an existing name */
	POLICY_OP_APPEND,	/* open an existing file to append */
	POLICY_OP_TRUNCATE,	/* open an existing file truncating it, or SETSTAT size */
	POLICY_OP_REMOVE,
	POLICY_OP_MKDIR,
	POLICY_OP_RMDIR,
	POLICY_OP_RENAME_FROM,	/* the source of a rename */
	POLICY_OP_RENAME_TO_NEW,	/* the target of a rename, a name that does not exist */
	POLICY_OP_RENAME_TO_EXISTING,	/* the target of a rename that replaces a file */
	POLICY_OP_CHMOD_NARROW,	/* a chmod that only removes write bits */
	POLICY_OP_CHMOD,	/* any other chmod */
	POLICY_OP_TIMES,	/* set atime/mtime */
	POLICY_OP_CHOWN,
	POLICY_OP_LINK,		/* symlink or hard link */
};

enum policy_action {
	POLICY_ALLOW,		/* do it (CREATE of seal/versioned: and seal it at CLOSE) */
	POLICY_REFUSE,		/* PERMISSION_DENIED with the reason */
	POLICY_COMPARE,		/* REPLACE of a sealed file: only byte-identical content succeeds */
	POLICY_ATTIC,		/* do it, moving what it replaces or removes into the attic first */
	POLICY_IGNORE,		/* answer OK and change nothing */
};

struct policy_decision {
	enum policy_action action;
	enum policy_class cls;
	const struct policy_rule *rule;	/* NULL: no rule matched (seal) */
	const char *reason;		/* for REFUSE and IGNORE: a phrase a person understands */
};

/*
 * The decision for one operation on one normalised vault path. prof may be
 * NULL (no configuration: every path is sealed). Pure: it looks at the
 * profile and the path only; the caller knows what is on disk and picks
 * the operation accordingly.
 */
struct policy_decision policy_decide(const struct policy_profile *prof, bool write_only,
				     enum policy_op op, const char *vpath);

/*
 * True if files of this class are finished once published: never written
 * in place, and sealed with the kernel's immutable flag by vaultd (seal and
 * versioned; vaultd itself moves a versioned file into the attic).
 */
bool policy_class_seals(enum policy_class c);

#endif
