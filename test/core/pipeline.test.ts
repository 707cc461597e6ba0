/**
 * The pipeline (src/core/pipeline.ts) with in-memory dependencies: every reason code it can
 * produce, each from a request built to trigger it; allowed hmac and ed25519 requests; rotation
 * grace; the unknown-key path doing the same work and giving the same answer as a bad signature.
 */
import { describe, expect, it } from 'vitest';
import { createMemoryReplayGuard } from '../../src/adapters/memory/replay-guard.js';
import { renderDenial } from '../../src/core/dialects/render-denial.js';
import {
  evaluateRequest,
  type CachedKey,
  type Decision,
  type PipelineDeps,
  type PipelineRequest,
  type RiskLookup,
} from '../../src/core/pipeline.js';
import { publicReason, REASON_CATALOG, type ReasonCode } from '../../src/core/reasons.js';
import type { KeyRiskState } from '../../src/core/risk/index.js';
import { nativeScheme } from '../../src/core/signing/native/index.js';
import { createManualClock } from '../helpers/manual-clock.js';
import {
  apiKey,
  countingScheme,
  ed25519Key,
  hmacKey,
  mapLookup,
  nativeRequest,
  NOW_MS,
  NOW_SECONDS,
  OLD_SECRET,
  okxKey,
  okxRequest,
  PASSPHRASE,
  pipelineDeps,
  plainRequest,
  SECRET,
} from './pipeline-fixtures.js';

const ORDER = '{"symbol":"BTCUSDT","side":"buy","type":"market","quantity":"0.01"}';

const trader = hmacKey(apiKey());
const reader = hmacKey(apiKey({ id: 'pk_test_reader00000001', scopes: ['read'] }));
const revoked = hmacKey(
  apiKey({ id: 'pk_test_revoked0000001', status: 'revoked', revokedAt: NOW_MS - 1000 }),
);
const expired = hmacKey(apiKey({ id: 'pk_test_expired0000001', expiresAt: NOW_MS - 1 }));
const production = hmacKey(apiKey({ id: 'pk_live_prod0000000001', environment: 'production' }));
const restricted = hmacKey(apiKey({ id: 'pk_test_restricted0001', ipAllowlist: ['10.0.0.0/8'] }));
const okx = okxKey(apiKey({ id: 'pk_test_okx00000000001' }));
const ed = ed25519Key(apiKey({ id: 'pk_test_ed25519000001', scheme: 'ed25519' }));
const ALL_KEYS: readonly CachedKey[] = [
  trader,
  reader,
  revoked,
  expired,
  production,
  restricted,
  okx,
  ed.cached,
];

async function decide(request: PipelineRequest, deps?: PipelineDeps): Promise<Decision> {
  return evaluateRequest(deps ?? pipelineDeps(mapLookup(ALL_KEYS)).deps, request);
}

const reasonOf = (decision: Decision): string =>
  decision.outcome === 'deny' ? decision.reason : decision.outcome;

interface ReasonCase {
  readonly reason: ReasonCode;
  readonly name: string;
  /** Builds the request; may first send others through the same deps. */
  readonly run: (deps: PipelineDeps) => Promise<Decision>;
  readonly deps?: () => PipelineDeps;
}

/** A signed balance read whose Signature-Input was changed after signing. */
function withInput(change: (input: string) => string): PipelineRequest {
  const request = nativeRequest('GET', '/api/v1/balances', undefined);
  const input = request.headers['signature-input'] as string;
  return { ...request, headers: { ...request.headers, 'signature-input': change(input) } };
}

/** A risk lookup that holds every key at the given restrictions (step-down, disable). */
function riskStub(state: Partial<KeyRiskState>): RiskLookup {
  const full: KeyRiskState = {
    level: 'high',
    disabled: false,
    withdraw: 'suspended',
    trade: 'full',
    throttleFactor: 1,
    ...state,
  };
  return { stateOf: () => full, prefixBanned: () => false, cancelActions: ['order.cancel'] };
}

const single =
  (build: () => PipelineRequest) =>
  (deps: PipelineDeps): Promise<Decision> =>
    decide(build(), deps);

const REASON_CASES: readonly ReasonCase[] = [
  {
    reason: 'CREDENTIALS_MISSING',
    name: 'no credential of any scheme',
    run: single(() => plainRequest('GET', '/api/v1/balances')),
  },
  {
    reason: 'SIGNATURE_MALFORMED',
    name: 'Signature-Input without its nonce',
    run: single(() => withInput((input) => input.replace(/;nonce="[^"]*"/, ''))),
  },
  {
    reason: 'SIGNATURE_MALFORMED',
    name: 'Signature without Signature-Input',
    run: single(() => {
      const request = nativeRequest('GET', '/api/v1/balances', undefined);
      return { ...request, headers: { signature: request.headers.signature } };
    }),
  },
  {
    reason: 'SIGNATURE_MALFORMED',
    name: '`created` in milliseconds',
    run: single(() => withInput((input) => input.replace(/;created=(\d+)/, ';created=$1000'))),
  },
  {
    reason: 'SIGNATURE_MALFORMED',
    name: 'a negative `created`',
    run: single(() => withInput((input) => input.replace(/;created=(\d+)/, ';created=-$1'))),
  },
  {
    reason: 'SIGNATURE_INVALID',
    name: 'signed with the wrong secret',
    run: single(() => nativeRequest('GET', '/api/v1/balances', undefined, { secret: 'psk_nope' })),
  },
  {
    reason: 'SIGNATURE_INVALID',
    name: 'alg ed25519 declared for an hmac key',
    run: single(() =>
      nativeRequest('GET', '/api/v1/balances', undefined, { privateKey: ed.privateKey }),
    ),
  },
  {
    reason: 'TIMESTAMP_OUTSIDE_WINDOW',
    name: 'created a minute ago',
    run: single(() =>
      nativeRequest('GET', '/api/v1/balances', undefined, { createdSeconds: NOW_SECONDS - 60 }),
    ),
  },
  {
    reason: 'TIMESTAMP_OUTSIDE_WINDOW',
    name: 'created 2 s in the future (1 s allowed)',
    run: single(() =>
      nativeRequest('GET', '/api/v1/balances', undefined, { createdSeconds: NOW_SECONDS + 2 }),
    ),
  },
  {
    reason: 'NONCE_REPLAYED',
    name: 'the same signed request twice',
    run: async (deps) => {
      const request = nativeRequest('GET', '/api/v1/balances', undefined);
      expect(reasonOf(await decide(request, deps))).toBe('allow');
      return decide(request, deps);
    },
  },
  {
    reason: 'DIGEST_MISMATCH',
    name: 'the body changed after signing',
    run: single(() =>
      nativeRequest('POST', '/api/v1/orders', ORDER, {
        sendBody: Buffer.from(ORDER.replace('0.01', '9.99')),
      }),
    ),
  },
  {
    reason: 'KEY_UNKNOWN',
    name: 'a key id the store does not know',
    run: single(() =>
      nativeRequest('GET', '/api/v1/balances', undefined, { keyId: 'pk_test_unknown0000001' }),
    ),
  },
  {
    reason: 'KEY_REVOKED',
    name: 'a revoked key with a good signature',
    run: single(() =>
      nativeRequest('GET', '/api/v1/balances', undefined, { keyId: revoked.key.id }),
    ),
  },
  {
    reason: 'KEY_EXPIRED',
    name: 'a key past its expiry',
    run: single(() =>
      nativeRequest('GET', '/api/v1/balances', undefined, { keyId: expired.key.id }),
    ),
  },
  {
    reason: 'ENV_MISMATCH',
    name: 'a production key on the sandbox pipeline',
    run: single(() =>
      nativeRequest('GET', '/api/v1/balances', undefined, { keyId: production.key.id }),
    ),
  },
  {
    reason: 'IP_NOT_ALLOWED',
    name: 'a 10.0.0.0/8 key called from 127.0.0.1',
    run: single(() =>
      nativeRequest('GET', '/api/v1/balances', undefined, { keyId: restricted.key.id }),
    ),
  },
  {
    reason: 'SCOPE_MISSING',
    name: 'a read-only key placing an order',
    run: single(() => nativeRequest('POST', '/api/v1/orders', ORDER, { keyId: reader.key.id })),
  },
  {
    reason: 'KEY_DISABLED',
    name: 'a key disabled by an anomaly response',
    run: single(() => nativeRequest('GET', '/api/v1/balances', undefined)),
    deps: () => pipelineDeps(mapLookup(ALL_KEYS), { risk: riskStub({ disabled: true }) }).deps,
  },
  {
    reason: 'KEY_STEPPED_DOWN',
    name: 'a read-only stepped-down key placing an order',
    run: single(() => nativeRequest('POST', '/api/v1/orders', ORDER)),
    deps: () => pipelineDeps(mapLookup(ALL_KEYS), { risk: riskStub({ trade: 'read_only' }) }).deps,
  },
  {
    reason: 'ROUTE_UNKNOWN',
    name: 'a signed request to a path no route matches',
    run: single(() => nativeRequest('GET', '/api/v1/nowhere', undefined)),
  },
  {
    reason: 'BAD_REQUEST',
    name: 'a duplicate query parameter',
    run: single(() =>
      nativeRequest('GET', '/api/v1/orders?symbol=BTCUSDT&symbol=ETHUSDT', undefined),
    ),
  },
  {
    reason: 'BAD_REQUEST',
    name: 'a percent-encoded duplicate query parameter',
    run: single(() =>
      nativeRequest('GET', '/api/v1/orders?symbol=BTCUSDT&%73ymbol=ETH', undefined),
    ),
  },
  {
    reason: 'BAD_REQUEST',
    name: 'a duplicate JSON key',
    run: single(() =>
      nativeRequest('POST', '/api/v1/orders', ORDER.replace('}', ',"quantity":"100"}')),
    ),
  },
  {
    reason: 'BAD_REQUEST',
    name: 'a duplicate JSON key written as \\u0061mount',
    run: single(() =>
      nativeRequest(
        'POST',
        '/api/v1/withdrawals',
        '{"asset":"USDT","amount":"1","\\u0061mount":"1000","address":"x"}',
      ),
    ),
  },
  {
    reason: 'BAD_REQUEST',
    name: 'a duplicate JSON key sent as text/plain',
    run: single(() =>
      nativeRequest('POST', '/api/v1/orders', ORDER.replace('}', ',"quantity":"100"}'), {
        contentType: 'text/plain',
      }),
    ),
  },
  {
    reason: 'PASSPHRASE_INVALID',
    name: 'an OKX request with the wrong passphrase',
    run: single(() => okxRequest(okx.key.id, 'wrong passphrase')),
  },
  {
    reason: 'REPLAY_CHECK_UNAVAILABLE',
    name: 'the replay guard is full',
    deps: () => {
      const clock = createManualClock(NOW_MS);
      const replay = createMemoryReplayGuard({ clock }, { maxEntries: 1 });
      return pipelineDeps(mapLookup(ALL_KEYS), { clock, replay }).deps;
    },
    run: async (deps) => {
      expect(
        reasonOf(await decide(nativeRequest('GET', '/api/v1/balances', undefined), deps)),
      ).toBe('allow');
      return decide(nativeRequest('GET', '/api/v1/balances', undefined), deps);
    },
  },
  {
    reason: 'REPLAY_CHECK_UNAVAILABLE',
    name: 'the replay guard cannot be reached (rejected promise)',
    deps: () =>
      pipelineDeps(mapLookup(ALL_KEYS), {
        replay: { remember: () => Promise.reject(new Error('redis down')) },
      }).deps,
    run: single(() => nativeRequest('GET', '/api/v1/balances', undefined)),
  },
];

describe('every reason code the pipeline produces', () => {
  it.each(REASON_CASES)('$reason: $name', async ({ reason, run, deps }) => {
    const decision = await run(deps?.() ?? pipelineDeps(mapLookup(ALL_KEYS)).deps);
    expect(reasonOf(decision)).toBe(reason);
  });

  it('covers every data-plane reason the pipeline decides before forwarding', () => {
    const produced = new Set(REASON_CASES.map((c) => c.reason));
    // Decided elsewhere: body size (the listener), upstream faults (forwarding), limits,
    // policies and spend allowances (their own suites), a body the check listener cannot see (its own suite), a store that cannot be
    // reached (the outage e2e tests).
    const elsewhere = new Set<string>([
      'BODY_TOO_LARGE',
      'UPSTREAM_TIMEOUT',
      'UPSTREAM_UNAVAILABLE',
      'UPSTREAM_NOT_RETRIED',
      'UPSTREAM_NO_HEALTHY_TARGET',
      'RATE_LIMITED',
      'IP_BANNED',
      'RATE_LIMIT_UNAVAILABLE',
      'POLICY_DENIED',
      'APPROVAL_REQUIRED',
      'AMOUNT_LIMIT_EXCEEDED',
      'ADDRESS_NOT_ALLOWED',
      'ADDRESS_COOLING_DOWN',
      'ALLOWANCE_EXCEEDED',
      'ALLOWANCE_EXPIRED',
      'BODY_NOT_VISIBLE',
      'STORE_UNAVAILABLE',
    ]);
    const missing = Object.keys(REASON_CATALOG).filter((r) => !produced.has(r as ReasonCode));
    expect(missing.filter((r) => !elsewhere.has(r))).toEqual([]);
  });

  it('the same reasons come out when the key is loaded asynchronously (cache miss)', async () => {
    const { deps } = pipelineDeps(mapLookup(ALL_KEYS, true));
    const decision = evaluateRequest(
      deps,
      nativeRequest('GET', '/api/v1/balances', undefined, { keyId: revoked.key.id }),
    );
    expect(decision).toBeInstanceOf(Promise);
    expect(reasonOf(await decision)).toBe('KEY_REVOKED');
  });

  it('a key lookup that fails denies (fail closed), never allows', async () => {
    const { deps } = pipelineDeps({ get: () => Promise.reject(new Error('store down')) });
    expect(reasonOf(await decide(nativeRequest('GET', '/api/v1/balances', undefined), deps))).toBe(
      'KEY_UNKNOWN',
    );
  });
});

describe('allowed requests', () => {
  it('an hmac-signed order is allowed with the key, the route and the exact bytes', async () => {
    const decision = await decide(nativeRequest('POST', '/api/v1/orders', ORDER));
    expect(decision).toMatchObject({
      outcome: 'allow',
      dialect: 'native',
      secretIndex: 0,
      key: { id: trader.key.id, accountId: 'acc_unit0000001' },
      route: { route: { action: 'order.place', scope: 'trade' } },
      forwardQuery: null,
    });
    expect(decision.outcome === 'allow' && decision.forwardBody.toString()).toBe(ORDER);
  });

  it('an ed25519-signed request is allowed', async () => {
    const decision = await decide(
      nativeRequest('GET', '/api/v1/orders?symbol=BTCUSDT', undefined, {
        keyId: ed.cached.key.id,
        privateKey: ed.privateKey,
      }),
    );
    expect(decision).toMatchObject({
      outcome: 'allow',
      secretIndex: 0,
      forwardQuery: 'symbol=BTCUSDT',
    });
  });

  it('an OKX request with the right passphrase is allowed', async () => {
    expect(reasonOf(await decide(okxRequest(okx.key.id, PASSPHRASE)))).toBe('allow');
  });

  it('an allowlisted address is allowed', async () => {
    const decision = await decide(
      nativeRequest('GET', '/api/v1/balances', undefined, {
        keyId: restricted.key.id,
        clientIp: '10.1.2.3',
      }),
    );
    expect(reasonOf(decision)).toBe('allow');
  });
});

describe('rotation grace', () => {
  const rotatedKey = apiKey({ id: 'pk_test_rotated0000001', secretVersion: 2 });
  const graceEndMs = NOW_MS + 2000;
  const rotated = () =>
    hmacKey(rotatedKey, [
      { secret: SECRET, notAfter: null },
      { secret: OLD_SECRET, notAfter: graceEndMs },
    ]);

  it('the new secret verifies as secretIndex 0', async () => {
    const decision = await decide(
      nativeRequest('GET', '/api/v1/balances', undefined, { keyId: rotatedKey.id }),
      pipelineDeps(mapLookup([rotated()])).deps,
    );
    expect(decision).toMatchObject({ outcome: 'allow', secretIndex: 0 });
  });

  it('the old secret verifies within its grace as secretIndex 1', async () => {
    const decision = await decide(
      nativeRequest('GET', '/api/v1/balances', undefined, {
        keyId: rotatedKey.id,
        secret: OLD_SECRET,
        nowMs: graceEndMs - 1,
        createdSeconds: Math.floor((graceEndMs - 1) / 1000),
      }),
      pipelineDeps(mapLookup([rotated()])).deps,
    );
    expect(decision).toMatchObject({ outcome: 'allow', secretIndex: 1 });
  });

  it('the old secret is refused once its grace has ended', async () => {
    const cached = rotated();
    const { deps } = pipelineDeps(mapLookup([cached]));
    const within = nativeRequest('GET', '/api/v1/balances', undefined, {
      keyId: rotatedKey.id,
      secret: OLD_SECRET,
    });
    expect(reasonOf(await decide(within, deps))).toBe('allow');
    const after = nativeRequest('GET', '/api/v1/balances', undefined, {
      keyId: rotatedKey.id,
      secret: OLD_SECRET,
      nowMs: graceEndMs,
      createdSeconds: graceEndMs / 1000,
    });
    expect(reasonOf(await decide(after, deps))).toBe('SIGNATURE_INVALID');
  });
});

describe('an unknown key and a bad signature are indistinguishable', () => {
  const unknownRequest = () =>
    nativeRequest('GET', '/api/v1/balances', undefined, { keyId: 'pk_test_unknown0000001' });
  const badRequest = () =>
    nativeRequest('GET', '/api/v1/balances', undefined, { secret: 'psk_wrong_secret' });

  it.each([
    ['unknown key', unknownRequest, 'KEY_UNKNOWN'],
    ['bad signature', badRequest, 'SIGNATURE_INVALID'],
  ] as const)('%s: scheme.verify runs exactly once', async (_name, build, reason) => {
    const spy = countingScheme(nativeScheme);
    const { deps } = pipelineDeps(mapLookup(ALL_KEYS), { schemes: [spy] });
    expect(reasonOf(await decide(build(), deps))).toBe(reason);
    expect(spy.verifyCalls).toBe(1);
  });

  it('both render to the client identically', async () => {
    const ctx = { requestId: 'req_same', nowMs: NOW_MS };
    const [unknown, bad] = await Promise.all([decide(unknownRequest()), decide(badRequest())]);
    if (unknown.outcome !== 'deny' || bad.outcome !== 'deny') throw new Error('expected denials');
    expect(unknown.reason).toBe('KEY_UNKNOWN');
    expect(renderDenial(unknown.dialect, publicReason(unknown.reason), ctx)).toEqual(
      renderDenial(bad.dialect, publicReason(bad.reason), ctx),
    );
  });

  it('an unknown ed25519 key id also runs verify once', async () => {
    const spy = countingScheme(nativeScheme);
    const { deps } = pipelineDeps(mapLookup(ALL_KEYS), { schemes: [spy] });
    const request = nativeRequest('GET', '/api/v1/balances', undefined, {
      keyId: 'pk_test_unknownEd00001',
      privateKey: ed.privateKey,
    });
    expect(reasonOf(await decide(request, deps))).toBe('KEY_UNKNOWN');
    expect(spy.verifyCalls).toBe(1);
  });
});

describe('public routes', () => {
  it('the server time needs no key', async () => {
    const decision = await decide(plainRequest('GET', '/api/v1/time'));
    expect(decision).toMatchObject({
      outcome: 'public',
      route: { route: { action: 'time.read' } },
    });
  });

  it('a public route stays public when a (bad) signature is sent along', async () => {
    const decision = await decide(
      nativeRequest('GET', '/api/v1/time', undefined, { secret: 'psk_wrong_secret' }),
    );
    expect(reasonOf(decision)).toBe('public');
  });

  it('a public path with another method is not public', async () => {
    expect(reasonOf(await decide(plainRequest('POST', '/api/v1/time')))).toBe(
      'CREDENTIALS_MISSING',
    );
  });
});

describe('replay memory follows the environment window', () => {
  // The request is first seen at the earliest moment it is accepted (created 1 s ahead of the
  // clock) and replayed at the latest (created 5 s behind it): the id must still be held.
  it('a nonce replayed at the last moment of its window is refused', async () => {
    const { deps, clock } = pipelineDeps(mapLookup(ALL_KEYS));
    const createdMs = NOW_MS + 1000;
    const request = (nowMs: number) =>
      nativeRequest('GET', '/api/v1/balances', undefined, {
        createdSeconds: createdMs / 1000,
        nonce: 'nonce_window_edge_0001',
        nowMs,
      });
    expect(reasonOf(await decide(request(NOW_MS), deps))).toBe('allow');
    clock.set(createdMs + 5000);
    expect(reasonOf(await decide(request(createdMs + 5000), deps))).toBe('NONCE_REPLAYED');
    // One millisecond later the request is outside its window whatever the guard holds.
    clock.set(createdMs + 5001);
    expect(reasonOf(await decide(request(createdMs + 5001), deps))).toBe(
      'TIMESTAMP_OUTSIDE_WINDOW',
    );
  });

  it('a wider window keeps nonces for as long as it accepts them', async () => {
    const { deps, clock } = pipelineDeps(mapLookup(ALL_KEYS), {
      window: { pastMs: 600_000, futureMs: 1000 },
    });
    const request = (nowMs: number) =>
      nativeRequest('GET', '/api/v1/balances', undefined, {
        nonce: 'nonce_wide_window_0001',
        nowMs,
      });
    expect(reasonOf(await decide(request(NOW_MS), deps))).toBe('allow');
    clock.set(NOW_MS + 599_000);
    expect(reasonOf(await decide(request(NOW_MS + 599_000), deps))).toBe('NONCE_REPLAYED');
  });

  it('a steady rate does not fill a bounded guard: ids leave once their window has passed', async () => {
    // 1,000 requests a second for 30 s against a guard of 10,000 ids: with the default window
    // (5 s + 1 s) about 7,000 are held at any time. Remembered for five minutes, as before,
    // the 10,001st new nonce was refused REPLAY_CHECK_UNAVAILABLE.
    const clock = createManualClock(NOW_MS);
    const replay = createMemoryReplayGuard({ clock }, { maxEntries: 10_000 });
    const { deps } = pipelineDeps(mapLookup(ALL_KEYS), { clock, replay });
    const reasons = new Map<string, number>();
    for (let i = 0; i < 30_000; i++) {
      clock.advance(1);
      const nowMs = clock.now();
      const request = nativeRequest('GET', '/api/v1/balances', undefined, {
        createdSeconds: Math.floor(nowMs / 1000),
        nowMs,
      });
      const reason = reasonOf(await decide(request, deps));
      reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
    }
    expect(Object.fromEntries(reasons)).toEqual({ allow: 30_000 });
    expect(replay.size).toBeLessThanOrEqual(8_000);
  });
});
