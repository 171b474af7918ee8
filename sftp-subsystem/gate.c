/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include "engine.h"
#include "gate.h"
#include "sftp-proto.h"

#define ALLOW		((struct gate_verdict){ SSH_FX_OK, NULL })
#define DENY(text)	((struct gate_verdict){ SSH_FX_PERMISSION_DENIED, (text) })

bool
gate_advertise(const struct sftp_request_type *t)
{
	/* Every path is sealed: no rename or link can ever succeed, so do not offer them. */
	return strcmp(t->ext_name, "posix-rename@openssh.com") != 0 &&
	       strcmp(t->ext_name, "hardlink@openssh.com") != 0;
}

struct gate_verdict
gate_request(const struct sftp_session *s, const struct sftp_request_type *t)
{
	/* Request-wide rules (write-only tenants, read-only maintenance) plug in here. */
	return ALLOW;
}

static bool
times_unchanged(const struct sftp_attrs *a, const struct stat *st)
{
	return a->atime == (uint32_t)st->st_atime && a->mtime == (uint32_t)st->st_mtime;
}

/* True if applying a to st would change nothing but, at most, permission bits. */
static bool
only_permissions_change(const struct sftp_attrs *a, const struct stat *st)
{
	if (a->flags & SSH_FILEXFER_ATTR_SIZE && a->size != (uint64_t)st->st_size)
		return false;
	if (a->flags & SSH_FILEXFER_ATTR_UIDGID && (a->uid != st->st_uid || a->gid != st->st_gid))
		return false;
	if (a->flags & SSH_FILEXFER_ATTR_ACMODTIME && !times_unchanged(a, st))
		return false;
	return true;
}

/* Removing write bits is harmless (restic does it after every upload); adding anything is not. */
static bool
permissions_only_narrow(const struct sftp_attrs *a, const struct stat *st)
{
	mode_t old = st->st_mode & 07777, new = a->perm & 07777;

	if (!(a->flags & SSH_FILEXFER_ATTR_PERMISSIONS))
		return true;
	return (new & ~old) == 0 && ((old & ~new) & ~(mode_t)0222) == 0;
}

static struct gate_verdict
gate_setstat(const struct stat *st, const struct sftp_attrs *a)
{
	if (S_ISDIR(st->st_mode)) {
		bool same_perm = !(a->flags & SSH_FILEXFER_ATTR_PERMISSIONS) ||
				 (a->perm & 07777) == (st->st_mode & 07777);

		if (only_permissions_change(a, st) && same_perm)
			return ALLOW;
		return DENY("directories are kept, write-once vault refuses attribute change");
	}
	if (S_ISREG(st->st_mode) && only_permissions_change(a, st) && permissions_only_narrow(a, st))
		return ALLOW;
	return DENY("sealed, write-once vault refuses attribute change");
}

struct gate_verdict
gate_path(const struct sftp_session *s, enum gate_op op, const char *vpath,
	  const struct stat *st, const struct sftp_attrs *a)
{
	if (path_is_reserved(vpath))
		return DENY("name reserved by the vault");

	switch (op) {
	case GATE_READ:
	case GATE_CREATE:
	case GATE_REUPLOAD:
	case GATE_MKDIR:
		return ALLOW;
	case GATE_OVERWRITE:
		return DENY("sealed, write-once vault refuses overwrite (content differs)");
	case GATE_APPEND:
		return DENY("sealed, write-once vault refuses append");
	case GATE_TRUNCATE:
		return DENY("sealed, write-once vault refuses truncate");
	case GATE_REMOVE:
		return DENY("sealed, write-once vault refuses delete");
	case GATE_RMDIR:
		return DENY("directories are kept, write-once vault refuses rmdir");
	case GATE_RENAME:
		return DENY("sealed, write-once vault refuses rename");
	case GATE_SYMLINK:
		return DENY("write-once vault refuses symlinks");
	case GATE_HARDLINK:
		return DENY("write-once vault refuses hard links");
	case GATE_SETSTAT:
		if (st == NULL || a == NULL)
			return DENY("sealed, write-once vault refuses attribute change");
		return gate_setstat(st, a);
	}
	return DENY("operation not allowed");
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
