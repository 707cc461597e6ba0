import type { KeyObject } from 'node:crypto';
import type { RateLimitPacer } from './rate-limit-pacer.js';

/** The slice of the WHATWG fetch the client uses; inject one in tests. */
export type FetchLike = (
  url: string,
  init: {
    readonly method: string;
    readonly headers: Record<string, string>;
    readonly body?: Uint8Array;
    readonly redirect: 'manual';
    readonly signal: AbortSignal;
  },
) => Promise<Pick<Response, 'status' | 'headers' | 'text'>>;

export interface ClientOptions {
  /** One or more data-plane URLs of the same environment, e.g. `http://127.0.0.1:8090`. */
  readonly baseUrls: readonly string[];
  readonly keyId: string;
  /** The HMAC secret exactly as shown at creation (signed with as UTF-8 bytes). */
  readonly secret?: string | undefined;
  /** The Ed25519 private key (KeyObject or PKCS#8 PEM) of an `ed25519` key. */
  readonly privateKey?: KeyObject | string | undefined;
  /** Per attempt, until the whole answer is read. Default 10 000. */
  readonly timeoutMs?: number;
  /** Further attempts after the first (retries and fail-overs together). Default 3. */
  readonly maxRetries?: number;
  /** First back-off when no `Retry-After` is given; doubles per retry. Default 200. */
  readonly retryBaseDelayMs?: number;
  /** Longest single wait; a `Retry-After` beyond it fails the request instead. Default 30 000. */
  readonly maxRetryDelayMs?: number;
  /**
   * Known offset of the gateway's clock (server − local, ms). When absent the client learns it
   * from `GET /api/v1/time` before its first signed request.
   */
  readonly timeOffsetMs?: number;
  readonly fetch?: FetchLike;
  /** Local time in epoch ms. Default `Date.now`. */
  readonly clock?: { now(): number };
  readonly sleep?: (ms: number) => Promise<void>;
  /** Slows the client down on rate-limit headers; default `createRateLimitPacer()`. */
  readonly pacer?: RateLimitPacer;
}

export interface RequestOptions {
  /** A record (form-encoded in insertion order) or a raw query string. */
  readonly query?: Readonly<Record<string, string>> | string;
  /** Serialised once with JSON.stringify; exactly those bytes are signed and sent. */
  readonly body?: unknown;
  /** Extra headers; `Content-Type` and `Idempotency-Key` are covered by the signature. */
  readonly headers?: Readonly<Record<string, string>>;
}

export interface ClientResponse<T = unknown> {
  readonly status: number;
  /** Lower-case names. */
  readonly headers: Readonly<Record<string, string>>;
  /** Parsed JSON, or the text when the answer is not JSON. */
  readonly body: T;
  readonly requestId: string | undefined;
}
