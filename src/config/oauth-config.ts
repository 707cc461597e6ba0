/**
 * The authorization server's configuration (docs/oauth.md, docs/configuration.md): token and
 * ticket lifetimes, signing-key rotation, issuer and audiences. Validated by the schema first.
 */
import { parseDuration } from '../core/duration.js';
import type { Environment } from '../core/keys/model.js';

const duration = { type: 'string', pattern: '^\\d{1,9}(ms|s|m|h|d)$' } as const;
const audience = { type: 'string', minLength: 1, maxLength: 256 } as const;

/** The `oauth` section of the configuration schema. */
export const OAUTH_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    enabled: { type: 'boolean' },
    issuer: { type: 'string', minLength: 1, maxLength: 256 },
    audiences: {
      type: 'object',
      additionalProperties: false,
      properties: { production: audience, sandbox: audience },
    },
    tokenTtl: duration,
    ticketTtl: duration,
    signingKeyRotation: duration,
    maxTickets: { type: 'integer', minimum: 1, maximum: 10000000 },
    ticketKeyPrefix: { type: 'string', pattern: '^[A-Za-z0-9:_.-]{1,64}$' },
  },
} as const;

export interface OAuthConfig {
  readonly enabled: boolean;
  readonly issuer: string;
  readonly audiences: Readonly<Record<Environment, string>>;
  readonly tokenTtlMs: number;
  readonly ticketTtlMs: number;
  /** Never shorter than the token lifetime plus a minute (the overlap needs it). */
  readonly signingKeyRotationMs: number;
  readonly maxTickets: number;
  /** Prefix of the Redis keys of tickets (cluster mode). */
  readonly ticketKeyPrefix: string;
}

type Raw = Record<string, unknown>;
const obj = (value: unknown): Raw =>
  value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Raw) : {};
const msOf = (value: unknown, fallback: string, min: number, max: number): number => {
  const ms = parseDuration(typeof value === 'string' ? value : fallback) ?? 0;
  return Math.min(max, Math.max(min, ms));
};

/** The `oauth` section with defaults: 10 min tokens, 30 s tickets, a new signing key daily. */
export function oauthConfigOf(merged: Raw): { readonly oauth: OAuthConfig } {
  const raw = obj(merged.oauth);
  const audiences = obj(raw.audiences);
  // Lifetimes are clamped to what the design allows: tokens 1 min–24 h, tickets 5–60 s.
  const tokenTtlMs = msOf(raw.tokenTtl, '10m', 60_000, 86_400_000);
  const rotationMs = msOf(raw.signingKeyRotation, '1d', 60_000, 365 * 86_400_000);
  return {
    oauth: Object.freeze({
      enabled: raw.enabled !== false,
      issuer: typeof raw.issuer === 'string' ? raw.issuer : 'portcullis',
      audiences: Object.freeze({
        production:
          typeof audiences.production === 'string' ? audiences.production : 'portcullis:production',
        sandbox: typeof audiences.sandbox === 'string' ? audiences.sandbox : 'portcullis:sandbox',
      }),
      tokenTtlMs,
      ticketTtlMs: msOf(raw.ticketTtl, '30s', 5_000, 60_000),
      signingKeyRotationMs: Math.max(rotationMs, tokenTtlMs + 60_000),
      maxTickets: typeof raw.maxTickets === 'number' ? raw.maxTickets : 100_000,
      ticketKeyPrefix:
        typeof raw.ticketKeyPrefix === 'string' ? raw.ticketKeyPrefix : 'portcullis:ticket:',
    }),
  };
}
