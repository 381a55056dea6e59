/*
 * json_decide.c - mcpmux's verdict on JSON files, for tests/fuzz/differential.py.
 *
 *   json_decide FILE...   prints "accept FILE" or "reject FILE" per file, as
 *                         json_parse() decides; exit 0, or 2 when a file cannot
 *                         be read or json_parse() and json_validate() disagree
 *
 * A normal build (make build/json_decide), not a fuzz target.
 */
#include <stdio.h>
#include <stdlib.h>

#include "buf.h"
#include "json.h"

static int read_file(const char *path, struct buf *out)
{
	FILE *f = fopen(path, "rb");
	char tmp[65536];
	size_t n;
	int bad;

	if (!f)
		return -1;
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		buf_add(out, tmp, n);
	bad = ferror(f);
	fclose(f);
	return bad ? -1 : 0;
}

int main(int argc, char **argv)
{
	struct json j;
	struct buf b = BUF_INIT;
	int i, rc = 0;

	json_init(&j);
	for (i = 1; i < argc; i++) {
		int parsed, valid;

		buf_reset(&b);
		if (read_file(argv[i], &b)) {
			perror(argv[i]);
			rc = 2;
			continue;
		}
		parsed = json_parse(&j, buf_str(&b), b.len) == 0;
		valid = json_validate(buf_str(&b), b.len) == 0;
		if (parsed != valid) {
			fprintf(stderr, "%s: json_parse says %d, json_validate %d\n", argv[i], parsed,
				valid);
			rc = 2;
		}
		printf("%s %s\n", parsed ? "accept" : "reject", argv[i]);
	}
	json_free(&j);
	buf_free(&b);
	return rc;
}
