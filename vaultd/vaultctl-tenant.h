/* SPDX-License-Identifier: MIT */
/*
 * The parts of vaultctl tenant: the command line, list, show and keys
 * (vaultctl-tenant.c), add (tenant-add.c), remove (tenant-remove.c), the
 * tenant's key file (tenant-keys.c), small root-owned files written
 * atomically (tenant-files.c), and the system around the vault: the user,
 * sshd and vaultd (tenant-system.c). Everything returns 0 or -errno unless
 * it says otherwise; keys and files never print.
 */
#ifndef SEALVAULT_VAULTCTL_TENANT_H
#define SEALVAULT_VAULTCTL_TENANT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* ---- keys (tenant-keys.c) */

#define TENANT_KEYS_MAX		256
#define TENANT_KEYFILE_MAX	(64 * 1024)

struct tenant_key {
	char *type;		/* "ssh-ed25519", ... */
	char *blob;		/* the base64 text as given */
	char *comment;		/* printable ASCII, may be "" */
	char fingerprint[64];	/* "SHA256:..." as ssh-keygen -l prints it */
};

struct tenant_keys {
	struct tenant_key *v;
	size_t n;
};

/*
 * Parses OpenSSH public keys, one per line ("type base64 [comment]");
 * blank and '#' lines are skipped, a key given twice is kept once. Key
 * options, unknown types, a blob that does not hold its own type, and any
 * private key are refused with a message in err (-EINVAL). A private key
 * gives -EPERM, so the caller can say so loudly.
 */
int tenant_keys_parse(const char *text, size_t len, struct tenant_keys *ret, char *err, size_t errsize);
/* Reads and parses a key file (at most TENANT_KEYFILE_MAX bytes); -ENODATA: no key in it. */
int tenant_keys_read(const char *path, struct tenant_keys *ret, char *err, size_t errsize);
/* The key file's text, one "type base64 comment" line per key; malloc'd, NULL on ENOMEM. */
char *tenant_keys_render(const struct tenant_keys *k);
/* Index of the key with this blob or fingerprint ("SHA256:x" or "x"), or -1. */
ssize_t tenant_keys_find(const struct tenant_keys *k, const char *blob, const char *fingerprint);
/* Appends a copy of key; -E2BIG past TENANT_KEYS_MAX. */
int tenant_keys_add(struct tenant_keys *k, const struct tenant_key *key);
void tenant_keys_remove(struct tenant_keys *k, size_t i);
void tenant_keys_free(struct tenant_keys *k);

/* ---- files (tenant-files.c) */

/* Reads a whole file of at most max bytes (-EFBIG beyond) into a malloc'd, NUL-terminated buffer. */
int file_read(const char *path, size_t max, char **ret, size_t *ret_len);
/*
 * Replaces path with data: a temporary file in the same directory, owned
 * by root:root with mode, written, fsync'd, renamed over path, and the
 * directory fsync'd. Readers see the old file or the new one, never half.
 */
int file_write_atomic(const char *path, const char *data, size_t len, mode_t mode);
/* 1 if the directory is empty ("lost+found" of a fresh filesystem does not count), 0 if not. */
int dir_is_empty(const char *path);
/* True if path is dir itself or below it (both clean absolute paths). */
bool path_is_below(const char *path, const char *dir);
/* A clean absolute host path (path_is_clean(), path.h) with room for the names built below it. */
bool host_path_is_clean(const char *path);
/* Only [A-Za-z0-9/._+-]: safe in vault.conf, sshd_config and vault-sftp's command line. */
bool path_is_plain(const char *path);

/* ---- the system (tenant-system.c) */

/*
 * Runs argv[0] (an absolute path) with argv, no shell, stdin /dev/null,
 * a minimal environment, stdout and stderr captured into out (NUL-
 * terminated, cut at size). Returns the exit status (0..255), 256 + the
 * signal that killed it, or -errno if it could not run.
 */
int run_command(const char *const argv[], char *out, size_t size);

/* useradd --system ... with its own group and password '*'; retried while passwd is locked. */
int user_add(const char *user, const char *home, const char *shell, const char *comment,
	     char *out, size_t size);
/* userdel, and groupdel of a group of that name if one is left. */
int user_del(const char *user, char *out, size_t size);

/* True if process pid runs a binary named name (/proc/PID/exe's basename). */
bool pid_runs(pid_t pid, const char *name);
/* A live process (not a zombie) with this real or effective uid, or 0. */
pid_t uid_first_process(uid_t uid);

/*
 * Reloads sshd: "systemd" (systemctl reload ssh.service), "pidfile:PATH"
 * (SIGHUP to the sshd whose pid is in PATH), "none". Prints one line on
 * what it did. 0 done or nothing to do; -errno on failure (printed).
 */
int sshd_reload(const char *how);

/*
 * Tells the vaultd listening on control_socket to reload its config: its
 * pid from SO_PEERCRED, checked to be vaultd, then SIGHUP. Prints one line.
 * 0 done, or vaultd not running; -errno on failure (printed).
 */
int vaultd_reload(const char *control_socket);

/* ---- the command (vaultctl-tenant.c, tenant-add.c, tenant-remove.c); these print */

struct policy;
struct policy_tenant;

#define TENANT_USER_MAX		32		/* useradd's limit */
#define TENANT_SSHD_OPTIONS_MAX	16
#define TENANT_OUT_MAX		(64 * 1024)	/* a command's output, a drop-in, read back */

/* The command line: where everything is, and what add is asked for. */
struct tenant_opts {
	const char *config, *conf_dir, *keys_dir, *sshd_dir, *sshd_config, *sshd, *vault_sftp;
	const char *reload, *archive;
	const char *profile, *key_file, *root, *user, *quota_bytes, *quota_files, *retention;
	/* A maintenance credential: a second user, its key, the addresses ("a,b") it may come from. */
	const char *maint_user, *maint_key_file, *maint_from;
	const char *sshd_options[TENANT_SSHD_OPTIONS_MAX];
	size_t n_sshd_options;
	bool require_broker, write_only, json;
	char conf_dir_buf[PATH_MAX], keys_dir_buf[PATH_MAX];
};

/* What one tenant is made of on disk; the texts and keys only for add. */
struct tenant_plan {
	const char *name;
	char user[TENANT_USER_MAX + 1];
	char root[PATH_MAX], key_path[PATH_MAX], conf_path[PATH_MAX], dropin_path[PATH_MAX];
	char *conf_text, *dropin_text, *keys_text;
	struct tenant_keys keys;
	/*
	 * The maintenance user (empty: none), its key file (always planned:
	 * KEYS_DIR/NAME.maintenance; a tenant name has no '.'), its keys as
	 * written there (each line with restrict and from="..."), and the
	 * addresses, blank-separated as vault.conf takes them.
	 */
	char maint_user[TENANT_USER_MAX + 1];
	char maint_key_path[PATH_MAX];
	char maint_from[512];
	char *maint_keys_text;
	struct tenant_keys maint_keys;
};

/* Prints "vaultctl: MESSAGE" to stderr; returns -1. */
int tenant_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* policy_load(), its error printed as "FILE:LINE: message". 0 or -1. */
int tenant_load_config(const char *path, struct policy **ret);
/* The tenant of that name, or NULL with "no tenant NAME" printed. */
const struct policy_tenant *tenant_find(const struct policy *p, const char *name);
/* Both paths name the same inode. */
bool tenant_same_file(const char *a, const char *b);
/* The tenant's paths by the options: user, root, key file, conf.d file, drop-in. */
void tenant_plan_paths(const struct tenant_opts *o, struct tenant_plan *pl, const char *name);
/* sshd -t -f on the main config, its complaint printed. 0 accepted, -1 not. */
int tenant_sshd_test(const struct tenant_opts *o);

/* The subcommands; each returns the exit status (0, 1 refused or failed, 2 usage). */
int tenant_add(const struct tenant_opts *o, const char *name);
int tenant_remove(const struct tenant_opts *o, const char *name);

#endif
