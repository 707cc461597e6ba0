import { sign as signBytes, type KeyObject } from 'node:crypto';
import { PortcullisError } from '../../errors.js';
import { contentDigest, type DigestAlgorithm } from './content-digest.js';
import { KEY_ID_PATTERN, MAX_TIMESTAMP_SECONDS, NONCE_PATTERN } from './native-profile.js';
import {
  buildSignatureBase,
  isCoverableHeaderName,
  serializeSignatureParams,
  type SignatureParamValue,
} from './signature-base.js';
import { hmacSha256 } from '../verify-bytes.js';

/** The label the signer uses; the verifier accepts any single label. */
export const NATIVE_SIGNATURE_LABEL = 'sig1';

interface SignNativeCommon {
  readonly method: string;
  /** Raw path exactly as it will be sent (already percent-encoded). */
  readonly path: string;
  /** Raw query without `?`, exactly as it will be sent; null when the URL has no `?`. */
  readonly rawQuery: string | null;
  /** The body bytes as they will be sent (a string is sent as UTF-8). */
  readonly body?: Buffer | string;
  /** Further header fields to cover, with the values that will be sent (e.g. content-type). */
  readonly headers?: Readonly<Record<string, string>>;
  readonly keyId: string;
  /** Signing time in Unix seconds (use the server-synchronised clock). */
  readonly createdSeconds: number;
  /** Optional end of validity in Unix seconds; must be after `createdSeconds`. */
  readonly expiresSeconds?: number;
  /** Unique per request: 16..128 characters of [A-Za-z0-9_-]. */
  readonly nonce: string;
  readonly digestAlg?: DigestAlgorithm;
}

export type SignNativeInput = SignNativeCommon &
  (
    | { readonly secret: string; readonly privateKey?: undefined }
    | { readonly privateKey: KeyObject; readonly secret?: undefined }
  );

/** The fields to add to the request. */
export interface NativeSignatureHeaders {
  readonly 'signature-input': string;
  readonly signature: string;
  readonly 'content-digest'?: string;
}

/**
 * Signs a request with the native profile (docs/signing-native.md): covers `@method`, `@path`,
 * `@query` when there is a query, the given headers, and `content-digest` when there is a body.
 * Pure: time and nonce come from the caller. Throws VALIDATION_FAILED on unusable input.
 */
export function signNativeRequest(input: SignNativeInput): NativeSignatureHeaders {
  checkInput(input);
  const body = typeof input.body === 'string' ? Buffer.from(input.body) : (input.body ?? EMPTY);
  const headers: Record<string, string> = {};
  const components = ['@method', '@path'];
  if (input.rawQuery !== null) components.push('@query');
  for (const [name, value] of Object.entries(input.headers ?? {})) {
    const lower = name.toLowerCase();
    if (!isCoverableHeaderName(lower) || lower === 'content-digest' || lower in headers) {
      throw invalid(`header "${lower}" cannot be covered`);
    }
    headers[lower] = value;
    components.push(lower);
  }
  let digest: string | undefined;
  if (body.length > 0) {
    digest = contentDigest(body, input.digestAlg ?? 'sha-256');
    headers['content-digest'] = digest;
    components.push('content-digest');
  }
  const alg = input.secret === undefined ? 'ed25519' : 'hmac-sha256';
  const params: [string, SignatureParamValue][] = [['created', input.createdSeconds]];
  if (input.expiresSeconds !== undefined) params.push(['expires', input.expiresSeconds]);
  params.push(['keyid', input.keyId], ['alg', alg], ['nonce', input.nonce]);
  const signatureParams = serializeSignatureParams(components, params);
  const request = {
    method: input.method,
    path: input.path,
    rawQuery: input.rawQuery,
    headers,
    body,
  };
  const base = buildSignatureBase(request, components, signatureParams);
  if (!base.ok) throw invalid('method, path, query or a header value is not printable ASCII');
  const signature =
    input.secret === undefined
      ? signBytes(null, Buffer.from(base.base), input.privateKey)
      : hmacSha256(Buffer.from(input.secret, 'utf8'), base.base);
  const label = NATIVE_SIGNATURE_LABEL;
  const out = {
    'signature-input': `${label}=${signatureParams}`,
    signature: `${label}=:${signature.toString('base64')}:`,
  };
  return digest === undefined ? out : { ...out, 'content-digest': digest };
}

const EMPTY = Buffer.alloc(0);

function checkInput(input: SignNativeInput): void {
  if (!KEY_ID_PATTERN.test(input.keyId)) throw invalid('keyId is not a valid key id');
  if (!NONCE_PATTERN.test(input.nonce)) {
    throw invalid('nonce must be 16..128 characters of [A-Za-z0-9_-]');
  }
  if (!isSeconds(input.createdSeconds)) throw invalid('createdSeconds must be Unix seconds');
  const expires = input.expiresSeconds;
  if (expires !== undefined && (!isSeconds(expires) || expires <= input.createdSeconds)) {
    throw invalid('expiresSeconds must be Unix seconds after createdSeconds');
  }
  const key = input.privateKey;
  if (key !== undefined && (key.type !== 'private' || key.asymmetricKeyType !== 'ed25519')) {
    throw invalid('privateKey must be an Ed25519 private key');
  }
}

function isSeconds(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0 && value <= MAX_TIMESTAMP_SECONDS;
}

function invalid(message: string): PortcullisError {
  // Messages name the field, never its value: the secret or key must not leak into a log.
  return new PortcullisError('VALIDATION_FAILED', `signNativeRequest: ${message}`);
}
