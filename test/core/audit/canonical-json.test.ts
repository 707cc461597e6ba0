import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, type JsonValue } from '../../../src/core/audit/canonical-json.js';

describe('canonicalJson', () => {
  it('sorts object members by key at every depth', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: 0 }], c: null } })).toBe(
      '{"a":{"c":null,"d":[2,{"y":0,"z":1}]},"b":1}',
    );
  });

  it('sorts keys by UTF-16 code units as RFC 8785 section 3.2.3 says', () => {
    // U+20AC (0x20AC) sorts before U+FB33 (0xFB33), and "\u00e9" after "z".
    expect(canonicalJson({ '\ufb33': 1, '\u20ac': 2, '\u00e9': 3, z: 4 })).toBe(
      '{"z":4,"\u00e9":3,"\u20ac":2,"\ufb33":1}',
    );
  });

  it('writes no insignificant whitespace', () => {
    expect(canonicalJson({ a: [1, 2], b: 'x y' })).toBe('{"a":[1,2],"b":"x y"}');
  });

  it('serialises numbers the ECMAScript way', () => {
    expect(canonicalJson([1e21, 0.1, -0, 100])).toBe('[1e+21,0.1,0,100]');
  });

  it('refuses non-finite numbers', () => {
    expect(() => canonicalJson({ a: Number.NaN })).toThrow(TypeError);
  });

  it('is independent of member insertion order (property)', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (record) => {
        const reversed = Object.fromEntries(Object.entries(record).reverse());
        return canonicalJson(record as JsonValue) === canonicalJson(reversed as JsonValue);
      }),
      { numRuns: 300 },
    );
  });

  it('round-trips through JSON.parse to an equal value (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const parsed = JSON.parse(canonicalJson(value as JsonValue)) as unknown;
        expect(parsed).toEqual(JSON.parse(JSON.stringify(value)));
      }),
      { numRuns: 300 },
    );
  });
});
