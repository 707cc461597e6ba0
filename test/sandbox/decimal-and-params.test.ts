import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { divideToStep, formatDecimal, parseDecimal } from '../../src/sandbox/decimal.js';
import { parseFlatParams } from '../../src/sandbox/params.js';
import { SandboxFault } from '../../src/sandbox/sandbox-fault.js';

const decimalText = fc
  .tuple(fc.bigInt({ min: 0n, max: 10n ** 15n - 1n }), fc.bigInt({ min: 0n, max: 10n ** 8n - 1n }))
  .map(([integer, fraction]) => `${integer}.${fraction.toString().padStart(8, '0')}`);

function faultCode(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return error instanceof SandboxFault ? error.code : 'NOT_A_FAULT';
  }
  return undefined;
}

describe('sandbox decimals', () => {
  it('formats with 8 places exactly what it parsed', () => {
    fc.assert(
      fc.property(decimalText, (text) => {
        const parsed = parseDecimal(text);
        expect(parsed.ok && formatDecimal(parsed.value, 8)).toBe(text);
      }),
      { numRuns: 1000 },
    );
  });

  it.each(['', '-1', '+1', '1e3', '0x10', ' 1', '1.', '.5', '1,5', 'NaN', 'Infinity'])(
    'refuses %j',
    (text) => {
      expect(parseDecimal(text)).toEqual({ ok: false, problem: 'invalid' });
    },
  );

  it('refuses a ninth significant decimal place but accepts trailing zeros', () => {
    expect(parseDecimal('0.123456789')).toEqual({ ok: false, problem: 'precision' });
    expect(parseDecimal('0.1234567800000').ok).toBe(true);
  });

  it('truncates a quote amount down to the 8-digit quantity step', () => {
    const quote = parseDecimal('100');
    const price = parseDecimal('3');
    expect(quote.ok && price.ok && formatDecimal(divideToStep(quote.value, price.value))).toBe(
      '33.33333333',
    );
  });
});

describe('sandbox flat params', () => {
  it('reads back what URLSearchParams wrote', () => {
    const params = fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.string(), {
      maxKeys: 20,
    });
    fc.assert(
      fc.property(params, (record) => {
        const text = new URLSearchParams(record).toString();
        expect(Object.fromEntries(parseFlatParams(text))).toEqual(record);
      }),
      { numRuns: 500 },
    );
  });

  it('throws only sandbox faults on arbitrary input', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 80 }), (text) => {
        expect(faultCode(() => parseFlatParams(text))).not.toBe('NOT_A_FAULT');
      }),
      { numRuns: 1000 },
    );
  });

  it('refuses a repeated name', () => {
    expect(faultCode(() => parseFlatParams('a=1&b=2&a=3'))).toBe('DUPLICATE_PARAMETER');
  });

  it('refuses a malformed percent escape', () => {
    expect(faultCode(() => parseFlatParams('a=%zz'))).toBe('MALFORMED_PARAMS');
  });
});
