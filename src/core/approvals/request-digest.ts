/**
 * The digest an approval binds (reference §2.5 #6): SHA-256 over a canonical encoding of the
 * exact request — method, path, raw query, body bytes, key, account, action and extracted
 * parameters — so that any change to what would be executed means a new approval round.
 *
 * Encoding: a domain-separation tag, then each field as `name`, its byte length in decimal, `:`
 * and its bytes, in a fixed order. Length prefixes make the encoding injective (no field can
 * borrow bytes from its neighbour, unlike Binance's separator-less concatenation, §5.3 #3).
 * Parameters are encoded as canonical JSON (sorted keys).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { canonicalJson, type JsonValue } from '../audit/canonical-json.js';

const DOMAIN = 'portcullis.approval-request.v1';
const DIGEST_HEX = /^[0-9a-f]{64}$/;

export interface DigestableRequest {
  readonly method: string;
  readonly path: string;
  /** The raw query string as received (without `?`), or '' when there is none. */
  readonly query: string;
  readonly body: Uint8Array;
  readonly keyId: string;
  readonly accountId: string;
  readonly action: string;
  readonly params: { readonly [name: string]: JsonValue };
}

/** Lowercase hex SHA-256 of the canonical encoding. */
export function requestDigest(request: DigestableRequest): string {
  const hash = createHash('sha256');
  const field = (name: string, bytes: Uint8Array): void => {
    hash.update(`${name}${bytes.byteLength}:`);
    hash.update(bytes);
  };
  const text = (name: string, value: string): void => {
    field(name, Buffer.from(value, 'utf8'));
  };
  text('domain', DOMAIN);
  text('method', request.method);
  text('path', request.path);
  text('query', request.query);
  field('body', request.body);
  text('key', request.keyId);
  text('account', request.accountId);
  text('action', request.action);
  text('params', canonicalJson(request.params));
  return hash.digest('hex');
}

/** Constant-time comparison of two hex digests; false for anything not a SHA-256 hex digest. */
export function digestsEqual(a: string, b: string): boolean {
  if (!DIGEST_HEX.test(a) || !DIGEST_HEX.test(b)) return false;
  return timingSafeEqual(Buffer.from(a, 'hex'), Buffer.from(b, 'hex'));
}
