/* SPDX-License-Identifier: MIT */
/* The decision function: (profile, path, operation) -> what happens. */
#include <stddef.h>

#include "policy.h"

#define ALLOW		((struct policy_decision){ .action = POLICY_ALLOW })
#define REFUSE(r)	((struct policy_decision){ .action = POLICY_REFUSE, .reason = (r) })
#define ATTIC		((struct policy_decision){ .action = POLICY_ATTIC })

bool
policy_class_seals(enum policy_class c)
{
	return c == POLICY_SEAL || c == POLICY_VERSIONED;
}

/* A finished file's attribute change that the class does not allow outright. */
static struct policy_decision
by_profile(enum policy_setstat how, const char *what)
{
	if (how == POLICY_SETSTAT_IGNORE)
		return (struct policy_decision){ .action = POLICY_IGNORE, .reason = what };
	return REFUSE("sealed, write-once vault refuses attribute change");
}

static struct policy_decision
decide_seal(const struct policy_profile *prof, bool write_only, enum policy_op op, bool versioned)
{
	switch (op) {
	case POLICY_OP_READ:
		return write_only ? REFUSE("write-only vault refuses to read back stored files") : ALLOW;
	case POLICY_OP_LIST:
	case POLICY_OP_CREATE:
	case POLICY_OP_MKDIR:
	case POLICY_OP_RENAME_TO_NEW:
	case POLICY_OP_CHMOD_NARROW:
		return ALLOW;
	case POLICY_OP_REPLACE:
		if (versioned)
			return ATTIC;
		/* A compare would tell a write-only client whether its guess of the content is right. */
		if (write_only)
			return REFUSE("write-only vault refuses to compare with stored files");
		return (struct policy_decision){ .action = POLICY_COMPARE };
	case POLICY_OP_RENAME_TO_EXISTING:
		return versioned ? ATTIC : REFUSE("sealed, write-once vault refuses overwrite");
	case POLICY_OP_REMOVE:
		return versioned ? ATTIC : REFUSE("sealed, write-once vault refuses delete");
	case POLICY_OP_RMDIR:
		return versioned ? ALLOW : REFUSE("directories are kept, write-once vault refuses rmdir");
	case POLICY_OP_APPEND:
		return REFUSE("sealed, write-once vault refuses append");
	case POLICY_OP_TRUNCATE:
		return REFUSE("sealed, write-once vault refuses truncate");
	case POLICY_OP_RENAME_FROM:
		return REFUSE("sealed, write-once vault refuses rename");
	case POLICY_OP_CHMOD:
		return by_profile(prof != NULL ? prof->chmod : POLICY_SETSTAT_REFUSE,
				  "permission change ignored, the vault keeps the file as stored");
	case POLICY_OP_TIMES:
		return by_profile(prof != NULL ? prof->times : POLICY_SETSTAT_REFUSE,
				  "time change ignored, the vault keeps the file as stored");
	case POLICY_OP_CHOWN:
		return REFUSE("sealed, write-once vault refuses attribute change");
	case POLICY_OP_LINK:
		return REFUSE("write-once vault refuses links");
	}
	return REFUSE("operation not allowed");
}

/* temp and mutable: ordinary semantics, except links, owners and (mutable) renames. */
static struct policy_decision
decide_open(enum policy_op op, bool temp)
{
	switch (op) {
	case POLICY_OP_CHOWN:
		return REFUSE("the vault sets file ownership");
	case POLICY_OP_LINK:
		return REFUSE("write-once vault refuses links");
	case POLICY_OP_RENAME_FROM:
		return temp ? ALLOW : REFUSE("files of this kind are not renamed");
	default:
		return ALLOW;
	}
}

struct policy_decision
policy_decide(const struct policy_profile *prof, bool write_only, enum policy_op op, const char *vpath)
{
	const struct policy_rule *rule = prof != NULL ? policy_match(prof, vpath) : NULL;
	enum policy_class cls = rule != NULL ? rule->cls : POLICY_SEAL;
	struct policy_decision d;

	switch (cls) {
	case POLICY_SEAL:
	case POLICY_VERSIONED:
		d = decide_seal(prof, write_only, op, cls == POLICY_VERSIONED);
		break;
	case POLICY_TEMP:
	case POLICY_MUTABLE:
		d = decide_open(op, cls == POLICY_TEMP);
		break;
	case POLICY_DENY:
	default:
		d = REFUSE("path denied by the vault's policy");
		break;
	}
	d.cls = cls;
	d.rule = rule;
	return d;
}
