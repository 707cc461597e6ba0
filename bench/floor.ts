/**
 * The floor under `pipeline_to_hmac`: the least work a signed native order needs, timed on the
 * same fresh batches as the pipeline, so that the ratio's target can be read against what is
 * possible at all in this runtime.
 *
 * The floor verifier does only what no implementation of the scheme can skip: read the three
 * signature headers, find `keyid`, `created` and `nonce` by position, check the window, find
 * the key's secret in a Map, hash the body and compare the Content-Digest, build the signature
 * base by concatenation, compute one HMAC and compare it in constant time, and record the nonce
 * in a Set. It does NOT parse the structured fields strictly, check the profile's required
 * components and parameters, refuse duplicate JSON keys or query parameters, match a route,
 * read the key's state, environment, expiry, scopes or IP allowlist, bound or expire its nonces,
 * or build a Decision: everything issue 3 requires on top. It refuses what it cannot verify
 * (a changed byte of what is signed, an unknown key, a replay), so it is a verifier, but a lax
 * one: a bench figure, never a code path of the gateway.
 */
import { createHmac, hash } from 'node:crypto';
import type { PipelineRequest } from '../src/core/pipeline.js';
import type { BenchKey } from './fixtures.js';

/** Accepts a request the way the floor can (see above); false for anything it cannot verify. */
export type FloorVerifier = (request: PipelineRequest) => boolean;

const header = (request: PipelineRequest, name: string): string => {
  const value = request.headers[name];
  return typeof value === 'string' ? value : '';
};

/** The value of `name="…"` (or `name=…;` when `quoted` is false) in a Signature-Input. */
function param(input: string, name: string, quoted: boolean): string | undefined {
  const at = input.indexOf(quoted ? `${name}="` : `${name}=`);
  if (at < 0) return undefined;
  const start = at + name.length + (quoted ? 2 : 1);
  const end = input.indexOf(quoted ? '"' : ';', start);
  return end < 0 ? undefined : input.slice(start, end);
}

/** A floor verifier over `keys` (hmac), for a window of `pastMs` before and `futureMs` after now. */
export function createFloorVerifier(
  keys: readonly BenchKey[],
  window: { readonly pastMs: number; readonly futureMs: number },
): FloorVerifier {
  const secrets = new Map(keys.map((key) => [key.id, Buffer.from(key.secret, 'utf8')]));
  const seen = new Set<string>();
  return (request) => {
    const input = header(request, 'signature-input');
    const signature = header(request, 'signature');
    const digest = header(request, 'content-digest');
    const keyId = param(input, 'keyid', true);
    const nonce = param(input, 'nonce', true);
    const createdMs = Number(param(input, 'created', false)) * 1000;
    if (keyId === undefined || nonce === undefined) return false;
    if (!(
      createdMs >= request.nowMs - window.pastMs && createdMs <= request.nowMs + window.futureMs
    ))
      return false;
    const secret = secrets.get(keyId);
    if (secret === undefined) return false;
    if (!digest.startsWith('sha-256=:')) return false;
    if (hash('sha256', request.body, 'base64') !== digest.slice(9, -1)) return false;
    const base =
      `"@method": ${request.method}\n"@path": ${request.path}\n"content-digest": ${digest}\n` +
      `"@signature-params": ${input.slice(input.indexOf('=') + 1)}`;
    const expected = createHmac('sha256', secret).update(base).digest('base64');
    const provided = signature.slice(signature.indexOf(':') + 1, -1);
    if (provided.length !== expected.length) return false;
    let difference = 0;
    for (let i = 0; i < expected.length; i++)
      difference |= expected.charCodeAt(i) ^ provided.charCodeAt(i);
    if (difference !== 0) return false;
    const id = `${keyId}:${nonce}`;
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  };
}

/**
 * The floor's cost over fresh batches (as pipelineNsPerOp: best round, wall time); every request
 * must be accepted, or the figure would time a refusal.
 */
export function floorNsPerOp(
  verify: FloorVerifier,
  makeBatch: (round: number) => readonly PipelineRequest[],
  rounds = 12,
): number {
  let best = Infinity;
  for (let round = 0; round < rounds; round++) {
    const batch = makeBatch(round);
    const start = process.hrtime.bigint();
    for (const request of batch) {
      if (!verify(request)) throw new Error('bench request refused by the floor verifier');
    }
    best = Math.min(best, Number(process.hrtime.bigint() - start) / batch.length);
  }
  return best;
}
