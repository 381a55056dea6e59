/* audit.c - the JSONL audit trail; see include/audit.h. */
#include "fsutil.h"
#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "log.h"
#include "xalloc.h"

struct audit {
	int fd;			/* O_APPEND */
	char *path;		/* for messages */
	int failed;		/* a write failed: said once */
};


struct audit *audit_open(const char *path, struct buf *err)
{
	struct audit *a;
	struct stat st;
	int fd;

	if (!path)
		return NULL;
	if (mkdir_parent(path, NULL) != 0) {
		buf_printf(err, "cannot create the directory of audit_log %s: %s", path, strerror(errno));
		return NULL;
	}
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		buf_printf(err, "cannot open audit_log %s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == 0 && st.st_uid == getuid() && (st.st_mode & 077))
		fchmod(fd, 0600);
	a = xcalloc(1, sizeof(*a));
	a->fd = fd;
	a->path = xstrdup(path);
	return a;
}

void audit_close(struct audit *a)
{
	if (!a)
		return;
	close(a->fd);
	free(a->path);
	free(a);
}

static void put_time(struct buf *b)
{
	struct timespec ts;
	struct tm tm;
	char s[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
	buf_printf(b, "%s.%03ldZ", s, ts.tv_nsec / 1000000);
}

static void field(struct buf *b, const char *name, const char *v)
{
	buf_printf(b, ",\"%s\":", name);
	json_escape_str(b, v ? v : "");
}

void audit_write(struct audit *a, const struct audit_rec *r)
{
	static const char hex[] = "0123456789abcdef";
	struct buf b = BUF_INIT;
	size_t k;
	ssize_t w;

	if (!a)
		return;
	buf_puts(&b, "{\"time\":\"");
	put_time(&b);
	buf_putc(&b, '"');
	field(&b, "tool", r->tool);
	field(&b, "connector", r->connector);
	field(&b, "label", r->label);
	field(&b, "decision", r->decision);
	field(&b, "decided_by", r->decided_by);
	buf_printf(&b, ",\"duration_ms\":%lld", (long long)r->duration_ms);
	field(&b, "outcome", r->outcome);
	buf_puts(&b, ",\"args_sha256\":\"");
	for (k = 0; k < sizeof(r->args_sha256); k++) {
		buf_putc(&b, hex[r->args_sha256[k] >> 4]);
		buf_putc(&b, hex[r->args_sha256[k] & 15]);
	}
	buf_puts(&b, "\"}\n");
	/* One write per line: O_APPEND keeps lines whole across processes. */
	w = write(a->fd, b.data, b.len);
	if ((w < 0 || (size_t)w != b.len) && !a->failed) {
		a->failed = 1;
		log_warn("cannot write the audit log %s: %s", a->path, w < 0 ? strerror(errno) : "short write");
	}
	buf_free(&b);
}
