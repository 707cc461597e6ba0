/**
 * Anomaly detection and the response ladder through the real pipeline: each signal fires on a
 * crafted traffic sequence and stays quiet on a normal one; each response step (alert,
 * throttle, step down, disable, ban) takes effect on the next request, is visible with its
 * reason in the admin API, audited, and reversible by an operator.
 */
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { admin, newKey, send, startGateway, type Gateway, type TestKey } from './gateway.js';

const open: Gateway[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((g) => g.close()));
});

/** Low thresholds so that short sequences trip the signals; every signal enforced. */
const SIGNALS = {
  newIpPrefix: { mode: 'enforce' },
  failureBurst: { mode: 'enforce', perKey: 3, perPrefix: 1000 },
  rateSpike: {
    mode: 'enforce',
    interval: '1m',
    warmupIntervals: 3,
    zThreshold: 3,
    minRequestsPerInterval: 8,
  },
  firstSensitiveAction: { mode: 'enforce' },
  unusualHour: { mode: 'enforce', minActiveHours: 3, minShare: 0.2 },
  keySpray: { mode: 'enforce', distinctKeys: 3 },
};

async function gateway(responses: Record<string, unknown> = {}): Promise<Gateway> {
  const g = await startGateway(
    { dataPlane: { trustedProxies: ['127.0.0.1/32'] } },
    { sandbox: { risk: { signals: SIGNALS, responses } } },
  );
  open.push(g);
  return g;
}

interface Alert {
  id: string;
  signal: string;
  step: string;
  state: string;
  keyId: string | null;
  environment: string;
}

async function alerts(g: Gateway, query = ''): Promise<Alert[]> {
  await g.settle();
  return (await admin<{ alerts: Alert[] }>(g, 'GET', `/v1/alerts${query}`)).body.alerts;
}

async function adminPost(g: Gateway, path: string, body: unknown): Promise<{ status: number }> {
  const response = await request(`${g.adminUrl}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${g.token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  await response.body.dump();
  return { status: response.statusCode };
}

const signalsOf = async (g: Gateway) => (await alerts(g)).map((a) => a.signal).sort();

const FROM_A = { forwardedFor: '198.51.100.7' };
const FROM_B = { forwardedFor: '203.0.113.9' };

async function burst(g: Gateway, key: TestKey, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await send(g, key, 'balance', { secret: 'wrong', ...FROM_A });
}

describe('signals on crafted sequences, quiet on a normal one', () => {
  it('a normal sequence (one prefix, good signatures, steady rate, usual hours) raises nothing', async () => {
    const g = await gateway();
    const key = await newKey(g);
    for (let minute = 0; minute < 6; minute++) {
      for (let i = 0; i < 3; i++) expect((await send(g, key, 'balance', FROM_A)).status).toBe(200);
      g.clock.advance(60_000);
    }
    expect(await alerts(g)).toEqual([]);
  });

  it('new_ip_prefix: a second prefix after the first was learned', async () => {
    const g = await gateway();
    const key = await newKey(g);
    await send(g, key, 'balance', FROM_A);
    expect(await signalsOf(g)).toEqual([]);
    await send(g, key, 'balance', FROM_B);
    expect(await signalsOf(g)).toEqual(['new_ip_prefix']);
  });

  it('failure_burst: denials of one key reach perKey', async () => {
    const g = await gateway();
    const key = await newKey(g);
    await burst(g, key, 2);
    expect(await signalsOf(g)).toEqual([]);
    await burst(g, key, 1);
    expect(await signalsOf(g)).toEqual(['failure_burst']);
  });

  it('rate_spike: an interval far above the key baseline', async () => {
    const g = await gateway();
    const key = await newKey(g);
    for (let minute = 0; minute < 4; minute++) {
      await send(g, key, 'balance', FROM_A);
      await send(g, key, 'balance', FROM_A);
      g.clock.advance(60_000);
    }
    expect(await signalsOf(g)).toEqual([]);
    for (let i = 0; i < 12; i++) await send(g, key, 'balance', FROM_A);
    expect(await signalsOf(g)).toContain('rate_spike');
  });

  it('first_sensitive_action: the first withdrawal of a key and of its account', async () => {
    const g = await gateway();
    const key = await newKey(g);
    await send(g, key, 'balance', FROM_A);
    expect(await signalsOf(g)).toEqual([]);
    await send(g, key, 'withdraw', FROM_A);
    const raised = await alerts(g);
    expect(raised.map((a) => a.signal)).toEqual([
      'first_sensitive_action',
      'first_sensitive_action',
    ]);
  });

  it('unusual_hour: use in an hour of day the key never used', async () => {
    const g = await gateway();
    const key = await newKey(g);
    const day = 86_400_000;
    const start = Math.floor(g.clock.now() / day) * day + 10 * 3_600_000; // 10:00 UTC
    for (let d = 0; d < 3; d++) {
      g.clock.set(start + d * day);
      await send(g, key, 'balance', FROM_A);
    }
    expect(await signalsOf(g)).toEqual([]);
    g.clock.set(start + 3 * day + 13 * 3_600_000); // 23:00 UTC
    await send(g, key, 'balance', FROM_A);
    expect(await signalsOf(g)).toEqual(['unusual_hour']);
  });

  it('key_spray: many unknown keys failing from one prefix', async () => {
    const g = await gateway();
    const ghost = (i: number): TestKey => ({
      id: `pk_test_ghost${String(i).padStart(8, '0')}`,
      secret: 'x'.repeat(43),
      accountId: 'acc_none',
      environment: 'sandbox',
    });
    await send(g, ghost(1), 'balance', FROM_A);
    await send(g, ghost(2), 'balance', FROM_A);
    expect(await signalsOf(g)).toEqual([]);
    await send(g, ghost(3), 'balance', FROM_A);
    expect(await signalsOf(g)).toEqual(['key_spray']);
  });

  it('sandbox signals never appear as production alerts', async () => {
    const g = await gateway();
    const key = await newKey(g);
    await burst(g, key, 3);
    expect(await alerts(g, '?environment=production')).toEqual([]);
    expect((await alerts(g, '?environment=sandbox')).map((a) => a.environment)).toEqual([
      'sandbox',
    ]);
  });
});

describe('each response step takes effect on the next request', () => {
  it('disable_key: the next request is KEY_DISABLED, visible with its reason, reset by an operator', async () => {
    const g = await gateway({ failureBurst: { step: 'disable_key' } });
    const key = await newKey(g);
    await burst(g, key, 3);
    await g.settle();
    expect((await send(g, key, 'balance', FROM_A)).code).toBe('KEY_DISABLED');
    const risk = await admin<{ level: string; responses: { step: string; reason: string }[] }>(
      g,
      'GET',
      `/v1/keys/${key.id}/risk`,
    );
    expect(risk.body.level).toBe('locked');
    expect(risk.body.responses).toMatchObject([{ step: 'disable_key', reason: 'failure_burst' }]);
    expect((await admin(g, 'POST', `/v1/keys/${key.id}/risk/reset`)).status).toBe(200);
    expect((await send(g, key, 'balance', FROM_A)).status).toBe(200);
    const audit = await g.runtime.audit.list({ limit: 1000 });
    const actions = audit.map((e: { action: string }) => e.action);
    expect(actions).toContain('risk.disable_key');
    expect(actions).toContain('risk.reset');
  });

  it('step_down (cancel-only): orders and withdrawals refused, cancels and reads still pass', async () => {
    const g = await gateway({ newIpPrefix: { step: 'step_down', tradeMode: 'cancel_only' } });
    const key = await newKey(g);
    await send(g, key, 'balance', FROM_A);
    await send(g, key, 'balance', FROM_B);
    await g.settle();
    expect((await send(g, key, 'order', FROM_A)).code).toBe('KEY_STEPPED_DOWN');
    expect((await send(g, key, 'withdraw', FROM_A)).code).toBe('KEY_STEPPED_DOWN');
    expect((await send(g, key, 'cancel', FROM_A)).code).not.toBe('KEY_STEPPED_DOWN');
    expect((await send(g, key, 'balance', FROM_A)).status).toBe(200);
    const risk = await admin<{ level: string }>(g, 'GET', `/v1/keys/${key.id}/risk`);
    expect(risk.body.level).toBe('high');
  });

  it('step_down (read-only): cancels are refused too', async () => {
    const g = await gateway({ newIpPrefix: { step: 'step_down', tradeMode: 'read_only' } });
    const key = await newKey(g);
    await send(g, key, 'balance', FROM_A);
    await send(g, key, 'balance', FROM_B);
    await g.settle();
    expect((await send(g, key, 'cancel', FROM_A)).code).toBe('KEY_STEPPED_DOWN');
  });

  it('ban_prefix: the next request from the prefix is IP_BANNED, another prefix passes', async () => {
    const g = await gateway({ failureBurst: { step: 'ban_prefix', duration: '1h' } });
    const key = await newKey(g);
    await burst(g, key, 3);
    await g.settle();
    expect((await send(g, key, 'balance', FROM_A)).code).toBe('IP_BANNED');
    expect((await send(g, key, 'balance', FROM_B)).status).toBe(200);
    g.clock.advance(3_600_001);
    expect((await send(g, key, 'balance', FROM_A)).status).toBe(200);
  });

  it('alert: the key is elevated, traffic still passes; resolving the alert ends it', async () => {
    const g = await gateway();
    const key = await newKey(g);
    await send(g, key, 'balance', FROM_A);
    await send(g, key, 'balance', FROM_B);
    const [alert] = await alerts(g);
    expect(alert).toMatchObject({ signal: 'new_ip_prefix', step: 'alert', state: 'open' });
    expect((await send(g, key, 'order', FROM_A)).status).toBe(201);
    const level = async () =>
      (await admin<{ level: string }>(g, 'GET', `/v1/keys/${key.id}/risk`)).body.level;
    expect(await level()).toBe('elevated');
    const acked = await admin<{ alert: Alert }>(g, 'POST', `/v1/alerts/${alert?.id}/ack`);
    expect(acked.body.alert.state).toBe('acknowledged');
    await admin(g, 'POST', `/v1/alerts/${alert?.id}/resolve`);
    expect(await level()).toBe('normal');
    expect((await alerts(g, '?state=resolved')).map((a) => a.id)).toEqual([alert?.id]);
  });

  it('ban_prefix of a loopback prefix becomes an alert (the node itself is never banned)', async () => {
    const g = await gateway({ failureBurst: { step: 'ban_prefix', duration: '1h' } });
    const key = await newKey(g);
    for (let i = 0; i < 3; i++) await send(g, key, 'balance', { secret: 'wrong' });
    await g.settle();
    expect((await send(g, key, 'balance')).status).toBe(200);
    expect((await alerts(g)).map((a) => [a.signal, a.step])).toEqual([['failure_burst', 'alert']]);
  });

  it('throttle: the key gets a quarter of its budget on the next request, restored by a reset', async () => {
    const g = await startGateway(
      { dataPlane: { trustedProxies: ['127.0.0.1/32'] } },
      {
        sandbox: {
          risk: {
            signals: SIGNALS,
            responses: { failureBurst: { step: 'throttle', throttleFactor: 0.25 } },
          },
          limits: {
            perKey: [{ window: '1m', limit: 80 }],
            authFailures: [{ window: '1m', limit: 100 }],
          },
        },
      },
    );
    open.push(g);
    const key = await newKey(g);
    await burst(g, key, 3);
    await g.settle();
    const risk = await admin<{ level: string; state: { throttleFactor: number } }>(
      g,
      'GET',
      `/v1/keys/${key.id}/risk`,
    );
    expect(risk.body).toMatchObject({ level: 'elevated', state: { throttleFactor: 0.25 } });
    // 80 per minute × 0.25 = 20, a balance read weighs 10: the third of the minute is refused.
    expect((await send(g, key, 'balance', FROM_A)).status).toBe(200);
    expect((await send(g, key, 'balance', FROM_A)).status).toBe(200);
    expect(await send(g, key, 'balance', FROM_A)).toEqual({ status: 429, code: 'RATE_LIMITED' });
    // Another key of the same prefix keeps its whole budget (the throttle names the key).
    const other = await newKey(g);
    for (let i = 0; i < 3; i++) expect((await send(g, other, 'balance', FROM_A)).status).toBe(200);
    expect((await admin(g, 'POST', `/v1/keys/${key.id}/risk/reset`)).status).toBe(200);
    // Back to 80: the 2 admitted count, 6 more pass, the 9th of the minute is refused.
    for (let i = 0; i < 6; i++) expect((await send(g, key, 'balance', FROM_A)).status).toBe(200);
    expect((await send(g, key, 'balance', FROM_A)).code).toBe('RATE_LIMITED');
    const actions = (await g.runtime.audit.list({ limit: 1000 })).map(
      (e: { action: string }) => e.action,
    );
    expect(actions).toContain('risk.throttle');
    expect(actions).toContain('risk.reset');
    await g.settle();
    const metrics = await admin(g, 'GET', '/metrics');
    expect(metrics.text).toContain(
      'portcullis_rate_limited_total{subject="key",environment="sandbox"} 2',
    );
  });

  it('throttle ends by itself at its duration', async () => {
    const g = await startGateway(
      { dataPlane: { trustedProxies: ['127.0.0.1/32'] } },
      {
        sandbox: {
          risk: {
            signals: SIGNALS,
            responses: { failureBurst: { step: 'throttle', throttleFactor: 0.5, duration: '5m' } },
          },
          limits: {
            perKey: [{ window: '1m', limit: 40 }],
            authFailures: [{ window: '1m', limit: 100 }],
          },
        },
      },
    );
    open.push(g);
    const key = await newKey(g);
    await burst(g, key, 3);
    await g.settle();
    expect((await send(g, key, 'balance', FROM_A)).status).toBe(200);
    expect((await send(g, key, 'balance', FROM_A)).status).toBe(200);
    expect((await send(g, key, 'balance', FROM_A)).code).toBe('RATE_LIMITED');
    g.clock.advance(5 * 60_000);
    for (let i = 0; i < 4; i++) expect((await send(g, key, 'balance', FROM_A)).status).toBe(200);
    expect((await send(g, key, 'balance', FROM_A)).code).toBe('RATE_LIMITED');
  });

  it('throttle of a prefix (prefix-wide signal): every key from it is slowed, lifted by an operator', async () => {
    const g = await startGateway(
      { dataPlane: { trustedProxies: ['127.0.0.1/32'] } },
      {
        sandbox: {
          risk: {
            signals: { ...SIGNALS, failureBurst: { mode: 'enforce', perKey: 1000, perPrefix: 3 } },
            responses: { failureBurst: { step: 'throttle', throttleFactor: 0.5 } },
          },
          limits: {
            perIp: [{ window: '1m', limit: 60 }],
            authFailures: [{ window: '1m', limit: 100 }],
          },
        },
      },
    );
    open.push(g);
    const key = await newKey(g);
    await burst(g, key, 3);
    await g.settle();
    const other = await newKey(g);
    // 60 per minute × 0.5 = 30 (3 reads) from 198.51.100.0/24; another prefix keeps its 60.
    for (let i = 0; i < 3; i++) expect((await send(g, other, 'balance', FROM_A)).status).toBe(200);
    expect((await send(g, other, 'balance', FROM_A)).code).toBe('RATE_LIMITED');
    for (let i = 0; i < 4; i++) expect((await send(g, other, 'balance', FROM_B)).status).toBe(200);
    const listed = await admin<{ responses: { step: string; ipPrefix: string }[] }>(
      g,
      'GET',
      '/v1/risk/prefixes',
    );
    expect(listed.body.responses).toMatchObject([
      { step: 'throttle', ipPrefix: '198.51.100.0/24' },
    ]);
    const lifted = await adminPost(g, '/v1/risk/prefixes/lift', { prefix: '198.51.100.0/24' });
    expect(lifted.status).toBe(200);
    expect((await send(g, other, 'balance', FROM_A)).status).toBe(200);
    const actions = (await g.runtime.audit.list({ limit: 1000 })).map(
      (e: { action: string }) => e.action,
    );
    expect(actions).toContain('risk.lift_prefix');
  });

  it('shadow mode raises the signal but never acts on it', async () => {
    const g = await startGateway(
      { dataPlane: { trustedProxies: ['127.0.0.1/32'] } },
      {
        sandbox: {
          risk: {
            signals: { ...SIGNALS, failureBurst: { mode: 'shadow', perKey: 3 } },
            responses: { failureBurst: { step: 'disable_key' } },
          },
        },
      },
    );
    open.push(g);
    const key = await newKey(g);
    await burst(g, key, 3);
    await g.settle();
    expect((await send(g, key, 'balance', FROM_A)).status).toBe(200);
    const metrics = await admin(g, 'GET', '/metrics');
    expect(metrics.text).toContain(
      'portcullis_risk_signals_total{signal="failure_burst",environment="sandbox",shadow="true"} 1',
    );
  });
});
