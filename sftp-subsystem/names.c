/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"

static int
copy_table(struct sftp_id_name **dst, size_t *dst_n, const struct sftp_id_name *src, size_t n)
{
	*dst = NULL;
	*dst_n = 0;
	if (n == 0)
		return 0;
	*dst = calloc(n, sizeof(**dst));
	if (*dst == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		(*dst)[i].id = src[i].id;
		(*dst)[i].name = strdup(src[i].name != NULL ? src[i].name : "");
		if ((*dst)[i].name == NULL)
			return -ENOMEM;
		(*dst_n)++;
	}
	return 0;
}

static void
free_table(struct sftp_id_name *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free((char *)t[i].name);
	free(t);
}

int
names_copy(struct names *n, const struct sftp_session_config *cfg)
{
	int err;

	*n = (struct names){ 0 };
	if ((err = copy_table(&n->users, &n->n_users, cfg->users, cfg->n_users)) != 0 ||
	    (err = copy_table(&n->groups, &n->n_groups, cfg->groups, cfg->n_groups)) != 0) {
		names_release(n);
		return err;
	}
	return 0;
}

void
names_release(struct names *n)
{
	free_table(n->users, n->n_users);
	free_table(n->groups, n->n_groups);
	*n = (struct names){ 0 };
}

static const char *
lookup(const struct sftp_id_name *t, size_t n, uint32_t id)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].id == id)
			return t[i].name;
	return NULL;
}

const char *
names_user(const struct names *n, uint32_t uid)
{
	return lookup(n->users, n->n_users, uid);
}

const char *
names_group(const struct names *n, uint32_t gid)
{
	return lookup(n->groups, n->n_groups, gid);
}
