/**
 * Login message parsing and verification per dialect, with the published vectors of
 * ../shared/reference/exchange-signing.md (D-BYB-3 Bybit WS auth, D-OKX-3 OKX WS login, the
 * BN-6 session.logon payload shape), and property checks that malformed input never throws.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { signNativeWsLogin } from '../../../src/client/ws-login.js';
import {
  nativeLoginPayload,
  parseWsLogin,
  verifyWsLogin,
  wsLoginInWindow,
  type WsLogin,
} from '../../../src/core/ws/ws-login.js';

const RULE = { pastMs: 5000, futureMs: 1000 };
const hmacOf = (secret: string) => ({ scheme: 'hmac' as const, secrets: [Buffer.from(secret)] });

function parsed(message: Record<string, unknown>): WsLogin {
  const result = parseWsLogin(message, 'sandbox');
  if (result === undefined || !result.ok) throw new Error(`not parsed: ${JSON.stringify(result)}`);
  return result.login;
}

describe('published vectors', () => {
  it('D-BYB-3: Bybit auth signs GET/realtime + expires (hex)', () => {
    const login = parsed({
      op: 'auth',
      args: [
        'pk_test_x',
        1662350400000,
        'a7d6959361f6e3cfc4f0e592fee4e729edcca86742b71d5cb87d69b5cac42234',
      ],
    });
    expect(login.payload).toBe('GET/realtime1662350400000');
    expect(verifyWsLogin(login, hmacOf('NOT-AN-OFFICIAL-SECRET'))).toBe(0);
    expect(verifyWsLogin(login, hmacOf('another-secret'))).toBe(-1);
  });

  it('D-OKX-3: OKX login signs timestamp + GET + /users/self/verify (base64)', () => {
    const login = parsed({
      op: 'login',
      args: [
        {
          apiKey: 'pk_test_x',
          passphrase: 'p',
          timestamp: '1538054050',
          sign: '+LdIr8lkkvhr5hoA3g9TMC0+uQJ849ftAcocA/ouu4M=',
        },
      ],
    });
    expect(login.payload).toBe('1538054050GET/users/self/verify');
    expect(verifyWsLogin(login, hmacOf('22582BD0CFF14C41EDBF1AB98506286D'))).toBe(0);
    expect(login.passphrase).toBe('p');
  });

  it('BN-6 shape: session.logon signs the sorted apiKey=…&timestamp=… with Ed25519', () => {
    const pair = generateKeyPairSync('ed25519');
    const payload =
      'apiKey=vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A&timestamp=1649729878532';
    const login = parsed({
      id: 'x',
      method: 'session.logon',
      params: {
        timestamp: 1649729878532,
        apiKey: 'vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A',
        signature: sign(null, Buffer.from(payload), pair.privateKey).toString('base64'),
      },
    });
    expect(login.payload).toBe(payload);
    expect(verifyWsLogin(login, { scheme: 'ed25519', publicKey: pair.publicKey })).toBe(0);
    // session.logon accepts Ed25519 keys only: an HMAC key never verifies it.
    expect(verifyWsLogin(login, hmacOf('secret'))).toBe(-1);
  });
});

describe('native login', () => {
  it('binds the environment: a sandbox login does not verify as production', () => {
    const message = signNativeWsLogin({
      key: { keyId: 'pk_test_a', secret: 'psk_secret' },
      environment: 'sandbox',
      createdSeconds: 1_767_225_600,
      nonce: 'nonce_0123456789abcdef',
    });
    const sandbox = parseWsLogin(message, 'sandbox');
    const production = parseWsLogin(message, 'production');
    if (!sandbox?.ok || !production?.ok) throw new Error('not parsed');
    expect(sandbox.login.payload).toBe(
      nativeLoginPayload('sandbox', 'pk_test_a', 1_767_225_600, 'nonce_0123456789abcdef'),
    );
    expect(verifyWsLogin(sandbox.login, hmacOf('psk_secret'))).toBe(0);
    expect(verifyWsLogin(production.login, hmacOf('psk_secret'))).toBe(-1);
  });

  it('matches an older secret still in its rotation grace (index 1)', () => {
    const message = signNativeWsLogin({
      key: { keyId: 'pk_test_a', secret: 'old' },
      environment: 'sandbox',
      createdSeconds: 1,
    });
    const login = parsed(message);
    expect(
      verifyWsLogin(login, { scheme: 'hmac', secrets: [Buffer.from('new'), Buffer.from('old')] }),
    ).toBe(1);
  });

  it.each([
    ['created 6 s ago', -6000, false],
    ['created now', 0, true],
    ['created 2 s ahead', 2000, false],
  ] as const)('window: %s → %s', (_what, offsetMs, ok) => {
    const nowMs = 1_767_225_600_000;
    const login = parsed(
      signNativeWsLogin({
        key: { keyId: 'pk_test_a', secret: 's' },
        environment: 'sandbox',
        createdSeconds: Math.floor((nowMs + offsetMs) / 1000),
      }),
    );
    expect(wsLoginInWindow(login, nowMs, RULE)).toBe(ok);
  });
});

describe('windows of the dialects', () => {
  const nowMs = 1_767_225_600_000;
  it('Bybit: expires must be in the future and not far beyond the window', () => {
    const at = (expires: number) =>
      parsed({ op: 'auth', args: ['pk_test_a', expires, 'ab'.repeat(32)] });
    expect(wsLoginInWindow(at(nowMs - 1), nowMs, RULE)).toBe(false);
    expect(wsLoginInWindow(at(nowMs + 10_000), nowMs, RULE)).toBe(true);
    expect(wsLoginInWindow(at(nowMs + 3_600_000), nowMs, RULE)).toBe(false);
  });
  it('OKX: valid 30 s after its timestamp', () => {
    const at = (seconds: number) =>
      parsed({
        op: 'login',
        args: [
          {
            apiKey: 'pk_test_a',
            passphrase: 'p',
            timestamp: String(seconds),
            sign: 'A'.repeat(43) + '=',
          },
        ],
      });
    expect(wsLoginInWindow(at(nowMs / 1000 - 20), nowMs, RULE)).toBe(true);
    expect(wsLoginInWindow(at(nowMs / 1000 - 31), nowMs, RULE)).toBe(false);
  });
});

describe('malformed logins', () => {
  it.each([
    [
      'native without nonce',
      {
        method: 'login',
        params: { keyId: 'k', alg: 'hmac-sha256', created: 1, signature: 'A'.repeat(43) + '=' },
      },
    ],
    [
      'native with a short signature',
      {
        method: 'login',
        params: {
          keyId: 'k',
          alg: 'hmac-sha256',
          created: 1,
          nonce: 'n'.repeat(16),
          signature: 'AAAA',
        },
      },
    ],
    [
      'Binance with an extra param',
      {
        method: 'session.logon',
        params: { apiKey: 'k', timestamp: 1, signature: 'A'.repeat(86) + '==', x: 1 },
      },
    ],
    ['Bybit with two args', { op: 'auth', args: ['k', 1] }],
    [
      'OKX with a numeric passphrase',
      {
        op: 'login',
        args: [{ apiKey: 'k', passphrase: 1, timestamp: '1', sign: 'A'.repeat(43) + '=' }],
      },
    ],
  ])('%s → SIGNATURE_MALFORMED', (_what, message) => {
    expect(parseWsLogin(message, 'sandbox')).toEqual({ ok: false, reason: 'SIGNATURE_MALFORMED' });
  });

  it('a message that is no login at all is not mistaken for one', () => {
    expect(parseWsLogin({ method: 'order.place', params: {} }, 'sandbox')).toBeUndefined();
  });

  it('never throws on arbitrary JSON objects', () => {
    fc.assert(
      fc.property(
        fc.record({
          method: fc.constantFrom('login', 'session.logon', undefined),
          op: fc.constantFrom('auth', 'login', undefined),
          params: fc.anything(),
          args: fc.anything(),
          id: fc.anything(),
        }),
        (message) => {
          const result = parseWsLogin(message, 'sandbox');
          expect(result === undefined || typeof result.ok === 'boolean').toBe(true);
        },
      ),
    );
  });
});
