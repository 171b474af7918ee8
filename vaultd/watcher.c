/* SPDX-License-Identifier: MIT */
/* Picks the watcher: see watcher.h. */
#include "watcher.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
watcher_open(struct vaultd *vd, enum policy_watcher mode, struct watcher **ret, char *problem)
{
	char why[256] = "";
	int r;

	*ret = NULL;
	problem[0] = '\0';
	switch (mode) {
	case POLICY_WATCHER_OFF:
		return 0;
	case POLICY_WATCHER_FANOTIFY:
		return watcher_open_fanotify(vd, ret, problem);
	case POLICY_WATCHER_INOTIFY:
		return watcher_open_inotify(vd, ret, problem);
	case POLICY_WATCHER_AUTO:
		break;
	}
	r = watcher_open_fanotify(vd, ret, why);
	if (r == 0)
		return 0;
	r = watcher_open_inotify(vd, ret, problem);
	if (r == 0)	/* say why fanotify was not used */
		snprintf(problem, 256, "fanotify refused (%s): using inotify", why);
	return r;
}

struct watcher *
watcher_free(struct watcher *w)
{
	if (w == NULL)
		return NULL;
	w->ops->free(w);
	if (w->fd >= 0)
		close(w->fd);
	free(w);
	return NULL;
}
