/**
 * Mutations of validly signed native requests, shared by the property test and the long fuzz
 * run (`npm run fuzz`): whatever single byte of a signed part changes, verification must fail.
 */
import fc from 'fast-check';
import { nativeScheme, signNativeRequest } from '../../../../src/core/signing/native/index.js';
import type { SignedRequest, VerifierKey } from '../../../../src/core/signing/types.js';
import { ED25519_KEY, ED25519_PRIVATE, HMAC_KEY, KEY_ID, SECRET } from './helpers.js';

export interface SignedCase {
  readonly alg: 'hmac-sha256' | 'ed25519';
  readonly request: SignedRequest;
}

export const MUTATION_TARGETS = [
  'method',
  'path',
  'query',
  'header',
  'body',
  'signature',
  'nonce',
  'created',
] as const;
export type MutationTarget = (typeof MUTATION_TARGETS)[number];

export interface Mutation {
  readonly target: MutationTarget;
  /** Which position (modulo the length of the target). */
  readonly position: number;
  /** Picks the replacement (always different from the original). */
  readonly pick: number;
}

const COVERED_HEADERS = ['content-type', 'x-client-order-id', 'content-digest'] as const;
const PRINTABLE = charRange(0x21, 0x7e);
const NONCE_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-';
const DIGITS = '0123456789';

/** A request signed with the test HMAC secret or Ed25519 key, of varied shape. */
export const arbitrarySignedCase: fc.Arbitrary<SignedCase> = fc
  .record({
    alg: fc.constantFrom('hmac-sha256' as const, 'ed25519' as const),
    method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH'),
    path: fc.stringMatching(/^\/[A-Za-z0-9/_.~%-]{0,40}$/),
    rawQuery: fc.option(fc.stringMatching(/^[A-Za-z0-9=&%._~-]{0,60}$/), { nil: null }),
    body: fc.uint8Array({ maxLength: 200 }),
    contentType: fc.constantFrom('application/json', 'application/x-www-form-urlencoded'),
    clientOrderId: fc.stringMatching(/^[\x21-\x7e]{1,30}$/),
    createdSeconds: fc.integer({ min: 1_600_000_000, max: 2_000_000_000 }),
    nonce: fc.stringMatching(/^[A-Za-z0-9_-]{16,40}$/),
    digestAlg: fc.constantFrom('sha-256' as const, 'sha-512' as const),
  })
  .map((v) => {
    const body = Buffer.from(v.body);
    const headers = { 'content-type': v.contentType, 'x-client-order-id': v.clientOrderId };
    const common = {
      method: v.method,
      path: v.path,
      rawQuery: v.rawQuery,
      body,
      headers,
      keyId: KEY_ID,
      createdSeconds: v.createdSeconds,
      nonce: v.nonce,
      digestAlg: v.digestAlg,
    };
    const signed =
      v.alg === 'hmac-sha256'
        ? signNativeRequest({ ...common, secret: SECRET })
        : signNativeRequest({ ...common, privateKey: ED25519_PRIVATE });
    const request: SignedRequest = {
      method: v.method,
      path: v.path,
      rawQuery: v.rawQuery,
      body,
      headers: { host: 'api.example.com', ...headers, ...signed },
    };
    return { alg: v.alg, request };
  });

export const arbitraryMutation: fc.Arbitrary<Mutation> = fc.record({
  target: fc.constantFrom(...MUTATION_TARGETS),
  position: fc.nat(),
  pick: fc.nat(),
});

/** The key that verifies a case. */
export function keyFor(signed: SignedCase): VerifierKey {
  return signed.alg === 'hmac-sha256' ? HMAC_KEY : ED25519_KEY;
}

/** Whether the native scheme accepts the request's signature (time window aside). */
export function acceptsNative(request: SignedRequest, key: VerifierKey): boolean {
  const parsed = nativeScheme.parse(request);
  return parsed.ok && nativeScheme.verify(parsed.credential, request, key) >= 0;
}

/** Applies one mutation; the result always differs from the input. */
export function applyMutation(signed: SignedCase, m: Mutation): SignedRequest {
  const r = signed.request;
  switch (m.target) {
    case 'method':
      return { ...r, method: replaceChar(r.method, m, PRINTABLE) };
    case 'path':
      return { ...r, path: replaceChar(r.path, m, PRINTABLE) };
    case 'query':
      // No query at all → an empty one: "/p?" is another target than "/p".
      return { ...r, rawQuery: r.rawQuery === null ? '' : replaceChar(r.rawQuery, m, PRINTABLE) };
    case 'header': {
      const present = COVERED_HEADERS.filter((name) => typeof r.headers[name] === 'string');
      const name = present[m.pick % present.length] ?? 'content-type';
      return withHeader(r, name, replaceChar(headerText(r, name), m, PRINTABLE));
    }
    case 'body':
      return { ...r, body: mutateBytes(r.body, m) };
    case 'signature': {
      const value = headerText(r, 'signature');
      const start = value.indexOf('=:') + 2;
      return withHeader(
        r,
        'signature',
        replaceWithin(value, start, value.length - 1, m, PRINTABLE),
      );
    }
    case 'nonce':
      return mutateParam(r, /nonce="([^"]*)"/, m, NONCE_CHARS);
    case 'created':
      return mutateParam(r, /created=(\d+)/, m, DIGITS);
  }
}

/** Whether two requests differ in any part (a mutation must change its input). */
export function requestsDiffer(a: SignedRequest, b: SignedRequest): boolean {
  return (
    a.method !== b.method ||
    a.path !== b.path ||
    a.rawQuery !== b.rawQuery ||
    !a.body.equals(b.body) ||
    JSON.stringify(a.headers) !== JSON.stringify(b.headers)
  );
}

/** The property: a mutated signed request is never accepted. */
export function nativeMutationProperty(): fc.IPropertyWithHooks<[SignedCase, Mutation]> {
  return fc.property(arbitrarySignedCase, arbitraryMutation, (signed, mutation) => {
    const mutated = applyMutation(signed, mutation);
    if (!requestsDiffer(signed.request, mutated)) throw new Error('mutation changed nothing');
    return !acceptsNative(mutated, keyFor(signed));
  });
}

function mutateParam(r: SignedRequest, pattern: RegExp, m: Mutation, alphabet: string) {
  const value = headerText(r, 'signature-input');
  const match = pattern.exec(value);
  const group = match?.[1];
  if (match === null || group === undefined) throw new Error(`no ${String(pattern)} to mutate`);
  const start = match.index + match[0].length - group.length - (match[0].endsWith('"') ? 1 : 0);
  return withHeader(
    r,
    'signature-input',
    replaceWithin(value, start, start + group.length, m, alphabet),
  );
}

function replaceChar(text: string, m: Mutation, alphabet: string): string {
  // An empty part gains a character instead.
  if (text.length === 0) return alphabet[m.pick % alphabet.length] ?? 'x';
  return replaceWithin(text, 0, text.length, m, alphabet);
}

function replaceWithin(text: string, start: number, end: number, m: Mutation, alphabet: string) {
  const at = start + (m.position % (end - start));
  const original = text[at] ?? '';
  let replacement = alphabet[m.pick % alphabet.length] ?? 'x';
  if (replacement === original) replacement = alphabet[(m.pick + 1) % alphabet.length] ?? 'x';
  return text.slice(0, at) + replacement + text.slice(at + 1);
}

function mutateBytes(body: Buffer, m: Mutation): Buffer {
  if (body.length === 0) return Buffer.from([m.pick % 256]);
  const copy = Buffer.from(body);
  const at = m.position % copy.length;
  copy[at] = (copy[at] ?? 0) ^ (1 + (m.pick % 255));
  return copy;
}

function headerText(r: SignedRequest, name: string): string {
  const value = r.headers[name];
  if (typeof value !== 'string') throw new Error(`no ${name} header`);
  return value;
}

function withHeader(r: SignedRequest, name: string, value: string): SignedRequest {
  return { ...r, headers: { ...r.headers, [name]: value } };
}

function charRange(from: number, to: number): string {
  let out = '';
  for (let c = from; c <= to; c++) out += String.fromCharCode(c);
  return out;
}
