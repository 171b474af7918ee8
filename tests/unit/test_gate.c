/* SPDX-License-Identifier: MIT */
/* The gate's decisions: the write-once class, attribute changes, and classes from a profile. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "engine.h"
#include "gate.h"
#include "sftp-proto.h"

static struct stat
file(mode_t perm)
{
	return (struct stat){ .st_mode = S_IFREG | perm, .st_size = 10, .st_mtime = 1000, .st_atime = 900 };
}

static uint32_t
setstat_verdict(const struct sftp_session *s, struct stat st, struct sftp_attrs a, struct sftp_attrs *apply)
{
	return gate_setstat(s, "/f", &st, &a, apply).status;
}

static uint32_t
chmod_verdict(struct stat st, uint32_t perm)
{
	struct sftp_attrs a = { .flags = SSH_FILEXFER_ATTR_PERMISSIONS, .perm = perm }, apply;

	return setstat_verdict(NULL, st, a, &apply);
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
	struct sftp_attrs apply;
	struct stat st = file(0644);

	assert_int_equal(setstat_verdict(NULL, st, (struct sftp_attrs){ .flags = SSH_FILEXFER_ATTR_SIZE, .size = 0 },
					 &apply), SSH_FX_PERMISSION_DENIED);
	assert_int_equal(setstat_verdict(NULL, st, (struct sftp_attrs){ .flags = SSH_FILEXFER_ATTR_SIZE, .size = 10 },
					 &apply), SSH_FX_OK);
	assert_int_equal(apply.flags, 0);
	assert_int_equal(setstat_verdict(NULL, st, (struct sftp_attrs){ .flags = SSH_FILEXFER_ATTR_UIDGID, .uid = 1 },
					 &apply), SSH_FX_PERMISSION_DENIED);
	assert_int_equal(setstat_verdict(NULL, st, (struct sftp_attrs){ .flags = SSH_FILEXFER_ATTR_ACMODTIME,
									.atime = 1, .mtime = 2 }, &apply),
			 SSH_FX_PERMISSION_DENIED);
	assert_int_equal(setstat_verdict(NULL, st, (struct sftp_attrs){ .flags = SSH_FILEXFER_ATTR_ACMODTIME,
									.atime = 900, .mtime = 1000 }, &apply),
			 SSH_FX_OK);
}

static void
directories_refuse_any_change(void **state)
{
	struct stat dir = { .st_mode = S_IFDIR | 0755 };

	assert_int_equal(chmod_verdict(dir, 0555), SSH_FX_PERMISSION_DENIED);
	assert_int_equal(chmod_verdict(dir, 0755), SSH_FX_OK);
}

static void
destructive_operations_refused(void **state)
{
	static const enum policy_op refused[] = {
		POLICY_OP_APPEND, POLICY_OP_TRUNCATE, POLICY_OP_REMOVE, POLICY_OP_RMDIR,
		POLICY_OP_RENAME_FROM, POLICY_OP_RENAME_TO_EXISTING, POLICY_OP_LINK, POLICY_OP_CHOWN,
	};
	static const enum policy_op allowed[] = {
		POLICY_OP_READ, POLICY_OP_LIST, POLICY_OP_CREATE, POLICY_OP_MKDIR, POLICY_OP_RENAME_TO_NEW,
	};

	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		struct gate_verdict v = gate_path(NULL, refused[i], "/f");

		assert_int_equal(v.status, SSH_FX_PERMISSION_DENIED);
		assert_non_null(v.reason);
	}
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		assert_int_equal(gate_path(NULL, allowed[i], "/f").status, SSH_FX_OK);
	assert_int_equal(gate_path(NULL, POLICY_OP_REPLACE, "/f").action, POLICY_COMPARE);
}

static void
reserved_names_refused_for_everything(void **state)
{
	assert_int_equal(gate_path(NULL, POLICY_OP_LIST, "/.sealvault.part.00").status, SSH_FX_PERMISSION_DENIED);
	assert_int_equal(gate_path(NULL, POLICY_OP_CREATE, "/a/.sealvault").status, SSH_FX_PERMISSION_DENIED);
}

/* A profile built by hand: the classes of the restic and pgbackrest profiles, with options. */
static struct policy_rule rules[] = {
	{ .pattern = "**/*-tmp-*", .cls = POLICY_TEMP },
	{ .pattern = "locks/*", .cls = POLICY_MUTABLE, .max_files = 2 },
	{ .pattern = "info/**", .cls = POLICY_VERSIONED },
	{ .pattern = ".ssh/**", .cls = POLICY_DENY },
	{ .pattern = "**", .cls = POLICY_SEAL },
};
static struct policy_profile profile = { .name = "t", .rules = rules, .n_rules = 5,
					 .times = POLICY_SETSTAT_IGNORE };

static void
classes_from_a_profile(void **state)
{
	struct sftp_session s = { .profile = &profile };
	struct sftp_attrs apply;

	assert_int_equal(gate_path(&s, POLICY_OP_REMOVE, "/data/x-tmp-1").action, POLICY_ALLOW);
	assert_int_equal(gate_path(&s, POLICY_OP_RENAME_FROM, "/data/x-tmp-1").action, POLICY_ALLOW);
	assert_int_equal(gate_path(&s, POLICY_OP_RENAME_FROM, "/locks/a").status, SSH_FX_PERMISSION_DENIED);
	assert_int_equal(gate_path(&s, POLICY_OP_REMOVE, "/locks/a").action, POLICY_ALLOW);
	assert_int_equal(gate_path(&s, POLICY_OP_REMOVE, "/info/backup.info").action, POLICY_ATTIC);
	assert_int_equal(gate_path(&s, POLICY_OP_REPLACE, "/info/backup.info").action, POLICY_ATTIC);
	assert_int_equal(gate_path(&s, POLICY_OP_RENAME_TO_EXISTING, "/info/a").action, POLICY_ATTIC);
	assert_int_equal(gate_path(&s, POLICY_OP_REMOVE, "/data/x").status, SSH_FX_PERMISSION_DENIED);
	assert_int_equal(gate_path(&s, POLICY_OP_LIST, "/.ssh/authorized_keys").status, SSH_FX_PERMISSION_DENIED);
	assert_int_equal(gate_path(&s, POLICY_OP_CREATE, "/.ssh/authorized_keys").status, SSH_FX_PERMISSION_DENIED);
	assert_int_equal(gate_path(&s, POLICY_OP_LINK, "/data/x-tmp-1").status, SSH_FX_PERMISSION_DENIED);
	/* "times ignore": the setstat of rclone's mtime answers OK and changes nothing. */
	assert_int_equal(setstat_verdict(&s, file(0644), (struct sftp_attrs){ .flags = SSH_FILEXFER_ATTR_ACMODTIME,
									      .atime = 1, .mtime = 2 }, &apply),
			 SSH_FX_OK);
	assert_int_equal(apply.flags, 0);
}

static void
write_only_tenants_cannot_read_back(void **state)
{
	struct sftp_session s = { .profile = &profile, .write_only = true };

	assert_int_equal(gate_path(&s, POLICY_OP_READ, "/data/x").status, SSH_FX_PERMISSION_DENIED);
	assert_int_equal(gate_path(&s, POLICY_OP_LIST, "/data/x").status, SSH_FX_OK);
	assert_int_equal(gate_path(&s, POLICY_OP_READ, "/locks/a").status, SSH_FX_OK);
}

static int
fake_attic(void *ctx, int fd, const char *path)
{
	return 0;
}

/*
 * A maintenance session (maintenance-user): removing or replacing a sealed
 * or versioned file goes to the attic, but only through the attic hook
 * (vaultd); the rest is decided as for the tenant.
 */
static void
maintenance_sessions_prune_through_the_attic(void **state)
{
	static const enum policy_op to_attic[] = {
		POLICY_OP_REMOVE, POLICY_OP_REPLACE, POLICY_OP_RENAME_TO_EXISTING,
	};
	static const enum policy_op still_refused[] = {
		POLICY_OP_APPEND, POLICY_OP_TRUNCATE, POLICY_OP_RMDIR, POLICY_OP_RENAME_FROM, POLICY_OP_LINK,
		POLICY_OP_CHOWN,
	};
	struct sftp_session s = { .profile = &profile, .maintenance = true };
	struct sftp_session tenant = { .profile = &profile, .hooks = { .attic = fake_attic } };
	struct gate_verdict v;

	/* Without vaultd's attic: refused, and the reason says why. */
	for (size_t i = 0; i < sizeof(to_attic) / sizeof(to_attic[0]); i++) {
		v = gate_path(&s, to_attic[i], "/data/x");
		assert_int_equal(v.status, SSH_FX_PERMISSION_DENIED);
		assert_non_null(strstr(v.reason, "attic"));
		assert_int_equal(gate_path(&s, to_attic[i], "/info/backup.info").status, SSH_FX_PERMISSION_DENIED);
	}
	s.hooks.attic = fake_attic;
	for (size_t i = 0; i < sizeof(to_attic) / sizeof(to_attic[0]); i++) {
		v = gate_path(&s, to_attic[i], "/data/x");
		assert_int_equal(v.status, SSH_FX_OK);
		assert_int_equal(v.action, POLICY_ATTIC);
		assert_int_equal(v.cls, POLICY_SEAL);
		assert_int_equal(gate_path(&s, to_attic[i], "/info/backup.info").action, POLICY_ATTIC);
		/* The tenant's own session, attic hook or not, keeps its sealed files. */
		assert_int_not_equal(gate_path(&tenant, to_attic[i], "/data/x").action, POLICY_ATTIC);
	}
	for (size_t i = 0; i < sizeof(still_refused) / sizeof(still_refused[0]); i++)
		assert_int_equal(gate_path(&s, still_refused[i], "/data/x").status, SSH_FX_PERMISSION_DENIED);
	/* Other classes as for the tenant: temp and mutable plainly, deny never, reserved never. */
	assert_int_equal(gate_path(&s, POLICY_OP_REMOVE, "/data/x-tmp-1").action, POLICY_ALLOW);
	assert_int_equal(gate_path(&s, POLICY_OP_REMOVE, "/locks/a").action, POLICY_ALLOW);
	assert_int_equal(gate_path(&s, POLICY_OP_REMOVE, "/.ssh/x").status, SSH_FX_PERMISSION_DENIED);
	assert_int_equal(gate_path(&s, POLICY_OP_REMOVE, "/.sealvault/attic/x").status, SSH_FX_PERMISSION_DENIED);
	assert_int_equal(gate_path(&s, POLICY_OP_CREATE, "/data/y").action, POLICY_ALLOW);
	assert_int_equal(gate_path(&s, POLICY_OP_READ, "/data/x").action, POLICY_ALLOW);
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
		cmocka_unit_test(classes_from_a_profile),
		cmocka_unit_test(write_only_tenants_cannot_read_back),
		cmocka_unit_test(maintenance_sessions_prune_through_the_attic),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
