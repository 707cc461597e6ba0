import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { Pool } from 'undici';
import type { AttemptFailure } from '../../core/upstream/retry-safety.js';
import type { TargetStatus } from '../../core/upstream/target-pool.js';

export interface UpstreamRequest {
  readonly method: string;
  /** Path plus `?query` exactly as it will be sent. */
  readonly path: string;
  readonly headers: Record<string, string | string[]>;
  readonly body: Buffer | null;
  /**
   * Whether a second copy is harmless (core/upstream/retry-safety.ts): a pool may then send it
   * to another target after a failure that may have reached the first one. Asked only after
   * such a failure (it may parse the body). Absent: never.
   */
  readonly retrySafe?: () => boolean;
}

/** Why a forward failed; each is a reason code of the catalog (docs/errors.md). */
export type UpstreamFailureReason =
  | 'UPSTREAM_TIMEOUT'
  | 'UPSTREAM_UNAVAILABLE'
  | 'UPSTREAM_NOT_RETRIED'
  | 'UPSTREAM_NO_HEALTHY_TARGET';

export type UpstreamResult =
  | {
      readonly ok: true;
      readonly status: number;
      readonly headers: IncomingHttpHeaders;
      readonly body: Readable;
    }
  | { readonly ok: false; readonly reason: UpstreamFailureReason };

/**
 * After these failures the upstream may have executed the request: an amount reserved for it
 * stays counted (the safe side). After the others it certainly did not.
 */
export function outcomeUnknown(reason: UpstreamFailureReason): boolean {
  return reason === 'UPSTREAM_TIMEOUT' || reason === 'UPSTREAM_NOT_RETRIED';
}

export interface Upstream {
  readonly origin: string;
  /** A pool's targets as they are now (health, ejection); absent for a single origin. */
  readonly targets?: () => readonly TargetStatus[];
  forward(request: UpstreamRequest): Promise<UpstreamResult>;
  close(): Promise<void>;
}

const TIMEOUT_CODES = new Set([
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** Errors raised before a connection exists: not one byte of the request was sent. */
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** Classifies an undici request error for failover (core/upstream/retry-safety.ts). */
export function attemptFailureOf(error: unknown): AttemptFailure {
  const code = (error as { code?: string } | null)?.code ?? '';
  if (NOT_SENT_CODES.has(code)) return 'not_sent';
  if (TIMEOUT_CODES.has(code)) return 'timeout';
  return 'maybe_sent';
}

/** One upstream origin behind a keep-alive undici pool. Failures are values, never throws. */
export function createUpstream(
  origin: string,
  options: { timeoutMs: number; connections?: number },
): Upstream {
  const pool = new Pool(origin, {
    connections: options.connections ?? 128,
    pipelining: 1,
    keepAliveTimeout: 30_000,
    headersTimeout: options.timeoutMs,
    bodyTimeout: options.timeoutMs,
    connectTimeout: Math.min(options.timeoutMs, 5_000),
  });
  return {
    origin,
    async forward(request) {
      try {
        const response = await pool.request({
          method: request.method,
          path: request.path,
          headers: request.headers,
          body: request.body,
        });
        return {
          ok: true,
          status: response.statusCode,
          headers: response.headers,
          body: response.body,
        };
      } catch (error) {
        const code = (error as { code?: string }).code ?? '';
        return {
          ok: false,
          reason: TIMEOUT_CODES.has(code) ? 'UPSTREAM_TIMEOUT' : 'UPSTREAM_UNAVAILABLE',
        };
      }
    },
    close: () => pool.close(),
  };
}
