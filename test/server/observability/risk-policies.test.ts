/**
 * The key's risk level in the policy context and rate limits on held requests, through a real
 * runtime: a venue rule that forbids withdrawals while the key is not `normal` takes effect on
 * the next request after an anomaly response and ends with it; requests held for approval (202)
 * are charged against the key's limits like any other.
 */
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { admin, newKey, send, startGateway, type Gateway } from './gateway.js';

const open: Gateway[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((g) => g.close()));
});

async function adminPost(g: Gateway, path: string, body: unknown): Promise<{ status: number }> {
  const response = await request(`${g.adminUrl}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${g.token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  await response.body.dump();
  return { status: response.statusCode };
}

const BASELINE = { id: 'baseline', effect: 'permit', target: {}, condition: 'true' };
const FROM_A = { forwardedFor: '198.51.100.7' };
const FROM_B = { forwardedFor: '203.0.113.9' };

describe('key.riskLevel in the policy context', () => {
  it('a rule forbidding withdrawals on an elevated key applies on the next request and ends with the alert', async () => {
    const g = await startGateway(
      { dataPlane: { trustedProxies: ['127.0.0.1/32'] } },
      {
        sandbox: {
          risk: {
            signals: { newIpPrefix: { mode: 'enforce' }, firstSensitiveAction: { mode: 'off' } },
          },
        },
      },
    );
    open.push(g);
    expect((await adminPost(g, '/v1/policies', BASELINE)).status).toBe(201);
    const rule = {
      id: 'no-withdrawals-at-risk',
      effect: 'forbid',
      target: { actions: ['withdrawal.create'] },
      condition: 'key.riskLevel != "normal"',
    };
    expect((await adminPost(g, '/v1/policies', rule)).status).toBe(201);
    const key = await newKey(g);
    expect((await send(g, key, 'withdraw', FROM_A)).code).not.toBe('POLICY_DENIED');
    // A second prefix raises new_ip_prefix → alert → the key is `elevated`.
    expect((await send(g, key, 'balance', FROM_B)).status).toBe(200);
    await g.settle();
    expect(await send(g, key, 'withdraw', FROM_A)).toEqual({ status: 403, code: 'POLICY_DENIED' });
    expect((await send(g, key, 'balance', FROM_A)).status).toBe(200);
    const alerts = await admin<{ alerts: { id: string }[] }>(g, 'GET', '/v1/alerts');
    const [alert] = alerts.body.alerts;
    expect((await admin(g, 'POST', `/v1/alerts/${alert?.id}/resolve`)).status).toBe(200);
    expect((await send(g, key, 'withdraw', FROM_A)).code).not.toBe('POLICY_DENIED');
  });

  it('the simulate API evaluates the same rule for a given risk level', async () => {
    const g = await startGateway();
    open.push(g);
    await adminPost(g, '/v1/policies', BASELINE);
    await adminPost(g, '/v1/policies', {
      id: 'no-withdrawals-at-risk',
      effect: 'forbid',
      target: { actions: ['withdrawal.create'] },
      condition: 'key.riskLevel != "normal"',
    });
    const simulate = async (riskLevel: string) => {
      const response = await request(`${g.adminUrl}/v1/policies/simulate`, {
        method: 'POST',
        headers: { authorization: `Bearer ${g.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          action: 'withdrawal.create',
          accountId: 'acc_x',
          environment: 'sandbox',
          key: { id: 'pk_test_x', scopes: ['withdraw'], ageDays: 1, riskLevel },
        }),
      });
      return ((await response.body.json()) as { decision: string }).decision;
    };
    expect(await simulate('normal')).toBe('allow');
    expect(await simulate('elevated')).toBe('deny');
  });
});

describe('held requests and rate limits', () => {
  it('requests held for approval (202) count against the key limit; past it they are RATE_LIMITED', async () => {
    const g = await startGateway(
      {},
      { sandbox: { limits: { perKey: [{ window: '1m', limit: 30 }] } } },
    );
    open.push(g);
    await adminPost(g, '/v1/policies', BASELINE);
    expect(
      (
        await adminPost(g, '/v1/policies', {
          id: 'hold-withdrawals',
          effect: 'require-approval',
          target: { actions: ['withdrawal.create'] },
          condition: 'true',
          quorum: 1,
        })
      ).status,
    ).toBe(201);
    const key = await newKey(g);
    // A withdrawal weighs 10: three holds fit in 30, the fourth is refused and not held.
    for (let i = 0; i < 3; i++) expect((await send(g, key, 'withdraw')).status).toBe(202);
    expect(await send(g, key, 'withdraw')).toEqual({ status: 429, code: 'RATE_LIMITED' });
    const pending = await admin<{ approvals: unknown[] }>(g, 'GET', '/v1/approvals?state=pending');
    expect(pending.body.approvals).toHaveLength(3);
    // The budget is shared with ordinary requests of the key.
    expect((await send(g, key, 'balance')).code).toBe('RATE_LIMITED');
  });
});

describe('last-used IP', () => {
  it('keys show and keys list carry the IP of the newest allowed request; denied requests do not count', async () => {
    const g = await startGateway({ dataPlane: { trustedProxies: ['127.0.0.1/32'] } });
    open.push(g);
    const key = await newKey(g);
    const shown = async () =>
      (await admin<{ key: { lastUsedIp: string | null } }>(g, 'GET', `/v1/keys/${key.id}`)).body.key
        .lastUsedIp;
    expect(await shown()).toBeNull();
    expect((await send(g, key, 'balance', FROM_A)).status).toBe(200);
    await g.settle();
    expect(await shown()).toBe('198.51.100.7');
    // A bad signature from elsewhere is not a use of the key.
    await send(g, key, 'balance', { ...FROM_B, secret: 'wrong' });
    await g.settle();
    expect(await shown()).toBe('198.51.100.7');
    expect((await send(g, key, 'balance', FROM_B)).status).toBe(200);
    await g.settle();
    expect(await shown()).toBe('203.0.113.9');
    const listed = await admin<{ keys: { id: string; lastUsedIp: string | null }[] }>(
      g,
      'GET',
      `/v1/keys?accountId=${key.accountId}`,
    );
    expect(listed.body.keys.find((k) => k.id === key.id)?.lastUsedIp).toBe('203.0.113.9');
  });
});
