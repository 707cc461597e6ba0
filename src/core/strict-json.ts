/**
 * A strict JSON checker for signed bodies. JSON.parse keeps the last of duplicate keys while
 * other parsers keep the first, so `{"amount":"1","amount":"1000"}` could be read differently
 * by the gateway and the engine; such bodies are refused (security reference §5.3 #8), as are
 * a byte-order mark, invalid UTF-8, nesting deeper than `maxDepth`, and anything RFC 8259 does
 * not allow. Keys are compared after unescaping, so `\u0061mount` and `amount` collide.
 */
export type StrictJsonResult =
  { readonly ok: true } | { readonly ok: false; readonly problem: string };

const OK: StrictJsonResult = { ok: true };
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
// eslint-disable-next-line no-control-regex -- control characters send a string to the slow path
const NEEDS_SLOW_PATH = /[\u0000-\u001f\\]/;
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const HEX4 = /^[0-9a-fA-F]{4}$/;
const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  '"': '"',
  '\\': '\\',
  '/': '/',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
};

// The scanner is synchronous and not re-entrant, so its cursor lives at module level: no
// closures are allocated per call on the hot path.
let text = '';
let pos = 0;
let problem = '';

function skipWhitespace(): void {
  for (;;) {
    const c = text.charCodeAt(pos);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return;
    pos++;
  }
}

/** At an opening quote: returns the unescaped string (cursor after it) or undefined. */
function readString(): string | undefined {
  const close = text.indexOf('"', pos + 1);
  if (close < 0) return undefined;
  const raw = text.slice(pos + 1, close);
  if (!NEEDS_SLOW_PATH.test(raw)) {
    pos = close + 1;
    return raw;
  }
  let out = '';
  pos++;
  while (pos < text.length) {
    const c = text.charCodeAt(pos);
    if (c === 0x22) {
      pos++;
      return out;
    }
    if (c < 0x20) return undefined;
    if (c === 0x5c) {
      const e = text[pos + 1];
      if (e === 'u') {
        const hex = text.slice(pos + 2, pos + 6);
        if (!HEX4.test(hex)) return undefined;
        out += String.fromCharCode(parseInt(hex, 16));
        pos += 6;
        continue;
      }
      const mapped = e === undefined ? undefined : SIMPLE_ESCAPES[e];
      if (mapped === undefined) return undefined;
      out += mapped;
      pos += 2;
      continue;
    }
    out += text[pos];
    pos++;
  }
  return undefined;
}

function fail(what: string): false {
  problem = `${what} at ${pos}`;
  return false;
}

function readObject(depth: number): boolean {
  pos++;
  skipWhitespace();
  if (text.charCodeAt(pos) === 0x7d) {
    pos++;
    return true;
  }
  // Order bodies have a handful of keys: a small array beats a Set.
  const seen: string[] = [];
  for (;;) {
    skipWhitespace();
    if (text.charCodeAt(pos) !== 0x22) return fail('expected a key');
    const key = readString();
    if (key === undefined) return fail('malformed string');
    if (seen.includes(key)) return fail(`duplicate key ${JSON.stringify(key)}`);
    seen.push(key);
    skipWhitespace();
    if (text.charCodeAt(pos) !== 0x3a) return fail('expected ":"');
    pos++;
    if (!readValue(depth + 1)) return false;
    skipWhitespace();
    const c = text.charCodeAt(pos);
    pos++;
    if (c === 0x2c) continue;
    if (c === 0x7d) return true;
    pos--;
    return fail('expected "," or "}"');
  }
}

function readArray(depth: number): boolean {
  pos++;
  skipWhitespace();
  if (text.charCodeAt(pos) === 0x5d) {
    pos++;
    return true;
  }
  for (;;) {
    if (!readValue(depth + 1)) return false;
    skipWhitespace();
    const c = text.charCodeAt(pos);
    pos++;
    if (c === 0x2c) continue;
    if (c === 0x5d) return true;
    pos--;
    return fail('expected "," or "]"');
  }
}

let maxNesting = 32;

function readValue(depth: number): boolean {
  if (depth > maxNesting) return fail('nesting too deep');
  skipWhitespace();
  const c = text.charCodeAt(pos);
  if (c === 0x7b) return readObject(depth);
  if (c === 0x5b) return readArray(depth);
  if (c === 0x22) return readString() === undefined ? fail('malformed string') : true;
  if (text.startsWith('true', pos)) {
    pos += 4;
    return true;
  }
  if (text.startsWith('false', pos)) {
    pos += 5;
    return true;
  }
  if (text.startsWith('null', pos)) {
    pos += 4;
    return true;
  }
  NUMBER.lastIndex = pos;
  const match = NUMBER.exec(text);
  if (match && match[0].length > 0) {
    pos += match[0].length;
    return true;
  }
  return fail('unexpected character');
}

export function checkStrictJson(bytes: Buffer, maxDepth = 32): StrictJsonResult {
  let decoded: string;
  try {
    decoded = UTF8.decode(bytes);
  } catch {
    return { ok: false, problem: 'not UTF-8' };
  }
  return checkStrictText(decoded, maxDepth);
}

/**
 * Checks like `checkStrictJson` and parses what passed, decoding the bytes once (a WebSocket
 * message is checked and read on every frame).
 */
export function parseStrictJson(
  bytes: Buffer,
  maxDepth = 32,
):
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly problem: string } {
  let decoded: string;
  try {
    decoded = UTF8.decode(bytes);
  } catch {
    return { ok: false, problem: 'not UTF-8' };
  }
  const checked = checkStrictText(decoded, maxDepth);
  if (!checked.ok) return checked;
  try {
    return { ok: true, value: JSON.parse(decoded) as unknown };
  } catch {
    // Not reached for text the scanner accepted (RFC 8259 only); refused rather than thrown.
    return { ok: false, problem: 'not JSON' };
  }
}

function checkStrictText(decoded: string, maxDepth: number): StrictJsonResult {
  if (decoded.charCodeAt(0) === 0xfeff) return { ok: false, problem: 'byte order mark' };
  text = decoded;
  pos = 0;
  maxNesting = maxDepth;
  try {
    if (!readValue(0)) return { ok: false, problem };
    skipWhitespace();
    return pos === text.length ? OK : { ok: false, problem: `trailing characters at ${pos}` };
  } finally {
    text = '';
  }
}

/** Whether a raw query string repeats a parameter name (compared after percent-decoding). */
export function hasDuplicateQueryParams(rawQuery: string): boolean {
  if (rawQuery === '') return false;
  const seen = new Set<string>();
  for (const pair of rawQuery.split('&')) {
    const eq = pair.indexOf('=');
    const rawName = eq < 0 ? pair : pair.slice(0, eq);
    let name: string;
    try {
      name = decodeURIComponent(rawName.replace(/\+/g, ' '));
    } catch {
      return true;
    }
    if (seen.has(name)) return true;
    seen.add(name);
  }
  return false;
}
