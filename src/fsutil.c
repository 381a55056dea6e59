/* fsutil.c - see fsutil.h. */
#include "fsutil.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "xalloc.h"

/* Creates the directories of p[0..n) from the top, 0700. */
static int make_dirs(char *p, size_t n, struct buf *err)
{
	struct stat st;
	size_t i;
	char c;

	for (i = 1; i <= n; i++) {
		if (i < n && p[i] != '/')
			continue;
		c = p[i];
		p[i] = '\0';
		/* EACCES on a parent that exists is no reason to fail: stat decides */
		if (mkdir(p, 0700) != 0 && errno != EEXIST &&
		    (stat(p, &st) != 0 || !S_ISDIR(st.st_mode))) {
			int e = errno;

			if (err)
				buf_printf(err, "cannot create directory %s: %s", p, strerror(e));
			errno = e;
			return -1;
		}
		p[i] = c;
	}
	return 0;
}

int mkdir_p(const char *dir, struct buf *err)
{
	char *p = xstrdup(dir);
	size_t n = strlen(p);
	int rc;

	while (n > 1 && p[n - 1] == '/')
		n--;
	p[n] = '\0';
	rc = n ? make_dirs(p, n, err) : 0;
	free(p);
	return rc;
}

int mkdir_parent(const char *path, struct buf *err)
{
	char *p = xstrdup(path);
	size_t n = strlen(p);
	int rc;

	while (n && p[n - 1] != '/')
		n--;
	while (n > 1 && p[n - 1] == '/')
		n--;
	p[n] = '\0';
	rc = n && strcmp(p, "/") ? make_dirs(p, n, err) : 0;
	free(p);
	return rc;
}
