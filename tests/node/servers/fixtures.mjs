// Data shared by the test server and the tests: the payloads whose bytes must
// survive mcpmux unchanged. Everything here is deterministic.

// Non-ASCII text, including U+2028 (a JS line terminator that JSON allows raw)
// and an astral-plane emoji (a surrogate pair in UTF-16, 4 bytes in UTF-8).
export const RICH_TEXT = 'héllo wörld ✓ 日本語 🎉 \u2028';

// A valid 1x1 PNG.
export const TINY_PNG =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';

export const RICH_OUTPUT_SCHEMA = {
  type: 'object',
  properties: {
    'ключ': { type: 'string', description: 'a key in Cyrillic 🔑' },
    '日本': { type: 'object' },
    numbers: {
      type: 'object',
      properties: {
        tiny: { type: 'number' },
        huge: { type: 'number' },
        negative: { type: 'integer' },
        maxSafe: { type: 'integer' },
      },
    },
    flags: { type: 'object' },
    nested: { type: 'object' },
    list: { type: 'array' },
    text: { type: 'string' },
  },
  required: ['ключ', 'numbers', 'flags'],
  additionalProperties: true,
};

export const RICH_STRUCTURED = {
  'ключ': 'значение — ✓',
  '日本': { '絵文字 🎉': ['a', 1, 1e-7, -0.5, 1e21, true, false, null, {}, []] },
  numbers: { tiny: 1e-7, huge: 1.5e300, negative: -42, maxSafe: 9007199254740991, zero: 0, frac: 0.1 },
  flags: { yes: true, no: false, nothing: null },
  nested: { deep: { deeper: { deepest: [1, [2, [3, [4, {}]]]] } }, empty: {}, none: [] },
  list: [{ id: 1, 'naïve': 'café' }, { id: 2, tab: '\t', quote: '"', backslash: '\\', nul: '\u0000' }],
  text: RICH_TEXT + ' "quoted" \\back\\slash \t tab \u0001 ctrl',
};

export function richResult() {
  return {
    content: [
      { type: 'text', text: RICH_TEXT },
      { type: 'image', data: TINY_PNG, mimeType: 'image/png' },
    ],
    structuredContent: RICH_STRUCTURED,
  };
}

// A large, unusual input schema (> 50 KB once serialized): many properties,
// $defs with recursive $ref, oneOf/anyOf/allOf/not, patterns full of backslash
// escapes, unicode keys and emoji descriptions, control characters that JSON
// must escape as \u00XX, literal "\u0000" text, extreme numbers, empty
// objects and arrays.
export function bigSchema() {
  const properties = {};
  const required = [];
  const keyStyles = [
    (i) => `field_${i}`,
    (i) => `名前_${i}`,
    (i) => `ключ-${i}`,
    (i) => `emoji_🎉_${i}`,
    (i) => `with space ${i}`,
    (i) => `quote"and\\slash_${i}`,
  ];
  for (let i = 0; i < 360; i++) {
    const key = keyStyles[i % keyStyles.length](i);
    let prop;
    switch (i % 9) {
      case 0:
        prop = {
          type: 'string',
          description: `Field ${i} 📦 — must match a code like 123-abc.def ✓`,
          pattern: '^\\d{3}-[a-z]+\\.\\w*(?:\\s|\\\\|\\/|\\u00e9)?$',
          minLength: 1,
          maxLength: 4096,
          default: `ctrl:\u0000\u0001\u001f\b\f end`,
        };
        break;
      case 1:
        prop = {
          type: 'number',
          description: `Number ${i} 🔢 with extreme bounds`,
          minimum: -1e300,
          maximum: 1e300,
          multipleOf: 1e-7,
          default: 5e-324,
          examples: [0, -0.5, 1.7976931348623157e308, 123456789012345680000],
        };
        break;
      case 2:
        prop = {
          oneOf: [
            { $ref: '#/$defs/node' },
            { type: 'null' },
            { type: 'array', items: { $ref: '#/$defs/leaf' }, minItems: 0, maxItems: 0 },
          ],
          description: `A tree or nothing 🌳 (${i})`,
        };
        break;
      case 3:
        prop = {
          anyOf: [{ type: 'string', format: 'date-time' }, { type: 'integer', minimum: 0 }, {}],
          description: `Literal escapes: \\u0000 \\n \\" \\\\ and real tab:\t (${i})`,
        };
        break;
      case 4:
        prop = {
          type: 'object',
          properties: {},
          additionalProperties: false,
          description: 'an empty object, nothing allowed 🚫',
          default: {},
        };
        break;
      case 5:
        prop = {
          type: 'array',
          items: [],
          prefixItems: [{ type: 'string' }, { type: 'number' }],
          default: [],
          examples: [[], [[]], [{}]],
          uniqueItems: true,
        };
        break;
      case 6:
        prop = {
          enum: ['α', 'β', 'γ', '🎉', '', null, 0, false, 'line\nbreak', 'sep\u2028sep'],
          description: `Enum with unicode, empty string, null, 0, false (${i})`,
        };
        break;
      case 7:
        prop = {
          allOf: [{ $ref: '#/$defs/leaf' }, { not: { const: 'forbidden 💥' } }],
          if: { properties: { kind: { const: 'x' } } },
          then: { required: ['kind'] },
          else: {},
        };
        break;
      default:
        prop = {
          type: ['string', 'integer', 'boolean', 'null'],
          const: i % 2 ? true : 'K\u00e9y\u2603',
          description: `Type union ☃ ${i}; html <b>&amp;</b> and emoji 👩‍💻`,
          deprecated: true,
          readOnly: false,
        };
    }
    properties[key] = prop;
    if (i % 40 === 0) required.push(key);
  }
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: 'urn:mcpmux-test:big-schema',
    type: 'object',
    title: 'Big schema 🧪',
    description: 'Large and unusual on purpose: mcpmux must forward it byte for byte.',
    properties,
    required,
    additionalProperties: { $ref: '#/$defs/leaf' },
    patternProperties: { '^x-[\\w.-]+$': { type: 'string' }, '^\\p{L}+$': {} },
    $defs: {
      leaf: {
        type: ['string', 'number', 'boolean', 'null'],
        description: 'a leaf 🍃',
        maxLength: 1e3,
      },
      node: {
        type: 'object',
        properties: {
          value: { $ref: '#/$defs/leaf' },
          children: { type: 'array', items: { $ref: '#/$defs/node' }, default: [] },
          meta: { type: 'object', default: {}, properties: {} },
        },
        required: ['value'],
      },
      'üñí©ødé key': { const: '\u0000\u007f\u0080\uffff' },
      empty: {},
    },
    examples: [{}],
  };
}

// Tool names mcpmux has to rewrite (test-server --odd-names). With the alias
// "odd" and the default client_prefix "mcp__mux__", an upstream name has
// 64 - 10 - 5 = 49 characters of room.
export const ODD_NAMES = [
  'dotted.name.tool',
  'dotted_name_tool', // the same as the one above once '.' becomes '_'
  'ünïcödé-tool',
  `long_${'x'.repeat(70)}`,
  `long_${'x'.repeat(69)}y`, // shares its first 74 characters with the one above
  `${'m'.repeat(41)}_exactly`, // 49 characters: fits, kept as is
  `${'n'.repeat(42)}_exactly`, // 50 characters: one too many
];

/**
 * n UTF-16 code units of text that JSON must escape in places: quotes,
 * backslashes, newlines, U+2028, and non-ASCII (é, 😀) between runs of
 * ASCII of varying length. The same n always gives the same text.
 */
export function blobText(n) {
  const parts = [];
  let len = 0;
  for (let i = 0; len < n; i++) {
    const p = `line ${i} ${'x'.repeat(i % 37)} "q" \\ é 😀\u2028\n`;
    parts.push(p);
    len += p.length;
  }
  return parts.join('').slice(0, n);
}
