/**
 * The authorization server's token core (docs/oauth.md): issues short-lived EdDSA access tokens
 * bound to a key and its environment, verifies them under RFC 8725 rules, revokes them
 * (RFC 7009) and hands out single-use connection tickets for browsers. HTTP lives in
 * src/server/data-plane/oauth-routes.ts; the WebSocket gateway calls `verify`/`redeemTicket`.
 */
import { randomBytes } from 'node:crypto';
import { decodeProtectedHeader, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import { PortcullisError } from '../core/errors.js';
import { ipBucket } from '../core/limits/ip-bucket.js';
import { keyState, type ApiKey, type Environment, type Scope } from '../core/keys/model.js';
import { formatScopes, narrowScopes, scopesOfClaim } from '../core/oauth/scopes.js';
import type { TokenReasonCode } from '../core/oauth/token-reasons.js';
import type { KeyLookup } from '../core/pipeline.js';
import type { ControlStore } from '../ports.js';
import type { Keyring } from './envelope.js';
import { createStoreRevocationList, type RevocationList } from './oauth/revocations.js';
import { createSigningKeyring, type PublicJwk, type SigningKeyring } from './oauth/signing-keys.js';
import { createMemoryTicketStore, type TicketStore } from './oauth/tickets.js';
import { mapJoseError, TOKEN_TYPE } from './oauth/verify-errors.js';

export interface AccessTokenOptions {
  /** The `iss` of every token (RFC 7519 §4.1.1). */
  readonly issuer: string;
  /** The `aud` a token for each environment carries and must carry to verify there. */
  readonly audiences: Readonly<Record<Environment, string>>;
  readonly tokenTtlMs: number;
  readonly ticketTtlMs: number;
  /** A new signing key every period; the previous one stays published one more period. */
  readonly signingKeyRotationMs: number;
  /** Bound of the in-memory ticket store. */
  readonly maxTickets: number;
  /** Allowed clock difference between nodes for `exp`/`nbf` (default 5 s). */
  readonly clockToleranceMs?: number;
}

export interface AccessTokenDeps {
  readonly store: Pick<ControlStore, 'getMeta' | 'setMeta'>;
  readonly keyring: () => Keyring;
  /** Where `verify` finds the key to check it is still active (the data plane's key cache). */
  readonly keys: KeyLookup;
  readonly clock: Clock;
  /** Told about ticket-store failures (never a ticket or token). */
  readonly logger?: Pick<Logger, 'warn'>;
  /** Overrides for tests or a shared backend. */
  readonly signingKeys?: SigningKeyring;
  readonly revocations?: RevocationList;
  readonly tickets?: TicketStore<AccessGrant>;
}

/** The token endpoint's success answer (RFC 6749 §5.1). */
export interface TokenResponse {
  readonly access_token: string;
  readonly token_type: 'Bearer';
  /** Seconds. */
  readonly expires_in: number;
  readonly scope: string;
}

/** What a valid token or ticket grants. `exp` is a NumericDate (seconds). */
export interface AccessGrant {
  readonly keyId: string;
  readonly accountId: string;
  readonly environment: Environment;
  readonly scopes: readonly Scope[];
  readonly exp: number;
  readonly jti: string;
}

/** Why `verify`/`redeemTicket` refuse: a token reason, or the key's state at this moment. */
export type AccessDenialReason =
  TokenReasonCode | 'KEY_UNKNOWN' | 'KEY_REVOKED' | 'KEY_EXPIRED' | 'ENV_MISMATCH';

export type AccessVerdict =
  | ({ readonly ok: true } & AccessGrant)
  | { readonly ok: false; readonly reason: AccessDenialReason };

/** The verified claims of a token, for introspection (RFC 7662 §2.2). */
export interface TokenClaims extends AccessGrant {
  readonly iat: number;
  readonly nbf: number;
  readonly iss: string;
  readonly aud: string;
}

export interface AccessTokenService {
  /** Signs a token for `key`; `scopes` must be a subset of the key's (callers check first). */
  issue(
    key: ApiKey,
    request?: { readonly scopes?: readonly Scope[]; readonly audience?: string },
  ): Promise<TokenResponse>;
  /** Full RFC 8725 verification plus revocation and the key's current state. */
  verify(token: string, context: { readonly environment: Environment }): Promise<AccessVerdict>;
  /** Verified claims of a token, or the reason it is not active (introspection, revocation). */
  inspect(
    token: string,
    context: { readonly environment: Environment },
  ): Promise<{ ok: true; claims: TokenClaims } | { ok: false; reason: AccessDenialReason }>;
  /** Revokes a token by its id until it expires (RFC 7009). */
  revoke(claims: Pick<TokenClaims, 'jti' | 'exp'>): Promise<void>;
  /** A single-use ticket for `grant`, valid `ticketTtlMs`, bound to the client's IP prefix. */
  issueTicket(
    grant: AccessGrant,
    context?: { readonly clientIp?: string },
  ): Promise<{ ticket: string; expires_in: number }>;
  /** Redeems a ticket once; the key is checked again as in `verify`. */
  redeemTicket(
    ticket: string,
    context: { readonly environment: Environment; readonly clientIp?: string },
  ): Promise<AccessVerdict>;
  /** The published verification keys (/.well-known/jwks.json). */
  jwks(): Promise<{ keys: PublicJwk[] }>;
  audienceFor(environment: Environment): string;
  readonly tokenTtlSeconds: number;
  /** Releases the ticket store's connection. */
  close(): Promise<void>;
}

const MAX_TOKEN_LENGTH = 4096;

/** Builds the service; `createAccessTokenService(deps, config.oauth)` in the composition root. */
export function createAccessTokenService(
  deps: AccessTokenDeps,
  options: AccessTokenOptions,
): AccessTokenService {
  const clock = deps.clock;
  const tokenTtlSeconds = Math.max(1, Math.floor(options.tokenTtlMs / 1000));
  const toleranceSeconds = Math.ceil((options.clockToleranceMs ?? 5000) / 1000);
  const signingKeys =
    deps.signingKeys ??
    createSigningKeyring(
      { store: deps.store, keyring: deps.keyring, clock },
      // The previous period's key must outlive every token it signed (the overlap).
      { rotationMs: Math.max(options.signingKeyRotationMs, options.tokenTtlMs + 60_000) },
    );
  const revocations = deps.revocations ?? createStoreRevocationList({ store: deps.store, clock });
  const tickets =
    deps.tickets ??
    createMemoryTicketStore<AccessGrant>({ clock }, { maxTickets: options.maxTickets });

  async function inspect(token: string, environment: Environment) {
    const fail = (reason: AccessDenialReason) => ({ ok: false as const, reason });
    if (typeof token !== 'string' || token.length === 0) return fail('TOKEN_MISSING');
    if (token.length > MAX_TOKEN_LENGTH || token.split('.').length !== 3)
      return fail('TOKEN_MALFORMED');
    let header;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      return fail('TOKEN_MALFORMED');
    }
    // RFC 8725 §3.1: the algorithm is pinned, whatever the header says (none, HS256 with the
    // public key bytes as the secret, RS256 …) — checked before any key is looked up.
    if (header.alg !== 'EdDSA') return fail('TOKEN_ALGORITHM_REFUSED');
    if (header.typ !== TOKEN_TYPE) return fail('TOKEN_TYPE_REFUSED');
    if (typeof header.kid !== 'string' || header.kid.length === 0 || header.kid.length > 64)
      return fail('TOKEN_KID_UNKNOWN');
    const publicKey = await signingKeys.verifierFor(header.kid);
    if (publicKey === undefined) return fail('TOKEN_KID_UNKNOWN');
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, publicKey, {
        algorithms: ['EdDSA'],
        typ: TOKEN_TYPE,
        issuer: options.issuer,
        audience: options.audiences[environment],
        currentDate: new Date(clock.now()),
        clockTolerance: toleranceSeconds,
        requiredClaims: ['sub', 'jti', 'iat', 'nbf', 'exp'],
      }));
    } catch (error) {
      return fail(mapJoseError(error));
    }
    const claims = claimsOf(payload, environment);
    if (claims === undefined) return fail('TOKEN_CLAIMS_INVALID');
    if (claims.iat > Math.floor(clock.now() / 1000) + toleranceSeconds)
      return fail('TOKEN_NOT_YET_VALID');
    return { ok: true as const, claims };
  }

  /** The key must still be active, in this environment and account; scopes shrink with it. */
  async function checkKey(grant: AccessGrant, environment: Environment): Promise<AccessVerdict> {
    const cached = await deps.keys.get(grant.keyId);
    if (cached === undefined) return { ok: false, reason: 'KEY_UNKNOWN' };
    const key = cached.key;
    const state = keyState(key, clock.now());
    if (state === 'revoked') return { ok: false, reason: 'KEY_REVOKED' };
    if (state === 'expired') return { ok: false, reason: 'KEY_EXPIRED' };
    if (key.environment !== environment || grant.environment !== environment)
      return { ok: false, reason: 'ENV_MISMATCH' };
    if (key.accountId !== grant.accountId) return { ok: false, reason: 'TOKEN_CLAIMS_INVALID' };
    const scopes = grant.scopes.filter((scope) => key.scopes.includes(scope));
    return { ok: true, ...grant, scopes };
  }

  return {
    tokenTtlSeconds,
    audienceFor: (environment) => options.audiences[environment],

    async issue(key, request = {}) {
      const narrowed = narrowScopes(key.scopes, request.scopes);
      if (!narrowed.ok)
        throw new PortcullisError('VALIDATION_FAILED', 'A token cannot widen the key scopes.');
      const signer = await signingKeys.current();
      const iat = Math.floor(clock.now() / 1000);
      const scope = formatScopes(narrowed.scopes);
      const token = await new SignJWT({ acct: key.accountId, env: key.environment, scope })
        .setProtectedHeader({ alg: 'EdDSA', typ: TOKEN_TYPE, kid: signer.kid })
        .setIssuer(options.issuer)
        .setAudience(request.audience ?? options.audiences[key.environment])
        .setSubject(key.id)
        .setJti(randomBytes(16).toString('base64url'))
        .setIssuedAt(iat)
        .setNotBefore(iat)
        .setExpirationTime(iat + tokenTtlSeconds)
        .sign(signer.privateKey);
      return { access_token: token, token_type: 'Bearer', expires_in: tokenTtlSeconds, scope };
    },

    async verify(token, { environment }) {
      const inspected = await inspect(token, environment);
      if (!inspected.ok) return inspected;
      if (await revocations.isRevoked(inspected.claims.jti))
        return { ok: false, reason: 'TOKEN_REVOKED' };
      const { keyId, accountId, scopes, exp, jti } = inspected.claims;
      return checkKey({ keyId, accountId, environment, scopes, exp, jti }, environment);
    },

    inspect: (token, { environment }) => inspect(token, environment),

    revoke: ({ jti, exp }) => revocations.revoke(jti, exp * 1000),

    async issueTicket(grant, context = {}) {
      const nowMs = clock.now();
      const expiresAtMs = Math.min(nowMs + options.ticketTtlMs, grant.exp * 1000);
      const ipPrefix =
        context.clientIp === undefined
          ? undefined
          : (ipBucket(context.clientIp) ?? context.clientIp);
      const ticket = await tickets.put({ value: grant, ipPrefix, expiresAtMs });
      return { ticket, expires_in: Math.max(0, Math.ceil((expiresAtMs - nowMs) / 1000)) };
    },

    async redeemTicket(ticket, { environment, clientIp }) {
      if (typeof ticket !== 'string' || ticket.length === 0)
        return { ok: false, reason: 'TOKEN_MISSING' };
      if (ticket.length > 128) return { ok: false, reason: 'TICKET_INVALID' };
      let grant;
      try {
        grant = await tickets.take(ticket);
      } catch (error) {
        deps.logger?.warn({ err: errorName(error) }, 'ticket store unavailable');
        return { ok: false, reason: 'TICKET_UNAVAILABLE' };
      }
      if (grant === undefined) return { ok: false, reason: 'TICKET_INVALID' };
      if (grant.ipPrefix !== undefined) {
        const prefix = clientIp === undefined ? undefined : (ipBucket(clientIp) ?? clientIp);
        if (prefix !== grant.ipPrefix) return { ok: false, reason: 'TICKET_INVALID' };
      }
      if (grant.value.environment !== environment) return { ok: false, reason: 'TICKET_INVALID' };
      if (await revocations.isRevoked(grant.value.jti))
        return { ok: false, reason: 'TOKEN_REVOKED' };
      return checkKey(grant.value, environment);
    },

    jwks: () => signingKeys.jwks(),
    close: () => tickets.close(),
  };
}

/** The error's class name only: messages may quote what the client sent. */
function errorName(error: unknown): string {
  return error instanceof Error ? error.name : 'unknown';
}

/** The claims this server writes, read back strictly; undefined when any is off. */
function claimsOf(payload: JWTPayload, environment: Environment): TokenClaims | undefined {
  const { sub, jti, iat, nbf, exp, iss, aud } = payload;
  const acct = payload.acct;
  const scopes = scopesOfClaim(payload.scope);
  if (typeof sub !== 'string' || typeof jti !== 'string' || typeof acct !== 'string')
    return undefined;
  if (typeof iat !== 'number' || typeof nbf !== 'number' || typeof exp !== 'number')
    return undefined;
  if (typeof iss !== 'string' || typeof aud !== 'string' || scopes === undefined) return undefined;
  if (payload.env !== environment) return undefined;
  return { keyId: sub, accountId: acct, environment, scopes, exp, jti, iat, nbf, iss, aud };
}
