import type { KeyObject } from 'node:crypto';
import type { ReasonCode } from '../reasons.js';

/** The signing dialects the gateway understands. */
export const DIALECTS = ['native', 'binance', 'bybit', 'okx'] as const;
export type Dialect = (typeof DIALECTS)[number];

/** Header values as Node gives them: lowercase names; repeated headers as arrays or joined. */
export type HeaderBag = Readonly<Record<string, string | string[] | undefined>>;

/**
 * A request exactly as received: signatures are verified over these bytes, never over a
 * re-serialised form.
 */
export interface SignedRequest {
  /** Method as received (upper case for well-formed requests). */
  readonly method: string;
  /** Raw path as received, without the query. */
  readonly path: string;
  /** Raw query without the leading `?`; null when the target has no `?` at all. */
  readonly rawQuery: string | null;
  readonly headers: HeaderBag;
  /** Raw body bytes; empty when there is none. */
  readonly body: Buffer;
}

/** Secret material a scheme verifies with. HMAC secrets are the UTF-8 bytes of the secret string. */
export type VerifierKey =
  | {
      readonly scheme: 'hmac';
      /** The current secret first, then older secrets still inside their rotation grace. */
      readonly secrets: readonly Buffer[];
    }
  | { readonly scheme: 'ed25519'; readonly publicKey: KeyObject };

/** The time rule of an environment for schemes that do not carry their own (native). */
export interface WindowRule {
  /** How far in the past the signed time may be. */
  readonly pastMs: number;
  /** How far in the future the signed time may be. */
  readonly futureMs: number;
}

/** What a scheme extracted from a request, before the key is known. */
export interface Credential {
  readonly dialect: Dialect;
  readonly keyId: string;
  /** The client's signing time in epoch milliseconds. */
  readonly signedAtMs: number;
  /** Unique per signed request (nonce, or the signature itself); the guard scopes it by key id. */
  readonly replayId: string;
  /** How long the replay id must be remembered: at least the whole acceptance window. */
  readonly replayTtlMs: number;
  /** The algorithm the request declares, when the scheme carries one; must match the key. */
  readonly alg?: 'hmac-sha256' | 'ed25519';
  /** OKX-style passphrase, when the scheme carries one. */
  readonly passphrase?: string;
  /** Header names (lower case) that carry credentials and are stripped before forwarding. */
  readonly credentialHeaders: readonly string[];
  /** The query to forward (credential parameters removed where the dialect puts them there). */
  readonly forwardQuery: string | null;
}

export type ParseResult<C extends Credential> =
  | { readonly ok: true; readonly credential: C }
  | { readonly ok: false; readonly reason: ReasonCode };

/**
 * One signing scheme. All functions are pure (time is passed in) and never throw on bad input:
 * they answer with a reason code.
 */
export interface SigningScheme<C extends Credential = Credential> {
  readonly dialect: Dialect;
  /** Whether the request carries this scheme's credential (by its headers). Cheap. */
  detect(request: SignedRequest): boolean;
  /** Parses and checks the credential's syntax and the request's shape (digest, duplicates …). */
  parse(request: SignedRequest): ParseResult<C>;
  /** Whether the signed time is acceptable at `nowMs`. */
  inWindow(credential: C, nowMs: number, rule: WindowRule): boolean;
  /**
   * Verifies the signature in constant time against each candidate secret. Returns the index
   * of the secret that verified (0 = current), or -1. Must do the same work for a dummy key.
   */
  verify(credential: C, request: SignedRequest, key: VerifierKey): number;
  /** The body to forward when the scheme carries credentials inside it (Binance form bodies). */
  forwardBody?(credential: C, body: Buffer): Buffer;
}
