// What bench/server.mjs serves over HTTP and bench/stdio-floor.mjs over
// stdio: the same two tools and the same big text, so the floors compare.

/** `bytes` of text, 63 printable characters and a newline per line. */
export function bigText(bytes) {
  const line = 'The quick brown fox jumps over the lazy dog; 0123456789 ABCDEFG\n';
  return line.repeat(Math.ceil(bytes / line.length)).slice(0, bytes);
}

/** The tools `echo` (returns its text) and `big` (returns bigMib MiB of text). */
export function baseTools(bigMib) {
  return [
    {
      name: 'echo',
      description: 'Returns its text argument unchanged.',
      inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
      annotations: { readOnlyHint: true },
    },
    {
      name: 'big',
      description: `Returns ${bigMib} MiB of text.`,
      inputSchema: { type: 'object', properties: {} },
      annotations: { readOnlyHint: true },
    },
  ];
}
