import { describe, expect, it } from 'vitest';
import { compileExtractors, type ParameterExtractor } from '../../../src/core/policy/index.js';

function extractor(spec: Record<string, string>): ParameterExtractor {
  const result = compileExtractors(spec);
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.extractor;
}

const orderExtractor = extractor({
  symbol: 'body.symbol',
  side: 'body.side',
  quantity: 'body.quantity',
  price: 'body.price',
  notional: 'double(body.quantity) * double(body.price)',
});

describe('compileExtractors', () => {
  it('extracts typed parameters from a JSON body', () => {
    const result = orderExtractor.extract({
      query: {},
      body: { symbol: 'BTCUSDT', side: 'BUY', quantity: '2.5', price: '100000' },
    });
    expect(result).toEqual({
      ok: true,
      params: { symbol: 'BTCUSDT', side: 'BUY', quantity: 2.5, price: 100000, notional: 250000 },
      decimals: { quantity: '2.5', price: '100000' },
    });
  });

  it('leaves out a parameter whose field is absent (a market order has no price)', () => {
    const result = orderExtractor.extract({
      query: {},
      body: { symbol: 'BTCUSDT', side: 'SELL', quantity: '1' },
    });
    expect(result.ok && result.params).toEqual({ symbol: 'BTCUSDT', side: 'SELL', quantity: 1 });
  });

  it('extracts from the query string', () => {
    const result = extractor({ asset: 'query.coin', amount: 'query.amount' }).extract({
      query: { coin: 'USDT', amount: '1000.50' },
      body: null,
    });
    expect(result.ok && result.decimals).toEqual({ amount: '1000.5' });
  });

  it('extracts from path parameters', () => {
    const result = extractor({ orderId: 'pathParams.id' }).extract({
      query: {},
      pathParams: { id: 'ord_1' },
      body: null,
    });
    expect(result.ok && result.params).toEqual({ orderId: 'ord_1' });
  });

  it('refuses a numeric parameter that is not a plain decimal', () => {
    const result = orderExtractor.extract({
      query: {},
      body: { symbol: 'BTCUSDT', side: 'BUY', quantity: '1e3', price: '1' },
    });
    expect(result.ok ? [] : result.errors.map((e) => [e.param, e.code])).toContainEqual([
      'quantity',
      'bad_decimal',
    ]);
  });

  it('refuses a string parameter that is not a string', () => {
    const result = orderExtractor.extract({ query: {}, body: { symbol: 42 } });
    expect(result.ok ? [] : result.errors.map((e) => e.code)).toContain('type_mismatch');
  });

  it('refuses an unknown parameter name at compile time', () => {
    const result = compileExtractors({ colour: 'body.colour' });
    expect(result.ok ? [] : result.errors.map((e) => e.code)).toEqual(['unknown_param']);
  });

  it('refuses an expression of the wrong type at compile time', () => {
    const result = compileExtractors({ symbol: 'size(query)' });
    expect(result.ok ? [] : result.errors.map((e) => e.code)).toEqual(['type_mismatch']);
  });

  it('reports a syntax error with its position', () => {
    const result = compileExtractors({ symbol: 'body.' });
    expect(result.ok ? undefined : result.errors[0]).toMatchObject({ param: 'symbol', line: 1 });
  });
});
