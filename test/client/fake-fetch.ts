/**
 * A scripted fetch for SDK unit tests: records every call (URL, method, headers, body bytes)
 * and answers from a handler, so retries, signatures and fail-over are checked without sockets.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { parseNative, verifyNative } from '../../src/core/signing/native/index.js';
import type { NativeCredential } from '../../src/core/signing/native/native-profile.js';
import type { VerifierKey } from '../../src/core/signing/types.js';
import type { FetchLike } from '../../src/client/index.js';
import { createManualClock, type ManualClock } from '../helpers/manual-clock.js';

export const KEY_ID = 'pk_test_unit1234';
export const SECRET = 'sk_test_unit_secret_never_shown_0123456789';
export const BASE_A = 'http://gw-a.test:8090';
export const BASE_B = 'http://gw-b.test:8090';

export interface RecordedCall {
  readonly url: URL;
  readonly method: string;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
  readonly redirect: string;
}

export type Reply =
  | {
      readonly status: number;
      readonly body?: unknown;
      readonly headers?: Record<string, string>;
    }
  | { readonly throws: Error };

export interface FakeFetch {
  readonly fetch: FetchLike;
  readonly calls: RecordedCall[];
  /** Calls other than `GET /api/v1/time`. */
  signedCalls(): RecordedCall[];
}

/** `handler` answers each call; the clock moves by `latencyMs` during each call. */
export function createFakeFetch(
  handler: (call: RecordedCall, index: number) => Reply,
  clock?: ManualClock,
  latencyMs = 0,
): FakeFetch {
  const calls: RecordedCall[] = [];
  const fetch: FetchLike = (url, init) => {
    const call: RecordedCall = {
      url: new URL(url),
      method: init.method,
      headers: Object.fromEntries(
        Object.entries(init.headers).map(([k, v]) => [k.toLowerCase(), v]),
      ),
      body: init.body === undefined ? Buffer.alloc(0) : Buffer.from(init.body),
      redirect: init.redirect,
    };
    calls.push(call);
    clock?.advance(latencyMs);
    const reply = handler(call, calls.length - 1);
    if ('throws' in reply) return Promise.reject(reply.throws);
    const text =
      reply.body === undefined
        ? ''
        : typeof reply.body === 'string'
          ? reply.body
          : JSON.stringify(reply.body);
    return Promise.resolve(
      new Response(text === '' ? null : text, {
        status: reply.status,
        headers: reply.headers ?? {},
      }),
    );
  };
  return {
    fetch,
    calls,
    signedCalls: () => calls.filter((c) => c.url.pathname !== '/api/v1/time'),
  };
}

/** A connection error as undici reports it: TypeError('fetch failed') with a coded cause. */
export function connectionError(code: string): Error {
  const cause = Object.assign(new Error(`connect ${code}`), { code });
  return new TypeError('fetch failed', { cause });
}

/** A sleep that records each wait and moves the clock by it. */
export function createRecordingSleep(clock: ManualClock): {
  sleep: (ms: number) => Promise<void>;
  waits: number[];
} {
  const waits: number[] = [];
  return {
    waits,
    sleep: (ms) => {
      waits.push(ms);
      clock.advance(ms);
      return Promise.resolve();
    },
  };
}

export const ok = (body: unknown = { ok: true }, headers: Record<string, string> = {}): Reply => ({
  status: 200,
  body,
  headers: { 'content-type': 'application/json', 'x-request-id': 'req_ok', ...headers },
});

export const denial = (
  status: number,
  code: string,
  headers: Record<string, string> = {},
): Reply => ({
  status,
  body: { error: { code, message: `denied: ${code}`, requestId: 'req_denied1' } },
  headers: { 'content-type': 'application/json', 'x-request-id': 'req_denied1', ...headers },
});

/** Parses the native credential of a recorded call as the gateway would. */
export function credentialOf(call: RecordedCall): NativeCredential {
  const parsed = parseNative(toSignedRequest(call));
  if (!parsed.ok) throw new Error(`not a valid native request: ${parsed.reason}`);
  return parsed.credential;
}

/** Whether the gateway's verifier accepts the recorded call with `key`. */
export function verifies(call: RecordedCall, key: VerifierKey): boolean {
  const request = toSignedRequest(call);
  return verifyNative(credentialOf(call), request, key) >= 0;
}

export const hmacKey: VerifierKey = { scheme: 'hmac', secrets: [Buffer.from(SECRET, 'utf8')] };

export function ed25519Pair(): { privateKey: KeyObject; verifier: VerifierKey } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, verifier: { scheme: 'ed25519', publicKey } };
}

function toSignedRequest(call: RecordedCall) {
  const href = call.url.href;
  return {
    method: call.method,
    path: call.url.pathname,
    rawQuery: call.url.search !== '' ? call.url.search.slice(1) : href.endsWith('?') ? '' : null,
    headers: call.headers,
    body: call.body,
  };
}

export { createManualClock, type ManualClock };
