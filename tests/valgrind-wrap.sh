#!/bin/sh
# Runs mcpmux under valgrind for the integration tests (make valgrind).
# -q prints only errors, which the harness treats like sanitizer reports.
exec valgrind -q --error-exitcode=97 --leak-check=full --errors-for-leak-kinds=definite,indirect \
	--show-leak-kinds=definite,indirect --track-fds=no "$(dirname "$0")/../mcpmux" "$@"
