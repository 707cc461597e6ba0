import { createPrivateKey, randomBytes, type KeyObject } from 'node:crypto';
import { PortcullisError } from '../core/errors.js';
import { signNativeRequest } from '../core/signing/native/sign-native.js';

/** A key as the client signs with it: an HMAC secret or an Ed25519 private key. */
export type SigningKey =
  | { readonly keyId: string; readonly secret: string; readonly privateKey?: undefined }
  | { readonly keyId: string; readonly privateKey: KeyObject; readonly secret?: undefined };

/** Header fields covered by the signature when the request carries them. */
const COVERED_HEADERS = ['content-type', 'idempotency-key'] as const;

/**
 * Builds the signing key from user options: exactly one of an HMAC `secret` or an Ed25519
 * `privateKey` (a KeyObject or PEM text). Throws VALIDATION_FAILED without echoing either.
 */
export function toSigningKey(options: {
  readonly keyId: string;
  readonly secret?: string | undefined;
  readonly privateKey?: KeyObject | string | undefined;
}): SigningKey {
  const { keyId, secret, privateKey } = options;
  if ((secret === undefined) === (privateKey === undefined)) {
    throw new PortcullisError('VALIDATION_FAILED', 'Give exactly one of secret or privateKey.');
  }
  if (secret !== undefined) {
    if (secret === '') throw new PortcullisError('VALIDATION_FAILED', 'The secret is empty.');
    return { keyId, secret };
  }
  let key: KeyObject;
  try {
    key = typeof privateKey === 'string' ? createPrivateKey(privateKey) : (privateKey as KeyObject);
  } catch {
    throw new PortcullisError(
      'VALIDATION_FAILED',
      'The private key cannot be read (PEM expected).',
    );
  }
  if (key.type !== 'private' || key.asymmetricKeyType !== 'ed25519') {
    throw new PortcullisError(
      'VALIDATION_FAILED',
      'The private key is not an Ed25519 private key.',
    );
  }
  return { keyId, privateKey: key };
}

/** A fresh nonce: 128 random bits, base64url (22 characters). */
export function newNonce(): string {
  return randomBytes(16).toString('base64url');
}

/**
 * The URL a request goes to: `path` (which may carry its own `?query`) under `baseUrl`'s
 * origin and path prefix, plus `query` (a record is form-encoded in insertion order, a string
 * is taken as the raw query). Parsed once with WHATWG URL rules, which is how fetch will send
 * it, so the path and query signed are byte for byte those sent.
 */
export function resolveRequestUrl(
  baseUrl: string,
  path: string,
  query?: Readonly<Record<string, string>> | string,
): URL {
  const base = baseUrl.endsWith('/') ? baseUrl.slice(0, -1) : baseUrl;
  const queryText =
    query === undefined
      ? ''
      : typeof query === 'string'
        ? query.replace(/^\?/, '')
        : new URLSearchParams(query).toString();
  const separator = path.includes('?') ? '&' : '?';
  const suffix = queryText === '' ? '' : `${separator}${queryText}`;
  return new URL(`${base}${path.startsWith('/') ? path : `/${path}`}${suffix}`);
}

export interface SignRequestInput {
  readonly method: string;
  readonly url: URL;
  readonly body?: Buffer | undefined;
  /** Headers that will be sent; `content-type` and `idempotency-key` are covered when present. */
  readonly headers?: Readonly<Record<string, string>>;
  readonly createdSeconds: number;
  readonly nonce: string;
}

/**
 * The native signature fields for a request (docs/signing-native.md): `Signature-Input`,
 * `Signature` and, with a body, `Content-Digest`, with their canonical header names.
 */
export function signRequest(key: SigningKey, input: SignRequestInput): Record<string, string> {
  const covered: Record<string, string> = {};
  for (const [name, value] of Object.entries(input.headers ?? {})) {
    const lower = name.toLowerCase();
    if ((COVERED_HEADERS as readonly string[]).includes(lower)) covered[lower] = value.trim();
  }
  // WHATWG URL: `search` is empty both without `?` and with a bare `?`; fetch sends the latter.
  const hrefNoHash = input.url.href.replace(/#.*$/, '');
  const rawQuery =
    input.url.search !== '' ? input.url.search.slice(1) : hrefNoHash.endsWith('?') ? '' : null;
  const fields = signNativeRequest({
    method: input.method,
    path: input.url.pathname,
    rawQuery,
    headers: covered,
    keyId: key.keyId,
    createdSeconds: input.createdSeconds,
    nonce: input.nonce,
    ...(input.body !== undefined && input.body.length > 0 ? { body: input.body } : {}),
    ...(key.secret !== undefined ? { secret: key.secret } : { privateKey: key.privateKey }),
  });
  const out: Record<string, string> = {
    'Signature-Input': fields['signature-input'],
    Signature: fields.signature,
  };
  if (fields['content-digest'] !== undefined) out['Content-Digest'] = fields['content-digest'];
  return out;
}
