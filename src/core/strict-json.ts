/**
 * A strict JSON checker for signed bodies. JSON.parse keeps the last of duplicate keys while
 * other parsers keep the first, so `{"amount":"1","amount":"1000"}` could be read differently
 * by the gateway and the engine; such bodies are refused (security reference §5.3 #8), as are
 * a BOM, nesting deeper than `maxDepth`, and anything RFC 8259 does not allow.
 */
export type StrictJsonResult =
  { readonly ok: true } | { readonly ok: false; readonly problem: string };

const LITERALS = ['true', 'false', 'null'] as const;
// eslint-disable-next-line no-control-regex -- control characters are what sends a string to the slow path
const NEEDS_SLOW_PATH = /[\u0000-\u001f\\]/;
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
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function checkStrictJson(bytes: Buffer, maxDepth = 32): StrictJsonResult {
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch {
    return { ok: false, problem: 'not UTF-8' };
  }
  if (text.charCodeAt(0) === 0xfeff) return { ok: false, problem: 'byte order mark' };
  let i = 0;
  const fail = (problem: string): StrictJsonResult => ({
    ok: false,
    problem: `${problem} at ${i}`,
  });
  const skip = () => {
    for (;;) {
      const c = text.charCodeAt(i);
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return;
      i++;
    }
  };
  const readString = (): string | undefined => {
    // Called at the opening quote; returns the decoded string or undefined if malformed.
    const close = text.indexOf('"', i + 1);
    if (close < 0) return undefined;
    const raw = text.slice(i + 1, close);
    // Fast path: no escapes and no control characters, the common case for order bodies.
    if (!NEEDS_SLOW_PATH.test(raw)) {
      i = close + 1;
      return raw;
    }
    let out = '';
    i++;
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return out;
      }
      if (c < 0x20) return undefined;
      if (c === 0x5c) {
        const e = text[i + 1];
        if (e === 'u') {
          const hex = text.slice(i + 2, i + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) return undefined;
          out += String.fromCharCode(parseInt(hex, 16));
          i += 6;
          continue;
        }
        const mapped = e === undefined ? undefined : SIMPLE_ESCAPES[e];
        if (mapped === undefined) return undefined;
        out += mapped;
        i += 2;
        continue;
      }
      out += text[i];
      i++;
    }
    return undefined;
  };
  const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
  const value = (depth: number): StrictJsonResult | undefined => {
    if (depth > maxDepth) return fail('nesting too deep');
    skip();
    const c = text[i];
    if (c === '{') {
      i++;
      const seen = new Set<string>();
      skip();
      if (text[i] === '}') {
        i++;
        return undefined;
      }
      for (;;) {
        skip();
        if (text[i] !== '"') return fail('expected a key');
        const key = readString();
        if (key === undefined) return fail('malformed string');
        // Decoded keys are compared, so `\u0061mount` and `amount` are the same key.
        if (seen.has(key)) return fail(`duplicate key ${JSON.stringify(key)}`);
        seen.add(key);
        skip();
        if (text[i] !== ':') return fail('expected ":"');
        i++;
        const inner = value(depth + 1);
        if (inner) return inner;
        skip();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return undefined;
        }
        return fail('expected "," or "}"');
      }
    }
    if (c === '[') {
      i++;
      skip();
      if (text[i] === ']') {
        i++;
        return undefined;
      }
      for (;;) {
        const inner = value(depth + 1);
        if (inner) return inner;
        skip();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return undefined;
        }
        return fail('expected "," or "]"');
      }
    }
    if (c === '"') return readString() === undefined ? fail('malformed string') : undefined;
    for (const literal of LITERALS) {
      if (text.startsWith(literal, i)) {
        i += literal.length;
        return undefined;
      }
    }
    NUMBER.lastIndex = i;
    const match = NUMBER.exec(text);
    if (match && match[0].length > 0) {
      i += match[0].length;
      return undefined;
    }
    return fail('unexpected character');
  };
  const result = value(0);
  if (result) return result;
  skip();
  return i === text.length ? { ok: true } : fail('trailing characters');
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
