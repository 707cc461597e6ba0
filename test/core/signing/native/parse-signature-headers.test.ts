import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseSignatureHeaders } from '../../../../src/core/signing/native/index.js';
import { referenceParseSignatureHeaders } from './reference-parse.js';

const validLabel = fc.constantFrom('sig1', 'sig-b25', '*x', 'a.b_c');
const label = fc.oneof(
  { weight: 9, arbitrary: validLabel },
  { weight: 1, arbitrary: fc.constantFrom('Sig1', '1sig', '', 'sig 1') },
);
const stringItem = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom(
      '"@method"',
      '"@path"',
      '"content-digest"',
      '"a\\"b"',
      '"a\\\\b"',
      '""',
    ),
  },
  { weight: 2, arbitrary: fc.string({ maxLength: 8 }).map((s) => `"${s}"`) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('"@query";sf', 'token', '?1', ':AA==:', '"\u00e9"', '"a\\b"'),
  },
);
const paramValue = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: -1e15 + 1, max: 1e15 - 1 }).map(String) },
  { weight: 4, arbitrary: fc.string({ maxLength: 6 }).map((s) => JSON.stringify(s)) },
  {
    weight: 2,
    arbitrary: fc.constantFrom('0', '-0', '007', '1.0', '1.5', '1234567890123456', '-', '"a\\"b"'),
  },
  { weight: 1, arbitrary: fc.constantFrom('tok', '?0', ':AAAA:', '@1', '%"a"', '') },
);
const param = fc
  .tuple(
    fc.constantFrom('created', 'keyid', 'alg', 'nonce', 'x', 'A', '*'),
    fc.option(paramValue, { freq: 10 }),
  )
  .map(([k, v]) => (v === null ? `;${k}` : `;${k}=${v}`));
const separator = fc.oneof(
  { weight: 9, arbitrary: fc.constant(' ') },
  { weight: 1, arbitrary: fc.constantFrom('  ', '', '\t') },
);
const tail = fc.oneof(
  { weight: 9, arbitrary: fc.constant('') },
  { weight: 1, arbitrary: fc.constantFrom(', sig2=()', ' ', ',') },
);
const signatureVariant = fc.oneof(
  { weight: 6, arbitrary: fc.constant('') },
  { weight: 1, arbitrary: fc.constantFrom('unpad', 'tail', 'param', 'bad', 'other-label') },
);
const fields = fc
  .tuple(
    label,
    fc.array(fc.tuple(stringItem, separator), { maxLength: 4 }),
    fc.array(param, { maxLength: 4 }),
    tail,
    fc.uint8Array({ maxLength: 70 }),
    signatureVariant,
  )
  .map(([l, items, params, end, bytes, variant]) => {
    const list = items.map(([item, sep], i) => (i === 0 ? item : sep + item)).join('');
    let b64 = Buffer.from(bytes).toString('base64');
    if (variant === 'unpad') b64 = b64.replace(/=+$/, '');
    if (variant === 'bad') b64 = b64.slice(0, -1) + '_';
    const suffix = variant === 'tail' ? ' ' : variant === 'param' ? ';a=1' : '';
    const sigLabel = variant === 'other-label' ? 'other' : l;
    return [`${l}=(${list})${params.join('')}${end}`, `${sigLabel}=:${b64}:${suffix}`] as const;
  });

function normalise(result: ReturnType<typeof parseSignatureHeaders>) {
  if (!result.ok) return undefined;
  const v = result.value;
  return {
    label: v.label,
    components: [...v.components],
    params: [...v.params],
    signatureParams: v.signatureParams,
    signature: v.signature,
  };
}

describe('parseSignatureHeaders', () => {
  it('agrees with structured-headers plus re-serialisation on near-canonical input', () => {
    fc.assert(
      fc.property(fields, ([input, sig]) => {
        expect(normalise(parseSignatureHeaders(input, sig))).toEqual(
          referenceParseSignatureHeaders(input, sig),
        );
      }),
      { numRuns: 3000 },
    );
  });

  it('generates accepted cases often enough to compare values, not only refusals', () => {
    const accepted = fc
      .sample(fields, { numRuns: 2000, seed: 42 })
      .filter(([input, sig]) => parseSignatureHeaders(input, sig).ok).length;
    expect(accepted).toBeGreaterThan(200);
  });

  it('agrees with the reference on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), fc.string({ maxLength: 40 }), (input, sig) => {
        expect(normalise(parseSignatureHeaders(input, sig))).toEqual(
          referenceParseSignatureHeaders(input, sig),
        );
      }),
      { numRuns: 1000 },
    );
  });

  it('accepts a canonical field the reference accepts', () => {
    const input = 'sig1=("@method" "a\\"b");created=1;keyid="k"';
    const result = parseSignatureHeaders(input, 'sig1=:AAAA:');
    expect(normalise(result)).toEqual(referenceParseSignatureHeaders(input, 'sig1=:AAAA:'));
    expect(result.ok).toBe(true);
  });

  it('refuses oversized fields without parsing them', () => {
    const huge = `sig1=("@method");nonce="${'a'.repeat(5000)}"`;
    expect(parseSignatureHeaders(huge, 'sig1=:AAAA:')).toEqual({
      ok: false,
      reason: 'SIGNATURE_MALFORMED',
    });
  });
});
