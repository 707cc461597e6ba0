import { hash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { isScope, type Scope } from '../core/keys/model.js';
import { SandboxFault } from './sandbox-fault.js';

/** Who the gateway says is calling. The sandbox trusts it: the gateway authenticated the key. */
export interface Identity {
  readonly accountId: string;
  readonly keyId: string | null;
  readonly scopes: readonly Scope[];
}

export const ACCOUNT_HEADER = 'x-portcullis-account';
export const KEY_HEADER = 'x-portcullis-key';
export const SCOPES_HEADER = 'x-portcullis-scopes';
export const UPSTREAM_TOKEN_HEADER = 'x-portcullis-upstream-token';

// Ids the gateway issues are short and printable; a comma means Node joined two header copies.
const ID_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;

/** The identity headers, or undefined when the account header is absent or malformed. */
export function readIdentity(headers: IncomingHttpHeaders): Identity | undefined {
  const accountId = singleHeader(headers[ACCOUNT_HEADER]);
  if (accountId === undefined || !ID_PATTERN.test(accountId)) return undefined;
  const keyId = singleHeader(headers[KEY_HEADER]);
  const scopeList = singleHeader(headers[SCOPES_HEADER]) ?? '';
  const scopes = new Set<Scope>();
  for (const item of scopeList.split(',')) {
    const scope = item.trim();
    if (isScope(scope)) scopes.add(scope);
  }
  return {
    accountId,
    keyId: keyId !== undefined && ID_PATTERN.test(keyId) ? keyId : null,
    scopes: [...scopes],
  };
}

/** The identity of a private request; the route guard already refused requests without one. */
export function requireIdentity(headers: IncomingHttpHeaders): Identity {
  const identity = readIdentity(headers);
  if (!identity) throw new SandboxFault('IDENTITY_MISSING', 'no caller identity was forwarded');
  return identity;
}

/**
 * The check of the shared upstream token, in constant time: both sides are hashed so that the
 * comparison length never depends on the secret's length. The expected side is hashed once
 * here, not on every request (one SHA-256 per request instead of two).
 */
export function upstreamTokenCheck(expected: string): (headers: IncomingHttpHeaders) => boolean {
  const want = sha256(expected);
  return (headers) => {
    const given = singleHeader(headers[UPSTREAM_TOKEN_HEADER]);
    return given !== undefined && timingSafeEqual(sha256(given), want);
  };
}

function sha256(text: string): Buffer {
  return hash('sha256', text, 'buffer');
}

function singleHeader(value: string | string[] | undefined): string | undefined {
  if (value === undefined || Array.isArray(value)) return undefined;
  return value;
}
