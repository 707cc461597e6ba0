import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { evaluatePolicies, type Policy } from '../../../src/core/policy/index.js';
import { NOW_MS, compiled, context } from './policy-fixtures.js';

/** The example set of docs/policies.md §3, read from the document itself. */
function docsExamples(): Policy[] {
  const text = readFileSync(new URL('../../../docs/policies.md', import.meta.url), 'utf8');
  const section = text.slice(text.indexOf('## 3. Examples'));
  const block = /```jsonc\n([\s\S]*?)```/.exec(section)?.[1] ?? '[]';
  const json = block
    .split('\n')
    .filter((line) => !line.trim().startsWith('//'))
    .join('\n');
  return JSON.parse(json) as Policy[];
}

const set = compiled(docsExamples());
const DAY_MS = 86_400_000;
const at = (hourUtc: number) => Date.UTC(2024, 0, 15, hourUtc, 30);

describe('docs/policies.md examples', () => {
  const cases: {
    name: string;
    ctx: Parameters<typeof context>[0];
    decision: string;
    decidedBy?: string;
  }[] = [
    {
      name: 'a 300k USDT order from outside the office is denied',
      ctx: { params: { symbol: 'BTCUSDT', notional: 300000 } },
      decision: 'deny',
      decidedBy: 'big-orders-office-only',
    },
    {
      name: 'a 300k USDT order from the office is permitted',
      ctx: { params: { symbol: 'BTCUSDT', notional: 300000 }, request: { ip: '10.20.3.4' } },
      decision: 'permit',
    },
    {
      name: 'a small order from anywhere is permitted',
      ctx: { params: { symbol: 'BTCUSDT', notional: 1000 } },
      decision: 'permit',
    },
    {
      name: 'a withdrawal at 03:30 UTC is denied',
      ctx: { action: 'withdrawal.create', nowMs: at(3), params: {} },
      decision: 'deny',
      decidedBy: 'no-night-withdrawals',
    },
    {
      name: 'a withdrawal at 06:30 UTC is permitted',
      ctx: { action: 'withdrawal.create', nowMs: at(6), params: {} },
      decision: 'permit',
    },
    {
      name: 'a 91-day-old key cannot place orders',
      ctx: { key: { createdAt: NOW_MS - 91 * DAY_MS } },
      decision: 'deny',
      decidedBy: 'old-keys-read-only',
    },
    {
      name: 'a 91-day-old key can still read balances',
      ctx: { action: 'balance.read', key: { createdAt: NOW_MS - 91 * DAY_MS } },
      decision: 'permit',
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const result = evaluatePolicies(set, context(c.ctx));
      expect(result.decision).toBe(c.decision);
      if (c.decidedBy) expect(result.decidedBy?.policyId).toBe(c.decidedBy);
    });
  }
});
