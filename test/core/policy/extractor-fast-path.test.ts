/**
 * The direct reads of plain fields (`body.symbol`), of a field from the query or else the body
 * (`has(query.side) ? query.side : body.side`), lower-cased (`….lowerAscii()`), and of a
 * two-read product (`double(body.quantity) * double(body.price)`) answer exactly what CEL
 * answers: compared with the same expressions in parentheses, which always go through CEL.
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

const either = (name: string) => `(has(query.${name}) ? query.${name} : body.${name})`;
const fastDialect = extractor({
  symbol: either('symbol').slice(1, -1),
  side: `${either('side')}.lowerAscii()`,
  orderType: 'body.type.lowerAscii()',
  notional: `double(${either('quantity')}) * double(${either('price')})`,
  quantity: 'has(body.quantity) ? body.quantity : query.quantity',
});
const celDialect = extractor({
  symbol: `(${either('symbol')})`,
  side: `(${either('side')}.lowerAscii())`,
  orderType: '(body.type.lowerAscii())',
  notional: `(double(${either('quantity')}) * double(${either('price')}))`,
  quantity: '(has(body.quantity) ? body.quantity : query.quantity)',
});

const BODIES: unknown[] = [
  { symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', quantity: '0.001', price: '40000' },
  { side: 'Sell', type: 5, quantity: 2, price: 'x' },
  { side: null, type: ['LIMIT'], symbol: { a: 1 } },
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
const QUERIES: Record<string, string>[] = [
  {},
  { amount: '12.5' },
  { amount: 'abc' },
  { symbol: 'ETHUSDT', side: 'SELL', quantity: '1.5', price: '2' },
  { side: 'ÄBC', quantity: '1e3' },
];

describe('extractor fast paths', () => {
  it.each(BODIES.flatMap((body) => QUERIES.map((query) => ({ body, query }))))(
    'agree with CEL on $body / $query',
    ({ body, query }) => {
      expect(fast.extract({ query, body })).toEqual(cel.extract({ query, body }));
      expect(fastDialect.extract({ query, body })).toEqual(celDialect.extract({ query, body }));
    },
  );
});
