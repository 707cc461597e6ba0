/**
 * The direct reads of plain fields (`body.symbol`) and of a two-field product
 * (`double(body.quantity) * double(body.price)`) answer exactly what CEL answers: compared with
 * the same expressions in parentheses, which always go through CEL.
 */
import { describe, expect, it } from 'vitest';
import { compileExtractors, type ParameterExtractor } from '../../../src/core/policy/index.js';

function extractor(spec: Record<string, string>): ParameterExtractor {
  const compiled = compileExtractors(spec);
  if (!compiled.ok) throw new Error(JSON.stringify(compiled.errors));
  return compiled.extractor;
}

const fast = extractor({
  symbol: 'body.symbol',
  amount: 'query.amount',
  notional: 'double(body.quantity) * double(body.price)',
});
const cel = extractor({
  symbol: '(body.symbol)',
  amount: '(query.amount)',
  notional: '(double(body.quantity) * double(body.price))',
});

const BODIES: unknown[] = [
  { symbol: 'BTCUSDT', quantity: '0.01000000', price: '50000.00' },
  { symbol: 'ETHUSDT', quantity: 3, price: 1.5 },
  { symbol: 7, quantity: '1e3', price: '2' },
  { quantity: '-1', price: '2' },
  { symbol: null, quantity: { a: 1 }, price: '2' },
  { symbol: ['x'], quantity: '0.1', price: '0.2' },
  null,
  [1, 2],
  'text',
];
const QUERIES: Record<string, string>[] = [{}, { amount: '12.5' }, { amount: 'abc' }];

describe('extractor fast paths', () => {
  it.each(BODIES.flatMap((body) => QUERIES.map((query) => ({ body, query }))))(
    'agree with CEL on $body / $query',
    ({ body, query }) => {
      expect(fast.extract({ query, body })).toEqual(cel.extract({ query, body }));
    },
  );
});
