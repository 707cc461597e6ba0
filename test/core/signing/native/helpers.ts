import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import {
  signNativeRequest,
  type SignNativeInput,
} from '../../../../src/core/signing/native/index.js';
import type { SignedRequest, VerifierKey } from '../../../../src/core/signing/types.js';

export const SECRET = 'sk_test_Q2hlY2tpbmcgdGhlIG5hdGl2ZSBzY2hlbWU';
export const KEY_ID = 'pk_test_0123456789abcdef';
export const NONCE = 'n0nce_AbCdEfGhIjKl';
export const CREATED_SECONDS = 1_700_000_000;
export const NOW_MS = CREATED_SECONDS * 1000;
export const WINDOW = { pastMs: 5_000, futureMs: 1_000 } as const;

// One key pair for the whole suite: generation is the slow part of Ed25519.
const pair = generateKeyPairSync('ed25519');
export const ED25519_PRIVATE: KeyObject = pair.privateKey;
export const ED25519_PUBLIC: KeyObject = pair.publicKey;

export const HMAC_KEY: VerifierKey = { scheme: 'hmac', secrets: [Buffer.from(SECRET, 'utf8')] };
export const ED25519_KEY: VerifierKey = { scheme: 'ed25519', publicKey: ED25519_PUBLIC };

export interface RequestShape {
  readonly method?: string;
  readonly path?: string;
  readonly rawQuery?: string | null;
  readonly body?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

type Overrides = Partial<
  Omit<
    SignNativeInput,
    'secret' | 'privateKey' | 'method' | 'path' | 'rawQuery' | 'body' | 'headers'
  >
>;

/** A request signed by `signNativeRequest` with the test HMAC secret or Ed25519 key. */
export function signedRequest(
  shape: RequestShape = {},
  alg: 'hmac-sha256' | 'ed25519' = 'hmac-sha256',
  overrides: Overrides = {},
): SignedRequest {
  const method = shape.method ?? 'POST';
  const path = shape.path ?? '/api/v1/order';
  const rawQuery = shape.rawQuery === undefined ? null : shape.rawQuery;
  const body = Buffer.from(shape.body ?? '');
  const covered = shape.headers ?? {};
  const common = {
    method,
    path,
    rawQuery,
    body,
    headers: covered,
    keyId: KEY_ID,
    createdSeconds: CREATED_SECONDS,
    nonce: NONCE,
    ...overrides,
  };
  const signed =
    alg === 'hmac-sha256'
      ? signNativeRequest({ ...common, secret: SECRET })
      : signNativeRequest({ ...common, privateKey: ED25519_PRIVATE });
  return {
    method,
    path,
    rawQuery,
    body,
    headers: { host: 'api.example.com', ...covered, ...signed },
  };
}

/** The same request with some headers replaced (undefined removes one). */
export function withHeaders(
  request: SignedRequest,
  headers: Readonly<Record<string, string | string[] | undefined>>,
): SignedRequest {
  return { ...request, headers: { ...request.headers, ...headers } };
}

/** Signature-Input with its text edited. */
export function editInput(request: SignedRequest, edit: (value: string) => string): SignedRequest {
  const value = request.headers['signature-input'];
  if (typeof value !== 'string') throw new Error('no signature-input');
  return withHeaders(request, { 'signature-input': edit(value) });
}
