/* SPDX-License-Identifier: MIT */
/*
 * vault.conf: the README's example, values, every error class with its
 * file:line and message, limits, and includes in a scratch directory.
 * Every failing load must leave *ret untouched (and, under ASan, leak
 * nothing).
 */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "policy.h"

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

/* The limits config.c enforces. */
#define LINE_MAX_BYTES	4096
#define RULES_MAX	1024
#define PROFILES_MAX	1024
#define TENANTS_MAX	4096
#define DEPTH_MAX	8

static const char readme_example[] =
	"# global settings\n"
	"broker-socket /run/sealvault/broker.sock\n"
	"attic /srv/sealvault/.attic\n"
	"partial-grace 7d\n"
	"include conf.d/*.conf\n"
	"\n"
	"profile myapp {\n"
	"\tpath locks/*            mutable max-files=64 max-size=4k\n"
	"\tpath **/*.tmp           temp\n"
	"\tpath state.json         versioned\n"
	"\tpath .ssh/              deny\n"
	"\tpath **                 seal\n"
	"\ttimes ignore\n"
	"\tchmod refuse\n"
	"}\n"
	"\n"
	"tenant db1 {\n"
	"\tuser db1\n"
	"\troot /srv/sealvault/db1\n"
	"\tprofile pgbackrest\n"
	"\tauthorized-keys /etc/sealvault/keys/db1\n"
	"\tquota-bytes 500G\n"
	"\tquota-files 2000000\n"
	"\twrite-only no\n"
	"\tretention 30d\n"
	"\tmaintenance-user db1-maint\n"
	"\tmaintenance-from 192.0.2.10 2001:db8::/48\n"
	"}\n";

#define TENANT(name, user, root) \
	"tenant " name " {\n\tuser " user "\n\troot " root "\n\tprofile generic\n}\n"

static struct policy sentinel_policy;
#define SENTINEL (&sentinel_policy)

static struct policy *
load_ok(const char *text)
{
	struct policy_error err = { 0 };
	struct policy *p = NULL;
	int r = policy_load_string(text, "t.conf", &p, &err);

	if (r != 0)
		fail_msg("load failed (%d): %s:%u: %s", r, err.file, err.line, err.message);
	assert_non_null(p);
	return p;
}

/* Loads text, which must fail at file:line with a message containing msg. */
static int
load_fail(const char *text, const char *file, unsigned line, const char *msg)
{
	struct policy_error err;
	struct policy *p = SENTINEL;
	int r;

	memset(&err, 0x55, sizeof(err));
	r = policy_load_string(text, file, &p, &err);
	if (r >= 0)
		fail_msg("loaded, expected \"%s\" at line %u:\n%.300s", msg, line, text);
	assert_ptr_equal(p, SENTINEL);
	assert_non_null(memchr(err.file, '\0', sizeof(err.file)));
	assert_non_null(memchr(err.message, '\0', sizeof(err.message)));
	if (strcmp(err.file, file) != 0 || err.line != line || strstr(err.message, msg) == NULL)
		fail_msg("got %s:%u: %s\nwant %s:%u: ...%s...\nfor:\n%.300s", err.file, err.line, err.message, file,
			 line, msg, text);
	return r;
}

static size_t
n_builtin(void)
{
	struct policy *p = load_ok("");
	size_t n = p->n_profiles;

	policy_free(p);
	return n;
}

static void
check_readme_policy(const struct policy *p, const char *file)
{
	const struct policy_profile *prof = policy_profile(p, "myapp");
	const struct policy_tenant *t = policy_tenant(p, "db1");
	static const struct {
		const char *pattern;
		enum policy_class cls;
		uint64_t max_files, max_size;
	} rules[] = {
		{ "locks/*", POLICY_MUTABLE, 64, 4096 },
		{ "**/*.tmp", POLICY_TEMP, 0, 0 },
		{ "state.json", POLICY_VERSIONED, 0, 0 },
		{ ".ssh/**", POLICY_DENY, 0, 0 },
		{ "**", POLICY_SEAL, 0, 0 },
	};
	static const char *const builtins[] = {
		"generic", "restic", "rclone", "duplicity", "lftp", "pgbackrest", "duplicati",
	};

	assert_string_equal(p->broker_socket, "/run/sealvault/broker.sock");
	assert_string_equal(p->attic, "/srv/sealvault/.attic");
	assert_int_equal(p->partial_grace_s, 7 * 86400);

	assert_non_null(prof);
	assert_string_equal(prof->name, "myapp");
	assert_string_equal(prof->file, file);
	assert_int_equal(prof->line, 7);
	assert_int_equal(prof->times, POLICY_SETSTAT_IGNORE);
	assert_int_equal(prof->chmod, POLICY_SETSTAT_REFUSE);
	assert_int_equal(prof->n_rules, ELEMENTSOF(rules));
	for (size_t i = 0; i < ELEMENTSOF(rules); i++) {
		assert_string_equal(prof->rules[i].pattern, rules[i].pattern);
		assert_int_equal(prof->rules[i].cls, rules[i].cls);
		assert_int_equal(prof->rules[i].max_files, rules[i].max_files);
		assert_int_equal(prof->rules[i].max_size, rules[i].max_size);
		assert_int_equal(prof->rules[i].line, 8 + i);
		assert_string_equal(prof->rules[i].file, file);
	}

	assert_int_equal(p->n_tenants, 1);
	assert_ptr_equal(t, &p->tenants[0]);
	assert_string_equal(t->name, "db1");
	assert_string_equal(t->user, "db1");
	assert_string_equal(t->root, "/srv/sealvault/db1");
	assert_string_equal(t->profile_name, "pgbackrest");
	assert_non_null(t->profile);
	assert_ptr_equal(t->profile, policy_profile(p, "pgbackrest"));
	assert_string_equal(t->authorized_keys, "/etc/sealvault/keys/db1");
	assert_int_equal(t->quota_bytes, 500ULL << 30);
	assert_int_equal(t->quota_files, 2000000);
	assert_false(t->write_only);
	assert_int_equal(t->retention_s, 30 * 86400);
	assert_string_equal(t->maint_user, "db1-maint");
	assert_int_equal(t->n_maint_from, 2);
	assert_true(policy_maint_from_allows(t, "192.0.2.10"));
	assert_true(policy_maint_from_allows(t, "2001:db8:0:ffff::1"));
	assert_false(policy_maint_from_allows(t, "192.0.2.11"));
	assert_int_equal(t->line, 17);
	assert_string_equal(t->file, file);

	/* The built-ins are there, first, and from "<built-in>". */
	assert_true(p->n_profiles > 1);
	assert_string_equal(p->profiles[0].file, "<built-in>");
	for (size_t i = 0; i < ELEMENTSOF(builtins); i++) {
		const struct policy_profile *b = policy_profile(p, builtins[i]);

		if (b == NULL)
			fail_msg("built-in profile %s is missing", builtins[i]);
		assert_string_equal(b->file, "<built-in>");
	}
}

static void
readme_example_string(void **state)
{
	/* policy_load_string() refuses includes: the example without its include line. */
	char *text = strdup(readme_example);
	char *inc = strstr(text, "include conf.d/*.conf");
	struct policy *p;

	assert_non_null(inc);
	inc[0] = '#';		/* a comment now: the line numbers stay */
	p = load_ok(text);
	check_readme_policy(p, "t.conf");
	assert_null(policy_free(p));
	free(text);
}

static void
defaults(void **state)
{
	struct policy *p = load_ok("profile p {\n\tpath ** seal\n}\n" TENANT("a", "ua", "/srv/a"));
	const struct policy_tenant *t = policy_tenant(p, "a");

	assert_string_equal(p->broker_socket, "/run/sealvault/broker.sock");
	assert_string_equal(p->attic, "/srv/sealvault/.attic");
	assert_int_equal(p->partial_grace_s, 604800);
	assert_int_equal(policy_profile(p, "p")->times, POLICY_SETSTAT_REFUSE);
	assert_int_equal(policy_profile(p, "p")->chmod, POLICY_SETSTAT_REFUSE);
	assert_non_null(t);
	assert_null(t->authorized_keys);
	assert_int_equal(t->quota_bytes, 0);
	assert_int_equal(t->quota_files, 0);
	assert_false(t->write_only);
	assert_int_equal(t->retention_s, 0);
	assert_ptr_equal(t->profile, policy_profile(p, "generic"));
	assert_null(policy_tenant(p, "b"));
	assert_null(policy_profile(p, "nope"));
	assert_null(policy_tenant(NULL, "a"));
	assert_null(policy_profile(NULL, "p"));
	assert_null(policy_tenant(p, NULL));
	policy_free(p);
	assert_null(policy_free(NULL));
}

static void
syntax(void **state)
{
	struct policy *p = load_ok(
		"# comment\n"
		"   \t  # indented comment\n"
		"\n"
		"attic \"/srv/my attic/\"   # a comment after a statement\r\n"
		"partial-grace 90\r\n"
		"profile p {   # comment on a block line\n"
		"\tpath a#b seal\n"
		"\tpath \"with space/*\" temp\n"
		"\tpath \"q\\\"uote\" deny\n"
		"\tpath \"back\\\\slash\" deny\n"
		"\tpath \"{\" seal\n"
		"\tpath x/ mutable max-size=1M max-files=0\n"
		"}  # closing\n"
		"tenant a {\n"
		"\tuser ua\n"
		"\troot //srv//a///\n"
		"\tprofile \"p\"\n"
		"\tauthorized-keys \"/etc/k \\\"x\\\"\"\n"
		"\twrite-only true\n"
		"}\n");
	const struct policy_profile *prof = policy_profile(p, "p");
	const struct policy_tenant *t = policy_tenant(p, "a");

	assert_string_equal(p->attic, "/srv/my attic");
	assert_int_equal(p->partial_grace_s, 90);
	assert_non_null(prof);
	assert_int_equal(prof->n_rules, 6);
	assert_string_equal(prof->rules[0].pattern, "a#b");
	assert_string_equal(prof->rules[1].pattern, "with space/*");
	assert_string_equal(prof->rules[2].pattern, "q\"uote");
	assert_string_equal(prof->rules[3].pattern, "back\\slash");
	assert_string_equal(prof->rules[4].pattern, "{");
	assert_string_equal(prof->rules[5].pattern, "x/**");
	assert_int_equal(prof->rules[5].max_size, 1 << 20);
	assert_int_equal(prof->rules[5].max_files, 0);
	assert_int_equal(prof->rules[5].line, 12);
	assert_string_equal(t->root, "/srv/a");
	assert_string_equal(t->authorized_keys, "/etc/k \"x\"");
	assert_true(t->write_only);
	assert_int_equal(t->line, 14);
	policy_free(p);
}

struct value_case {
	const char *key;
	const char *value;
	uint64_t want;		/* when msg is NULL */
	const char *msg;
};

static void
values(void **state)
{
	static const struct value_case cases[] = {
		{ "quota-bytes", "0", 0, NULL },
		{ "quota-bytes", "1", 1, NULL },
		{ "quota-bytes", "007", 7, NULL },
		{ "quota-bytes", "4k", 4096, NULL },
		{ "quota-bytes", "4K", 4096, NULL },
		{ "quota-bytes", "3m", 3ULL << 20, NULL },
		{ "quota-bytes", "3M", 3ULL << 20, NULL },
		{ "quota-bytes", "5g", 5ULL << 30, NULL },
		{ "quota-bytes", "5G", 5ULL << 30, NULL },
		{ "quota-bytes", "2T", 2ULL << 40, NULL },
		{ "quota-bytes", "16777215T", 16777215ULL << 40, NULL },
		{ "quota-bytes", "18446744073709551615", UINT64_MAX, NULL },
		{ "quota-bytes", "16777216T", 0, "size \"16777216T\" for quota-bytes is too large" },
		{ "quota-bytes", "18446744073709551616", 0, "is too large" },
		{ "quota-bytes", "99999999999999999999999", 0, "is too large" },
		{ "quota-bytes", "18014398509481984k", 0, "is too large" },
		{ "quota-bytes", "12x", 0, "bad size \"12x\" for quota-bytes" },
		{ "quota-bytes", "k", 0, "bad size \"k\"" },
		{ "quota-bytes", "4kb", 0, "bad size \"4kb\"" },
		{ "quota-bytes", "-1", 0, "bad size \"-1\"" },
		{ "quota-bytes", "+1", 0, "bad size \"+1\"" },
		{ "quota-bytes", "0x10", 0, "bad size \"0x10\"" },
		{ "quota-bytes", "1.5G", 0, "bad size \"1.5G\"" },
		{ "quota-bytes", "\"\"", 0, "bad size \"\"" },
		{ "quota-files", "2000000", 2000000, NULL },
		{ "quota-files", "18446744073709551615", UINT64_MAX, NULL },
		{ "quota-files", "18446744073709551616", 0, "count \"18446744073709551616\" for quota-files is too large" },
		{ "quota-files", "1k", 0, "bad count \"1k\" for quota-files" },
		{ "quota-files", "-5", 0, "bad count \"-5\"" },
		{ "retention", "0", 0, NULL },
		{ "retention", "45", 45, NULL },
		{ "retention", "45s", 45, NULL },
		{ "retention", "2m", 120, NULL },
		{ "retention", "3h", 3 * 3600, NULL },
		{ "retention", "30d", 30 * 86400, NULL },
		{ "retention", "2w", 2 * 604800, NULL },
		{ "retention", "30500568904943w", 30500568904943ULL * 604800, NULL },
		{ "retention", "30500568904944w", 0, "duration \"30500568904944w\" for retention is too large" },
		{ "retention", "1M", 0, "bad duration \"1M\" for retention" },
		{ "retention", "1y", 0, "bad duration \"1y\"" },
		{ "retention", "d", 0, "bad duration \"d\"" },
		{ "retention", "1h30m", 0, "bad duration \"1h30m\"" },
		{ "write-only", "yes", 1, NULL },
		{ "write-only", "true", 1, NULL },
		{ "write-only", "no", 0, NULL },
		{ "write-only", "false", 0, NULL },
		{ "write-only", "maybe", 0, "bad value \"maybe\" for write-only" },
		{ "write-only", "YES", 0, "bad value \"YES\"" },
		{ "write-only", "1", 0, "bad value \"1\"" },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		char text[512];
		struct policy *p;

		snprintf(text, sizeof(text), "tenant a {\n\tuser u\n\troot /r\n\tprofile generic\n\t%s %s\n}\n",
			 cases[i].key, cases[i].value);
		if (cases[i].msg != NULL) {
			int r = load_fail(text, "t.conf", 5, cases[i].msg);

			assert_int_equal(r, strstr(cases[i].msg, "too large") != NULL ? -ERANGE : -EINVAL);
			continue;
		}
		p = load_ok(text);
		if (strcmp(cases[i].key, "quota-bytes") == 0)
			assert_int_equal(p->tenants[0].quota_bytes, cases[i].want);
		else if (strcmp(cases[i].key, "quota-files") == 0)
			assert_int_equal(p->tenants[0].quota_files, cases[i].want);
		else if (strcmp(cases[i].key, "retention") == 0)
			assert_int_equal(p->tenants[0].retention_s, cases[i].want);
		else
			assert_int_equal(p->tenants[0].write_only, cases[i].want);
		policy_free(p);
	}
}

struct error_case {
	const char *text;
	unsigned line;
	const char *msg;
};

static void
errors(void **state)
{
	static const struct error_case cases[] = {
		/* unknown keys and statements */
		{ "bogus 1\n", 1, "unknown key \"bogus\"" },
		{ "\n\nbroker_socket /x\n", 3, "unknown key \"broker_socket\"" },
		{ "profile p {\n\tfoo bar\n}\n", 2, "unknown statement \"foo\" in a profile" },
		{ "tenant a {\n\tuser ua\n\tcolour red\n}\n", 3, "unknown key \"colour\" in a tenant" },
		{ "profile p {\n\tuser x\n}\n", 2, "unknown statement \"user\"" },
		{ "tenant a {\n\tpath ** seal\n}\n", 2, "unknown key \"path\"" },
		/* the offending word is quoted with its control and non-ASCII bytes escaped */
		{ "\"a\\\"b\" 1\n", 1, "unknown key \"a\\\"b\"" },
		{ "\xc3\xa9t\xc3\xa9 1\n", 1, "unknown key \"\\xc3\\xa9t\\xc3\\xa9\"" },
		{ "\"tab\there\" 1\n", 1, "unknown key \"tab\\x09here\"" },
		{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 1\n", 1,
		  "aaaaa...\"" },
		/* classes and rules */
		{ "profile p {\n\tpath ** sealed\n}\n", 2, "unknown class \"sealed\"" },
		{ "profile p {\n\tpath **\n}\n", 2, "expected \"path PATTERN CLASS" },
		{ "profile p {\n\tpath locks/* seal max-files=3\n}\n", 2,
		  "rule option \"max-files=3\" is only for mutable rules, not seal" },
		{ "profile p {\n\tpath x temp max-size=1k\n}\n", 2, "\"max-size=1k\" is only for mutable rules, not temp" },
		{ "profile p {\n\tpath x mutable max-foo=1\n}\n", 2, "unknown rule option \"max-foo=1\"" },
		{ "profile p {\n\tpath x mutable max-files\n}\n", 2, "rule option \"max-files\" needs a value" },
		{ "profile p {\n\tpath x mutable max-files=1 max-files=2\n}\n", 2,
		  "rule option \"max-files=2\" is given twice" },
		{ "profile p {\n\tpath x mutable max-files=x\n}\n", 2, "bad count \"x\" for max-files" },
		{ "profile p {\n\tpath x mutable max-size=1Q\n}\n", 2, "bad size \"1Q\" for max-size" },
		{ "profile p {\n\tpath x mutable max-size=99999999T\n}\n", 2, "size \"99999999T\" for max-size is too large" },
		{ "profile p {\n\ttimes maybe\n}\n", 2, "bad value \"maybe\" for times (refuse or ignore)" },
		{ "profile p {\n\tchmod ignore\n\tchmod ignore\n}\n", 3, "chmod is set twice" },
		{ "profile p {\n\ttimes\n}\n", 2, "expected \"times refuse|ignore\"" },
		/* patterns */
		{ "profile p {\n\tpath \"\" seal\n}\n", 2, "pattern \"\" is empty" },
		{ "profile p {\n\tpath /etc seal\n}\n", 2, "pattern \"/etc\" starts with \"/\"" },
		{ "profile p {\n\tpath / seal\n}\n", 2, "pattern \"/\" starts with \"/\"" },
		{ "profile p {\n\tpath a/../b seal\n}\n", 2, "pattern \"a/../b\" has a \".\" or \"..\" component" },
		{ "profile p {\n\tpath .. seal\n}\n", 2, "has a \".\" or \"..\" component" },
		{ "profile p {\n\tpath ./x seal\n}\n", 2, "has a \".\" or \"..\" component" },
		{ "profile p {\n\tpath a**b seal\n}\n", 2, "pattern \"a**b\" has \"**\" inside a component" },
		{ "profile p {\n\tpath a/**x seal\n}\n", 2, "has \"**\" inside a component" },
		{ "profile p {\n\tpath *** seal\n}\n", 2, "has \"**\" inside a component" },
		{ "profile p {\n\tpath [ab seal\n}\n", 2, "pattern \"[ab\" has a \"[\" without its \"]\"" },
		{ "profile p {\n\tpath a[/]b seal\n}\n", 2, "has a \"[\" without its \"]\"" },
		{ "profile p {\n\tpath [] seal\n}\n", 2, "has a \"[\" without its \"]\"" },
		{ "profile p {\n\tpath [z-a] seal\n}\n", 2, "pattern \"[z-a]\" has a range that runs backwards" },
		{ "profile p {\n\tpath a//b seal\n}\n", 2, "pattern \"a//b\" has an empty component" },
		{ "profile p {\n\tpath a// seal\n}\n", 2, "has an empty component" },
		/* names */
		{ "profile Foo {\n}\n", 1, "bad profile name \"Foo\"" },
		{ "profile -x {\n}\n", 1, "bad profile name \"-x\"" },
		{ "profile _x {\n}\n", 1, "bad profile name \"_x\"" },
		{ "profile a.b {\n}\n", 1, "bad profile name \"a.b\"" },
		{ "profile \"\" {\n}\n", 1, "bad profile name \"\"" },
		{ "profile a1234567890123456789012345678901234567890123456789012345678901234 {\n}\n", 1,
		  "bad profile name" },
		{ "tenant A {\n}\n", 1, "bad tenant name \"A\"" },
		{ "tenant a {\n\tprofile Foo\n}\n", 2, "bad profile name \"Foo\"" },
		{ "tenant a {\n\tuser -x\n}\n", 2, "bad user name \"-x\"" },
		{ "tenant a {\n\tuser a:b\n}\n", 2, "bad user name \"a:b\"" },
		{ "tenant a {\n\tuser \"a b\"\n}\n", 2, "bad user name \"a b\"" },
		/* blocks */
		{ "profile p {\n\tpath ** seal\n", 1, "profile \"p\" is not closed by \"}\"" },
		{ "tenant a {\n\tuser u\n\n", 1, "tenant \"a\" is not closed by \"}\"" },
		{ "}\n", 1, "\"}\" without a block" },
		{ "profile p {\n}\n}\n", 3, "\"}\" without a block" },
		{ "profile p {\n} extra\n", 2, "unexpected \"extra\" after \"}\"" },
		{ "profile p {\n\tprofile q {\n}\n}\n", 2, "blocks do not nest" },
		{ "tenant a {\n\tprofile p {\n}\n}\n", 2, "opens a block inside the block of line 1" },
		{ "frob x {\n}\n", 1, "unknown block \"frob\"" },
		{ "{\n", 1, "unknown block \"{\"" },
		{ "profile {\n}\n", 1, "expected \"profile NAME {\"" },
		{ "profile a b {\n}\n", 1, "expected \"profile NAME {\"" },
		{ "tenant a\n", 1, "expected \"tenant NAME {\"" },
		{ "profile p \"{\"\n", 1, "expected \"profile NAME {\"" },
		/* quoting */
		{ "attic \"/srv/x\n", 1, "unterminated quote in \"\\\"/srv/x\"" },
		{ "attic \"/srv/x\"y\n", 1, "bad quoting: text after the closing quote" },
		{ "attic /srv/\"x\"\n", 1, "bad quoting: a quote inside the word \"/srv/\\\"x\\\"\"" },
		{ "attic \"/srv/\\x\"\n", 1, "bad escape" },
		{ "attic \"/srv/\\\n", 1, "bad escape" },
		/* lines and characters */
		{ "attic /a\x01\n", 1, "control character 0x01" },
		{ "\n\nattic /a\x7f\n", 3, "control character 0x7f" },
		{ "attic /a\rb\n", 1, "control character 0x0d" },
		{ "profile p {\n\tpath a mutable max-files=1 max-files=1 max-files=1 max-files=1 max-files=1 "
		  "max-files=1 max-files=1 max-files=1 max-files=1 max-files=1 max-files=1 max-files=1 max-files=1 "
		  "max-files=1\n}\n", 2, "more than 16 words" },
		/* global settings */
		{ "attic /a\nattic /b\n", 2, "attic is set twice" },
		{ "attic /a /b\n", 1, "attic takes one value, not 2" },
		{ "attic\n", 1, "attic takes one value, not 0" },
		{ "attic srv\n", 1, "attic must be an absolute path, not \"srv\"" },
		{ "attic /\n", 1, "attic must not be \"/\"" },
		{ "broker-socket ///\n", 1, "broker-socket must not be \"/\"" },
		{ "partial-grace 1y\n", 1, "bad duration \"1y\" for partial-grace" },
		{ "include conf.d/*.conf\n", 1, "include of \"conf.d/*.conf\": includes are refused here" },
		{ "include /etc/passwd\n", 1, "includes are refused here" },
		{ "include\n", 1, "include takes one path or glob" },
		{ "profile p {\n\tinclude x.conf\n}\n", 2, "include inside a block (of line 1)" },
		/* tenants */
		{ "tenant a {\n\troot /srv/a\n\tprofile generic\n}\n", 1, "tenant \"a\" has no user" },
		{ "tenant a {\n\tuser u\n\tprofile generic\n}\n", 1, "tenant \"a\" has no root" },
		{ "tenant a {\n\tuser u\n\troot /srv/a\n}\n", 1, "tenant \"a\" has no profile" },
		{ "tenant a {\n}\n", 1, "tenant \"a\" has no user" },
		{ "tenant a {\n\tuser u\n\tuser v\n}\n", 3, "user is set twice in this tenant (first at line 2)" },
		{ "tenant a {\n\tuser u v\n}\n", 2, "user takes one value, not 2" },
		{ "tenant a {\n\troot srv/a\n}\n", 2, "root must be an absolute path, not \"srv/a\"" },
		{ "tenant a {\n\troot /\n}\n", 2, "root must not be \"/\"" },
		{ "tenant a {\n\troot /srv/../etc\n}\n", 2, "root \"/srv/../etc\" has a \".\" or \"..\" component" },
		{ "tenant a {\n\troot /srv/./a\n}\n", 2, "has a \".\" or \"..\" component" },
		{ "tenant a {\n\tauthorized-keys keys\n}\n", 2, "authorized-keys must be an absolute path" },
		{ "tenant a {\n\tuser u\n\troot /srv/a\n\tprofile nope\n}\n", 4, "unknown profile \"nope\"" },
		{ TENANT("a", "u", "/srv/a") TENANT("a", "v", "/srv/b"), 6,
		  "duplicate tenant \"a\" (first defined at t.conf:1)" },
		{ TENANT("a", "u", "/srv/a") TENANT("b", "u", "/srv/b"), 7,
		  "user \"u\" is already the user of tenant \"a\" (t.conf:2)" },
		{ TENANT("a", "u", "/srv/a") TENANT("b", "v", "/srv/a"), 8,
		  "root \"/srv/a\" is already the root of tenant \"a\" (t.conf:3)" },
		{ TENANT("a", "u", "/srv/a/") TENANT("b", "v", "//srv/a"), 8,
		  "root \"/srv/a\" is already the root of tenant \"a\"" },
		{ TENANT("a", "u", "/srv/a") TENANT("b", "v", "/srv/a/b"), 8,
		  "root \"/srv/a/b\" is inside the root of tenant \"a\" (t.conf:3)" },
		{ TENANT("b", "v", "/srv/a/b") TENANT("c", "w", "/srv/a-c") TENANT("a", "u", "/srv/a"), 3,
		  "root \"/srv/a/b\" is inside the root of tenant \"a\" (t.conf:13)" },
		{ TENANT("a", "u", "/srv/sealvault"), 3, "root \"/srv/sealvault\" overlaps the attic" },
		{ "attic /srv/a/attic\n" TENANT("a", "u", "/srv/a"), 4, "overlaps the attic \"/srv/a/attic\"" },
		{ "attic /srv\n" TENANT("a", "u", "/srv/a"), 4, "overlaps the attic \"/srv\"" },
		/* profiles */
		{ "profile restic {\n}\n", 1, "profile \"restic\" redefines the built-in profile (<built-in>:" },
		{ "\nprofile generic {\n\tpath ** deny\n}\n", 2, "redefines the built-in profile (<built-in>:" },
		{ "profile p {\n}\nprofile p {\n}\n", 3, "duplicate profile \"p\" (first defined at t.conf:1)" },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++)
		load_fail(cases[i].text, "t.conf", cases[i].line, cases[i].msg);
}

#define MAINT_TENANT(name, user, root, extra) \
	"tenant " name " {\n\tuser " user "\n\troot " root "\n\tprofile generic\n" extra "}\n"

/* maintenance-user and maintenance-from: parsed, bound together, unique, and the address check. */
static void
maintenance(void **state)
{
	static const struct error_case cases[] = {
		{ MAINT_TENANT("a", "ua", "/r", "\tmaintenance-user ma\n"), 1,
		  "tenant \"a\" has maintenance-user without maintenance-from" },
		{ MAINT_TENANT("a", "ua", "/r", "\tmaintenance-from 10.0.0.1\n"), 1,
		  "has maintenance-from without maintenance-user" },
		{ MAINT_TENANT("a", "ua", "/r", "\tmaintenance-user ua\n\tmaintenance-from ::1\n"), 5,
		  "maintenance-user \"ua\" is the tenant's own user" },
		{ MAINT_TENANT("a", "ua", "/r", "\tmaintenance-user -x\n"), 5, "bad maintenance-user name \"-x\"" },
		{ MAINT_TENANT("a", "ua", "/r", "\tmaintenance-user ma\n\tmaintenance-user mb\n"), 6,
		  "maintenance-user is set twice" },
		{ MAINT_TENANT("a", "ua", "/r", "\tmaintenance-from\n"), 5, "maintenance-from takes one or more" },
		{ MAINT_TENANT("a", "ua", "/r", "\tmaintenance-from 10.0.0.1 localhost\n"), 5,
		  "bad address \"localhost\" for maintenance-from" },
		{ MAINT_TENANT("a", "ua", "/r", "\tmaintenance-from 10.0.0.1/24\n"), 5, "bad address \"10.0.0.1/24\"" },
		{ MAINT_TENANT("a", "ua", "/r", "\tmaintenance-from 10.0.0.0/33\n"), 5, "bad address" },
		{ MAINT_TENANT("a", "ua", "/r", "\tmaintenance-from 10.0.0.0/08\n"), 5, "bad address" },
		{ MAINT_TENANT("a", "ua", "/r", "\tmaintenance-from 10.0.0.0/\n"), 5, "bad address" },
		{ MAINT_TENANT("a", "ua", "/r", "\tmaintenance-from 2001:db8::1/32\n"), 5, "bad address" },
		{ MAINT_TENANT("a", "ua", "/r", "\tmaintenance-from 10.1\n"), 5, "bad address" },
		/* Whose is it: nobody else's user, nor another tenant's maintenance user. */
		{ MAINT_TENANT("a", "ua", "/r", "\tmaintenance-user ub\n\tmaintenance-from ::1\n")
		  MAINT_TENANT("b", "ub", "/s", ""), 5,
		  "maintenance-user \"ub\" is already the user of tenant \"b\" (t.conf:9)" },
		{ MAINT_TENANT("b", "ub", "/s", "")
		  MAINT_TENANT("a", "ua", "/r", "\tmaintenance-user ub\n\tmaintenance-from ::1\n"), 10,
		  "is already the user of tenant \"b\" (t.conf:2)" },
		{ MAINT_TENANT("a", "ua", "/r", "\tmaintenance-user m\n\tmaintenance-from ::1\n")
		  MAINT_TENANT("b", "ub", "/s", "\tmaintenance-user m\n\tmaintenance-from ::1\n"), 12,
		  "maintenance-user \"m\" is already the maintenance-user of tenant \"a\" (t.conf:5)" },
	};
	struct policy *p = load_ok(
		MAINT_TENANT("a", "ua", "/r", "\tmaintenance-user ma\n\tmaintenance-from 192.0.2.7 10.0.0.0/8 "
			     "2001:db8::/32 0.0.0.0/0\n")
		MAINT_TENANT("b", "ub", "/s", "\tmaintenance-from ::1\n\tmaintenance-user mb\n")
		MAINT_TENANT("c", "uc", "/t", ""));
	const struct policy_tenant *a = policy_tenant(p, "a"), *b = policy_tenant(p, "b"), *c = policy_tenant(p, "c");
	struct policy_addr addr;

	assert_string_equal(a->maint_user, "ma");
	assert_int_equal(a->n_maint_from, 4);
	assert_int_equal(a->maint_from[1].prefix, 8);
	assert_int_equal(a->maint_from[2].prefix, 32);
	assert_int_equal(a->maint_from[0].prefix, 32);
	assert_string_equal(b->maint_user, "mb");
	assert_null(c->maint_user);
	assert_int_equal(c->n_maint_from, 0);
	/* 0.0.0.0/0: every IPv4 address of a; b only ::1. */
	assert_true(policy_maint_from_allows(a, "198.51.100.3"));
	assert_true(policy_maint_from_allows(a, "::ffff:198.51.100.3"));
	assert_false(policy_maint_from_allows(a, "2001:db9::1"));
	assert_true(policy_maint_from_allows(a, "2001:db8:ffff::1"));
	assert_true(policy_maint_from_allows(b, "::1"));
	assert_true(policy_maint_from_allows(b, "0:0:0:0:0:0:0:1"));
	assert_false(policy_maint_from_allows(b, "127.0.0.1"));
	assert_false(policy_maint_from_allows(b, "::2"));
	assert_false(policy_maint_from_allows(b, "::1/128"));
	assert_false(policy_maint_from_allows(b, ""));
	assert_false(policy_maint_from_allows(b, NULL));
	assert_false(policy_maint_from_allows(c, "127.0.0.1"));
	policy_free(p);

	p = load_ok(MAINT_TENANT("a", "ua", "/r", "\tmaintenance-user ma\n\tmaintenance-from 10.1.2.0/23\n"));
	a = policy_tenant(p, "a");
	assert_true(policy_maint_from_allows(a, "10.1.2.0"));
	assert_true(policy_maint_from_allows(a, "10.1.3.255"));
	assert_false(policy_maint_from_allows(a, "10.1.4.0"));
	assert_false(policy_maint_from_allows(a, "10.1.1.255"));
	policy_free(p);

	assert_int_equal(policy_parse_addr("192.0.2.0/24", &addr), 0);
	assert_int_equal(addr.prefix, 24);
	assert_int_equal(policy_parse_addr("192.0.2.0/-1", &addr), -EINVAL);
	assert_int_equal(policy_parse_addr("/24", &addr), -EINVAL);
	assert_int_equal(policy_parse_addr("fe80::1%eth0", &addr), -EINVAL);
	for (size_t i = 0; i < ELEMENTSOF(cases); i++)
		load_fail(cases[i].text, "t.conf", cases[i].line, cases[i].msg);
}

/* vault-listen's settings: defaults, endpoints, and what is refused. */
static void
listener(void **state)
{
	static const struct error_case cases[] = {
		{ "listen\n", 1, "listen takes one or more ADDR:PORT" },
		{ "listen 127.0.0.1\n", 1, "bad address \"127.0.0.1\" for listen" },
		{ "listen 127.0.0.1:0\n", 1, "bad address" },
		{ "listen 127.0.0.1:65536\n", 1, "bad address" },
		{ "listen 127.0.0.1:022\n", 1, "bad address" },
		{ "listen 127.0.0.1:+22\n", 1, "bad address" },
		{ "listen localhost:22\n", 1, "bad address \"localhost:22\"" },
		{ "listen ::1:22\n", 1, "bad address \"::1:22\"" },
		{ "listen [127.0.0.1]:22\n", 1, "bad address" },
		{ "listen [::1]22\n", 1, "bad address" },
		{ "listen 127.0.0.1:22\nlisten 127.0.0.1:23\n", 2, "listen is set twice" },
		{ "listen-max-auth-tries x\n", 1, "bad count \"x\" for listen-max-auth-tries" },
		{ "listen-login-grace 5y\n", 1, "bad duration \"5y\" for listen-login-grace" },
		{ "listen-user -x\n", 1, "bad listen-user name" },
		{ "host-key relative\n", 1, "host-key" },
		{ "listen-login-grace 0\n", 1, "must be more than 0" },
		{ "listen-max-auth-tries 0\n", 1, "must be more than 0" },
	};
	struct policy *p = load_ok("");

	(void)state;
	assert_int_equal(p->n_listen, 0);
	assert_string_equal(p->listen_user, "nobody");
	assert_string_equal(p->host_key, "/var/lib/sealvault/ssh_host_ed25519_key");
	assert_int_equal(p->listen_max_connections, 64);
	assert_int_equal(p->listen_max_per_address, 16);
	assert_int_equal(p->listen_max_auth_tries, 6);
	assert_int_equal(p->listen_login_grace_s, 30);
	assert_int_equal(p->listen_idle_s, 900);
	policy_free(p);

	p = load_ok("state-dir /var/lib/sv\nlisten 127.0.0.1:2222 [::1]:65535 0.0.0.0:1\nlisten-user sv-listen\n"
		    "listen-max-connections 3\nlisten-max-per-address 2\nlisten-max-auth-tries 1\n"
		    "listen-login-grace 2m\nlisten-idle-timeout 0\n"
		    "tenant a {\n\tuser ua\n\troot /r\n\tprofile generic\n\tmaintenance-user ma\n"
		    "\tmaintenance-from ::1\n\tmaintenance-keys /etc/sv/a.maint\n}\n");
	assert_int_equal(p->n_listen, 3);
	assert_int_equal(p->listen[0].family, AF_INET);
	assert_int_equal(p->listen[0].port, 2222);
	assert_memory_equal(p->listen[0].addr, "\x7f\0\0\x01", 4);
	assert_int_equal(p->listen[1].family, AF_INET6);
	assert_int_equal(p->listen[1].port, 65535);
	assert_int_equal(p->listen[1].addr[15], 1);
	assert_int_equal(p->listen[2].port, 1);
	assert_string_equal(p->listen_user, "sv-listen");
	assert_string_equal(p->host_key, "/var/lib/sv/ssh_host_ed25519_key");
	assert_int_equal(p->listen_max_connections, 3);
	assert_int_equal(p->listen_max_per_address, 2);
	assert_int_equal(p->listen_max_auth_tries, 1);
	assert_int_equal(p->listen_login_grace_s, 120);
	assert_int_equal(p->listen_idle_s, 0);
	assert_string_equal(policy_tenant(p, "a")->maint_keys, "/etc/sv/a.maint");
	policy_free(p);

	for (size_t i = 0; i < ELEMENTSOF(cases); i++)
		load_fail(cases[i].text, "t.conf", cases[i].line, cases[i].msg);
}

static void
error_codes(void **state)
{
	struct policy *p = SENTINEL;

	assert_int_equal(load_fail("bogus\n", "x.conf", 1, "unknown key"), -EINVAL);
	assert_int_equal(load_fail("profile restic {\n}\n", "x.conf", 1, "built-in"), -EEXIST);
	assert_int_equal(load_fail("tenant a {\n\tuser u\n\troot /r\n\tprofile nope\n}\n", "x.conf", 4,
				   "unknown profile"), -ENOENT);
	assert_int_equal(policy_load_string(NULL, "x", &p, NULL), -EINVAL);
	assert_int_equal(policy_load(NULL, &p, NULL), -EINVAL);
	assert_ptr_equal(p, SENTINEL);
	/* A NULL reterr is fine, and a NULL name has a default. */
	assert_int_equal(policy_load_string("bogus\n", "x", &p, NULL), -EINVAL);
	{
		struct policy_error err;

		assert_int_equal(policy_load_string("bogus\n", NULL, &p, &err), -EINVAL);
		assert_string_equal(err.file, "<string>");
	}
	assert_ptr_equal(p, SENTINEL);
}

enum gen {
	GEN_RULE,	/* "path rN seal", in a profile */
	GEN_PROFILE,	/* an empty profile pN */
	GEN_TENANT,	/* tenant tN, user uN, root /srv/rN */
	GEN_COMMENT,	/* 55 bytes */
};

/* head, n generated statements, tail. */
static char *
generate(const char *head, enum gen kind, size_t n, const char *tail)
{
	size_t size = strlen(head) + strlen(tail) + n * 96 + 1;
	char *text = malloc(size), *o = text;

	assert_non_null(text);
	o += sprintf(o, "%s", head);
	for (size_t i = 0; i < n; i++) {
		switch (kind) {
		case GEN_RULE:
			o += sprintf(o, "\tpath r%zu seal\n", i);
			break;
		case GEN_PROFILE:
			o += sprintf(o, "profile p%zu {\n}\n", i);
			break;
		case GEN_TENANT:
			o += sprintf(o, "tenant t%zu {\n\tuser u%zu\n\troot /srv/r%zu\n\tprofile generic\n}\n", i, i, i);
			break;
		case GEN_COMMENT:
			o += sprintf(o, "# %08zu padding padding padding padding padding pad\n", i);
			break;
		}
	}
	sprintf(o, "%s", tail);
	return text;
}

static void
limits(void **state)
{
	char line[LINE_MAX_BYTES + 64];
	size_t nb = n_builtin();
	struct policy *p;
	char *text;

	/* Line length: LINE_MAX_BYTES is fine, one more is not, also in a comment. */
	memset(line, 'x', sizeof(line));
	line[0] = '#';
	line[LINE_MAX_BYTES] = '\n';
	line[LINE_MAX_BYTES + 1] = '\0';
	policy_free(load_ok(line));
	line[LINE_MAX_BYTES] = 'x';
	line[LINE_MAX_BYTES + 1] = '\n';
	line[LINE_MAX_BYTES + 2] = '\0';
	assert_int_equal(load_fail(line, "t.conf", 1, "line longer than 4096 bytes"), -E2BIG);
	line[LINE_MAX_BYTES + 1] = '\0';	/* also without a newline */
	assert_int_equal(load_fail(line, "t.conf", 1, "line longer than 4096 bytes"), -E2BIG);
	text = generate("profile p {\n}\n", GEN_RULE, 0, line);
	assert_int_equal(load_fail(text, "t.conf", 3, "line longer than 4096 bytes"), -E2BIG);
	free(text);

	/* Rules per profile. */
	text = generate("profile p {\n", GEN_RULE, RULES_MAX, "}\n");
	p = load_ok(text);
	assert_int_equal(policy_profile(p, "p")->n_rules, RULES_MAX);
	policy_free(p);
	free(text);
	text = generate("profile p {\n", GEN_RULE, RULES_MAX + 1, "}\n");
	assert_int_equal(load_fail(text, "t.conf", RULES_MAX + 2, "more than 1024 rules in profile \"p\""), -E2BIG);
	free(text);

	/* Profiles, the built-ins included. */
	text = generate("", GEN_PROFILE, PROFILES_MAX - nb, "");
	p = load_ok(text);
	assert_int_equal(p->n_profiles, PROFILES_MAX);
	policy_free(p);
	free(text);
	text = generate("", GEN_PROFILE, PROFILES_MAX - nb + 1, "");
	assert_int_equal(load_fail(text, "t.conf", 2 * (PROFILES_MAX - nb) + 1, "more than 1024 profiles"), -E2BIG);
	free(text);

	/* Tenants: the most, checked unique by sorting, then one more. */
	text = generate("", GEN_TENANT, TENANTS_MAX, "");
	p = load_ok(text);
	assert_int_equal(p->n_tenants, TENANTS_MAX);
	assert_non_null(policy_tenant(p, "t4095"));
	policy_free(p);
	free(text);
	text = generate("", GEN_TENANT, TENANTS_MAX - 1, TENANT("t17", "x", "/srv/x"));
	assert_int_equal(load_fail(text, "t.conf", 5 * (TENANTS_MAX - 1) + 1, "duplicate tenant \"t17\" (first defined at t.conf:86)"),
			 -EEXIST);
	free(text);
	text = generate("", GEN_TENANT, TENANTS_MAX + 1, "");
	assert_int_equal(load_fail(text, "t.conf", 5 * TENANTS_MAX + 1, "more than 4096 tenants"), -E2BIG);
	free(text);

	/* All text together: at most 16 MiB. */
	text = generate("", GEN_COMMENT, (16u << 20) / 55 + 1, "");
	assert_int_equal(load_fail(text, "t.conf", (16u << 20) / 55 + 1, "configuration larger than"), -E2BIG);
	free(text);
}

/* ---- files and includes, in a scratch directory ---- */

static char tmpdir[] = "/tmp/sealvault-test-policy-XXXXXX";

static void
write_file(const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void
make_dir(const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	assert_int_equal(mkdir(path, 0755), 0);
}

static const char *
tmp_path(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", tmpdir, name);
	return buf;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int
setup_dir(void **state)
{
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown_dir(void **state)
{
	int r = nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);

	strcpy(tmpdir + strlen(tmpdir) - 6, "XXXXXX");
	return r;
}

/* Loads tmpdir/name, which must fail in file (relative to tmpdir) at line with msg. */
static int
load_file_fail(const char *name, const char *file, unsigned line, const char *msg)
{
	char path[512], want[512];
	struct policy_error err;
	struct policy *p = SENTINEL;
	int r;

	r = policy_load(tmp_path(path, sizeof(path), name), &p, &err);
	if (r >= 0)
		fail_msg("%s loaded, expected \"%s\"", name, msg);
	assert_ptr_equal(p, SENTINEL);
	tmp_path(want, sizeof(want), file);
	if (strcmp(err.file, want) != 0 || err.line != line || strstr(err.message, msg) == NULL)
		fail_msg("got %s:%u: %s\nwant %s:%u: ...%s...", err.file, err.line, err.message, want, line, msg);
	return r;
}

static struct policy *
load_file_ok(const char *name)
{
	char path[512];
	struct policy_error err = { 0 };
	struct policy *p = NULL;
	int r = policy_load(tmp_path(path, sizeof(path), name), &p, &err);

	if (r != 0)
		fail_msg("load of %s failed (%d): %s:%u: %s", name, r, err.file, err.line, err.message);
	return p;
}

static void
readme_example_file(void **state)
{
	char path[512];
	struct policy *p;

	write_file("vault.conf", readme_example);
	p = load_file_ok("vault.conf");		/* no conf.d: a glob matching nothing is fine */
	check_readme_policy(p, tmp_path(path, sizeof(path), "vault.conf"));
	policy_free(p);
	make_dir("conf.d");
	p = load_file_ok("vault.conf");		/* an empty conf.d too */
	check_readme_policy(p, tmp_path(path, sizeof(path), "vault.conf"));
	policy_free(p);
}

static void
include_glob_sorted(void **state)
{
	char path[512];
	size_t nb = n_builtin();
	struct policy *p;
	static const char *const order[] = { "p10", "pa", "pb", "pone", "pabs" };
	char text[1024];

	make_dir("conf.d");
	make_dir("extra");
	write_file("conf.d/b.conf", "profile pb {\n\tpath ** temp\n}\n");
	write_file("conf.d/a.conf", "profile pa {\n}\n" TENANT("ta", "ua", "/srv/ta")
		   "tenant tb {\n\tuser ub\n\troot /srv/tb\n\tprofile pb\n}\n");
	write_file("conf.d/10.conf", "# first in strcmp order\nprofile p10 {\n}\n");
	write_file("conf.d/.hidden.conf", "profile hidden {\n}\n");
	write_file("conf.d/c.txt", "profile ctxt {\n}\n");
	write_file("extra/one.conf", "profile pone {\n}\n");
	write_file("abs.conf", "profile pabs {\n}\n");
	snprintf(text, sizeof(text),
		 "include conf.d/*.conf\ninclude extra/one.conf\ninclude %s/abs.conf\ninclude nothing/*.conf\n",
		 tmpdir);
	write_file("vault.conf", text);

	p = load_file_ok("vault.conf");
	assert_int_equal(p->n_profiles, nb + ELEMENTSOF(order));
	for (size_t i = 0; i < ELEMENTSOF(order); i++)
		assert_string_equal(p->profiles[nb + i].name, order[i]);
	assert_string_equal(p->profiles[nb].file, tmp_path(path, sizeof(path), "conf.d/10.conf"));
	assert_int_equal(p->profiles[nb].line, 2);
	assert_string_equal(p->profiles[nb + 3].file, tmp_path(path, sizeof(path), "extra/one.conf"));
	assert_null(policy_profile(p, "hidden"));
	assert_null(policy_profile(p, "ctxt"));
	/* tb names a profile from a file read after its own */
	assert_ptr_equal(policy_tenant(p, "tb")->profile, policy_profile(p, "pb"));
	assert_string_equal(policy_tenant(p, "tb")->file, tmp_path(path, sizeof(path), "conf.d/a.conf"));
	policy_free(p);

	/* An include relative to an included file's directory. */
	write_file("extra/one.conf", "profile pone {\n}\ninclude two.conf\n");
	write_file("extra/two.conf", "profile ptwo {\n}\n");
	p = load_file_ok("vault.conf");
	assert_non_null(policy_profile(p, "ptwo"));
	policy_free(p);

	/* An error in an included file is reported there. */
	write_file("extra/two.conf", "profile ptwo {\n\tbogus\n}\n");
	load_file_fail("vault.conf", "extra/two.conf", 2, "unknown statement \"bogus\"");
	/* A duplicate across files names the first place. */
	write_file("extra/two.conf", "profile pa {\n}\n");
	load_file_fail("vault.conf", "extra/two.conf", 1, "duplicate profile \"pa\" (first defined at");
	/* A block must be closed in the file that opened it. */
	write_file("extra/two.conf", "profile ptwo {\n");
	write_file("extra/one.conf", "profile pone {\n}\ninclude two.conf\n}\n");
	load_file_fail("vault.conf", "extra/two.conf", 1, "profile \"ptwo\" is not closed");
}

static void
include_errors(void **state)
{
	char path[512];
	struct policy_error err;
	struct policy *p = SENTINEL;

	/* The top file itself. */
	assert_int_equal(policy_load(tmp_path(path, sizeof(path), "missing.conf"), &p, &err), -ENOENT);
	assert_ptr_equal(p, SENTINEL);
	assert_string_equal(err.file, path);
	assert_int_equal(err.line, 0);
	assert_non_null(strstr(err.message, "No such file or directory"));
	make_dir("adir");
	assert_int_equal(load_file_fail("adir", "adir", 0, "is not a regular file"), -EINVAL);

	/* A plain include of a file that is not there. */
	write_file("vault.conf", "# x\ninclude nothere.conf\n");
	assert_int_equal(load_file_fail("vault.conf", "vault.conf", 2, "cannot open \""), -ENOENT);
	load_file_fail("vault.conf", "vault.conf", 2, "nothere.conf\": No such file or directory");

	/* A glob matching a directory. */
	make_dir("d");
	make_dir("d/x.conf");
	write_file("vault.conf", "include d/*.conf\n");
	load_file_fail("vault.conf", "vault.conf", 1, "x.conf\" is not a regular file");

	/* Cycles: a file including itself, two files, and through a symlink. */
	write_file("self.conf", "include self.conf\n");
	assert_int_equal(load_file_fail("self.conf", "self.conf", 1, "include cycle: "), -ELOOP);
	write_file("a.conf", "profile pa {\n}\ninclude b.conf\n");
	write_file("b.conf", "\ninclude a.conf\n");
	assert_int_equal(load_file_fail("a.conf", "b.conf", 2, "include cycle: "), -ELOOP);
	assert_int_equal(symlink("a.conf", tmp_path(path, sizeof(path), "link.conf")), 0);
	write_file("b.conf", "include link.conf\n");
	assert_int_equal(load_file_fail("a.conf", "b.conf", 1, "link.conf\" is already being read"), -ELOOP);
	/* The same file twice, not nested, is no cycle (here: an empty one). */
	write_file("empty.conf", "");
	write_file("twice.conf", "include empty.conf\ninclude empty.conf\n");
	policy_free(load_file_ok("twice.conf"));

	/* A file name with a control character is escaped, in err.file and in messages. */
	make_dir("esc");
	write_file("esc/a\n.conf", "profile pe {\n}\n");
	write_file("esc/b.conf", "profile pe {\n}\n");
	write_file("vault.conf", "include esc/*.conf\n");
	load_file_fail("vault.conf", "esc/b.conf", 1, "esc/a\\x0a.conf:1)");
	write_file("esc/a\n.conf", "bogus\n");
	{
		char want[512];

		p = SENTINEL;
		assert_int_equal(policy_load(tmp_path(path, sizeof(path), "vault.conf"), &p, &err), -EINVAL);
		assert_ptr_equal(p, SENTINEL);
		assert_string_equal(err.file, tmp_path(want, sizeof(want), "esc/a\\x0a.conf"));
	}

	/* include inside a block */
	write_file("vault.conf", "tenant a {\ninclude empty.conf\n}\n");
	load_file_fail("vault.conf", "vault.conf", 2, "include inside a block");

	/* NUL bytes cannot hide in a file. */
	{
		FILE *f = fopen(tmp_path(path, sizeof(path), "nul.conf"), "w");

		assert_non_null(f);
		fwrite("attic /a\n#x\0y\n", 1, 14, f);
		fclose(f);
		load_file_fail("nul.conf", "nul.conf", 2, "NUL byte");
	}
}

/* f0 includes f1 ... includes fN: N == DEPTH_MAX loads, one more does not. */
static void
include_depth(void **state)
{
	char name[32], text[64];
	struct policy *p;

	for (int i = 0; i <= DEPTH_MAX + 1; i++) {
		snprintf(name, sizeof(name), "f%d.conf", i);
		snprintf(text, sizeof(text), "profile d%d {\n}\ninclude f%d.conf\n", i, i + 1);
		write_file(name, text);
	}
	/* f8 is the deepest allowed: make it the last */
	snprintf(text, sizeof(text), "profile d%d {\n}\n", DEPTH_MAX);
	write_file("f8.conf", text);
	p = load_file_ok("f0.conf");
	assert_non_null(policy_profile(p, "d8"));
	policy_free(p);

	snprintf(text, sizeof(text), "profile d%d {\n}\ninclude f%d.conf\n", DEPTH_MAX, DEPTH_MAX + 1);
	write_file("f8.conf", text);
	write_file("f9.conf", "profile d9 {\n}\n");
	assert_int_equal(load_file_fail("f0.conf", "f8.conf", 3, "includes nest deeper than 8"), -ELOOP);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(readme_example_string),
		cmocka_unit_test(defaults),
		cmocka_unit_test(syntax),
		cmocka_unit_test(values),
		cmocka_unit_test(errors),
		cmocka_unit_test(maintenance),
		cmocka_unit_test(listener),
		cmocka_unit_test(error_codes),
		cmocka_unit_test(limits),
		cmocka_unit_test_setup_teardown(readme_example_file, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(include_glob_sorted, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(include_errors, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(include_depth, setup_dir, teardown_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
