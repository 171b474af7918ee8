/* SPDX-License-Identifier: MIT */
/*
 * vault.conf: a line-based push parser in the shape of wireguard-tools'
 * config_read_init/line/finish, and the two loaders that feed it (files
 * with their includes, and strings). The parser owns the half-built policy
 * and hands it out only from config_read_finish(), after the whole-config
 * checks; any failure frees it, so a caller never sees a partial policy.
 *
 * Every error names the file and line and quotes the offending word, with
 * control and non-ASCII bytes escaped. Every resource the configuration
 * controls is bounded (the CONFIG_*_MAX below).
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy.h"
#include "policy-internal.h"

#define CONFIG_LINE_MAX		4096		/* bytes in a line, without its newline */
#define CONFIG_WORDS_MAX	16		/* words in a statement */
#define CONFIG_BYTES_MAX	(16u << 20)	/* bytes read in all files together */
#define CONFIG_FILES_MAX	256		/* files read, vault.conf included */
#define CONFIG_DEPTH_MAX	8		/* include nesting below vault.conf */
#define CONFIG_PROFILES_MAX	1024		/* built-ins included */
#define CONFIG_RULES_MAX	1024		/* per profile */
#define CONFIG_TENANTS_MAX	4096
#define CONFIG_NAME_MAX		64		/* profile and tenant names */
#define CONFIG_USER_MAX		255		/* LOGIN_NAME_MAX without its NUL */
#define QUOTE_MAX		72		/* a quoted word in a message, quotes and NUL included */
#define PATH_QUOTE_MAX		128		/* a quoted file name in a message */

#define BUILTIN_FILE		"<built-in>"

#define ELEMENTSOF(a)		(sizeof(a) / sizeof((a)[0]))

static const char *const class_names[] = {
	[POLICY_SEAL] = "seal",
	[POLICY_TEMP] = "temp",
	[POLICY_MUTABLE] = "mutable",
	[POLICY_VERSIONED] = "versioned",
	[POLICY_DENY] = "deny",
};

enum value_type {
	VAL_PATH,		/* absolute, stored normalised; "/" is refused */
	VAL_USER,
	VAL_NAME,		/* a profile or tenant name */
	VAL_SIZE,
	VAL_COUNT,
	VAL_DURATION,
	VAL_BOOL,
	VAL_WATCHER,		/* auto, fanotify, inotify, off */
	VAL_ADDRS,		/* one or more addresses or prefixes (struct policy_addr) */
	VAL_ENDPOINTS,		/* one or more ADDR:PORT or [ADDR6]:PORT (struct policy_endpoint) */
};

struct key {
	const char *name;
	enum value_type type;
	size_t offset;		/* of the field in struct policy or struct policy_tenant */
};

enum {
	GK_BROKER_SOCKET, GK_CONTROL_SOCKET, GK_JOURNAL_SOCKET, GK_ATTIC, GK_PARTIAL_GRACE,
	GK_WATCHER, GK_KERNEL_AUDIT, GK_SETTLE, GK_ATTIC_GRACE,
	GK_STATE_DIR, GK_LISTEN, GK_LISTEN_USER, GK_HOST_KEY, GK_LISTEN_MAX_CONN,
	GK_LISTEN_MAX_PER_ADDR, GK_LISTEN_MAX_AUTH, GK_LISTEN_GRACE, GK_LISTEN_IDLE,
};
static const struct key global_keys[] = {
	[GK_BROKER_SOCKET] = { "broker-socket", VAL_PATH, offsetof(struct policy, broker_socket) },
	[GK_CONTROL_SOCKET] = { "control-socket", VAL_PATH, offsetof(struct policy, control_socket) },
	[GK_JOURNAL_SOCKET] = { "journal-socket", VAL_PATH, offsetof(struct policy, journal_socket) },
	[GK_ATTIC] = { "attic", VAL_PATH, offsetof(struct policy, attic) },
	[GK_PARTIAL_GRACE] = { "partial-grace", VAL_DURATION, offsetof(struct policy, partial_grace_s) },
	[GK_WATCHER] = { "watcher", VAL_WATCHER, offsetof(struct policy, watcher) },
	[GK_KERNEL_AUDIT] = { "kernel-audit", VAL_BOOL, offsetof(struct policy, kernel_audit) },
	[GK_SETTLE] = { "settle", VAL_DURATION, offsetof(struct policy, settle_s) },
	[GK_ATTIC_GRACE] = { "attic-grace", VAL_DURATION, offsetof(struct policy, attic_grace_s) },
	[GK_STATE_DIR] = { "state-dir", VAL_PATH, offsetof(struct policy, state_dir) },
	/* vault-listen, the standalone SSH listener */
	[GK_LISTEN] = { "listen", VAL_ENDPOINTS, offsetof(struct policy, listen) },
	[GK_LISTEN_USER] = { "listen-user", VAL_USER, offsetof(struct policy, listen_user) },
	[GK_HOST_KEY] = { "host-key", VAL_PATH, offsetof(struct policy, host_key) },
	[GK_LISTEN_MAX_CONN] = { "listen-max-connections", VAL_COUNT,
				 offsetof(struct policy, listen_max_connections) },
	[GK_LISTEN_MAX_PER_ADDR] = { "listen-max-per-address", VAL_COUNT,
				     offsetof(struct policy, listen_max_per_address) },
	[GK_LISTEN_MAX_AUTH] = { "listen-max-auth-tries", VAL_COUNT,
				 offsetof(struct policy, listen_max_auth_tries) },
	[GK_LISTEN_GRACE] = { "listen-login-grace", VAL_DURATION, offsetof(struct policy, listen_login_grace_s) },
	[GK_LISTEN_IDLE] = { "listen-idle-timeout", VAL_DURATION, offsetof(struct policy, listen_idle_s) },
};

static const char *const watcher_names[] = {
	[POLICY_WATCHER_AUTO] = "auto",
	[POLICY_WATCHER_FANOTIFY] = "fanotify",
	[POLICY_WATCHER_INOTIFY] = "inotify",
	[POLICY_WATCHER_OFF] = "off",
};

/* The first three are required; check_tenant() relies on the order. */
enum { TK_USER, TK_ROOT, TK_PROFILE, TK_MAINT_USER, TK_MAINT_FROM };
static const struct key tenant_keys[] = {
	[TK_USER] = { "user", VAL_USER, offsetof(struct policy_tenant, user) },
	[TK_ROOT] = { "root", VAL_PATH, offsetof(struct policy_tenant, root) },
	[TK_PROFILE] = { "profile", VAL_NAME, offsetof(struct policy_tenant, profile_name) },
	[TK_MAINT_USER] = { "maintenance-user", VAL_USER, offsetof(struct policy_tenant, maint_user) },
	[TK_MAINT_FROM] = { "maintenance-from", VAL_ADDRS, offsetof(struct policy_tenant, maint_from) },
	{ "authorized-keys", VAL_PATH, offsetof(struct policy_tenant, authorized_keys) },
	{ "maintenance-keys", VAL_PATH, offsetof(struct policy_tenant, maint_keys) },
	{ "quota-bytes", VAL_SIZE, offsetof(struct policy_tenant, quota_bytes) },
	{ "quota-files", VAL_COUNT, offsetof(struct policy_tenant, quota_files) },
	{ "write-only", VAL_BOOL, offsetof(struct policy_tenant, write_only) },
	{ "retention", VAL_DURATION, offsetof(struct policy_tenant, retention_s) },
};

struct word {
	char *s;
	bool quoted;		/* a quoted "{" or "}" is a word, not a brace */
};

/* Where each key of a tenant was set (0: not set), for the checks at the end. */
struct tenant_lines {
	unsigned line[ELEMENTSOF(tenant_keys)];
};

struct include_frame {
	dev_t dev;
	ino_t ino;
};

enum block {
	BLOCK_NONE,
	BLOCK_PROFILE,
	BLOCK_TENANT,
};

struct config_ctx {
	struct policy *p;
	struct policy_error *err;
	int r;			/* the first error; the parser stops there */
	const char *file;	/* being read; objects copy it */
	unsigned line;
	bool builtin;		/* reading policy_builtin_profiles */
	bool includes;		/* policy_load(), not policy_load_string() */
	enum block block;
	unsigned block_line;
	unsigned global_seen;	/* bit i: global_keys[i] */
	bool times_seen, chmod_seen;
	size_t cap_profiles, cap_rules, cap_tenants, cap_lines;
	size_t n_builtin;	/* p->profiles[0 .. n_builtin) are the built-ins */
	struct tenant_lines *lines;	/* parallel to p->tenants */
	size_t bytes;
	unsigned n_files;
	unsigned depth;		/* files being read */
	struct include_frame chain[CONFIG_DEPTH_MAX + 1];
	char words[CONFIG_LINE_MAX + 1];	/* the current line, split */
};

static bool
char_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static size_t
escape_char(unsigned char c, char *out)
{
	static const char hex[] = "0123456789abcdef";

	if (c == '"' || c == '\\') {
		out[0] = '\\';
		out[1] = (char)c;
		return 2;
	}
	if (c < 0x20 || c >= 0x7f) {
		out[0] = '\\';
		out[1] = 'x';
		out[2] = hex[c >> 4];
		out[3] = hex[c & 0xf];
		return 4;
	}
	out[0] = (char)c;
	return 1;
}

/*
 * s made safe for any terminal: '"' and '\\' escaped, control and
 * non-ASCII bytes as \xNN. What does not fit in size (>= 16) is cut at
 * "...", keeping the head of a word or the tail of a path (its file name).
 */
static const char *
escape(char *buf, size_t size, const char *s, bool quotes, bool keep_tail)
{
	size_t room = size - 1 - (quotes ? 2 : 0), total = 0, used = 0, o = 0;
	const char *from = s, *to = s + strlen(s);
	char tmp[4];

	for (const char *c = s; c < to; c++)
		total += escape_char((unsigned char)*c, tmp);
	if (total > room) {
		if (keep_tail) {
			for (from = to; from > s && used + escape_char((unsigned char)from[-1], tmp) <= room - 3; from--)
				used += escape_char((unsigned char)from[-1], tmp);
		} else {
			for (to = s; *to != '\0' && used + escape_char((unsigned char)*to, tmp) <= room - 3; to++)
				used += escape_char((unsigned char)*to, tmp);
		}
	}
	if (quotes)
		buf[o++] = '"';
	if (from != s) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	for (const char *c = from; c < to; c++)
		o += escape_char((unsigned char)*c, buf + o);
	if (*to != '\0') {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	if (quotes)
		buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

/* A word of the configuration, quoted for a message. */
static const char *
quote(char buf[static QUOTE_MAX], const char *s)
{
	return escape(buf, QUOTE_MAX, s, true, false);
}

/* A file name, quoted for a message. */
static const char *
quote_path(char buf[static PATH_QUOTE_MAX], const char *s)
{
	return escape(buf, PATH_QUOTE_MAX, s, true, true);
}

/* A file name where a message refers to another place ("(a.conf:3)"). */
static const char *
where(char buf[static PATH_QUOTE_MAX], const char *s)
{
	return escape(buf, PATH_QUOTE_MAX, s, false, true);
}

static int __attribute__((format(printf, 5, 6)))
config_error_at(struct config_ctx *ctx, const char *file, unsigned line, int r, const char *fmt, ...)
{
	va_list ap;

	if (ctx->r != 0)
		return ctx->r;
	ctx->r = r;
	escape(ctx->err->file, sizeof(ctx->err->file), file != NULL ? file : "", false, true);
	ctx->err->line = line;
	va_start(ap, fmt);
	vsnprintf(ctx->err->message, sizeof(ctx->err->message), fmt, ap);
	va_end(ap);
	return r;
}

#define config_error(ctx, r, ...) config_error_at((ctx), (ctx)->file, (ctx)->line, (r), __VA_ARGS__)

static int
config_oom(struct config_ctx *ctx)
{
	return config_error(ctx, -ENOMEM, "out of memory");
}

static int
grow(void **arr, size_t *cap, size_t n, size_t size)
{
	size_t ncap;
	void *a;

	if (n < *cap)
		return 0;
	ncap = *cap != 0 ? *cap * 2 : 8;
	a = reallocarray(*arr, ncap, size);
	if (a == NULL)
		return -ENOMEM;
	*arr = a;
	*cap = ncap;
	return 0;
}

/* A decimal prefix of s; *end is left after it. */
static int
parse_digits(const char *s, const char **end, uint64_t *ret)
{
	uint64_t v = 0;

	if (!char_is_digit(*s))
		return -EINVAL;
	for (; char_is_digit(*s); s++) {
		unsigned d = (unsigned)(*s - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*end = s;
	*ret = v;
	return 0;
}

static int
safe_atou64(const char *s, uint64_t *ret)
{
	const char *end;
	uint64_t v;
	int r;

	r = parse_digits(s, &end, &v);
	if (r < 0)
		return r;
	if (*end != '\0')
		return -EINVAL;
	*ret = v;
	return 0;
}

/* A number with an optional single suffix, which multiplies it. */
static int
parse_suffixed(const char *s, const char *suffixes, const uint64_t *mult, uint64_t *ret)
{
	const char *end, *hit;
	uint64_t v, m = 1;
	int r;

	r = parse_digits(s, &end, &v);
	if (r < 0)
		return r;
	if (*end != '\0') {
		if (end[1] != '\0' || (hit = strchr(suffixes, *end)) == NULL)
			return -EINVAL;
		m = mult[hit - suffixes];
	}
	if (v > UINT64_MAX / m)
		return -ERANGE;
	*ret = v * m;
	return 0;
}

static int
parse_size(const char *s, uint64_t *ret)
{
	static const uint64_t mult[] = {
		1ULL << 10, 1ULL << 10, 1ULL << 20, 1ULL << 20,
		1ULL << 30, 1ULL << 30, 1ULL << 40, 1ULL << 40,
	};

	return parse_suffixed(s, "kKmMgGtT", mult, ret);
}

int
policy_parse_duration(const char *s, uint64_t *ret)
{
	static const uint64_t mult[] = { 1, 60, 3600, 86400, 604800 };

	return parse_suffixed(s, "smhdw", mult, ret);
}

static int
parse_bool(const char *s, bool *ret)
{
	if (strcmp(s, "yes") == 0 || strcmp(s, "true") == 0)
		*ret = true;
	else if (strcmp(s, "no") == 0 || strcmp(s, "false") == 0)
		*ret = false;
	else
		return -EINVAL;
	return 0;
}

/* [a-z0-9][a-z0-9_-]{0,63} */
static bool
name_is_valid(const char *s)
{
	size_t n = 0;

	if (!(char_is_digit(*s) || (*s >= 'a' && *s <= 'z')))
		return false;
	for (; *s != '\0'; s++, n++)
		if (!(char_is_digit(*s) || (*s >= 'a' && *s <= 'z') || *s == '_' || *s == '-'))
			return false;
	return n <= CONFIG_NAME_MAX;
}

/* A system user name as sshd and passwd take it; a leading '-' would read as an option. */
static bool
user_is_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > CONFIG_USER_MAX || s[0] == '-')
		return false;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= ' ' || c >= 0x7f || c == ':' || c == '/')
			return false;
	}
	return true;
}

/*
 * An absolute path without "." or ".." components, with repeated and
 * trailing slashes dropped, so that equal directories compare equal.
 */
static int
parse_path(struct config_ctx *ctx, const char *key, const char *v, char **ret)
{
	char q[QUOTE_MAX];
	size_t n = strlen(v), o = 0;
	const char *s = v;
	char *out;

	if (v[0] != '/')
		return config_error(ctx, -EINVAL, "%s must be an absolute path, not %s", key, quote(q, v));
	if (n >= PATH_MAX)
		return config_error(ctx, -ENAMETOOLONG, "%s %s is longer than %d bytes", key, quote(q, v),
				    PATH_MAX - 1);
	out = malloc(n + 1);
	if (out == NULL)
		return config_oom(ctx);
	while (*s != '\0') {
		const char *start;
		size_t len;

		while (*s == '/')
			s++;
		start = s;
		while (*s != '\0' && *s != '/')
			s++;
		len = (size_t)(s - start);
		if (len == 0)
			continue;
		if (start[0] == '.' && (len == 1 || (len == 2 && start[1] == '.'))) {
			free(out);
			return config_error(ctx, -EINVAL, "%s %s has a \".\" or \"..\" component", key, quote(q, v));
		}
		out[o++] = '/';
		memcpy(out + o, start, len);
		o += len;
	}
	out[o] = '\0';
	if (o == 0) {
		free(out);
		return config_error(ctx, -EINVAL, "%s must not be \"/\"", key);
	}
	*ret = out;
	return 0;
}

/*
 * The '[' at p opens a class if a ']' closes it within the component; this
 * must agree with class_end() in glob.c, which reads an unclosed '[' as a
 * literal where the loader refuses it.
 */
static const char *
pattern_class_end(const char *p)
{
	const char *q = p + 1;

	if (*q == '!' || *q == '^')
		q++;
	if (*q == ']')
		q++;
	while (*q != '\0' && *q != '/' && *q != ']')
		q++;
	return *q == ']' ? q : NULL;
}

/* Why pattern (trailing '/' already expanded) is refused, or NULL. */
static const char *
pattern_problem(const char *pattern)
{
	const char *s = pattern;

	if (*s == '\0')
		return "is empty";
	if (*s == '/')
		return "starts with \"/\" (patterns are relative to the root)";
	while (*s != '\0') {
		const char *start = s;
		bool stars = false;
		size_t len;

		for (; *s != '\0' && *s != '/'; s++) {
			const char *end;

			if (*s == '*' && s[1] == '*')
				stars = true;
			if (*s != '[')
				continue;
			end = pattern_class_end(s);
			if (end == NULL)
				return "has a \"[\" without its \"]\"";
			for (const char *q = s + 1 + (s[1] == '!' || s[1] == '^'); q + 2 < end; q++)
				if (q[1] == '-' && (unsigned char)q[0] > (unsigned char)q[2])
					return "has a range that runs backwards";
			s = end;
		}
		len = (size_t)(s - start);
		if (len == 0)
			return "has an empty component";
		if (start[0] == '.' && (len == 1 || (len == 2 && start[1] == '.')))
			return "has a \".\" or \"..\" component";
		if (stars && !(len == 2 && start[0] == '*' && start[1] == '*'))
			return "has \"**\" inside a component (it must be a whole component)";
		if (*s == '/')
			s++;
	}
	return NULL;
}

static const struct key *
find_key(const struct key *keys, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

static int
set_value(struct config_ctx *ctx, const struct key *k, const char *v, void *base)
{
	void *dst = (char *)base + k->offset;
	char q[QUOTE_MAX];
	char *s = NULL;
	uint64_t u;
	bool b;
	int r;

	switch (k->type) {
	case VAL_PATH:
		r = parse_path(ctx, k->name, v, &s);
		if (r < 0)
			return r;
		free(*(char **)dst);
		*(char **)dst = s;
		return 0;
	case VAL_USER:
	case VAL_NAME:
		if (k->type == VAL_USER ? !user_is_valid(v) : !name_is_valid(v))
			return config_error(ctx, -EINVAL, "bad %s name %s", k->name, quote(q, v));
		s = strdup(v);
		if (s == NULL)
			return config_oom(ctx);
		free(*(char **)dst);
		*(char **)dst = s;
		return 0;
	case VAL_SIZE:
		r = parse_size(v, &u);
		if (r == -ERANGE)
			return config_error(ctx, r, "size %s for %s is too large", quote(q, v), k->name);
		if (r < 0)
			return config_error(ctx, r, "bad size %s for %s (a number with an optional k, M, G or T)",
					    quote(q, v), k->name);
		*(uint64_t *)dst = u;
		return 0;
	case VAL_COUNT:
		r = safe_atou64(v, &u);
		if (r == -ERANGE)
			return config_error(ctx, r, "count %s for %s is too large", quote(q, v), k->name);
		if (r < 0)
			return config_error(ctx, r, "bad count %s for %s", quote(q, v), k->name);
		*(uint64_t *)dst = u;
		return 0;
	case VAL_DURATION:
		r = policy_parse_duration(v, &u);
		if (r == -ERANGE)
			return config_error(ctx, r, "duration %s for %s is too large", quote(q, v), k->name);
		if (r < 0)
			return config_error(ctx, r, "bad duration %s for %s (a number with s, m, h, d or w)",
					    quote(q, v), k->name);
		*(uint64_t *)dst = u;
		return 0;
	case VAL_BOOL:
		if (parse_bool(v, &b) < 0)
			return config_error(ctx, -EINVAL, "bad value %s for %s (yes, no, true or false)",
					    quote(q, v), k->name);
		*(bool *)dst = b;
		return 0;
	case VAL_WATCHER:
		for (size_t i = 0; i < ELEMENTSOF(watcher_names); i++)
			if (strcmp(v, watcher_names[i]) == 0) {
				*(enum policy_watcher *)dst = (enum policy_watcher)i;
				return 0;
			}
		return config_error(ctx, -EINVAL, "bad value %s for %s (auto, fanotify, inotify or off)",
				    quote(q, v), k->name);
	case VAL_ADDRS:
	case VAL_ENDPOINTS:
		break;		/* several words: set_addrs(), set_endpoints() */
	}
	return config_error(ctx, -EINVAL, "internal error: key %s", k->name);
}

/* Splits line[0, len) into w[], copied to ctx->words; '#' at the start of a word ends the line. */
static int
split_words(struct config_ctx *ctx, const char *line, size_t len, struct word *w, size_t *ret_n)
{
	const char *s = line, *end = line + len;
	char q[QUOTE_MAX];
	char *out = ctx->words;
	size_t n = 0;

	for (const char *c = line; c < end; c++)
		if (((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7f)
			return config_error(ctx, -EINVAL, "control character 0x%02x in the line",
					    (unsigned)(unsigned char)*c);
	for (;;) {
		const char *start;

		while (s < end && (*s == ' ' || *s == '\t'))
			s++;
		if (s == end || *s == '#')
			break;
		if (n == CONFIG_WORDS_MAX)
			return config_error(ctx, -E2BIG, "more than %d words in a statement", CONFIG_WORDS_MAX);
		start = s;
		w[n].s = out;
		w[n].quoted = *s == '"';
		if (w[n].quoted) {
			for (s++;; s++) {
				if (s == end)
					return config_error(ctx, -EINVAL, "unterminated quote in %s", quote(q, start));
				if (*s == '"')
					break;
				if (*s == '\\') {
					if (s + 1 == end || (s[1] != '"' && s[1] != '\\'))
						return config_error(ctx, -EINVAL,
								    "bad escape in %s (only \\\" and \\\\)",
								    quote(q, start));
					s++;
				}
				*out++ = *s;
			}
			s++;
			if (s < end && *s != ' ' && *s != '\t')
				return config_error(ctx, -EINVAL, "bad quoting: text after the closing quote in %s",
						    quote(q, start));
		} else {
			for (; s < end && *s != ' ' && *s != '\t'; s++) {
				if (*s == '"')
					return config_error(ctx, -EINVAL, "bad quoting: a quote inside the word %s",
							    quote(q, start));
				*out++ = *s;
			}
		}
		/* A copy is never longer than its source, and each word's NUL takes its separator's place. */
		*out++ = '\0';
		n++;
	}
	*ret_n = n;
	return 0;
}

static bool
word_is(const struct word *w, const char *s)
{
	return !w->quoted && strcmp(w->s, s) == 0;
}

static struct policy_profile *
find_profile(const struct policy *p, const char *name)
{
	for (size_t i = 0; i < p->n_profiles; i++)
		if (p->profiles[i].name != NULL && strcmp(p->profiles[i].name, name) == 0)
			return &p->profiles[i];
	return NULL;
}

static int
open_profile(struct config_ctx *ctx, const char *name)
{
	char q[QUOTE_MAX], w[PATH_QUOTE_MAX];
	struct policy_profile *prof;
	struct policy *p = ctx->p;

	if (!name_is_valid(name))
		return config_error(ctx, -EINVAL, "bad profile name %s ([a-z0-9][a-z0-9_-]*, at most %d)",
				    quote(q, name), CONFIG_NAME_MAX);
	prof = find_profile(p, name);
	if (prof != NULL && (size_t)(prof - p->profiles) < ctx->n_builtin)
		return config_error(ctx, -EEXIST, "profile %s redefines the built-in profile (%s:%u)",
				    quote(q, name), where(w, prof->file), prof->line);
	if (prof != NULL)
		return config_error(ctx, -EEXIST, "duplicate profile %s (first defined at %s:%u)",
				    quote(q, name), where(w, prof->file), prof->line);
	if (p->n_profiles >= CONFIG_PROFILES_MAX)
		return config_error(ctx, -E2BIG, "more than %d profiles", CONFIG_PROFILES_MAX);
	if (grow((void **)&p->profiles, &ctx->cap_profiles, p->n_profiles, sizeof(*p->profiles)) < 0)
		return config_oom(ctx);
	prof = &p->profiles[p->n_profiles++];
	*prof = (struct policy_profile){
		.times = POLICY_SETSTAT_REFUSE,
		.chmod = POLICY_SETSTAT_REFUSE,
		.line = ctx->line,
	};
	prof->name = strdup(name);
	prof->file = strdup(ctx->file);
	if (prof->name == NULL || prof->file == NULL)
		return config_oom(ctx);
	ctx->cap_rules = 0;
	ctx->times_seen = ctx->chmod_seen = false;
	ctx->block = BLOCK_PROFILE;
	ctx->block_line = ctx->line;
	return 0;
}

static int
open_tenant(struct config_ctx *ctx, const char *name)
{
	char q[QUOTE_MAX];
	struct policy_tenant *t;
	struct policy *p = ctx->p;

	if (ctx->builtin)
		return config_error(ctx, -EINVAL, "only profiles can be built in");
	if (!name_is_valid(name))
		return config_error(ctx, -EINVAL, "bad tenant name %s ([a-z0-9][a-z0-9_-]*, at most %d)",
				    quote(q, name), CONFIG_NAME_MAX);
	if (p->n_tenants >= CONFIG_TENANTS_MAX)
		return config_error(ctx, -E2BIG, "more than %d tenants", CONFIG_TENANTS_MAX);
	if (grow((void **)&ctx->lines, &ctx->cap_lines, p->n_tenants, sizeof(*ctx->lines)) < 0 ||
	    grow((void **)&p->tenants, &ctx->cap_tenants, p->n_tenants, sizeof(*p->tenants)) < 0)
		return config_oom(ctx);
	ctx->lines[p->n_tenants] = (struct tenant_lines){ 0 };
	t = &p->tenants[p->n_tenants++];
	*t = (struct policy_tenant){ .line = ctx->line };
	t->name = strdup(name);
	t->file = strdup(ctx->file);
	if (t->name == NULL || t->file == NULL)
		return config_oom(ctx);
	ctx->block = BLOCK_TENANT;
	ctx->block_line = ctx->line;
	return 0;
}

static int
open_block(struct config_ctx *ctx, const struct word *w, size_t n)
{
	char q[QUOTE_MAX];
	bool profile = strcmp(w[0].s, "profile") == 0, tenant = strcmp(w[0].s, "tenant") == 0;

	if (ctx->block != BLOCK_NONE)
		return config_error(ctx, -EINVAL, "%s opens a block inside the block of line %u (blocks do not nest)",
				    quote(q, w[0].s), ctx->block_line);
	if (!profile && !tenant)
		return config_error(ctx, -EINVAL, "unknown block %s", quote(q, w[0].s));
	if (n != 3)
		return config_error(ctx, -EINVAL, "expected \"%s NAME {\"", w[0].s);
	return profile ? open_profile(ctx, w[1].s) : open_tenant(ctx, w[1].s);
}

static int
check_tenant(struct config_ctx *ctx)
{
	const struct policy_tenant *t = &ctx->p->tenants[ctx->p->n_tenants - 1];
	const struct tenant_lines *l = &ctx->lines[ctx->p->n_tenants - 1];
	char q[QUOTE_MAX];

	for (size_t i = TK_USER; i <= TK_PROFILE; i++)
		if (l->line[i] == 0)
			return config_error_at(ctx, t->file, t->line, -EINVAL, "tenant %s has no %s",
					       quote(q, t->name), tenant_keys[i].name);
	/* A maintenance credential is bound to addresses, always. */
	if ((l->line[TK_MAINT_USER] == 0) != (l->line[TK_MAINT_FROM] == 0))
		return config_error_at(ctx, t->file, t->line, -EINVAL,
				       "tenant %s has %s without %s (they go together)", quote(q, t->name),
				       tenant_keys[l->line[TK_MAINT_USER] ? TK_MAINT_USER : TK_MAINT_FROM].name,
				       tenant_keys[l->line[TK_MAINT_USER] ? TK_MAINT_FROM : TK_MAINT_USER].name);
	if (t->maint_user != NULL && strcmp(t->maint_user, t->user) == 0)
		return config_error_at(ctx, t->file, l->line[TK_MAINT_USER], -EINVAL,
				       "maintenance-user %s is the tenant's own user (it must be another one)",
				       quote(q, t->maint_user));
	return 0;
}

static int
close_block(struct config_ctx *ctx, size_t n, const struct word *w)
{
	char q[QUOTE_MAX];
	enum block b = ctx->block;

	if (n > 1)
		return config_error(ctx, -EINVAL, "unexpected %s after \"}\"", quote(q, w[1].s));
	if (b == BLOCK_NONE)
		return config_error(ctx, -EINVAL, "\"}\" without a block");
	ctx->block = BLOCK_NONE;
	return b == BLOCK_TENANT ? check_tenant(ctx) : 0;
}

static int
parse_rule(struct config_ctx *ctx, struct policy_profile *prof, const struct word *w, size_t n)
{
	char q[QUOTE_MAX];
	struct policy_rule rule = { .line = ctx->line };
	bool have_files = false, have_size = false;
	const char *why;
	size_t len, c;

	if (n < 3)
		return config_error(ctx, -EINVAL, "expected \"path PATTERN CLASS [OPTION=VALUE ...]\"");
	if (prof->n_rules >= CONFIG_RULES_MAX)
		return config_error(ctx, -E2BIG, "more than %d rules in profile %s", CONFIG_RULES_MAX,
				    quote(q, prof->name));
	len = strlen(w[1].s);
	if (len + 2 >= PATH_MAX)
		return config_error(ctx, -ENAMETOOLONG, "pattern %s is longer than %d bytes", quote(q, w[1].s),
				    PATH_MAX - 3);
	for (c = 0; c < ELEMENTSOF(class_names); c++)
		if (strcmp(w[2].s, class_names[c]) == 0)
			break;
	if (c == ELEMENTSOF(class_names))
		return config_error(ctx, -EINVAL, "unknown class %s (seal, temp, mutable, versioned or deny)",
				    quote(q, w[2].s));
	rule.cls = (enum policy_class)c;

	for (size_t i = 3; i < n; i++) {
		const char *eq = strchr(w[i].s, '=');
		size_t klen = eq != NULL ? (size_t)(eq - w[i].s) : strlen(w[i].s);
		bool files = klen == 9 && strncmp(w[i].s, "max-files", 9) == 0;
		bool size = klen == 8 && strncmp(w[i].s, "max-size", 8) == 0;
		const struct key k = {
			files ? "max-files" : "max-size",
			files ? VAL_COUNT : VAL_SIZE,
			files ? offsetof(struct policy_rule, max_files) : offsetof(struct policy_rule, max_size),
		};

		if (!files && !size)
			return config_error(ctx, -EINVAL, "unknown rule option %s (max-files=N or max-size=SIZE)",
					    quote(q, w[i].s));
		if (eq == NULL)
			return config_error(ctx, -EINVAL, "rule option %s needs a value", quote(q, w[i].s));
		if (rule.cls != POLICY_MUTABLE)
			return config_error(ctx, -EINVAL, "rule option %s is only for mutable rules, not %s",
					    quote(q, w[i].s), class_names[rule.cls]);
		if ((files && have_files) || (size && have_size))
			return config_error(ctx, -EINVAL, "rule option %s is given twice", quote(q, w[i].s));
		have_files |= files;
		have_size |= size;
		if (set_value(ctx, &k, eq + 1, &rule) < 0)
			return ctx->r;
	}

	/* A trailing '/' means everything below: ".ssh/" is ".ssh/" + "**". */
	rule.pattern = malloc(len + 3);
	if (rule.pattern == NULL)
		return config_oom(ctx);
	memcpy(rule.pattern, w[1].s, len + 1);
	if (len > 0 && w[1].s[len - 1] == '/')
		memcpy(rule.pattern + len, "**", 3);
	why = pattern_problem(rule.pattern);
	if (why != NULL) {
		free(rule.pattern);
		return config_error(ctx, -EINVAL, "pattern %s %s", quote(q, w[1].s), why);
	}
	rule.file = strdup(ctx->file);
	if (rule.file == NULL ||
	    grow((void **)&prof->rules, &ctx->cap_rules, prof->n_rules, sizeof(*prof->rules)) < 0) {
		free(rule.pattern);
		free(rule.file);
		return config_oom(ctx);
	}
	prof->rules[prof->n_rules++] = rule;
	return 0;
}

static int
parse_setstat(struct config_ctx *ctx, const struct word *w, size_t n, bool *seen, enum policy_setstat *ret)
{
	char q[QUOTE_MAX];

	if (*seen)
		return config_error(ctx, -EINVAL, "%s is set twice in this profile", w[0].s);
	if (n != 2)
		return config_error(ctx, -EINVAL, "expected \"%s refuse|ignore\"", w[0].s);
	if (strcmp(w[1].s, "refuse") == 0)
		*ret = POLICY_SETSTAT_REFUSE;
	else if (strcmp(w[1].s, "ignore") == 0)
		*ret = POLICY_SETSTAT_IGNORE;
	else
		return config_error(ctx, -EINVAL, "bad value %s for %s (refuse or ignore)", quote(q, w[1].s), w[0].s);
	*seen = true;
	return 0;
}

static int
profile_statement(struct config_ctx *ctx, const struct word *w, size_t n)
{
	struct policy_profile *prof = &ctx->p->profiles[ctx->p->n_profiles - 1];
	char q[QUOTE_MAX];

	if (strcmp(w[0].s, "path") == 0)
		return parse_rule(ctx, prof, w, n);
	if (strcmp(w[0].s, "times") == 0)
		return parse_setstat(ctx, w, n, &ctx->times_seen, &prof->times);
	if (strcmp(w[0].s, "chmod") == 0)
		return parse_setstat(ctx, w, n, &ctx->chmod_seen, &prof->chmod);
	return config_error(ctx, -EINVAL, "unknown statement %s in a profile (path, times or chmod)",
			    quote(q, w[0].s));
}

/* maintenance-from ADDR [ADDR...]: each an address or a prefix. */
static int
set_addrs(struct config_ctx *ctx, const struct key *k, const struct word *w, size_t n, struct policy_tenant *t)
{
	char q[QUOTE_MAX];
	struct policy_addr *a;

	if (n == 0)
		return config_error(ctx, -EINVAL, "%s takes one or more addresses", k->name);
	a = calloc(n, sizeof(*a));
	if (a == NULL)
		return config_oom(ctx);
	for (size_t i = 0; i < n; i++)
		if (policy_parse_addr(w[i].s, &a[i]) < 0) {
			free(a);
			return config_error(ctx, -EINVAL,
					    "bad address %s for %s (an IPv4 or IPv6 address, or ADDR/BITS "
					    "without host bits)", quote(q, w[i].s), k->name);
		}
	free(t->maint_from);
	t->maint_from = a;
	t->n_maint_from = n;
	return 0;
}

/* listen ADDR:PORT [...]: "127.0.0.1:2222", "[::1]:2222"; numeric only, no name lookups. */
static int
set_endpoints(struct config_ctx *ctx, const struct key *k, const struct word *w, size_t n)
{
	struct policy_endpoint *e;
	char q[QUOTE_MAX];

	if (n == 0)
		return config_error(ctx, -EINVAL, "%s takes one or more ADDR:PORT", k->name);
	e = calloc(n, sizeof(*e));
	if (e == NULL)
		return config_oom(ctx);
	for (size_t i = 0; i < n; i++)
		if (policy_parse_endpoint(w[i].s, &e[i]) < 0) {
			free(e);
			return config_error(ctx, -EINVAL, "bad address %s for %s (ADDR:PORT or [ADDR6]:PORT, "
					    "port 1-65535)", quote(q, w[i].s), k->name);
		}
	free(ctx->p->listen);
	ctx->p->listen = e;
	ctx->p->n_listen = n;
	return 0;
}

static int
tenant_statement(struct config_ctx *ctx, const struct word *w, size_t n)
{
	const struct key *k = find_key(tenant_keys, ELEMENTSOF(tenant_keys), w[0].s);
	struct tenant_lines *l = &ctx->lines[ctx->p->n_tenants - 1];
	char q[QUOTE_MAX];
	size_t i;
	int r;

	if (k == NULL)
		return config_error(ctx, -EINVAL, "unknown key %s in a tenant", quote(q, w[0].s));
	i = (size_t)(k - tenant_keys);
	if (l->line[i] != 0)
		return config_error(ctx, -EINVAL, "%s is set twice in this tenant (first at line %u)", k->name,
				    l->line[i]);
	if (k->type == VAL_ADDRS)
		r = set_addrs(ctx, k, w + 1, n - 1, &ctx->p->tenants[ctx->p->n_tenants - 1]);
	else if (n != 2)
		return config_error(ctx, -EINVAL, "%s takes one value, not %zu", k->name, n - 1);
	else
		r = set_value(ctx, k, w[1].s, &ctx->p->tenants[ctx->p->n_tenants - 1]);
	if (r < 0)
		return r;
	l->line[i] = ctx->line;
	return 0;
}

static int config_include(struct config_ctx *ctx, const char *word);

static int
global_statement(struct config_ctx *ctx, const struct word *w, size_t n)
{
	const struct key *k;
	char q[QUOTE_MAX];
	unsigned bit;

	if (ctx->builtin)
		return config_error(ctx, -EINVAL, "only profiles can be built in, not %s", quote(q, w[0].s));
	if (strcmp(w[0].s, "include") == 0) {
		if (n != 2)
			return config_error(ctx, -EINVAL, "include takes one path or glob, not %zu", n - 1);
		if (!ctx->includes)
			return config_error(ctx, -EINVAL, "include of %s: includes are refused here",
					    quote(q, w[1].s));
		return config_include(ctx, w[1].s);
	}
	if (strcmp(w[0].s, "profile") == 0 || strcmp(w[0].s, "tenant") == 0)
		return config_error(ctx, -EINVAL, "expected \"%s NAME {\"", w[0].s);
	k = find_key(global_keys, ELEMENTSOF(global_keys), w[0].s);
	if (k == NULL)
		return config_error(ctx, -EINVAL, "unknown key %s", quote(q, w[0].s));
	bit = 1u << (k - global_keys);
	if (ctx->global_seen & bit)
		return config_error(ctx, -EINVAL, "%s is set twice", k->name);
	if (k->type == VAL_ENDPOINTS) {
		if (set_endpoints(ctx, k, w + 1, n - 1) < 0)
			return ctx->r;
		ctx->global_seen |= bit;
		return 0;
	}
	if (n != 2)
		return config_error(ctx, -EINVAL, "%s takes one value, not %zu", k->name, n - 1);
	if (set_value(ctx, k, w[1].s, ctx->p) < 0)
		return ctx->r;
	ctx->global_seen |= bit;
	return 0;
}

/*
 * The push parser. config_read_line() takes one line without its newline
 * (a trailing '\r' is dropped); the caller counts nothing, the context
 * does. config_read_end_file() checks that the file closed its block.
 */
static int
config_read_line(struct config_ctx *ctx, const char *line)
{
	struct word w[CONFIG_WORDS_MAX];
	size_t n = 0, len;
	char q[QUOTE_MAX];

	if (ctx->r != 0)
		return ctx->r;
	ctx->line++;
	len = strnlen(line, CONFIG_LINE_MAX + 1);
	if (len > CONFIG_LINE_MAX)
		return config_error(ctx, -E2BIG, "line longer than %d bytes", CONFIG_LINE_MAX);
	if (len > 0 && line[len - 1] == '\r')
		len--;		/* CRLF */
	if (split_words(ctx, line, len, w, &n) < 0)
		return ctx->r;
	if (n == 0)
		return 0;
	if (word_is(&w[0], "}"))
		return close_block(ctx, n, w);
	if (word_is(&w[n - 1], "{"))
		return open_block(ctx, w, n);
	if (strcmp(w[0].s, "include") == 0 && ctx->block != BLOCK_NONE)
		return config_error(ctx, -EINVAL, "include inside a block (of line %u)", ctx->block_line);
	switch (ctx->block) {
	case BLOCK_PROFILE:
		return profile_statement(ctx, w, n);
	case BLOCK_TENANT:
		return tenant_statement(ctx, w, n);
	case BLOCK_NONE:
		return global_statement(ctx, w, n);
	}
	return config_error(ctx, -EINVAL, "internal error at %s", quote(q, w[0].s));
}

static int
config_read_end_file(struct config_ctx *ctx)
{
	char q[QUOTE_MAX];
	const char *name;

	if (ctx->r != 0 || ctx->block == BLOCK_NONE)
		return ctx->r;
	name = ctx->block == BLOCK_PROFILE ? ctx->p->profiles[ctx->p->n_profiles - 1].name
					   : ctx->p->tenants[ctx->p->n_tenants - 1].name;
	return config_error_at(ctx, ctx->file, ctx->block_line, -EINVAL, "%s %s is not closed by \"}\"",
			       ctx->block == BLOCK_PROFILE ? "profile" : "tenant", quote(q, name));
}

static int
config_count_bytes(struct config_ctx *ctx, size_t n)
{
	ctx->bytes += n;
	if (ctx->bytes > CONFIG_BYTES_MAX)
		return config_error_at(ctx, ctx->file, ctx->line + 1, -E2BIG, "configuration larger than %u bytes",
				       CONFIG_BYTES_MAX);
	return 0;
}

/* Feeds text line by line under the current file name. */
static int
config_read_text(struct config_ctx *ctx, const char *text)
{
	char line[CONFIG_LINE_MAX + 1];
	const char *s = text;

	while (*s != '\0' && ctx->r == 0) {
		size_t len = strnlen(s, CONFIG_LINE_MAX + 1);
		const char *nl = memchr(s, '\n', len);

		if (nl != NULL)
			len = (size_t)(nl - s);
		if (config_count_bytes(ctx, len + (nl != NULL)) < 0)
			break;
		if (len > CONFIG_LINE_MAX)
			return config_error_at(ctx, ctx->file, ctx->line + 1, -E2BIG, "line longer than %d bytes",
					       CONFIG_LINE_MAX);
		memcpy(line, s, len);
		line[len] = '\0';
		config_read_line(ctx, line);
		s += len + (nl != NULL);
	}
	if (ctx->r != 0)
		return ctx->r;
	return config_read_end_file(ctx);
}

static int
config_read_stream(struct config_ctx *ctx, FILE *f)
{
	char line[CONFIG_LINE_MAX + 1];
	size_t len = 0;
	int c;

	while (ctx->r == 0 && (c = getc_unlocked(f)) != EOF) {
		if (config_count_bytes(ctx, 1) < 0)
			break;
		if (c == '\n') {
			line[len] = '\0';
			config_read_line(ctx, line);
			len = 0;
		} else if (c == '\0') {
			return config_error_at(ctx, ctx->file, ctx->line + 1, -EINVAL, "NUL byte in the line");
		} else if (len == CONFIG_LINE_MAX) {
			return config_error_at(ctx, ctx->file, ctx->line + 1, -E2BIG, "line longer than %d bytes",
					       CONFIG_LINE_MAX);
		} else {
			line[len++] = (char)c;
		}
	}
	if (ctx->r != 0)
		return ctx->r;
	if (ferror(f))
		return config_error_at(ctx, ctx->file, 0, -EIO, "read error");
	if (len > 0) {
		line[len] = '\0';
		if (config_read_line(ctx, line) < 0)
			return ctx->r;
	}
	return config_read_end_file(ctx);
}

/* Reads one file; errors opening it are reported where ctx stands (the include line). */
static int
config_read_path(struct config_ctx *ctx, const char *path)
{
	const char *saved_file = ctx->file;
	unsigned saved_line = ctx->line;
	char q[PATH_QUOTE_MAX];
	struct stat st;
	FILE *f;
	int fd, r;

	if (ctx->depth > CONFIG_DEPTH_MAX)
		return config_error(ctx, -ELOOP, "include of %s: includes nest deeper than %d",
				    quote_path(q, path), CONFIG_DEPTH_MAX);
	if (ctx->n_files >= CONFIG_FILES_MAX)
		return config_error(ctx, -E2BIG, "include of %s: more than %d files", quote_path(q, path),
				    CONFIG_FILES_MAX);
	/* O_NONBLOCK: a FIFO matched by a glob must not hang the load. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		return config_error(ctx, r, "cannot open %s: %s", quote_path(q, path), strerrordesc_np(-r));
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		close(fd);
		return config_error(ctx, r, "cannot stat %s: %s", quote_path(q, path), strerrordesc_np(-r));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return config_error(ctx, -EINVAL, "%s is not a regular file", quote_path(q, path));
	}
	for (unsigned i = 0; i < ctx->depth; i++)
		if (ctx->chain[i].dev == st.st_dev && ctx->chain[i].ino == st.st_ino) {
			close(fd);
			return config_error(ctx, -ELOOP, "include cycle: %s is already being read",
					    quote_path(q, path));
		}
	f = fdopen(fd, "r");
	if (f == NULL) {
		close(fd);
		return config_oom(ctx);
	}
	ctx->n_files++;
	ctx->chain[ctx->depth++] = (struct include_frame){ st.st_dev, st.st_ino };
	ctx->file = path;
	ctx->line = 0;
	r = config_read_stream(ctx, f);
	ctx->file = saved_file;
	ctx->line = saved_line;
	ctx->depth--;
	fclose(f);
	return r;
}

static int
cmp_string_ptr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A directory that is not there holds no matches; any other error stops glob(3). */
static int
glob_error(const char *epath, int eerrno)
{
	return eerrno != ENOENT && eerrno != ENOTDIR;
}

static int
config_include(struct config_ctx *ctx, const char *word)
{
	const char *slash = strrchr(ctx->file, '/');
	size_t dirlen = word[0] == '/' || slash == NULL ? 0 : (size_t)(slash - ctx->file) + 1;
	bool magic = strpbrk(word, "*?[") != NULL;
	char q[QUOTE_MAX];
	char *path;
	size_t o = 0;
	glob_t g;
	int r;

	if (dirlen + strlen(word) >= PATH_MAX)
		return config_error(ctx, -ENAMETOOLONG, "include of %s: the path is too long", quote(q, word));
	path = malloc(2 * dirlen + strlen(word) + 1);
	if (path == NULL)
		return config_oom(ctx);
	/* Relative to the including file; for glob(3) its directory is escaped. */
	for (size_t i = 0; i < dirlen; i++) {
		if (magic && strchr("*?[\\", ctx->file[i]) != NULL)
			path[o++] = '\\';
		path[o++] = ctx->file[i];
	}
	strcpy(path + o, word);
	if (!magic) {
		r = config_read_path(ctx, path);
		free(path);
		return r;
	}

	/* GLOB_NOSORT and a strcmp sort: the order must not depend on the locale. */
	r = glob(path, GLOB_NOSORT, glob_error, &g);
	free(path);
	if (r == GLOB_NOMATCH) {
		globfree(&g);
		return 0;
	}
	if (r == GLOB_NOSPACE)
		config_oom(ctx);
	else if (r != 0)
		config_error(ctx, -EIO, "include of %s: cannot read the directories it names", quote(q, word));
	else if (g.gl_pathc > CONFIG_FILES_MAX)
		config_error(ctx, -E2BIG, "include of %s: more than %d files", quote(q, word), CONFIG_FILES_MAX);
	if (ctx->r == 0) {
		qsort(g.gl_pathv, g.gl_pathc, sizeof(*g.gl_pathv), cmp_string_ptr);
		for (size_t i = 0; i < g.gl_pathc && ctx->r == 0; i++)
			config_read_path(ctx, g.gl_pathv[i]);
	}
	globfree(&g);
	return ctx->r;
}

static int
config_read_init(struct config_ctx *ctx, struct policy_error *err, bool includes)
{
	*ctx = (struct config_ctx){ .err = err };
	ctx->p = calloc(1, sizeof(*ctx->p));
	if (ctx->p == NULL)
		return config_error_at(ctx, "", 0, -ENOMEM, "out of memory");
	ctx->builtin = true;
	ctx->file = BUILTIN_FILE;
	config_read_text(ctx, policy_builtin_profiles);
	ctx->builtin = false;
	ctx->n_builtin = ctx->p->n_profiles;
	ctx->bytes = 0;		/* the limit is on what the administrator wrote */
	ctx->includes = includes;
	ctx->file = NULL;
	ctx->line = 0;
	return ctx->r;
}

/* Orders '/' before every other byte, so that "/a" is followed by all of "/a/..." first. */
static int
path_cmp(const char *a, const char *b)
{
	for (;; a++, b++) {
		int x = *a == '/' ? 1 : *a == '\0' ? 0 : (unsigned char)*a + 1;
		int y = *b == '/' ? 1 : *b == '\0' ? 0 : (unsigned char)*b + 1;

		if (x != y || x == 0)
			return x - y;
	}
}

struct ref {
	const char *key;
	size_t i;
};

static int
cmp_ref(const void *a, const void *b)
{
	const struct ref *x = a, *y = b;
	int r = path_cmp(x->key, y->key);

	if (r != 0)
		return r;
	return (x->i > y->i) - (x->i < y->i);
}

static bool
path_is_below(const char *inner, const char *outer)
{
	size_t n = strlen(outer);

	return strncmp(inner, outer, n) == 0 && (inner[n] == '/' || inner[n] == '\0');
}

/*
 * No two tenants share the field at offset; for roots (nested) also no
 * root inside another. Sorted, so that this is n log n for 4096 tenants.
 */
static int
check_unique(struct config_ctx *ctx, size_t offset, int key, bool nested)
{
	const struct policy *p = ctx->p;
	char q[QUOTE_MAX], w[PATH_QUOTE_MAX];
	struct ref *refs;

	if (p->n_tenants < 2)
		return 0;
	refs = calloc(p->n_tenants, sizeof(*refs));
	if (refs == NULL)
		return config_oom(ctx);
	for (size_t i = 0; i < p->n_tenants; i++)
		refs[i] = (struct ref){ *(char *const *)((const char *)&p->tenants[i] + offset), i };
	qsort(refs, p->n_tenants, sizeof(*refs), cmp_ref);
	for (size_t i = 1; i < p->n_tenants && ctx->r == 0; i++) {
		const struct policy_tenant *a = &p->tenants[refs[i - 1].i], *b = &p->tenants[refs[i].i];
		unsigned line = key < 0 ? b->line : ctx->lines[refs[i].i].line[key];
		bool same = strcmp(refs[i - 1].key, refs[i].key) == 0;

		if (same && key < 0)
			config_error_at(ctx, b->file, line, -EEXIST, "duplicate tenant %s (first defined at %s:%u)",
					quote(q, b->name), where(w, a->file), a->line);
		else if (same)
			config_error_at(ctx, b->file, line, -EEXIST, "%s %s is already the %s of tenant \"%s\" (%s:%u)",
					tenant_keys[key].name, quote(q, refs[i].key), tenant_keys[key].name,
					a->name, where(w, a->file), ctx->lines[refs[i - 1].i].line[key]);
		else if (nested && path_is_below(refs[i].key, refs[i - 1].key))
			config_error_at(ctx, b->file, line, -EINVAL, "root %s is inside the root of tenant \"%s\" (%s:%u)",
					quote(q, refs[i].key), a->name, where(w, a->file),
					ctx->lines[refs[i - 1].i].line[key]);
	}
	free(refs);
	return ctx->r;
}

/*
 * A maintenance user is nobody else's user, neither a tenant's nor another
 * tenant's maintenance user: its uid alone says which tenant it maintains.
 */
static int
check_maint_users(struct config_ctx *ctx)
{
	const struct policy *p = ctx->p;
	char q[QUOTE_MAX], w[PATH_QUOTE_MAX];
	struct ref *refs;
	size_t n = 0;

	for (size_t i = 0; i < p->n_tenants; i++)
		n += p->tenants[i].maint_user != NULL;
	if (n == 0)
		return 0;
	/* i < n_tenants: a tenant's user; i >= n_tenants: the maintenance user of tenant i - n_tenants. */
	refs = calloc(p->n_tenants + n, sizeof(*refs));
	if (refs == NULL)
		return config_oom(ctx);
	n = 0;
	for (size_t i = 0; i < p->n_tenants; i++) {
		refs[n++] = (struct ref){ p->tenants[i].user, i };
		if (p->tenants[i].maint_user != NULL)
			refs[n++] = (struct ref){ p->tenants[i].maint_user, p->n_tenants + i };
	}
	qsort(refs, n, sizeof(*refs), cmp_ref);
	for (size_t i = 1; i < n && ctx->r == 0; i++) {
		const struct ref *a = &refs[i - 1], *b = &refs[i];
		size_t ta = a->i % p->n_tenants, tb = b->i % p->n_tenants;

		/*
		 * Equal names sort by i, users first: b is a maintenance user
		 * unless both are users (check_unique() reported those).
		 */
		if (strcmp(a->key, b->key) != 0 || b->i < p->n_tenants)
			continue;
		config_error_at(ctx, p->tenants[tb].file, ctx->lines[tb].line[TK_MAINT_USER], -EEXIST,
				"maintenance-user %s is already the %s of tenant \"%s\" (%s:%u)", quote(q, b->key),
				a->i < p->n_tenants ? "user" : "maintenance-user", p->tenants[ta].name,
				where(w, p->tenants[ta].file),
				ctx->lines[ta].line[a->i < p->n_tenants ? TK_USER : TK_MAINT_USER]);
	}
	free(refs);
	return ctx->r;
}

static int
check_policy(struct config_ctx *ctx)
{
	struct policy *p = ctx->p;
	char q[QUOTE_MAX], q2[QUOTE_MAX];

	if (check_unique(ctx, offsetof(struct policy_tenant, name), -1, false) < 0)
		return ctx->r;
	for (size_t i = 0; i < p->n_tenants; i++) {
		struct policy_tenant *t = &p->tenants[i];

		t->profile = find_profile(p, t->profile_name);
		if (t->profile == NULL)
			return config_error_at(ctx, t->file, ctx->lines[i].line[TK_PROFILE], -ENOENT,
					       "unknown profile %s", quote(q, t->profile_name));
	}
	if (check_unique(ctx, offsetof(struct policy_tenant, user), TK_USER, false) < 0 ||
	    check_unique(ctx, offsetof(struct policy_tenant, root), TK_ROOT, true) < 0 ||
	    check_maint_users(ctx) < 0)
		return ctx->r;
	/* A tenant must not see the attic, nor its root be in there. */
	for (size_t i = 0; i < p->n_tenants; i++) {
		const struct policy_tenant *t = &p->tenants[i];

		if (path_is_below(p->attic, t->root) || path_is_below(t->root, p->attic))
			return config_error_at(ctx, t->file, ctx->lines[i].line[TK_ROOT], -EINVAL,
					       "root %s overlaps the attic %s", quote(q, t->root),
					       quote(q2, p->attic));
		/* vaultd writes its ledger there: a tenant must neither reach it nor have it sealed. */
		if (path_is_below(p->state_dir, t->root) || path_is_below(t->root, p->state_dir))
			return config_error_at(ctx, t->file, ctx->lines[i].line[TK_ROOT], -EINVAL,
					       "root %s overlaps the state-dir %s", quote(q, t->root),
					       quote(q2, p->state_dir));
	}
	return 0;
}

/* vault-listen's settings left unset; state_dir is set already. */
static void
set_listen_defaults(struct config_ctx *ctx)
{
	struct policy *p = ctx->p;

	if (p->listen_user == NULL && (p->listen_user = strdup("nobody")) == NULL)
		config_oom(ctx);
	if (p->host_key == NULL && asprintf(&p->host_key, "%s/ssh_host_ed25519_key", p->state_dir) < 0) {
		p->host_key = NULL;
		config_oom(ctx);
	}
	if (!(ctx->global_seen & (1u << GK_LISTEN_MAX_CONN)))
		p->listen_max_connections = 64;
	if (!(ctx->global_seen & (1u << GK_LISTEN_MAX_PER_ADDR)))
		p->listen_max_per_address = 16;
	if (!(ctx->global_seen & (1u << GK_LISTEN_MAX_AUTH)))
		p->listen_max_auth_tries = 6;
	if (!(ctx->global_seen & (1u << GK_LISTEN_GRACE)))
		p->listen_login_grace_s = 30;
	if (!(ctx->global_seen & (1u << GK_LISTEN_IDLE)))
		p->listen_idle_s = 15 * 60;
	/* 0 would mean no connection, no login, or a key exchange that may wait forever. */
	if (p->listen_max_connections == 0 || p->listen_max_per_address == 0 || p->listen_max_auth_tries == 0 ||
	    p->listen_login_grace_s == 0)
		config_error(ctx, -EINVAL, "listen-max-connections, listen-max-per-address, listen-max-auth-tries "
			     "and listen-login-grace must be more than 0");
}

static int
config_read_finish(struct config_ctx *ctx, struct policy **ret)
{
	struct policy *p = ctx->p;

	if (ctx->r == 0 && ctx->block != BLOCK_NONE)
		config_read_end_file(ctx);
	if (ctx->r == 0) {
		if (p->broker_socket == NULL && (p->broker_socket = strdup("/run/sealvault/broker.sock")) == NULL)
			config_oom(ctx);
		if (p->control_socket == NULL &&
		    (p->control_socket = strdup("/run/sealvault/control.sock")) == NULL)
			config_oom(ctx);
		if (p->journal_socket == NULL &&
		    (p->journal_socket = strdup("/run/systemd/journal/socket")) == NULL)
			config_oom(ctx);
		if (p->attic == NULL && (p->attic = strdup("/srv/sealvault/.attic")) == NULL)
			config_oom(ctx);
		if (p->state_dir == NULL && (p->state_dir = strdup("/var/lib/sealvault")) == NULL)
			config_oom(ctx);
		if (!(ctx->global_seen & (1u << GK_KERNEL_AUDIT)))
			p->kernel_audit = true;
		if (!(ctx->global_seen & (1u << GK_SETTLE)))
			p->settle_s = 5;
		if (!(ctx->global_seen & (1u << GK_ATTIC_GRACE)))
			p->attic_grace_s = 30 * 86400;
		if (!(ctx->global_seen & (1u << GK_PARTIAL_GRACE)))
			p->partial_grace_s = 7 * 86400;
		set_listen_defaults(ctx);
	}
	if (ctx->r == 0)
		check_policy(ctx);
	free(ctx->lines);
	ctx->lines = NULL;
	ctx->p = NULL;
	if (ctx->r != 0) {
		policy_free(p);
		return ctx->r;
	}
	*ret = p;
	return 0;
}

int
policy_load(const char *path, struct policy **ret, struct policy_error *reterr)
{
	struct policy_error err = { 0 };
	struct config_ctx ctx;

	if (path == NULL || ret == NULL)
		return -EINVAL;
	if (config_read_init(&ctx, &err, true) == 0) {
		ctx.file = path;
		config_read_path(&ctx, path);
	}
	if (config_read_finish(&ctx, ret) < 0) {
		if (reterr != NULL)
			*reterr = err;
		return ctx.r;
	}
	return 0;
}

int
policy_load_string(const char *text, const char *name, struct policy **ret, struct policy_error *reterr)
{
	struct policy_error err = { 0 };
	struct config_ctx ctx;

	if (text == NULL || ret == NULL)
		return -EINVAL;
	if (config_read_init(&ctx, &err, false) == 0) {
		ctx.file = name != NULL ? name : "<string>";
		config_read_text(&ctx, text);
	}
	if (config_read_finish(&ctx, ret) < 0) {
		if (reterr != NULL)
			*reterr = err;
		return ctx.r;
	}
	return 0;
}

struct policy *
policy_free(struct policy *p)
{
	if (p == NULL)
		return NULL;
	for (size_t i = 0; i < p->n_profiles; i++) {
		struct policy_profile *prof = &p->profiles[i];

		for (size_t j = 0; j < prof->n_rules; j++) {
			free(prof->rules[j].pattern);
			free(prof->rules[j].file);
		}
		free(prof->rules);
		free(prof->name);
		free(prof->file);
	}
	free(p->profiles);
	for (size_t i = 0; i < p->n_tenants; i++) {
		struct policy_tenant *t = &p->tenants[i];

		free(t->name);
		free(t->user);
		free(t->root);
		free(t->profile_name);
		free(t->authorized_keys);
		free(t->maint_keys);
		free(t->maint_user);
		free(t->maint_from);
		free(t->file);
	}
	free(p->tenants);
	free(p->broker_socket);
	free(p->control_socket);
	free(p->journal_socket);
	free(p->attic);
	free(p->state_dir);
	free(p->listen);
	free(p->listen_user);
	free(p->host_key);
	free(p);
	return NULL;
}

const struct policy_tenant *
policy_tenant(const struct policy *p, const char *name)
{
	if (p == NULL || name == NULL)
		return NULL;
	for (size_t i = 0; i < p->n_tenants; i++)
		if (strcmp(p->tenants[i].name, name) == 0)
			return &p->tenants[i];
	return NULL;
}

const struct policy_profile *
policy_profile(const struct policy *p, const char *name)
{
	if (p == NULL || name == NULL)
		return NULL;
	return find_profile(p, name);
}

const char *
policy_class_name(enum policy_class c)
{
	if ((unsigned)c >= ELEMENTSOF(class_names))
		return "?";
	return class_names[c];
}

const char *
policy_watcher_name(enum policy_watcher w)
{
	if ((unsigned)w >= ELEMENTSOF(watcher_names))
		return "?";
	return watcher_names[w];
}
