/** The 202 answer to a held request: native approval envelope; exchange envelopes with the id. */
import { describe, expect, it } from 'vitest';
import { renderApprovalHold } from '../../../src/core/dialects/render-approval-hold.js';
import type { Dialect } from '../../../src/core/signing/types.js';

const HOLD = {
  approvalId: 'apr_test1',
  expiresAtMs: Date.UTC(2026, 0, 1, 1, 0, 0),
  pollPath: '/api/v1/approvals/apr_test1',
};
const CTX = { requestId: 'req_1', nowMs: Date.UTC(2026, 0, 1) };

describe('renderApprovalHold', () => {
  it('native answers 202 with the pending approval', () => {
    const rendered = renderApprovalHold('native', HOLD, CTX);
    expect(rendered.status).toBe(202);
    expect(JSON.parse(rendered.body)).toMatchObject({
      approval: { id: 'apr_test1', state: 'pending', expiresAt: '2026-01-01T01:00:00.000Z' },
    });
  });

  it.each([
    ['binance', 'msg', 'code'],
    ['bybit', 'retMsg', 'retCode'],
    ['okx', 'msg', 'code'],
  ] as const)('%s answers 202 in its envelope with the id in %s', (dialect: Dialect, msg, code) => {
    const rendered = renderApprovalHold(dialect, HOLD, CTX);
    expect(rendered.status).toBe(202);
    const body = JSON.parse(rendered.body) as Record<string, unknown>;
    expect(String(body[msg])).toContain('apr_test1');
    expect(body[code]).toBeDefined();
  });
});
