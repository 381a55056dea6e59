/*
 * fuzz_http.c - response header handling, http_header_in() (src/http.c).
 *
 * The input is what a server sends as headers, cut into lines after each
 * '\n' as libcurl hands them over (a status line starts a new response, as
 * after a 1xx or a redirect). Each input gets a fresh struct http from
 * http_new() on one loop, as an upstream request would. Invariants:
 *   - a kept Mcp-Session-Id is not empty and all visible ASCII (it is sent
 *     back on every request), and one that was refused is flagged instead;
 *   - a kept WWW-Authenticate carries no '\n' and no surrounding blanks
 *     (unless a NUL cut it short: it is kept as a C string);
 *   - after a status line, nothing of the previous response is kept;
 *   - the last Mcp-Session-Id line of the last response is the one kept
 *     (or flagged), and nothing leaks.
 */
#include "fuzz.h"

#include <string.h>
#include <strings.h>

#include "http.h"
#include "loop.h"

static struct loop *loop;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	loop = loop_new();
	if (!loop)
		abort();
	return 0;
}

/* nul: the input holds a NUL, which ends a kept value early (www_auth is a C string). */
static void check(const struct http *h, int nul)
{
	const char *s, *sid = http_session_id(h), *auth = http_www_auth(h);

	if (sid) {
		FUZZ_CHECK(!http_bad_session_id(h), "a session id kept and flagged");
		FUZZ_CHECK(sid[0], "an empty session id kept");
		for (s = sid; *s; s++)
			FUZZ_CHECK((unsigned char)*s >= 0x21 && (unsigned char)*s <= 0x7e,
				   "session id holds 0x%02x", (unsigned char)*s);
	}
	if (auth) {
		size_t n = strlen(auth);

		FUZZ_CHECK(!strchr(auth, '\n'), "WWW-Authenticate holds a line break");
		FUZZ_CHECK(nul || !n || (auth[n - 1] != '\r' && auth[n - 1] != ' '),
			   "WWW-Authenticate ends in a blank");
		FUZZ_CHECK(!n || (auth[0] != ' ' && auth[0] != '\t'),
			   "WWW-Authenticate starts with a blank");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *nl;
	struct http *h = http_new(loop, "POST", "http://127.0.0.1:9/mcp");
	int saw_sid = 0, nul = memchr(data, '\0', size) != NULL;

	while (p < end) {
		size_t n;

		nl = memchr(p, '\n', (size_t)(end - p));
		n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		http_header_in(h, p, n);
		check(h, nul);
		if (n > 5 && !strncmp(p, "HTTP/", 5)) {
			FUZZ_CHECK(!http_session_id(h) && !http_www_auth(h) && !http_bad_session_id(h),
				   "a status line kept the previous response's headers");
			saw_sid = 0;
		} else if (n > 15 && !strncasecmp(p, "mcp-session-id:", 15)) {
			saw_sid = 1;
			FUZZ_CHECK(http_session_id(h) || http_bad_session_id(h),
				   "an Mcp-Session-Id line neither kept nor flagged");
		}
		p += n;
	}
	if (!saw_sid)
		FUZZ_CHECK(!http_session_id(h) && !http_bad_session_id(h), "a session id from nowhere");
	http_free(h);
	return 0;
}
