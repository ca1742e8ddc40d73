/* SPDX-License-Identifier: ISC */
/*
 * path.c - a path's directory and name, and its directory reached as the
 * shell reaches it for DIR/FILE (see cs_dir_dot).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crashsafe.h"

int
cs_split_path(const char *path, char **dir, char **base)
{
	const char *slash;
	size_t len = strlen(path);

	if (len == 0) {
		errno = ENOENT;
		return -1;
	}
	if (path[len - 1] == '/') {
		errno = EISDIR;
		return -1;
	}
	if ((slash = strrchr(path, '/')) == NULL) {
		*dir = strdup(".");
		*base = strdup(path);
	} else {
		*dir = slash == path ? strdup("/") :
		    strndup(path, (size_t)(slash - path));
		*base = strdup(slash + 1);
	}
	if (*dir == NULL || *base == NULL) {
		free(*dir);
		free(*base);
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

char *
cs_dir_dot(const char *dir)
{
	char *p;

	if (asprintf(&p, "%s/.", dir) == -1)
		return NULL;
	return p;
}

char *
cs_parent_dot(const char *path)
{
	char *dir, *base, *dot;

	if (cs_split_path(path, &dir, &base) == -1)
		return NULL;
	dot = cs_dir_dot(dir);
	free(dir);
	free(base);
	return dot;
}
