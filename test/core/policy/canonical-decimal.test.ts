/** The regex-free decimal canonicaliser of parameter extraction is normalizeDecimal exactly. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalDecimal } from '../../../src/core/policy/compile-extractors.js';
import { normalizeDecimal } from '../../../src/core/transactions/decimal.js';

const decimalLike = fc
  .array(fc.constantFrom('0', '0', '1', '5', '9', '.', '-', 'e', ' ', '\n', '٣', 'x'), {
    maxLength: 52,
  })
  .map((chars) => chars.join(''));

describe('canonicalDecimal', () => {
  it.each([
    ['0.01000000', '0.01'],
    ['50000.00', '50000'],
    ['0', '0'],
    ['0.0', '0'],
    ['1.50', '1.5'],
    ['00', undefined],
    ['.5', undefined],
    ['5.', undefined],
    ['-1', undefined],
    ['1e3', undefined],
    ['1.1234567890123456789', undefined],
    ['1234567890123456789012345678901', undefined],
    ['', undefined],
  ])('%s → %s', (text, expected) => {
    expect(canonicalDecimal(text)).toBe(expected);
    expect(normalizeDecimal(text)).toBe(expected);
  });

  it('agrees with normalizeDecimal on any text', () => {
    fc.assert(
      fc.property(
        fc.oneof(decimalLike, fc.string(), fc.stringMatching(/^\d{1,32}(\.\d{0,20})?$/)),
        (text) => {
          expect(canonicalDecimal(text)).toBe(normalizeDecimal(text));
        },
      ),
      { numRuns: 20_000 },
    );
  });
});
