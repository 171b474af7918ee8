/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sftp-proto.h"
#include "status.h"

uint32_t
status_from_errno(int err)
{
	switch (abs(err)) {
	case 0:
		return SSH_FX_OK;
	case ENOENT:
	case ENOTDIR:
	case EBADF:
	case ELOOP:
		return SSH_FX_NO_SUCH_FILE;
	case EPERM:
	case EACCES:
	case EFAULT:
	case EROFS:
		return SSH_FX_PERMISSION_DENIED;
	case ENAMETOOLONG:
	case EINVAL:
		return SSH_FX_BAD_MESSAGE;
	case ENOSYS:
	case EOPNOTSUPP:
		return SSH_FX_OP_UNSUPPORTED;
	default:
		return SSH_FX_FAILURE;
	}
}

const char *
status_errno_text(int err)
{
	switch (abs(err)) {
	case ENOSPC:
		return "no space left on device";
	case EDQUOT:
		return "disk quota exceeded";
	case EEXIST:
		return "file exists";
	case ENOENT:
		return "no such file or directory";
	case ENOTDIR:
		return "not a directory";
	case EISDIR:
		return "is a directory";
	case ELOOP:
		return "the vault does not follow symbolic links";
	case EXDEV:
		return "path leaves the vault";
	case ENAMETOOLONG:
		return "file name too long";
	case ENOTEMPTY:
		return "directory not empty";
	case EIO:
		return "input/output error";
	default:
		return strerror(abs(err));
	}
}

const char *
status_text(uint32_t status)
{
	static const char *const text[] = {
		[SSH_FX_OK] = "Success",
		[SSH_FX_EOF] = "End of file",
		[SSH_FX_NO_SUCH_FILE] = "No such file",
		[SSH_FX_PERMISSION_DENIED] = "Permission denied",
		[SSH_FX_FAILURE] = "Failure",
		[SSH_FX_BAD_MESSAGE] = "Bad message",
		[SSH_FX_NO_CONNECTION] = "No connection",
		[SSH_FX_CONNECTION_LOST] = "Connection lost",
		[SSH_FX_OP_UNSUPPORTED] = "Operation unsupported",
	};

	if (status < sizeof(text) / sizeof(text[0]))
		return text[status];
	return "Unknown error";
}
