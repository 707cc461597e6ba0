/**
 * Feeds every rendered denial through the real ccxt (4.5.84) response handling of each exchange
 * and checks the exception class, i.e. what a ccxt user sees when Portcullis denies a request.
 */
import ccxt from 'ccxt';
import { describe, expect, it } from 'vitest';
import type { DenialReason, RenderedDenial } from '../../../src/core/dialects/render-denial.js';
import { renderBinanceDenial } from '../../../src/core/dialects/render-binance-denial.js';
import { renderBybitDenial } from '../../../src/core/dialects/render-bybit-denial.js';
import { renderOkxDenial } from '../../../src/core/dialects/render-okx-denial.js';

const CTX = { requestId: 'req_test', nowMs: 1_700_000_000_000, retryAfterMs: 2000 };

type Exchange = InstanceType<typeof ccxt.binance>;

/** Runs ccxt's own `handleRestResponse` (handleErrors, then the HTTP status table). */
async function ccxtErrorName(
  exchange: Exchange,
  url: string,
  rendered: RenderedDenial,
): Promise<string> {
  const response = {
    status: rendered.status,
    statusText: 'status',
    headers: new Headers(rendered.headers),
    text: () => Promise.resolve(rendered.body),
  };
  try {
    await exchange.handleRestResponse(response, url, 'POST', {}, '');
  } catch (error) {
    return (error as Error).constructor.name;
  }
  return 'no error';
}

type Row = [DenialReason, string];

const BINANCE: Row[] = [
  ['CREDENTIALS_MISSING', 'AuthenticationError'],
  ['SIGNATURE_MALFORMED', 'BadRequest'],
  ['SIGNATURE_INVALID', 'AuthenticationError'],
  ['KEY_UNKNOWN', 'AuthenticationError'],
  ['TIMESTAMP_OUTSIDE_WINDOW', 'InvalidNonce'],
  ['NONCE_REPLAYED', 'InvalidNonce'],
  ['REPLAY_CHECK_UNAVAILABLE', 'OperationFailed'],
  ['RATE_LIMIT_UNAVAILABLE', 'OperationFailed'],
  ['DIGEST_MISMATCH', 'AuthenticationError'],
  ['KEY_REVOKED', 'AuthenticationError'],
  ['KEY_EXPIRED', 'AuthenticationError'],
  ['ENV_MISMATCH', 'AuthenticationError'],
  ['PASSPHRASE_INVALID', 'AuthenticationError'],
  ['IP_NOT_ALLOWED', 'AuthenticationError'],
  ['SCOPE_MISSING', 'AuthenticationError'],
  ['ROUTE_UNKNOWN', 'BadRequest'],
  ['BAD_REQUEST', 'BadRequest'],
  ['BODY_TOO_LARGE', 'BadRequest'],
  ['UPSTREAM_TIMEOUT', 'RequestTimeout'],
  ['UPSTREAM_UNAVAILABLE', 'OperationFailed'],
  ['RATE_LIMITED', 'DDoSProtection'],
  ['IP_BANNED', 'DDoSProtection'],
  ['POLICY_DENIED', 'PermissionDenied'],
  ['APPROVAL_REQUIRED', 'PermissionDenied'],
];

const BYBIT: Row[] = [
  ['CREDENTIALS_MISSING', 'AuthenticationError'],
  ['SIGNATURE_MALFORMED', 'BadRequest'],
  ['SIGNATURE_INVALID', 'AuthenticationError'],
  ['KEY_UNKNOWN', 'AuthenticationError'],
  ['TIMESTAMP_OUTSIDE_WINDOW', 'InvalidNonce'],
  ['NONCE_REPLAYED', 'InvalidNonce'],
  ['REPLAY_CHECK_UNAVAILABLE', 'ExchangeError'],
  ['RATE_LIMIT_UNAVAILABLE', 'ExchangeError'],
  ['DIGEST_MISMATCH', 'AuthenticationError'],
  ['KEY_REVOKED', 'AuthenticationError'],
  ['KEY_EXPIRED', 'AuthenticationError'],
  ['ENV_MISMATCH', 'AuthenticationError'],
  ['PASSPHRASE_INVALID', 'AuthenticationError'],
  ['IP_NOT_ALLOWED', 'PermissionDenied'],
  ['SCOPE_MISSING', 'PermissionDenied'],
  ['ROUTE_UNKNOWN', 'BadRequest'],
  ['BAD_REQUEST', 'BadRequest'],
  ['BODY_TOO_LARGE', 'BadRequest'],
  ['UPSTREAM_TIMEOUT', 'RequestTimeout'],
  ['UPSTREAM_UNAVAILABLE', 'ExchangeError'],
  ['RATE_LIMITED', 'RateLimitExceeded'],
  ['IP_BANNED', 'RateLimitExceeded'],
  ['POLICY_DENIED', 'PermissionDenied'],
  ['APPROVAL_REQUIRED', 'PermissionDenied'],
];

const OKX: Row[] = [
  ['CREDENTIALS_MISSING', 'AuthenticationError'],
  ['SIGNATURE_MALFORMED', 'AuthenticationError'],
  ['SIGNATURE_INVALID', 'AuthenticationError'],
  ['KEY_UNKNOWN', 'AuthenticationError'],
  ['TIMESTAMP_OUTSIDE_WINDOW', 'InvalidNonce'],
  ['NONCE_REPLAYED', 'InvalidNonce'],
  ['REPLAY_CHECK_UNAVAILABLE', 'ExchangeNotAvailable'],
  ['RATE_LIMIT_UNAVAILABLE', 'ExchangeNotAvailable'],
  ['DIGEST_MISMATCH', 'AuthenticationError'],
  ['KEY_REVOKED', 'AuthenticationError'],
  ['KEY_EXPIRED', 'AuthenticationError'],
  ['ENV_MISMATCH', 'AuthenticationError'],
  ['PASSPHRASE_INVALID', 'AuthenticationError'],
  ['IP_NOT_ALLOWED', 'PermissionDenied'],
  // OKX's own 50120: ccxt raises ExchangeError, exactly as it does against okx.com.
  ['SCOPE_MISSING', 'ExchangeError'],
  ['ROUTE_UNKNOWN', 'BadRequest'],
  ['BAD_REQUEST', 'BadRequest'],
  ['BODY_TOO_LARGE', 'BadRequest'],
  ['UPSTREAM_TIMEOUT', 'RequestTimeout'],
  ['UPSTREAM_UNAVAILABLE', 'ExchangeNotAvailable'],
  ['RATE_LIMITED', 'RateLimitExceeded'],
  ['IP_BANNED', 'RateLimitExceeded'],
  ['POLICY_DENIED', 'ExchangeError'],
  ['APPROVAL_REQUIRED', 'ExchangeError'],
];

describe('ccxt binance raises the expected class', () => {
  const exchange = new ccxt.binance({ apiKey: 'k', secret: 's' });
  it.each(BINANCE)('%s → %s (gateway host)', async (reason, expected) => {
    const name = await ccxtErrorName(
      exchange,
      'http://127.0.0.1:8080/api/v3/order',
      renderBinanceDenial(reason, CTX),
    );
    expect(name).toBe(expected);
  });
  it.each(BINANCE)('%s → %s (api.binance.com spot table)', async (reason, expected) => {
    const name = await ccxtErrorName(
      exchange,
      'https://api.binance.com/api/v3/order',
      renderBinanceDenial(reason, CTX),
    );
    expect(name).toBe(expected);
  });
});

describe('ccxt bybit raises the expected class', () => {
  const exchange = new ccxt.bybit({ apiKey: 'k', secret: 's' }) as unknown as Exchange;
  it.each(BYBIT)('%s → %s', async (reason, expected) => {
    const name = await ccxtErrorName(
      exchange,
      'http://127.0.0.1:8080/v5/order/create',
      renderBybitDenial(reason, CTX),
    );
    expect(name).toBe(expected);
  });
});

describe('ccxt okx raises the expected class', () => {
  const exchange = new ccxt.okx({ apiKey: 'k', secret: 's', password: 'p' }) as unknown as Exchange;
  it.each(OKX)('%s → %s', async (reason, expected) => {
    const name = await ccxtErrorName(
      exchange,
      'http://127.0.0.1:8080/api/v5/trade/order',
      renderOkxDenial(reason, CTX),
    );
    expect(name).toBe(expected);
  });
});
