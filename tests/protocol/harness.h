/* SPDX-License-Identifier: MIT */
/*
 * Protocol test harness: runs the real vault-sftp executable on two pipes
 * (what sshd gives a subsystem on Linux), speaks raw SFTP v3 to it, and
 * collects its stderr log.
 *
 * Every test case gets a fresh temp dir (struct h_ctx):
 *   base/root     the directory vault-sftp serves as "/"
 *   base/outside  a sibling that must never be read or touched
 * and a fresh server process started with `--root base/root --log-stderr`.
 * The teardown closes the server's stdin and fails the case unless the
 * server exits 0 within H_TIMEOUT_MS, was not killed by a signal, and its
 * stderr holds no sanitizer report. Every receive waits at most
 * H_TIMEOUT_MS, so a hung server fails a case instead of hanging ctest.
 *
 * The vault-sftp path comes from argv[1] or the VAULT_SFTP environment
 * variable (CMake passes both).
 *
 * Memory: everything a helper returns (reply fields, names, file contents,
 * snapshots) is owned by the harness and freed at teardown; tests never free.
 *
 * Request helpers return the SFTP status of the reply: SSH_FX_OK when the
 * expected reply type (HANDLE, DATA, NAME, ATTRS, EXTENDED_REPLY) came back,
 * the status code of a STATUS reply, H_BOGUS_OK for a STATUS OK where data
 * was expected, and H_WRONG_TYPE for any other reply type. The message of
 * the last STATUS is kept in s->last_msg.
 */
#ifndef SEALVAULT_TESTS_PROTOCOL_HARNESS_H
#define SEALVAULT_TESTS_PROTOCOL_HARNESS_H

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <cmocka.h>

#include "sftp-proto.h"

#define H_TIMEOUT_MS		5000
#define H_MAX_PACKET		(256 * 1024)
#define H_MAX_RW		(H_MAX_PACKET - 1024)
#define H_MAX_SERVERS		8
#define H_BOGUS_OK		1001
#define H_WRONG_TYPE		1000
#define H_NO_REPLY		1002
/* The mtime every "sealed earlier" file gets: 2021-01-01T00:00:00Z. */
#define H_OLD_TIME		1609459200

struct h_buf {
	uint8_t *p;
	size_t len;
	size_t cap;
};

struct h_attrs {
	uint32_t flags;
	uint64_t size;
	uint32_t uid;
	uint32_t gid;
	uint32_t perm;
	uint32_t atime;
	uint32_t mtime;
	uint32_t n_ext;		/* extended pairs ("k0","v0"...) to send */
};

struct h_name {
	char *name;
	size_t name_len;
	char *longname;
	struct h_attrs a;
};

struct h_reply {
	uint8_t type;
	uint32_t id;
	uint32_t status;
	char *msg;
	uint8_t *handle;
	size_t handle_len;
	uint8_t *data;		/* DATA payload, or EXTENDED_REPLY bytes after the id */
	size_t data_len;
	struct h_attrs attrs;
	struct h_name *names;
	uint32_t count;
	uint8_t *raw;		/* the whole body: type, id, ... */
	size_t raw_len;
	bool malformed;		/* the reply did not parse as its type */
};

struct h_handle {
	uint8_t b[512];
	size_t len;
};

struct h_server {
	pid_t pid;
	int to_fd;		/* server stdin, -1 once closed */
	int from_fd;		/* server stdout */
	int err_fd;		/* server stderr */
	struct h_buf in;	/* bytes read from stdout, not yet parsed */
	struct h_buf err;	/* everything read from stderr */
	bool finished;
	bool killed;		/* killed on purpose by the test: no exit check */
	int wstatus;
	uint32_t next_id;
	uint32_t version;	/* from VERSION */
	bool out_eof;
	char last_msg[4096];
	char **ext_names;	/* from VERSION */
	char **ext_data;
	size_t n_ext;
	int expect_exit;	/* exit status h_exit_ok accepts (default 0) */
};

struct h_ctx {
	char base[PATH_MAX];
	char root[PATH_MAX];
	char outside[PATH_MAX];
	char proc_mount[PATH_MAX];	/* non-empty: a procfs the test mounted */
	struct h_server *s;		/* the first server */
	struct h_server *servers[H_MAX_SERVERS];
	size_t n_servers;
};

/* ---- setup ---------------------------------------------------------------- */

void h_main_init(int argc, char **argv);
const char *h_vault_sftp(void);
/* cmocka setup/teardown: fresh root + server; _init also sends INIT. */
int h_setup_init(void **state);
int h_setup_raw(void **state);
int h_teardown(void **state);
#define H_TEST(f)	cmocka_unit_test_setup_teardown(f, h_setup_init, h_teardown)
#define H_TEST_RAW(f)	cmocka_unit_test_setup_teardown(f, h_setup_raw, h_teardown)

/* Another server on the same root; extra args end with NULL. Not initialised. */
struct h_server *h_spawn(struct h_ctx *c, const char *const *extra_args);

/* A server started exactly as asked (h_spawn is h_spawn_ex with args and defaults). */
struct h_spawn_opts {
	const char *const *args;	/* after argv[0] (and --root/--log-stderr), NULL-terminated */
	const char *const *env;		/* "NAME=VALUE" entries added to the environment, NULL-terminated */
	bool no_root;			/* do not pass --root c->root */
	bool no_log_stderr;		/* do not pass --log-stderr */
	bool close_stdin;		/* stdin at EOF from the start (a command, not SFTP) */
	int expect_exit;		/* the exit status h_exit_ok accepts */
};
/* SSH_ORIGINAL_COMMAND is always removed from the child's environment unless env sets it. */
struct h_server *h_spawn_ex(struct h_ctx *c, const struct h_spawn_opts *o);

/* Like h_setup_raw, but starts no server: c->s is NULL until the test spawns one
 * (for cases that must write a configuration first). */
int h_setup_bare(void **state);
#define H_TEST_BARE(f)	cmocka_unit_test_setup_teardown(f, h_setup_bare, h_teardown)

/*
 * Writes base/vault.conf: if body is non-NULL, "profile PROFILE { BODY }"; then
 * "tenant case { user <current user>  root <c->root>  profile PROFILE  TENANT_EXTRA }".
 * body and tenant_extra are statement lines. Returns the file's path (harness-owned).
 */
const char *h_write_config(struct h_ctx *c, const char *profile, const char *body,
			   const char *tenant_extra);
/* Writes base/NAME with the given text; returns its path (harness-owned). */
const char *h_write_base_file(struct h_ctx *c, const char *name, const char *text);
/* The current user's name (getpwuid(getuid())). */
const char *h_user_name(void);
/*
 * vault-sftp --config base/vault.conf --tenant case --log-stderr, with the extra
 * environment entries (NULL-terminated, or NULL). If init, sends INIT (fails the
 * test unless VERSION 3 comes back). Becomes c->s when c->s is NULL.
 */
struct h_server *h_spawn_tenant(struct h_ctx *c, const char *const *env, bool init);
/*
 * The same with tenant (NULL: no --tenant, the user alone picks it) and the
 * exit status the server is expected to end with.
 */
struct h_server *h_spawn_config(struct h_ctx *c, const char *tenant, const char *const *env,
				int expect_exit, bool init);
/* Closes stdin, drains stdout/stderr to EOF, reaps (kills after H_TIMEOUT_MS). */
void h_finish(struct h_server *s);
/* Reports (print_error) and returns false if the finished server did not
 * exit 0, died from a signal, or printed a sanitizer report. */
bool h_exit_ok(struct h_server *s);
void h_assert_exit_ok(struct h_server *s);
/* Finishes, checks (unless killed on purpose), frees and forgets a server;
 * returns what h_exit_ok said. For tests that start many. */
bool h_release(struct h_ctx *c, struct h_server *s);
/* SIGKILL, on purpose (interrupted upload); the exit is then not checked. */
void h_kill(struct h_server *s);

/* ---- raw I/O -------------------------------------------------------------- */

void h_send_raw(struct h_server *s, const void *p, size_t len);
/* 0, or -ETIMEDOUT / -EPIPE (stdout closed). */
int h_recv(struct h_server *s, struct h_reply *r, int timeout_ms);
/* Fails the test unless a reply arrives. */
void h_recv_must(struct h_server *s, struct h_reply *r);
/* True if no reply arrives within ms. */
bool h_no_reply_within(struct h_server *s, int ms);
/* Reads what is in the stderr pipe now (the harness also does this on every poll). */
void h_drain_err(struct h_server *s);

/* ---- packets -------------------------------------------------------------- */

void hb_free(struct h_buf *b);
void hb_reset(struct h_buf *b);
void pk_begin(struct h_buf *b, uint8_t type);
uint32_t pk_begin_req(struct h_server *s, struct h_buf *b, uint8_t type);
uint32_t pk_begin_ext(struct h_server *s, struct h_buf *b, const char *name);
void pk_u8(struct h_buf *b, uint8_t v);
void pk_u32(struct h_buf *b, uint32_t v);
void pk_u64(struct h_buf *b, uint64_t v);
void pk_raw(struct h_buf *b, const void *p, size_t len);
void pk_str(struct h_buf *b, const void *p, size_t len);
void pk_cstr(struct h_buf *b, const char *str);
void pk_handle(struct h_buf *b, const struct h_handle *h);
void pk_attrs(struct h_buf *b, const struct h_attrs *a);
void pk_end(struct h_buf *b);
uint32_t h_get_u32(const uint8_t *p);
uint64_t h_get_u64(const uint8_t *p);

/* ---- requests ------------------------------------------------------------- */

/* Sends a finished packet, waits for the reply with its id (fails the test on
 * timeout or another id), maps it as described at the top. r may be NULL. */
int h_call(struct h_server *s, struct h_buf *pkt, uint8_t expect, struct h_reply *r);
const char *h_status_name(int status);
void h_assert_status_(struct h_server *s, int got, int expected, const char *what,
		      const char *file, int line);
#define h_assert_status(s, got, expected) \
	h_assert_status_((s), (got), (expected), #got, __FILE__, __LINE__)
/* The last STATUS message contains every given substring (NULL-terminated list). */
void h_assert_msg_(struct h_server *s, const char *file, int line, ...);
#define h_assert_msg(s, ...) h_assert_msg_((s), __FILE__, __LINE__, __VA_ARGS__, (const char *)NULL)

int h_init(struct h_server *s, uint32_t version);
bool h_has_ext(const struct h_server *s, const char *name, const char **ret_data);

int h_open(struct h_server *s, const char *path, uint32_t pflags,
	   const struct h_attrs *a, struct h_handle *ret);
int h_open_n(struct h_server *s, const void *path, size_t path_len, uint32_t pflags,
	     const struct h_attrs *a, struct h_handle *ret);
int h_close(struct h_server *s, const struct h_handle *h);
/* DATA: OK and r->data/r->data_len; caller frees r. */
int h_read(struct h_server *s, const struct h_handle *h, uint64_t off, uint32_t len,
	   struct h_reply *r);
int h_write(struct h_server *s, const struct h_handle *h, uint64_t off,
	    const void *data, size_t len);
int h_stat(struct h_server *s, const char *path, struct h_attrs *ret);
int h_lstat(struct h_server *s, const char *path, struct h_attrs *ret);
int h_stat_n(struct h_server *s, uint8_t type, const void *path, size_t len,
	     struct h_attrs *ret);
int h_fstat(struct h_server *s, const struct h_handle *h, struct h_attrs *ret);
int h_setstat(struct h_server *s, const char *path, const struct h_attrs *a);
int h_fsetstat(struct h_server *s, const struct h_handle *h, const struct h_attrs *a);
int h_lsetstat(struct h_server *s, const char *path, const struct h_attrs *a);
int h_opendir(struct h_server *s, const char *path, struct h_handle *ret);
int h_readdir(struct h_server *s, const struct h_handle *h, struct h_reply *r);
int h_remove(struct h_server *s, const char *path);
int h_mkdir(struct h_server *s, const char *path, const struct h_attrs *a);
int h_rmdir(struct h_server *s, const char *path);
/* NAME with one entry: OK and *ret (malloc'd). */
int h_realpath(struct h_server *s, const char *path, char **ret);
int h_readlink(struct h_server *s, const char *path, char **ret);
int h_rename(struct h_server *s, const char *from, const char *to);
int h_symlink(struct h_server *s, const char *a, const char *b);
int h_posix_rename(struct h_server *s, const char *from, const char *to);
int h_hardlink(struct h_server *s, const char *from, const char *to);
int h_fsync(struct h_server *s, const struct h_handle *h);
/* Path request of any type with a one-path body (STAT, REMOVE, OPENDIR, ...). */
int h_path_req(struct h_server *s, uint8_t type, const void *path, size_t len,
	       uint8_t expect, struct h_reply *r);

/* Opens, lists to EOF, closes. */
int h_listdir(struct h_server *s, const char *path, char ***ret, size_t *ret_n);
bool h_names_contain(char **names, size_t n, const char *name);
/* Upload: OPEN(pflags), WRITE in chunks, CLOSE; returns the first non-OK status. */
int h_put(struct h_server *s, const char *path, uint32_t pflags, const void *data, size_t len);
/* READ a whole file through SFTP; OK and *ret (malloc'd). */
int h_get(struct h_server *s, const char *path, uint8_t **ret, size_t *ret_len);

/* ---- the disk under the root ---------------------------------------------- */

void h_path(const struct h_ctx *c, const char *rel, char out[PATH_MAX]);
/* mkdir -p of the parents, write, chmod, mtime/atime H_OLD_TIME: a file
 * "sealed earlier" (plain file; no chattr here). */
void h_disk_put(const struct h_ctx *c, const char *rel, const void *data, size_t len,
		mode_t mode);
void h_disk_put_str(const struct h_ctx *c, const char *rel, const char *str);
void h_disk_mkdir(const struct h_ctx *c, const char *rel, mode_t mode);
void h_disk_symlink(const struct h_ctx *c, const char *target, const char *rel);
/* NULL if absent. */
uint8_t *h_disk_get(const struct h_ctx *c, const char *rel, size_t *ret_len);
bool h_disk_exists(const struct h_ctx *c, const char *rel);
int h_disk_lstat(const struct h_ctx *c, const char *rel, struct stat *st);
/* Names in a dir of the root, "." and ".." left out (harness-owned); -1 if it cannot be opened. */
ssize_t h_disk_list(const struct h_ctx *c, const char *reldir, char ***ret);
/* A hard link new_rel to existing_rel, both in the root. */
void h_disk_link(const struct h_ctx *c, const char *existing_rel, const char *new_rel);
/* Fails unless rel is a regular file holding exactly these bytes. */
void h_assert_disk_(const struct h_ctx *c, const char *rel, const void *data, size_t len,
		    const char *file, int line);
#define h_assert_disk(c, rel, data, len) h_assert_disk_((c), (rel), (data), (len), __FILE__, __LINE__)
#define h_assert_disk_str(c, rel, str) h_assert_disk_((c), (rel), (str), strlen(str), __FILE__, __LINE__)
/* Fails if rel exists (as anything). */
void h_assert_disk_absent_(const struct h_ctx *c, const char *rel, const char *file, int line);
#define h_assert_disk_absent(c, rel) h_assert_disk_absent_((c), (rel), __FILE__, __LINE__)
/* Names of .sealvault.part.* entries in a dir of the root (malloc'd). */
size_t h_disk_partials(const struct h_ctx *c, const char *reldir, char ***ret);
/* Registers p to be freed at teardown; returns p. */
void *h_gc(void *p);
void *h_xmalloc(size_t n);
/* Deterministic pseudo-random bytes. */
void h_pattern(void *buf, size_t len, uint32_t seed);
uint8_t *h_pattern_alloc(size_t len, uint32_t seed);

/* A file's identity and content, to prove later that nothing changed. */
struct h_snap {
	bool exists;
	struct stat st;
	uint8_t *data;
	size_t len;
};
void h_snap_take(const struct h_ctx *c, const char *rel, struct h_snap *snap);
/* Same inode, size, mode, owner, mtime, content (and ctime when asked). */
void h_assert_unchanged_(const struct h_ctx *c, const char *rel, const struct h_snap *snap,
			 bool ctime_too, const char *file, int line);
#define h_assert_unchanged(c, rel, snap, ctime_too) \
	h_assert_unchanged_((c), (rel), (snap), (ctime_too), __FILE__, __LINE__)

/* ---- the log -------------------------------------------------------------- */

/* Lines of the collected stderr that contain every given substring. */
size_t h_log_count(struct h_server *s, const char *sub1, const char *sub2);
/* Lines of the form `... refused OP "PATH": REASON` (PATH as logged, escaped). */
size_t h_log_refusals(struct h_server *s, const char *path);
void h_log_dump(struct h_server *s);

#endif
