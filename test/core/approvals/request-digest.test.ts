import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  digestsEqual,
  requestDigest,
  type DigestableRequest,
} from '../../../src/core/approvals/index.js';

const base: DigestableRequest = {
  method: 'POST',
  path: '/v1/withdrawals',
  query: 'recvWindow=5000',
  body: Buffer.from('{"asset":"USDT","amount":"100"}'),
  keyId: 'pk_live_1',
  accountId: 'acc_1',
  action: 'withdrawal.create',
  params: { asset: 'USDT', amount: 100 },
};

describe('requestDigest', () => {
  it('is the SHA-256 of the documented length-prefixed encoding', () => {
    const enc = (name: string, value: string) => `${name}${Buffer.byteLength(value)}:${value}`;
    const expected = createHash('sha256')
      .update(
        [
          enc('domain', 'portcullis.approval-request.v1'),
          enc('method', 'POST'),
          enc('path', '/v1/withdrawals'),
          enc('query', 'recvWindow=5000'),
          enc('body', '{"asset":"USDT","amount":"100"}'),
          enc('key', 'pk_live_1'),
          enc('account', 'acc_1'),
          enc('action', 'withdrawal.create'),
          enc('params', '{"amount":100,"asset":"USDT"}'),
        ].join(''),
      )
      .digest('hex');
    expect(requestDigest(base)).toBe(expected);
  });

  it('does not depend on the order of params keys', () => {
    expect(requestDigest({ ...base, params: { amount: 100, asset: 'USDT' } })).toBe(
      requestDigest(base),
    );
  });

  const changes: [string, Partial<DigestableRequest>][] = [
    ['method', { method: 'PUT' }],
    ['path', { path: '/v1/withdrawals/' }],
    ['query', { query: 'recvWindow=5001' }],
    ['body', { body: Buffer.from('{"asset":"USDT","amount":"1000"}') }],
    ['key', { keyId: 'pk_live_2' }],
    ['account', { accountId: 'acc_2' }],
    ['action', { action: 'transfer.create' }],
    ['params', { params: { asset: 'USDT', amount: 1000 } }],
  ];
  for (const [field, change] of changes) {
    it(`changes when the ${field} changes`, () => {
      expect(requestDigest({ ...base, ...change })).not.toBe(requestDigest(base));
    });
  }

  it('cannot be collided by moving bytes between query and body (length prefixes)', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.nat(), (query, body, cut) => {
        const joined = query + body;
        const at = cut % (joined.length + 1);
        const moved = { query: joined.slice(0, at), body: Buffer.from(joined.slice(at)) };
        fc.pre(moved.query !== query);
        const original = requestDigest({ ...base, query, body: Buffer.from(body) });
        expect(requestDigest({ ...base, ...moved })).not.toBe(original);
      }),
      { numRuns: 200 },
    );
  });
});

describe('digestsEqual', () => {
  it('accepts equal digests', () => {
    expect(digestsEqual(requestDigest(base), requestDigest(base))).toBe(true);
  });

  it('refuses anything that is not a lowercase hex SHA-256', () => {
    const d = requestDigest(base);
    expect([
      digestsEqual(d, d.toUpperCase()),
      digestsEqual('', ''),
      digestsEqual(d, `${d}0`),
    ]).toEqual([false, false, false]);
  });
});
