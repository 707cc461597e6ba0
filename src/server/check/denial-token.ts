/**
 * nginx `auth_request` passes only 401 and 403 on to the client, and never the subrequest's
 * body. So the check answers 401/403 with the real denial (status, headers, body) sealed into
 * one header; nginx captures it with `auth_request_set` and its `error_page` location hands it
 * back to the check's render endpoint, which answers exactly what the proxy would have.
 *
 * The token is HMAC-sealed with a per-process key: the render endpoint repeats only denials this
 * process produced, whoever can reach it.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { RenderedDenial } from '../../core/dialects/render-denial.js';

export interface DenialSealer {
  seal(denial: RenderedDenial): string;
  /** The denial, or undefined when the token is malformed or was not sealed by this process. */
  open(token: string): RenderedDenial | undefined;
}

const MAX_TOKEN_CHARS = 8192;

export function createDenialSealer(key: Buffer = randomBytes(32)): DenialSealer {
  const mac = (payload: string): Buffer => createHmac('sha256', key).update(payload).digest();
  return {
    seal(denial) {
      const payload = Buffer.from(
        JSON.stringify({ s: denial.status, h: denial.headers, b: denial.body }),
      ).toString('base64url');
      return `${payload}.${mac(payload).toString('base64url')}`;
    },
    open(token) {
      if (token.length > MAX_TOKEN_CHARS) return undefined;
      const dot = token.indexOf('.');
      if (dot < 0) return undefined;
      const payload = token.slice(0, dot);
      const given = Buffer.from(token.slice(dot + 1), 'base64url');
      const expected = mac(payload);
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
      try {
        const parsed = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as {
          s: number;
          h: Record<string, string>;
          b: string;
        };
        return { status: parsed.s, headers: parsed.h, body: parsed.b };
      } catch {
        return undefined;
      }
    },
  };
}
