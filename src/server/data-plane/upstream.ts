import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { Pool } from 'undici';

export interface UpstreamRequest {
  readonly method: string;
  /** Path plus `?query` exactly as it will be sent. */
  readonly path: string;
  readonly headers: Record<string, string | string[]>;
  readonly body: Buffer | null;
}

export type UpstreamResult =
  | {
      readonly ok: true;
      readonly status: number;
      readonly headers: IncomingHttpHeaders;
      readonly body: Readable;
    }
  | { readonly ok: false; readonly reason: 'UPSTREAM_TIMEOUT' | 'UPSTREAM_UNAVAILABLE' };

export interface Upstream {
  readonly origin: string;
  forward(request: UpstreamRequest): Promise<UpstreamResult>;
  close(): Promise<void>;
}

const TIMEOUT_CODES = new Set([
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT',
]);

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
