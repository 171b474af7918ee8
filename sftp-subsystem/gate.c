/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "gate.h"
#include "sftp-proto.h"

struct gate_verdict
gate_deny(const char *reason)
{
	return (struct gate_verdict){ .status = SSH_FX_PERMISSION_DENIED, .reason = reason,
				      .action = POLICY_REFUSE };
}

static bool
profile_has(const struct policy_profile *prof, enum policy_class cls)
{
	for (size_t i = 0; prof != NULL && i < prof->n_rules; i++)
		if (prof->rules[i].cls == cls)
			return true;
	return false;
}

bool
gate_advertise(const struct sftp_session *s, const struct sftp_request_type *t)
{
	/* Renames publish temp uploads; without a temp class none can succeed. */
	if (strcmp(t->ext_name, "posix-rename@openssh.com") == 0)
		return profile_has(s->profile, POLICY_TEMP);
	return strcmp(t->ext_name, "hardlink@openssh.com") != 0;
}

struct gate_verdict
gate_request(const struct sftp_session *s, const struct sftp_request_type *t)
{
	/* Request-wide rules (read-only maintenance, say) plug in here. */
	return (struct gate_verdict){ .status = SSH_FX_OK, .action = POLICY_ALLOW };
}

/*
 * A maintenance session prunes: what would destroy a finished file goes to
 * the attic instead, and only vaultd, which owns the attic and can move a
 * sealed file, may take it there.
 */
static struct policy_decision
maintenance_decide(const struct sftp_session *s, enum policy_op op, struct policy_decision d)
{
	if (!policy_class_seals(d.cls) ||
	    (op != POLICY_OP_REMOVE && op != POLICY_OP_REPLACE && op != POLICY_OP_RENAME_TO_EXISTING))
		return d;
	if (s->hooks.attic == NULL) {
		d.action = POLICY_REFUSE;
		d.reason = "maintenance removes files only through vaultd's attic, which is not reachable";
	} else {
		d.action = POLICY_ATTIC;
		d.reason = NULL;
	}
	return d;
}

struct gate_verdict
gate_path(const struct sftp_session *s, enum policy_op op, const char *vpath)
{
	struct policy_decision d;

	if (path_is_reserved(vpath))
		return gate_deny("name reserved by the vault");
	d = policy_decide(s != NULL ? s->profile : NULL, s != NULL && s->write_only, op, vpath);
	if (s != NULL && s->maintenance)
		d = maintenance_decide(s, op, d);
	return (struct gate_verdict){
		.status = d.action == POLICY_REFUSE ? SSH_FX_PERMISSION_DENIED : SSH_FX_OK,
		.reason = d.reason,
		.action = d.action,
		.cls = d.cls,
		.rule = d.rule,
	};
}

/* Removing write bits is harmless (restic does it after every upload); adding anything is not. */
static bool
only_removes_write_bits(mode_t old, mode_t new)
{
	return (new & ~old) == 0 && ((old & ~new) & ~(mode_t)0222) == 0;
}

/* Folds one part of a setstat into the running verdict: a refusal wins, then an ignore. */
static void
fold(struct gate_verdict *acc, struct gate_verdict v)
{
	if (acc->status != SSH_FX_OK)
		return;
	if (v.status != SSH_FX_OK || (v.action == POLICY_IGNORE && acc->action == POLICY_ALLOW))
		*acc = v;
}

struct gate_verdict
gate_setstat(const struct sftp_session *s, const char *vpath, const struct stat *st,
	     const struct sftp_attrs *a, struct sftp_attrs *ret_apply)
{
	struct gate_verdict acc = gate_path(s, POLICY_OP_LIST, vpath), v;
	bool finished;
	mode_t old = st->st_mode & 07777, new = a->perm & 07777;

	*ret_apply = (struct sftp_attrs){ 0 };
	if (acc.status != SSH_FX_OK)
		return acc;
	/* Another name may be a sealed file's: what a temp or mutable name allows must not reach it. */
	if (S_ISREG(st->st_mode) && st->st_nlink > 1 && !policy_class_seals(acc.cls))
		return gate_deny("a file with more than one name is kept as it is");
	finished = policy_class_seals(acc.cls) || !S_ISREG(st->st_mode);
	if (a->flags & SSH_FILEXFER_ATTR_UIDGID && (a->uid != st->st_uid || a->gid != st->st_gid))
		fold(&acc, gate_path(s, POLICY_OP_CHOWN, vpath));
	/* Sizes change only through an open upload, where the quota and the class limits see them. */
	if (a->flags & SSH_FILEXFER_ATTR_SIZE && a->size != (uint64_t)st->st_size)
		fold(&acc, finished && S_ISREG(st->st_mode) ? gate_path(s, POLICY_OP_TRUNCATE, vpath) :
			   gate_deny("the size changes only while the file is being uploaded"));
	if (a->flags & SSH_FILEXFER_ATTR_ACMODTIME &&
	    (a->atime != (uint32_t)st->st_atime || a->mtime != (uint32_t)st->st_mtime)) {
		v = gate_path(s, POLICY_OP_TIMES, vpath);
		fold(&acc, v);
		if (v.action == POLICY_ALLOW && !finished) {
			ret_apply->flags |= SSH_FILEXFER_ATTR_ACMODTIME;
			ret_apply->atime = a->atime;
			ret_apply->mtime = a->mtime;
		}
	}
	if (a->flags & SSH_FILEXFER_ATTR_PERMISSIONS && new != old) {
		/* A directory that loses write bits stops every later backup: not "narrow" there. */
		bool narrow = S_ISREG(st->st_mode) && only_removes_write_bits(old, new);

		v = gate_path(s, narrow ? POLICY_OP_CHMOD_NARROW : POLICY_OP_CHMOD, vpath);
		fold(&acc, v);
		/*
		 * A file that is not ours any more is one vaultd sealed (root's,
		 * immutable) before the client's narrowing chmod came (restic
		 * sends one after each upload): as read-only as can be already.
		 */
		if (v.action == POLICY_ALLOW && !(narrow && st->st_uid != geteuid())) {
			ret_apply->flags |= SSH_FILEXFER_ATTR_PERMISSIONS;
			ret_apply->perm = new & VAULT_MODE_MASK;
		}
	}
	if (acc.status != SSH_FX_OK)
		*ret_apply = (struct sftp_attrs){ 0 };
	return acc;
}

int
gate_refuse(struct sftp_session *s, uint32_t id, const char *op, const char *vpath,
	    struct gate_verdict v)
{
	char msg[VAULT_PATH_MAX + 128];

	log_refusal(&s->log, op, vpath, v.reason);
	snprintf(msg, sizeof(msg), "%s: %s", vpath, v.reason);
	return reply_status(s, id, v.status, msg);
}
