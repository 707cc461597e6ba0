/** Signed native GETs (fresh nonce, current time) for the bench's clients. */
import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import {
  signNativeRequest,
  type NativeSignatureHeaders,
} from '../src/core/signing/native/index.js';
import type { BenchKey } from './fixtures.js';

/** Headers of a signed native GET of `path` with `key`. */
export function signGet(key: BenchKey, path: string): NativeSignatureHeaders {
  return signNativeRequest({
    method: 'GET',
    path,
    rawQuery: null,
    keyId: key.id,
    secret: key.secret,
    createdSeconds: Math.floor(Date.now() / 1000),
    nonce: randomBytes(16).toString('base64url'),
  });
}

/** What a read answered: HTTP status and the error code of the body, if any. */
export interface ReadAnswer {
  readonly status: number;
  readonly code: string | undefined;
}

/** One signed GET of `path` (the sandbox balances by default), answered with status and code. */
export async function signedRead(
  baseUrl: string,
  key: BenchKey,
  path = '/api/v1/balances',
): Promise<ReadAnswer> {
  const response = await request(`${baseUrl}${path}`, { headers: { ...signGet(key, path) } });
  const text = await response.body.text();
  try {
    return { status: response.statusCode, code: (JSON.parse(text) as ErrorBody).error?.code };
  } catch {
    return { status: response.statusCode, code: undefined };
  }
}

interface ErrorBody {
  readonly error?: { readonly code?: string };
}
