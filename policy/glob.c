/* SPDX-License-Identifier: MIT */
/*
 * Rule patterns: a glob over the vault path, one '/'-separated component at
 * a time. Both levels use the iterative two-pointer wildcard match ('*'
 * within a component, "**" across components), which only ever needs to
 * go back to the last star: the cost is bounded by the product of the
 * lengths, whatever the pattern, and nothing recurses.
 *
 * policy_glob_match() takes any pattern, also one the loader would refuse:
 * an unterminated '[' is a literal, a "**" inside a component is a '*'.
 */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "policy.h"

/* The ']' closing the class opened at p (p[0] == '['), or NULL. */
static const char *
class_end(const char *p, const char *pe)
{
	const char *q = p + 1;

	if (q < pe && (*q == '!' || *q == '^'))
		q++;
	if (q < pe && *q == ']')
		q++;		/* a ']' first in a class is a member */
	while (q < pe && *q != ']')
		q++;
	return q < pe ? q : NULL;
}

static bool
class_match(const char *p, const char *end, unsigned char c)
{
	const char *q = p + 1;
	bool neg = false, hit = false;

	if (*q == '!' || *q == '^') {
		neg = true;
		q++;
	}
	while (q < end) {
		unsigned char lo = (unsigned char)q[0];

		if (q + 2 < end && q[1] == '-') {
			if (lo <= c && c <= (unsigned char)q[2])
				hit = true;
			q += 3;
		} else {
			if (lo == c)
				hit = true;
			q++;
		}
	}
	return hit != neg;
}

/* Whether the single-character element at *pp matches c; advances *pp past it. */
static bool
char_match(const char **pp, const char *pe, unsigned char c)
{
	const char *p = *pp;
	const char *end;

	if (*p == '?') {
		*pp = p + 1;
		return true;
	}
	if (*p == '[' && (end = class_end(p, pe)) != NULL) {
		*pp = end + 1;
		return class_match(p, end, c);
	}
	*pp = p + 1;
	return (unsigned char)*p == c;
}

/* Pattern component [p, pe) against name [s, se). */
static bool
component_match(const char *p, const char *pe, const char *s, const char *se)
{
	const char *star_p = NULL, *star_s = NULL;

	while (s < se) {
		const char *next;

		if (p < pe && *p == '*') {
			while (p < pe && *p == '*')
				p++;
			if (p == pe)
				return true;
			star_p = p;
			star_s = s;
			continue;
		}
		next = p;
		if (p < pe && char_match(&next, pe, (unsigned char)*s)) {
			p = next;
			s++;
			continue;
		}
		if (star_p == NULL)
			return false;
		p = star_p;
		s = ++star_s;
	}
	while (p < pe && *p == '*')
		p++;
	return p == pe;
}

/*
 * A cursor over '/'-separated components. A pattern's trailing empty
 * component (from a trailing '/') reads as "**"; anywhere else an empty
 * component matches nothing, as a normalised path has none.
 */
struct comp {
	const char *s, *e;	/* s == NULL: past the last component */
};

static void
comp_first(struct comp *c, const char *str)
{
	c->s = str;
	c->e = strchrnul(str, '/');
}

static void
comp_next(struct comp *c)
{
	if (*c->e == '\0') {
		c->s = c->e = NULL;
		return;
	}
	c->s = c->e + 1;
	c->e = strchrnul(c->s, '/');
}

static bool
comp_is_globstar(const struct comp *c)
{
	size_t n = (size_t)(c->e - c->s);

	if (n == 2 && c->s[0] == '*' && c->s[1] == '*')
		return true;
	/* "a/" is "a/" + "**"; the empty pattern (a lone empty component) is not. */
	return n == 0 && *c->e == '\0' && c->s[-1] == '/';
}

/* A path the normaliser produced: no empty, "." or ".." component. */
static bool
path_ok(const char *s)
{
	struct comp c;

	if (*s == '\0')
		return true;	/* "/": no components */
	for (comp_first(&c, s); c.s != NULL; comp_next(&c)) {
		size_t n = (size_t)(c.e - c.s);

		if (n == 0 || (c.s[0] == '.' && (n == 1 || (n == 2 && c.s[1] == '.'))))
			return false;
	}
	return true;
}

bool
policy_glob_match(const char *pattern, const char *vpath)
{
	struct comp p, s, star_p = { NULL, NULL }, star_s = { NULL, NULL };
	bool have_star = false;

	if (pattern == NULL || vpath == NULL || *pattern == '\0')
		return false;
	if (*vpath == '/')
		vpath++;
	if (!path_ok(vpath))
		return false;
	comp_first(&p, pattern);
	if (*vpath == '\0')
		s.s = s.e = NULL;
	else
		comp_first(&s, vpath);

	while (s.s != NULL) {
		if (p.s != NULL && comp_is_globstar(&p)) {
			while (p.s != NULL && comp_is_globstar(&p))
				comp_next(&p);
			if (p.s == NULL)
				return true;
			star_p = p;
			star_s = s;
			have_star = true;
			continue;
		}
		if (p.s != NULL && component_match(p.s, p.e, s.s, s.e)) {
			comp_next(&p);
			comp_next(&s);
			continue;
		}
		if (!have_star)
			return false;
		p = star_p;
		comp_next(&star_s);
		s = star_s;
	}
	while (p.s != NULL && comp_is_globstar(&p))
		comp_next(&p);
	return p.s == NULL;
}

const struct policy_rule *
policy_match(const struct policy_profile *prof, const char *vpath)
{
	if (prof == NULL)
		return NULL;
	for (size_t i = 0; i < prof->n_rules; i++)
		if (policy_glob_match(prof->rules[i].pattern, vpath))
			return &prof->rules[i];
	return NULL;
}

enum policy_class
policy_classify(const struct policy_profile *prof, const char *vpath)
{
	const struct policy_rule *r = policy_match(prof, vpath);

	return r != NULL ? r->cls : POLICY_SEAL;
}
