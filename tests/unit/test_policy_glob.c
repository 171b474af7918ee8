/* SPDX-License-Identifier: MIT */
/* Rule patterns: policy_glob_match(), policy_match(), policy_classify(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "policy.h"

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

struct glob_case {
	const char *pattern;
	const char *path;
	bool match;
};

static void
run_cases(const struct glob_case *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		bool got = policy_glob_match(c[i].pattern, c[i].path);

		if (got != c[i].match)
			fail_msg("pattern \"%s\" path \"%s\": got %d, want %d", c[i].pattern, c[i].path, got,
				 c[i].match);
	}
}

static void
globstar(void **state)
{
	static const struct glob_case cases[] = {
		/* "**" alone: everything, the root included */
		{ "**", "/", true },
		{ "**", "/a", true },
		{ "**", "/a/b/c", true },
		{ "**", "/.hidden/.x", true },
		/* at the start: zero or more leading components */
		{ "**/x", "/x", true },
		{ "**/x", "/a/x", true },
		{ "**/x", "/a/b/c/x", true },
		{ "**/x", "/a/x/b", false },
		{ "**/x", "/xx", false },
		{ "**/x", "/ax", false },
		{ "**/x", "/", false },
		/* at the end: the directory itself and everything below */
		{ "a/**", "/a", true },
		{ "a/**", "/a/b", true },
		{ "a/**", "/a/b/c", true },
		{ "a/**", "/ab", false },
		{ "a/**", "/b/a", false },
		{ "a/**", "/", false },
		/* in the middle: zero components too */
		{ "a/**/b", "/a/b", true },
		{ "a/**/b", "/a/x/b", true },
		{ "a/**/b", "/a/x/y/z/b", true },
		{ "a/**/b", "/a/b/c", false },
		{ "a/**/b", "/a/xb", false },
		{ "a/**/b", "/x/a/b", false },
		{ "a/**/b/**/c", "/a/b/c", true },
		{ "a/**/b/**/c", "/a/1/b/2/3/c", true },
		{ "a/**/b/**/c", "/a/b/b/b/c", true },
		{ "a/**/b/**/c", "/a/c/b", false },
		/* consecutive stars are one */
		{ "**/**", "/", true },
		{ "**/**/x", "/x", true },
		{ "**/**/x", "/a/b/x", true },
		/* backtracking across components */
		{ "**/a/b", "/a/a/a/b", true },
		{ "**/a/b", "/a/b/a", false },
		{ "**/*.tmp", "/x.tmp", true },
		{ "**/*.tmp", "/d/e/x.tmp", true },
		{ "**/*.tmp", "/d/x.tmp/y", false },
		{ "**/.ssh/**", "/a/.ssh/k", true },
	};

	run_cases(cases, ELEMENTSOF(cases));
}

static void
star_and_question(void **state)
{
	static const struct glob_case cases[] = {
		{ "*", "/a", true },
		{ "*", "/.hidden", true },	/* '*' matches dot files */
		{ "*", "/a/b", false },		/* never crosses '/' */
		{ "*", "/", false },
		{ "*.tmp", "/x.tmp", true },
		{ "*.tmp", "/.tmp", true },
		{ "*.tmp", "/x.tmpx", false },
		{ "*.tmp", "/a/x.tmp", false },
		{ "locks/*", "/locks/abc", true },
		{ "locks/*", "/locks", false },
		{ "locks/*", "/locks/a/b", false },
		{ "*/x", "/a/x", true },
		{ "*/x", "/a/b/x", false },
		{ "a*", "/a", true },
		{ "a*b*c", "/abc", true },
		{ "a*b*c", "/aXbYbZc", true },
		{ "a*b*c", "/aXbYbZ", false },
		{ "*a*a*b", "/aaaaab", true },
		{ "*a*a*b", "/aaaaa", false },
		{ "?", "/a", true },
		{ "?", "/.", false },		/* "." is never a normalised component */
		{ "?", "/ab", false },
		{ "?", "/", false },
		{ "a?c", "/abc", true },
		{ "a?c", "/a/c", false },	/* '?' does not match '/' */
		{ "???", "/abc", true },
		{ "???", "/ab", false },
		/* literals */
		{ "state.json", "/state.json", true },
		{ "state.json", "/state.jsonx", false },
		{ "state.json", "/xstate.json", false },
		{ "state.json", "/d/state.json", false },
		{ "a/b", "/a/b", true },
		{ "a/b", "/a", false },
		{ "a/b", "/a/b/c", false },
		/* a path without its leading '/' is taken as it is */
		{ "a/b", "a/b", true },
		/* bytes, not characters */
		{ "?", "/\xc3\xa9", false },
		{ "??", "/\xc3\xa9", true },
		{ "*", "/\xc3\xa9t\xc3\xa9", true },
	};

	run_cases(cases, ELEMENTSOF(cases));
}

static void
classes(void **state)
{
	static const struct glob_case cases[] = {
		{ "[abc]", "/b", true },
		{ "[abc]", "/d", false },
		{ "[abc]", "/ab", false },
		{ "[a-c]x", "/bx", true },
		{ "[a-c]x", "/dx", false },
		{ "[a-cx-z]", "/y", true },
		{ "[a-cx-z]", "/m", false },
		{ "[!a]", "/a", false },
		{ "[!a]", "/b", true },
		{ "[!a]", "/.", false },
		{ "[!a-c]", "/b", false },
		{ "[!a-c]", "/d", true },
		{ "[^a]", "/b", true },
		{ "[^a]", "/a", false },
		{ "[]]", "/]", true },		/* ']' first is a member */
		{ "[!]]", "/]", false },
		{ "[!]]", "/a", true },
		{ "[a-]", "/-", true },		/* '-' last is a member */
		{ "[a-]", "/b", false },
		{ "[-a]", "/-", true },
		{ "[*]", "/*", true },
		{ "[*]", "/a", false },
		{ "[?]", "/?", true },
		{ "[?]", "/a", false },
		{ "[.]*", "/.hidden", true },
		{ "[0-9][0-9]", "/42", true },
		{ "[0-9][0-9]", "/4a", false },
		{ "*.[ch]", "/x.c", true },
		{ "*.[ch]", "/x.o", false },
		{ "**/[!.]*", "/a/b", true },
		{ "**/[!.]*", "/a/.b", false },
		/* a class never matches '/' */
		{ "a[!x]b", "/a/b", false },
		/* an unclosed '[' (the loader refuses it) is a literal */
		{ "[ab", "/[ab", true },
		{ "[ab", "/a", false },
		{ "a[/b]", "/a[/b]", true },
		{ "[]", "/[]", true },
	};

	run_cases(cases, ELEMENTSOF(cases));
}

static void
trailing_slash(void **state)
{
	static const struct glob_case cases[] = {
		{ ".ssh/", "/.ssh", true },
		{ ".ssh/", "/.ssh/authorized_keys", true },
		{ ".ssh/", "/.ssh/a/b", true },
		{ ".ssh/", "/.sshx", false },
		{ ".ssh/", "/a/.ssh", false },
		{ "**/.ssh/", "/a/.ssh/k", true },
		{ "**/.ssh/", "/.ssh", true },
		{ "locks/", "/locks/x", true },
		{ "*/", "/a/b/c", true },
		{ "*/", "/", false },
	};

	run_cases(cases, ELEMENTSOF(cases));
}

/* Whatever the pattern, a path with a "..", "." or empty component matches nothing. */
static void
dotdot_never_matches(void **state)
{
	static const struct glob_case cases[] = {
		{ "**", "/..", false },
		{ "**", "/a/..", false },
		{ "**", "/a/../b", false },
		{ "**", "/../etc/passwd", false },
		{ "*", "/..", false },
		{ "..", "/..", false },
		{ "?.", "/..", false },
		{ "[.][.]", "/..", false },
		{ "a/**", "/a/..", false },
		{ "a/**", "/a/../../etc", false },
		{ "**/*", "/a/../b", false },
		{ ".ssh/", "/.ssh/..", false },
		{ "**", "/a/./b", false },
		{ "**", "/a//b", false },
		{ "**", "//", false },
		{ "**", "/a/", false },
		/* but names with dots are names */
		{ "**", "/...", true },
		{ "*", "/..a", true },
		{ "..a", "/..a", true },
		{ "**", "/a/.b/c.", true },
	};

	run_cases(cases, ELEMENTSOF(cases));
}

static void
odd_patterns(void **state)
{
	static const struct glob_case cases[] = {
		/* the loader refuses these; the matcher still answers sanely */
		{ "", "/", false },
		{ "", "/a", false },
		{ "/a", "/a", false },		/* a leading '/' is an empty component */
		{ "a//b", "/a/b", false },
		{ "a**b", "/axyb", true },	/* "**" inside a component is '*' */
		{ "a**b", "/ax/yb", false },
		{ "***", "/a", true },
		{ "***", "/a/b", false },
	};

	run_cases(cases, ELEMENTSOF(cases));
	assert_false(policy_glob_match(NULL, "/a"));
	assert_false(policy_glob_match("**", NULL));
}

/* A path of n components "c/c/.../c" followed by last, built in buf. */
static char *
long_path(size_t n, const char *comp, const char *last)
{
	size_t clen = strlen(comp), llen = strlen(last);
	char *buf = malloc(n * (clen + 1) + llen + 2);
	char *o = buf;

	assert_non_null(buf);
	for (size_t i = 0; i < n; i++) {
		*o++ = '/';
		memcpy(o, comp, clen);
		o += clen;
	}
	*o++ = '/';
	memcpy(o, last, llen + 1);
	return buf;
}

static void
long_paths(void **state)
{
	char *p = long_path(10000, "a", "x.tmp");
	char *name = malloc(8001);

	assert_true(policy_glob_match("**/*.tmp", p));
	assert_true(policy_glob_match("**", p));
	assert_true(policy_glob_match("a/**/a/x.tmp", p));
	assert_false(policy_glob_match("**/b/*.tmp", p));
	assert_false(policy_glob_match("*", p));
	free(p);

	/* One very long component. */
	assert_non_null(name);
	name[0] = '/';
	memset(name + 1, 'a', 7998);
	name[7999] = 'b';
	name[8000] = '\0';
	assert_true(policy_glob_match("*b", name));
	assert_true(policy_glob_match("a*a*a*b", name));
	assert_false(policy_glob_match("*c", name));
	free(name);
}

/*
 * Patterns that make a backtracking matcher exponential. The matcher is
 * O(pattern * path) by construction (one backtrack point per level), so
 * these finish at once; a regression would make the test time out rather
 * than fail an assertion.
 */
static void
pathological(void **state)
{
	char *deep = long_path(199, "a", "y");
	char *deep_x = long_path(199, "a", "x");
	char *as = malloc(2002);
	char pat[512] = "";

	assert_false(policy_glob_match("**/**/**/**/**/x", deep));
	assert_true(policy_glob_match("**/**/**/**/**/x", deep_x));
	assert_false(policy_glob_match("**/a/**/a/**/a/**/a/**/a/**/a/**/b", deep));
	assert_true(policy_glob_match("**/a/**/a/**/a/**/a/**/a/**/a/**/x", deep_x));
	assert_false(policy_glob_match("**/*/**/*/**/*/**/*/**/*/**/*/**/*/z", deep));

	/* "*a*a*...*a*b" against "aaa...a" */
	as[0] = '/';
	memset(as + 1, 'a', 2000);
	as[2001] = '\0';
	for (int i = 0; i < 60; i++)
		strcat(pat, "*a");
	strcat(pat, "*b");
	assert_false(policy_glob_match(pat, as));
	pat[strlen(pat) - 1] = 'a';
	assert_true(policy_glob_match(pat, as));

	/* 100 "**" components against a 200-component miss */
	pat[0] = '\0';
	for (int i = 0; i < 100; i++)
		strcat(pat, "**/");
	strcat(pat, "x");
	assert_false(policy_glob_match(pat, deep));
	assert_true(policy_glob_match(pat, deep_x));

	free(deep);
	free(deep_x);
	free(as);
}

static void
match_and_classify(void **state)
{
	static struct policy_rule rules[] = {
		{ .pattern = "locks/*", .cls = POLICY_MUTABLE },
		{ .pattern = "**/*.tmp", .cls = POLICY_TEMP },
		{ .pattern = "state.json", .cls = POLICY_VERSIONED },
		{ .pattern = ".ssh/**", .cls = POLICY_DENY },
		{ .pattern = "data/**", .cls = POLICY_SEAL },
		{ .pattern = "**", .cls = POLICY_MUTABLE },
	};
	const struct policy_profile prof = { .name = "t", .rules = rules, .n_rules = ELEMENTSOF(rules) };
	const struct policy_profile empty = { .name = "e" };
	static const struct {
		const char *path;
		size_t rule;	/* index into rules, or SIZE_MAX for none */
		enum policy_class cls;
	} cases[] = {
		{ "/locks/a", 0, POLICY_MUTABLE },
		{ "/locks/a.tmp", 0, POLICY_MUTABLE },	/* first match wins */
		{ "/x/a.tmp", 1, POLICY_TEMP },
		{ "/state.json", 2, POLICY_VERSIONED },
		{ "/.ssh", 3, POLICY_DENY },
		{ "/.ssh/authorized_keys", 3, POLICY_DENY },
		{ "/data/x", 4, POLICY_SEAL },
		{ "/other", 5, POLICY_MUTABLE },
		{ "/", 5, POLICY_MUTABLE },
		{ "/a/../locks/a", SIZE_MAX, POLICY_SEAL },	/* no rule matches: seal */
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		const struct policy_rule *r = policy_match(&prof, cases[i].path);

		if (cases[i].rule == SIZE_MAX)
			assert_null(r);
		else if (r != &rules[cases[i].rule])
			fail_msg("%s: rule %td, want %zu", cases[i].path, r != NULL ? r - rules : -1,
				 cases[i].rule);
		assert_int_equal(policy_classify(&prof, cases[i].path), cases[i].cls);
	}
	assert_null(policy_match(&empty, "/a"));
	assert_int_equal(policy_classify(&empty, "/a"), POLICY_SEAL);
	assert_null(policy_match(NULL, "/a"));
	assert_int_equal(policy_classify(NULL, "/a"), POLICY_SEAL);
}

static void
class_names(void **state)
{
	assert_string_equal(policy_class_name(POLICY_SEAL), "seal");
	assert_string_equal(policy_class_name(POLICY_TEMP), "temp");
	assert_string_equal(policy_class_name(POLICY_MUTABLE), "mutable");
	assert_string_equal(policy_class_name(POLICY_VERSIONED), "versioned");
	assert_string_equal(policy_class_name(POLICY_DENY), "deny");
	assert_string_equal(policy_class_name((enum policy_class)42), "?");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(globstar),
		cmocka_unit_test(star_and_question),
		cmocka_unit_test(classes),
		cmocka_unit_test(trailing_slash),
		cmocka_unit_test(dotdot_never_matches),
		cmocka_unit_test(odd_patterns),
		cmocka_unit_test(long_paths),
		cmocka_unit_test(pathological),
		cmocka_unit_test(match_and_classify),
		cmocka_unit_test(class_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
