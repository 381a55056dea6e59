/*
 * unit_tmpdir.h - for the unit tests: removing a test's temporary directory
 * with everything below it (rm -r; links are removed, never followed).
 */
#ifndef MCPMUX_UNIT_TMPDIR_H
#define MCPMUX_UNIT_TMPDIR_H

#include <ftw.h>
#include <stdio.h>

static inline int unit_rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

static inline void unit_rm_tree(const char *dir)
{
	nftw(dir, unit_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
