/**
 * The strict JSON checker for signed bodies and the duplicate query-parameter check: anything two
 * parsers could read differently is refused (duplicate keys, including escaped aliases).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checkStrictJson,
  hasDuplicateQueryParams,
  parseStrictJson,
} from '../../src/core/strict-json.js';

const ok = (text: string | Buffer) =>
  checkStrictJson(typeof text === 'string' ? Buffer.from(text, 'utf8') : text).ok;

describe('checkStrictJson accepts RFC 8259 JSON', () => {
  it.each([
    '{}',
    '[]',
    '{"symbol":"BTCUSDT","quantity":"0.01","price":123.5e-2}',
    ' { "a" : [ 1 , -2 , 0.5 , true , false , null ] } ',
    '"just a string"',
    '0',
    '{"a":{"a":{"a":1}}}',
    '{"a":1,"b":{"a":2}}',
    '{"esc":"\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9"}',
    '{"emoji":"😀","\\ud83d\\ude01":1}',
  ])('%s', (text) => {
    expect(ok(text)).toBe(true);
  });
});

describe('checkStrictJson refuses', () => {
  it.each([
    ['a duplicate key', '{"amount":"1","amount":"1000"}'],
    ['a duplicate key written as \\u0061mount', '{"amount":"1","\\u0061mount":"1000"}'],
    ['a duplicate key with an escaped slash', '{"a/b":1,"a\\/b":2}'],
    ['a duplicate key in a nested object', '{"o":{"k":1,"k":2}}'],
    ['a surrogate-pair alias of a literal key', '{"😀":1,"\\ud83d\\ude00":2}'],
    ['a trailing comma in an object', '{"a":1,}'],
    ['a trailing comma in an array', '[1,]'],
    ['a leading zero', '{"a":01}'],
    ['a bare decimal point', '{"a":1.}'],
    ['NaN', '{"a":NaN}'],
    ['a single-quoted string', "{'a':1}"],
    ['an unquoted key', '{a:1}'],
    ['a raw control character in a string', '{"a":"x\ny"}'],
    ['an unknown escape', '{"a":"\\x41"}'],
    ['a short \\u escape', '{"a":"\\u00e"}'],
    ['an unterminated string', '{"a":"b}'],
    ['trailing characters', '{"a":1} {"b":2}'],
    ['an empty body of whitespace', '   '],
    ['a comment', '{"a":1 /* c */}'],
  ])('%s', (_name, text) => {
    expect(ok(text)).toBe(false);
  });

  it('a byte-order mark', () => {
    expect(ok(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{}')]))).toBe(false);
  });

  it('invalid UTF-8', () => {
    expect(ok(Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x3a, 0x31, 0x7d]))).toBe(false);
  });

  it('nesting deeper than the limit, but not at the limit', () => {
    expect(ok('['.repeat(33) + ']'.repeat(33))).toBe(true);
    expect(ok('['.repeat(34) + ']'.repeat(34))).toBe(false);
    expect(checkStrictJson(Buffer.from('[[[[]]]]'), 2).ok).toBe(false);
  });

  it('very deep nesting ends in a refusal, not a stack overflow', () => {
    expect(ok('['.repeat(100_000))).toBe(false);
  });
});

describe('checkStrictJson agrees with JSON.parse on duplicate-free documents', () => {
  it('accepts whatever JSON.stringify writes (no duplicate keys possible)', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (value) => {
        expect(ok(JSON.stringify(value))).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('refuses nothing JSON.parse would read differently: accepted text always parses', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 24 }), (text) => {
        if (ok(text)) expect(() => JSON.parse(text) as unknown).not.toThrow();
      }),
      { numRuns: 2000 },
    );
  });
});

describe('parseStrictJson', () => {
  it('answers what checkStrictJson answers, with the JSON.parse value when accepted', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 24 }),
          fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
        ),
        (text) => {
          const bytes = Buffer.from(text, 'utf8');
          const parsed = parseStrictJson(bytes);
          expect(parsed.ok).toBe(checkStrictJson(bytes).ok);
          if (parsed.ok) expect(parsed.value).toEqual(JSON.parse(text));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('refuses duplicate keys and invalid UTF-8 like checkStrictJson', () => {
    expect(parseStrictJson(Buffer.from('{"a":1,"\\u0061":2}')).ok).toBe(false);
    expect(parseStrictJson(Buffer.from([0x7b, 0xff, 0x7d])).ok).toBe(false);
  });
});

describe('hasDuplicateQueryParams', () => {
  it.each([
    ['symbol=BTCUSDT&symbol=ETHUSDT', true],
    ['symbol=BTCUSDT&%73ymbol=ETHUSDT', true],
    ['a+b=1&a%20b=2', true],
    ['flag&flag', true],
    ['a=1&a', true],
    ['%E0%A4%A=1', true],
    ['symbol=BTCUSDT&side=buy', false],
    ['a=1&b=1', false],
    ['a=%26&b=%3D', false],
    ['', false],
  ])('%s → %s', (query, duplicate) => {
    expect(hasDuplicateQueryParams(query)).toBe(duplicate);
  });
});
