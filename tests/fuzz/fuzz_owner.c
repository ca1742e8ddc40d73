/* libFuzzer: lock metadata and pid-file parsing (lib/lock.c). */
#include <stdlib.h>
#include <string.h>

#include "crashsafe.h"

int LLVMFuzzerTestOneInput(const unsigned char *, size_t);

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char *s = strndup((const char *)data, size);
	struct cs_owner o;

	if (s == NULL)
		return 0;
	if (cs_parse_owner(s, &o) &&
	    (memchr(o.host, '\0', sizeof(o.host)) == NULL ||
	    memchr(o.boot_id, '\0', sizeof(o.boot_id)) == NULL))
		abort();
	free(s);
	return 0;
}
