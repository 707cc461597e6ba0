/**
 * Rejections carried in a 2xx body (src/core/dialects/answer-outcome.ts): only a readable Bybit
 * or OKX envelope that says the request was refused counts; everything else keeps the amount
 * counted.
 */
import { describe, expect, it } from 'vitest';
import {
  answerPlaced,
  rejectedInBody,
  rejectsInBody,
} from '../../../src/core/dialects/answer-outcome.js';

const json = (value: unknown) => Buffer.from(JSON.stringify(value));

describe('rejectedInBody', () => {
  it('reads Bybit retCode: 0 placed, anything else rejected', () => {
    expect(
      rejectedInBody('bybit', json({ retCode: 0, retMsg: 'OK', result: { orderId: '1' } })),
    ).toBe(false);
    expect(
      rejectedInBody('bybit', json({ retCode: 170131, retMsg: 'Insufficient balance.' })),
    ).toBe(true);
    // A retCode that is not a number is not Bybit's envelope.
    expect(rejectedInBody('bybit', json({ retCode: '170131' }))).toBe(false);
  });

  it('reads OKX code and sCode: a batch that placed some orders stays counted', () => {
    const placed = { code: '0', msg: '', data: [{ ordId: '1', sCode: '0', sMsg: '' }] };
    const failed = { code: '1', msg: '', data: [{ ordId: '', sCode: '51008', sMsg: 'no funds' }] };
    const partial = {
      code: '2',
      msg: '',
      data: [
        { ordId: '1', sCode: '0', sMsg: '' },
        { ordId: '', sCode: '51008', sMsg: 'no funds' },
      ],
    };
    expect(rejectedInBody('okx', json(placed))).toBe(false);
    expect(rejectedInBody('okx', json(failed))).toBe(true);
    expect(rejectedInBody('okx', json(partial))).toBe(false);
    expect(rejectedInBody('okx', json({ code: '50011', msg: 'Too Many Requests', data: [] }))).toBe(
      true,
    );
    expect(rejectedInBody('okx', json({ code: 1, data: [] }))).toBe(false);
  });

  it('never reads a rejection in the other dialects or in what is not an envelope', () => {
    for (const dialect of ['native', 'binance'] as const) {
      expect(rejectsInBody(dialect)).toBe(false);
      expect(rejectedInBody(dialect, json({ retCode: 1, code: '1' }))).toBe(false);
    }
    for (const body of ['', 'not json', '[1,2]', 'null', '"text"', '{"retCode":']) {
      expect(rejectedInBody('bybit', Buffer.from(body))).toBe(false);
      expect(rejectedInBody('okx', Buffer.from(body))).toBe(false);
    }
  });

  it('an answer placed what was held: a 2xx whose body, when read, is no rejection', () => {
    const rejected = json({ retCode: 10001, retMsg: 'params error' });
    expect(answerPlaced('bybit', 200, json({ retCode: 0 }))).toBe(true);
    expect(answerPlaced('bybit', 200, rejected)).toBe(false);
    // A body that was not read (too large, streamed) cannot tell: a 2xx counts as placed.
    expect(answerPlaced('bybit', 200, undefined)).toBe(true);
    expect(answerPlaced('native', 201, rejected)).toBe(true);
    expect(answerPlaced('native', 199, undefined)).toBe(false);
    expect(answerPlaced('native', 300, undefined)).toBe(false);
    expect(answerPlaced('okx', 503, undefined)).toBe(false);
  });
});
