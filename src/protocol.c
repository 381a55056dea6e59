/* protocol.c - see protocol.h. */
#include "protocol.h"

#include <string.h>

const char *const mcp_versions[] = { "2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25" };
const size_t mcp_nversions = sizeof(mcp_versions) / sizeof(mcp_versions[0]);

int mcp_version_known(const char *v, size_t n)
{
	size_t i;

	for (i = 0; i < mcp_nversions; i++)
		if (strlen(mcp_versions[i]) == n && memcmp(mcp_versions[i], v, n) == 0)
			return 1;
	return 0;
}
