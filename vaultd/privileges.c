/* SPDX-License-Identifier: MIT */
/*
 * Dropping to vaultd's capabilities (privileges.h). The order is forced by
 * the kernel: securebits and the bounding set need CAP_SETPCAP, which the
 * last step (the process sets) gives up. Everything is checked before the
 * first change, so a drop that cannot work leaves the process as it was.
 *
 * Under scripts/vaultd.service systemd has done the first two steps
 * (CapabilityBoundingSet=, SecureBits=) and vaultd starts without
 * CAP_SETPCAP: steps already done are skipped, and CAP_SETPCAP is needed
 * only when one is left.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>

#include <linux/securebits.h>

#include "privileges.h"

const cap_value_t vaultd_caps[] = {
	CAP_LINUX_IMMUTABLE,
	CAP_SYS_ADMIN,
	CAP_DAC_READ_SEARCH,
	CAP_FOWNER,
	CAP_CHOWN,
	CAP_AUDIT_WRITE,
};
const size_t vaultd_n_caps = sizeof(vaultd_caps) / sizeof(vaultd_caps[0]);

/* uid 0 keeps its uid: an execve, setuid binaries included, must not give capabilities back. */
#define VAULTD_SECBITS	(SECBIT_NOROOT | SECBIT_NOROOT_LOCKED |			\
			 SECBIT_NO_SETUID_FIXUP | SECBIT_NO_SETUID_FIXUP_LOCKED)

static int
fail(char *err, size_t errlen, int rc, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int
fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* "cap_sys_admin" or the number; buf holds at least 32 bytes. */
static const char *
cap_label(cap_value_t c, char *buf, size_t len)
{
	char *name = cap_to_name(c);

	snprintf(buf, len, "%s", name != NULL ? name : "?");
	cap_free(name);
	return buf;
}

static bool
kept(const cap_value_t *keep, size_t n, cap_value_t c)
{
	for (size_t i = 0; i < n; i++)
		if (keep[i] == c)
			return true;
	return false;
}

static bool
has_flag(cap_t caps, cap_value_t c, cap_flag_t flag)
{
	cap_flag_value_t v = CAP_CLEAR;

	return cap_get_flag(caps, c, flag, &v) == 0 && v == CAP_SET;
}

/* Is a cap outside keep still in the bounding set? */
static bool
bound_has_extra(const cap_value_t *keep, size_t n, cap_value_t max)
{
	for (cap_value_t c = 0; c < max; c++)
		if (!kept(keep, n, c) && cap_get_bound(c) != 0)
			return true;
	return false;
}

/* Everything checked before the first change: a refused drop changes nothing. */
static int
precheck(const cap_value_t *keep, size_t n, cap_value_t max, char *err, size_t errlen)
{
	cap_t cur = cap_get_proc();
	bool need_setpcap;
	char name[64];
	int rc = 0;

	if (cur == NULL)
		return fail(err, errlen, -errno, "cap_get_proc: %s", strerror(errno));
	need_setpcap = (cap_get_secbits() & VAULTD_SECBITS) != VAULTD_SECBITS ||
		       bound_has_extra(keep, n, max);
	if (need_setpcap && !has_flag(cur, CAP_SETPCAP, CAP_EFFECTIVE)) {
		rc = fail(err, errlen, -EPERM,
			  "cannot drop privileges: cap_setpcap is not in the effective set (not root?)");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (keep[i] < 0 || keep[i] >= max) {
			rc = fail(err, errlen, -EINVAL, "capability %d is unknown to this kernel",
				  (int)keep[i]);
			goto out;
		}
		if (!has_flag(cur, keep[i], CAP_PERMITTED)) {
			rc = fail(err, errlen, -EPERM, "cannot keep %s: not in the permitted set",
				  cap_label(keep[i], name, sizeof(name)));
			goto out;
		}
		/* The bounding set can only shrink: a cap missing there cannot be "kept" in it. */
		if (cap_get_bound(keep[i]) != 1) {
			rc = fail(err, errlen, -EPERM, "cannot keep %s: not in the bounding set",
				  cap_label(keep[i], name, sizeof(name)));
			goto out;
		}
	}
out:
	cap_free(cur);
	return rc;
}

/* The process sets wanted after the drop: keep in permitted and effective, nothing else. */
static cap_t
wanted_sets(const cap_value_t *keep, size_t n)
{
	cap_t caps = cap_init();

	if (caps == NULL)
		return NULL;
	if (n > 0 && (cap_set_flag(caps, CAP_PERMITTED, (int)n, keep, CAP_SET) < 0 ||
		      cap_set_flag(caps, CAP_EFFECTIVE, (int)n, keep, CAP_SET) < 0)) {
		cap_free(caps);
		return NULL;
	}
	return caps;
}

static int
verify(cap_t want, const cap_value_t *keep, size_t n, cap_value_t max, char *err, size_t errlen)
{
	cap_t now = cap_get_proc();
	char name[64];
	unsigned bits;
	int r;

	if (now == NULL)
		return fail(err, errlen, -errno, "cap_get_proc: %s", strerror(errno));
	r = cap_compare(now, want);
	cap_free(now);
	if (r != 0)
		return fail(err, errlen, -EPERM, "process capability sets differ after the drop%s%s%s",
			    CAP_DIFFERS(r, CAP_PERMITTED) ? " (permitted)" : "",
			    CAP_DIFFERS(r, CAP_EFFECTIVE) ? " (effective)" : "",
			    CAP_DIFFERS(r, CAP_INHERITABLE) ? " (inheritable)" : "");
	for (cap_value_t c = 0; c < max; c++) {
		if (cap_get_bound(c) != (kept(keep, n, c) ? 1 : 0))
			return fail(err, errlen, -EPERM, "%s: bounding set wrong after the drop",
				    cap_label(c, name, sizeof(name)));
		if (cap_get_ambient(c) != 0)
			return fail(err, errlen, -EPERM, "%s: still ambient after the drop",
				    cap_label(c, name, sizeof(name)));
	}
	bits = cap_get_secbits();
	if ((bits & VAULTD_SECBITS) != VAULTD_SECBITS)
		return fail(err, errlen, -EPERM, "securebits are %#x after the drop, want %#x set",
			    bits, (unsigned)VAULTD_SECBITS);
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		return fail(err, errlen, -EPERM, "no-new-privs is not set after the drop");
	return 0;
}

int
privileges_drop(const cap_value_t *keep, size_t n, char *err, size_t errlen)
{
	cap_value_t max = cap_max_bits();
	cap_t want = NULL;
	char name[64];
	int rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (keep == NULL && n > 0)
		return fail(err, errlen, -EINVAL, "no capability list");
	rc = precheck(keep, n, max, err, errlen);
	if (rc < 0)
		return rc;
	want = wanted_sets(keep, n);
	if (want == NULL)
		return fail(err, errlen, -ENOMEM, "cannot build the capability sets");

	/* 1. securebits: needs CAP_SETPCAP; keep whatever bits were set already. */
	if ((cap_get_secbits() & VAULTD_SECBITS) != VAULTD_SECBITS &&
	    cap_set_secbits(cap_get_secbits() | VAULTD_SECBITS) < 0) {
		rc = fail(err, errlen, -errno, "setting securebits: %s", strerror(errno));
		goto out;
	}
	/* 2. the bounding set: needs CAP_SETPCAP too. */
	for (cap_value_t c = 0; c < max; c++) {
		if (kept(keep, n, c) || cap_get_bound(c) == 0)
			continue;
		if (cap_drop_bound(c) < 0) {
			rc = fail(err, errlen, -errno, "dropping %s from the bounding set: %s",
				  cap_label(c, name, sizeof(name)), strerror(errno));
			goto out;
		}
	}
	/* 3. ambient, then the process sets: this gives up CAP_SETPCAP. */
	if (cap_reset_ambient() < 0) {
		rc = fail(err, errlen, -errno, "clearing the ambient set: %s", strerror(errno));
		goto out;
	}
	if (cap_set_proc(want) < 0) {
		rc = fail(err, errlen, -errno, "cap_set_proc: %s", strerror(errno));
		goto out;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		rc = fail(err, errlen, -errno, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
		goto out;
	}
	rc = verify(want, keep, n, max, err, errlen);
out:
	cap_free(want);
	return rc;
}

int
privileges_have(cap_value_t cap)
{
	cap_t cur = cap_get_proc();
	int r;

	if (cur == NULL)
		return 0;
	r = has_flag(cur, cap, CAP_EFFECTIVE);
	cap_free(cur);
	return r;
}
