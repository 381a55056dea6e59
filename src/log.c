/* log.c - stderr diagnostics; see include/log.h. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int debug_on;
static int quiet_on;

void log_init(void)
{
	const char *d = getenv("MCPMUX_DEBUG");

	debug_on = d && *d && strcmp(d, "0") != 0;
}

void log_quiet(int quiet)
{
	quiet_on = quiet;
}

static __attribute__((format(printf, 2, 0)))
void vlog(const char *level, const char *fmt, va_list ap)
{
	char line[2048];
	int n;

	n = snprintf(line, sizeof(line), "mcpmux: %s", level);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	/* One event, one line: a reason quoted from elsewhere may hold newlines. */
	for (char *p = line; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	fprintf(stderr, "%s\n", line);
}

/* The levels differ in their prefix and in when they say nothing. */
#define LOG_LEVEL(name, prefix, silent)		\
	void name(const char *fmt, ...)		\
	{					\
		va_list ap;			\
						\
		if (silent)			\
			return;			\
		va_start(ap, fmt);		\
		vlog(prefix, fmt, ap);		\
		va_end(ap);			\
	}

LOG_LEVEL(log_error, "error: ", 0)
LOG_LEVEL(log_warn, "warning: ", quiet_on)
LOG_LEVEL(log_info, "", quiet_on)
LOG_LEVEL(log_debug, "debug: ", !debug_on)
