/* SPDX-License-Identifier: MIT */
/* The gate's decisions: what the write-once class allows and refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "gate.h"
#include "sftp-proto.h"

static struct stat
file(mode_t perm)
{
	return (struct stat){ .st_mode = S_IFREG | perm, .st_size = 10, .st_mtime = 1000, .st_atime = 900 };
}

static uint32_t
chmod_verdict(struct stat st, uint32_t perm)
{
	struct sftp_attrs a = { .flags = SSH_FILEXFER_ATTR_PERMISSIONS, .perm = perm };

	return gate_path(NULL, GATE_SETSTAT, "/f", &st, &a).status;
}

static void
chmod_only_removing_write_bits(void **state)
{
	assert_int_equal(chmod_verdict(file(0644), 0444), SSH_FX_OK);
	assert_int_equal(chmod_verdict(file(0664), 0444), SSH_FX_OK);
	assert_int_equal(chmod_verdict(file(0644), 0644), SSH_FX_OK);	/* no change */
	assert_int_equal(chmod_verdict(file(0600), 0400), SSH_FX_OK);
	assert_int_equal(chmod_verdict(file(0444), 0644), SSH_FX_PERMISSION_DENIED);
	assert_int_equal(chmod_verdict(file(0644), 0640), SSH_FX_PERMISSION_DENIED);	/* removes read */
	assert_int_equal(chmod_verdict(file(0644), 04644), SSH_FX_PERMISSION_DENIED);
	assert_int_equal(chmod_verdict(file(0644), 0755), SSH_FX_PERMISSION_DENIED);
}

static void
other_attributes_refused_unless_unchanged(void **state)
{
	struct stat st = file(0644);
	struct sftp_attrs size = { .flags = SSH_FILEXFER_ATTR_SIZE, .size = 0 };
	struct sftp_attrs same_size = { .flags = SSH_FILEXFER_ATTR_SIZE, .size = 10 };
	struct sftp_attrs owner = { .flags = SSH_FILEXFER_ATTR_UIDGID, .uid = 1, .gid = 1 };
	struct sftp_attrs times = { .flags = SSH_FILEXFER_ATTR_ACMODTIME, .atime = 1, .mtime = 2 };
	struct sftp_attrs same_times = { .flags = SSH_FILEXFER_ATTR_ACMODTIME, .atime = 900, .mtime = 1000 };

	assert_int_equal(gate_path(NULL, GATE_SETSTAT, "/f", &st, &size).status, SSH_FX_PERMISSION_DENIED);
	assert_int_equal(gate_path(NULL, GATE_SETSTAT, "/f", &st, &same_size).status, SSH_FX_OK);
	assert_int_equal(gate_path(NULL, GATE_SETSTAT, "/f", &st, &owner).status, SSH_FX_PERMISSION_DENIED);
	assert_int_equal(gate_path(NULL, GATE_SETSTAT, "/f", &st, &times).status, SSH_FX_PERMISSION_DENIED);
	assert_int_equal(gate_path(NULL, GATE_SETSTAT, "/f", &st, &same_times).status, SSH_FX_OK);
}

static void
directories_refuse_any_change(void **state)
{
	struct stat dir = { .st_mode = S_IFDIR | 0755 };
	struct sftp_attrs narrow = { .flags = SSH_FILEXFER_ATTR_PERMISSIONS, .perm = 0555 };
	struct sftp_attrs same = { .flags = SSH_FILEXFER_ATTR_PERMISSIONS, .perm = 0755 };

	assert_int_equal(gate_path(NULL, GATE_SETSTAT, "/d", &dir, &narrow).status, SSH_FX_PERMISSION_DENIED);
	assert_int_equal(gate_path(NULL, GATE_SETSTAT, "/d", &dir, &same).status, SSH_FX_OK);
}

static void
destructive_operations_refused(void **state)
{
	static const enum gate_op refused[] = {
		GATE_OVERWRITE, GATE_APPEND, GATE_TRUNCATE, GATE_REMOVE, GATE_RMDIR,
		GATE_RENAME, GATE_SYMLINK, GATE_HARDLINK,
	};
	static const enum gate_op allowed[] = { GATE_READ, GATE_CREATE, GATE_REUPLOAD, GATE_MKDIR };

	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		struct gate_verdict v = gate_path(NULL, refused[i], "/f", NULL, NULL);

		assert_int_equal(v.status, SSH_FX_PERMISSION_DENIED);
		assert_non_null(v.reason);
	}
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		assert_int_equal(gate_path(NULL, allowed[i], "/f", NULL, NULL).status, SSH_FX_OK);
}

static void
reserved_names_refused_for_everything(void **state)
{
	assert_int_equal(gate_path(NULL, GATE_READ, "/.sealvault.part.00", NULL, NULL).status,
			 SSH_FX_PERMISSION_DENIED);
	assert_int_equal(gate_path(NULL, GATE_CREATE, "/a/.sealvault", NULL, NULL).status,
			 SSH_FX_PERMISSION_DENIED);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(chmod_only_removing_write_bits),
		cmocka_unit_test(other_attributes_refused_unless_unchanged),
		cmocka_unit_test(directories_refuse_any_change),
		cmocka_unit_test(destructive_operations_refused),
		cmocka_unit_test(reserved_names_refused_for_everything),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
