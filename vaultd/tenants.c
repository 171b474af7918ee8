/* SPDX-License-Identifier: MIT */
/* The tenant table: see tenants.h. */
#include "tenants.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void
tenant_open(struct vault_tenant *t)
{
	char real[PATH_MAX];
	struct passwd *pw;
	struct stat st;

	pw = getpwnam(t->conf->user);
	if (pw == NULL) {
		snprintf(t->problem, sizeof(t->problem), "user %s does not exist", t->conf->user);
		return;
	}
	t->uid = pw->pw_uid;
	t->gid = pw->pw_gid;
	/* Root or the tenant itself as maintenance user would only blur who is who: none then. */
	if (t->conf->maint_user != NULL && (pw = getpwnam(t->conf->maint_user)) != NULL &&
	    pw->pw_uid != 0 && pw->pw_uid != t->uid)
		t->maint_uid = pw->pw_uid;
	if (realpath(t->conf->root, real) == NULL) {
		snprintf(t->problem, sizeof(t->problem), "root %s: %s", t->conf->root, strerror(errno));
		return;
	}
	t->root_fd = open(real, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (t->root_fd < 0 || fstat(t->root_fd, &st) < 0) {
		snprintf(t->problem, sizeof(t->problem), "root %s: %s", real, strerror(errno));
		return;
	}
	t->root_path = strdup(real);
	if (t->root_path == NULL) {
		snprintf(t->problem, sizeof(t->problem), "out of memory");
		return;
	}
	/* realpath("/") is "/": keep no trailing slash so prefix checks are uniform. */
	t->root_len = strcmp(real, "/") == 0 ? 0 : strlen(real);
	t->dev = st.st_dev;
	t->root_ino = st.st_ino;
	t->ok = true;
}

int
tenants_open(const struct policy *p, struct tenant_table *tab)
{
	tab->n = 0;
	tab->t = calloc(p->n_tenants ? p->n_tenants : 1, sizeof(*tab->t));
	if (tab->t == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < p->n_tenants; i++) {
		struct vault_tenant *t = &tab->t[tab->n++];

		t->conf = &p->tenants[i];
		t->root_fd = -1;
		t->maint_uid = (uid_t)-1;
		tenant_open(t);
	}
	return 0;
}

void
tenants_close(struct tenant_table *tab)
{
	for (size_t i = 0; i < tab->n; i++) {
		if (tab->t[i].root_fd >= 0)
			close(tab->t[i].root_fd);
		free(tab->t[i].root_path);
	}
	free(tab->t);
	tab->t = NULL;
	tab->n = 0;
}

struct vault_tenant *
tenants_by_path(const struct tenant_table *tab, const char *abspath, const char **vpath)
{
	struct vault_tenant *best = NULL;

	for (size_t i = 0; i < tab->n; i++) {
		struct vault_tenant *t = &tab->t[i];
		size_t n = t->root_len;

		if (!t->ok || strncmp(abspath, t->root_path, n) != 0)
			continue;
		if (abspath[n] != '/' && abspath[n] != '\0')
			continue;
		if (best == NULL || n > best->root_len)
			best = t;
	}
	if (best != NULL)
		*vpath = abspath[best->root_len] ? abspath + best->root_len : "/";
	return best;
}

struct vault_tenant *
tenants_by_uid(const struct tenant_table *tab, uid_t uid)
{
	for (size_t i = 0; i < tab->n; i++)
		if (tenant_serves_uid(&tab->t[i], uid))
			return &tab->t[i];
	return NULL;
}
