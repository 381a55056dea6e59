#!/usr/bin/env python3
"""differential.py - mcpmux's JSON accept/reject decision against a strict reference.

    differential.py JSON_DECIDE DIR_OR_FILE...

Every file given (directories: every file in them), plus edge cases generated
here and mutations of the files (a fixed seed: the same every run), goes to
JSON_DECIDE (tests/fuzz/json_decide.c, which prints mcpmux's json_parse()
verdict per file) and to the reference below. Any disagreement is printed
with the input and the reference's reason; the exit status is then 1.

The reference is Python's json module made strict, with mcpmux's rules:
  - the bytes must be UTF-8 (strict decoding: no overlong forms, no encoded
    surrogates, nothing past U+10FFFF) and hold exactly one JSON value with
    only space, tab, CR and LF around it (no BOM);
  - RFC 8259 grammar: no NaN or Infinity (parse_constant refuses them), no
    raw control character in a string (strict=True);
  - mcpmux's rules beyond RFC 8259: nesting deeper than JSON_MAX_DEPTH (256)
    is refused; a KEY with an escape of a lone surrogate (\\ud800 without
    its low half, or a low half alone) is refused (readers decode it
    differently: Python and JavaScript keep it, Go makes it U+FFFD), while a
    lone surrogate in a string VALUE is accepted (a text cut in the middle of
    a pair is common); an object holding a key twice is refused, keys
    compared after unescaping ("a" and "\\u0061" are the same).
"""
import json
import os
import random
import subprocess
import sys
import tempfile

MAX_DEPTH = 256
MUTATIONS_PER_FILE = 40
SEED = 20240601


class Refused(Exception):
    pass


def _pairs(pairs):
    seen = set()
    for k, _ in pairs:
        if k in seen:
            raise Refused("repeated key %r" % k)
        seen.add(k)
    return dict(pairs)


def _constant(name):
    raise Refused("%s is not JSON" % name)


def _check_string(s):
    for ch in s:
        if 0xD800 <= ord(ch) <= 0xDFFF:
            raise Refused("lone surrogate escape U+%04X" % ord(ch))


def _walk(v, depth):
    """Depth counts containers: the document's own container is depth 1."""
    if isinstance(v, (dict, list)):
        depth += 1
        if depth > MAX_DEPTH:
            raise Refused("nested deeper than %d" % MAX_DEPTH)
        items = v.items() if isinstance(v, dict) else ((None, x) for x in v)
        for k, x in items:
            if k is not None:
                _check_string(k)
            _walk(x, depth)


def _raw_depth(text):
    """Container nesting measured on the text (strings skipped), so that a
    document too deep for Python's recursion is still judged by depth."""
    depth = top = 0
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif c in "[{":
            depth += 1
            top = max(top, depth)
        elif c in "]}":
            depth -= 1
        i += 1
    return top


def reference(data):
    """(accepted, reason)."""
    try:
        text = data.decode("utf-8", errors="strict")
    except UnicodeDecodeError as e:
        return False, "not UTF-8 (%s)" % e.reason
    if _raw_depth(text) > MAX_DEPTH:
        # Valid or not, refused: a valid document is as deep as its brackets.
        # (Python's own recursion limit would end a very deep one anyway.)
        return False, "nested deeper than %d" % MAX_DEPTH
    try:
        v = json.loads(text, object_pairs_hook=_pairs, parse_constant=_constant,
                       parse_int=lambda s: 0, parse_float=lambda s: 0.0, strict=True)
        _walk(v, 0)
    except Refused as e:
        return False, str(e)
    except RecursionError:
        return False, "too deep for the reference"
    except ValueError as e:
        return False, "invalid JSON (%s)" % e
    return True, "valid"


def edge_cases():
    """Inputs at the edges of every rule, as bytes."""
    c = []
    for d in (MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1):
        c.append(b"[" * d + b"]" * d)
        c.append(b'{"a":' * (d - 1) + b"[]" + b"}" * (d - 1))
        c.append(b"[" * d + b'"x"' + b"]" * d)
    c.append(b"[" * 5000 + b"]" * 5000)
    c.append(b"[" * 5000)
    for s in (b"\\ud800", b"\\udbff", b"\\udc00", b"\\udfff", b"\\ud800\\ud800",
              b"\\udc00\\ud800", b"\\ud800x", b"\\ud800\\u0041", b"\\ud83d\\ude00",
              b"\\uD83D\\uDE00", b"\\ud7ff", b"\\ue000", b"\\ud800\\n", b"a\\ud800"):
        c.append(b'"' + s + b'"')
        c.append(b'{"' + s + b'":1}')
    for a, b in ((b"a", b"\\u0061"), (b"/", b"\\/"), (b"\\n", b"\\u000a"),
                 (b"\\ud83d\\ude00", b"\xf0\x9f\x98\x80"), (b"\xc3\xa9", b"\\u00e9"),
                 (b"\xc3\xa9", b"\\u00E9"), (b"", b""), (b"a", b"a"), (b"a", b"b"),
                 (b"A", b"a"), (b"\\u0000", b"\\u0000")):
        c.append(b'{"' + a + b'":1,"' + b + b'":2}')
        c.append(b'{"x":{"' + a + b'":1,"' + b + b'":2}}')
        c.append(b'[{"' + a + b'":1},{"' + b + b'":2}]')
    c.append(b'{"a":{"a":1},"b":{"a":2}}')
    c.append(b'{"a":1,"b":2,"c":3,"a":4}')
    for n in (b"0", b"-0", b"01", b"-01", b"1.", b".1", b"1.0", b"1e", b"1e+", b"1E5",
              b"1e-5", b"+1", b"-", b"--1", b"1.5e308", b"1e999", b"0x10", b"1_000",
              b"9" * 5000, b"-" + b"9" * 5000, b"0." + b"0" * 5000, b"\xd9\xa3"):
        c.append(n)
        c.append(b"[" + n + b"]")
    for lit in (b"true", b"false", b"null", b"tru", b"True", b"NULL", b"nul", b"NaN",
                b"Infinity", b"-Infinity", b"undefined", b"truex", b"null null"):
        c.append(lit)
        c.append(b'{"k":' + lit + b"}")
    for ws in (b" ", b"\t", b"\n", b"\r", b"\f", b"\v", b"\xc2\xa0", b"\xef\xbb\xbf",
               b"\xe2\x80\xa8", b"\x00"):
        c.append(ws + b"{}")
        c.append(b"{}" + ws)
        c.append(b"[1," + ws + b"2]")
    for ch in list(range(0x00, 0x20)) + [0x7F]:
        c.append(b'"' + bytes([ch]) + b'"')
    for esc in (b"\\a", b"\\x41", b"\\u41", b"\\u004", b"\\U0041", b"\\'", b"\\0", b"\\"):
        c.append(b'"' + esc + b'"')
    for u in (b"\xc0\x80", b"\xc1\xbf", b"\xc2\x80", b"\xdf\xbf", b"\xe0\x80\x80",
              b"\xe0\xa0\x80", b"\xed\x9f\xbf", b"\xed\xa0\x80", b"\xed\xbf\xbf",
              b"\xee\x80\x80", b"\xef\xbf\xbf", b"\xf0\x80\x80\x80", b"\xf0\x90\x80\x80",
              b"\xf4\x8f\xbf\xbf", b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xff",
              b"\x80", b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98"):
        c.append(b'"' + u + b'"')
        c.append(u)
    for doc in (b"", b" ", b"{", b"}", b"[", b"]", b"{}", b"[]", b'""', b"{,}", b"[,]",
                b"[1,]", b'{"a":1,}', b'{"a"}', b'{"a":}', b'{:1}', b"{1:2}", b"[1 2]",
                b'{"a" 1}', b"'a'", b'"a', b"[1]]", b"[[1]", b"{}{}", b"1 2", b"/*c*/1",
                b"1//c", b'{"a":1 "b":2}'):
        c.append(doc)
    return c


def mutations(files, rng):
    out = []
    alphabet = b'{}[]:,"\\u0123456789abcdefABCDEF-+.eEtrunlfs \t\r\n\x00\x1f\x7f\x80\xc3\xa9\xed\xa0\xf0\xff'
    for data in files:
        for _ in range(MUTATIONS_PER_FILE):
            b = bytearray(data)
            for _ in range(rng.randint(1, 4)):
                op = rng.randrange(4)
                pos = rng.randrange(len(b) + 1)
                if op == 0 and b:
                    del b[min(pos, len(b) - 1)]
                elif op == 1:
                    b[pos:pos] = bytes([rng.choice(alphabet)])
                elif op == 2 and b:
                    b[min(pos, len(b) - 1)] = rng.choice(alphabet)
                else:
                    cut = rng.randrange(len(b) + 1)
                    b[pos:pos] = b[cut:cut + rng.randint(1, 16)]
            out.append(bytes(b))
    return out


def main(argv):
    if len(argv) < 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    decide = argv[1]
    paths = []
    for p in argv[2:]:
        if os.path.isdir(p):
            paths += sorted(os.path.join(p, f) for f in os.listdir(p)
                            if os.path.isfile(os.path.join(p, f)))
        elif os.path.isfile(p):
            paths.append(p)
    given = [(p, open(p, "rb").read()) for p in paths]
    rng = random.Random(SEED)
    cases = [(p, d) for p, d in given]
    cases += [("edge case %d" % i, d) for i, d in enumerate(edge_cases())]
    cases += [("mutation %d" % i, d) for i, d in enumerate(mutations([d for _, d in given], rng))]

    with tempfile.TemporaryDirectory(prefix="mcpmux-differential-") as tmp:
        files = []
        for i, (_, d) in enumerate(cases):
            f = os.path.join(tmp, "%06d" % i)
            with open(f, "wb") as fh:
                fh.write(d)
            files.append(f)
        verdicts = {}
        for k in range(0, len(files), 500):
            r = subprocess.run([decide] + files[k:k + 500], capture_output=True, text=True)
            if r.returncode not in (0,):
                sys.stderr.write(r.stderr)
                print("differential: %s failed (exit %d)" % (decide, r.returncode), file=sys.stderr)
                return 1
            for line in r.stdout.splitlines():
                verdict, f = line.split(" ", 1)
                verdicts[f] = verdict == "accept"

    disagree = []
    for (name, d), f in zip(cases, files):
        ok, why = reference(d)
        if verdicts[f] != ok:
            disagree.append((name, d, verdicts[f], why))
    accepted = sum(1 for f in files if verdicts[f])
    print("differential: %d inputs (%d files, %d edge cases, %d mutations): mcpmux accepts %d, "
          "%d disagreements with the reference" % (len(cases), len(given), len(edge_cases()),
                                                    len(cases) - len(given) - len(edge_cases()),
                                                    accepted, len(disagree)))
    kinds = {}
    for _, _, mine, why in disagree:
        kind = ("accepts: " if mine else "refuses: ") + why.split(" (")[0].split(" U+")[0]
        kind = kind.split(" '")[0]
        kinds[kind] = kinds.get(kind, 0) + 1
    for kind in sorted(kinds):
        print("  mcpmux %s: %d" % (kind, kinds[kind]))
    for name, d, mine, why in disagree[:40]:
        shown = d if len(d) <= 120 else d[:100] + b"..." + d[-16:]
        print("  %s: mcpmux %s, reference %s (%s): %r" % (
            name, "accepts" if mine else "refuses", "refuses" if mine else "accepts", why, shown))
    if len(disagree) > 40:
        print("  ... and %d more" % (len(disagree) - 40))
    return 1 if disagree else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
