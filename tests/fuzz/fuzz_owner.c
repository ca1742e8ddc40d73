/* SPDX-License-Identifier: ISC */
/* libFuzzer: lock metadata, pid-file and symlink-lock parsing
 * (lib/lock.c). The first byte picks the link's name for the latter. */
#include <stdlib.h>
#include <string.h>

#include "crashsafe.h"

int LLVMFuzzerTestOneInput(const unsigned char *, size_t);

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char *s = strndup((const char *)data, size);
	struct cs_owner o;
	const char *kind = NULL;

	if (s == NULL)
		return 0;
	if (cs_parse_link_owner(size > 0 && data[0] & 1 ? ".#file" : "x.lock",
	    s, &o, &kind) && (o.pid < 1 || kind == NULL ||
	    memchr(o.host, '\0', sizeof(o.host)) == NULL))
		abort();
	if (cs_parse_owner(s, &o) &&
	    (memchr(o.host, '\0', sizeof(o.host)) == NULL ||
	    memchr(o.boot_id, '\0', sizeof(o.boot_id)) == NULL))
		abort();
	free(s);
	return 0;
}
