/**
 * The floor verifier (bench/floor.ts) is a lower bound for the pipeline only if it really
 * verifies: it must accept the bench's signed orders and refuse every one it cannot verify.
 */
import { describe, expect, it } from 'vitest';
import { createFloorVerifier } from '../../bench/floor.js';
import { nativeOrderRequest, type BenchKey } from '../../bench/fixtures.js';
import type { PipelineRequest } from '../../src/core/pipeline.js';

const NOW = 1_796_000_000_000;
const KEYS: BenchKey[] = [
  { id: 'pk_test_floorA', secret: 'psk_floor_secret_a_0123456789' },
  { id: 'pk_test_floorB', secret: 'psk_floor_secret_b_0123456789' },
];
const WINDOW = { pastMs: 5000, futureMs: 1000 };

const withHeader = (request: PipelineRequest, name: string, value: string): PipelineRequest => ({
  ...request,
  headers: { ...request.headers, [name]: value },
});

/** The same request with one character of a header value changed. */
const flipped = (request: PipelineRequest, name: string, at: number): PipelineRequest => {
  const value = request.headers[name] as string;
  const index = at < 0 ? value.length + at : at;
  const swapped = value[index] === 'A' ? 'B' : 'A';
  return withHeader(request, name, value.slice(0, index) + swapped + value.slice(index + 1));
};

describe('the floor verifier of the pipeline benchmark', () => {
  it('accepts signed orders of every key it knows, each nonce once', () => {
    const verify = createFloorVerifier(KEYS, WINDOW);
    const first = nativeOrderRequest(KEYS[0]!, NOW, 1);
    expect(verify(first)).toBe(true);
    expect(verify(nativeOrderRequest(KEYS[1]!, NOW, 2))).toBe(true);
    expect(verify(first)).toBe(false); // replayed
  });

  it('refuses a changed body, path, method, signature or signed parameter', () => {
    const verify = createFloorVerifier(KEYS, WINDOW);
    const request = () => nativeOrderRequest(KEYS[0]!, NOW, 3);
    const body = Buffer.from(request().body);
    body.writeUInt8(body.readUInt8(body.length - 3) ^ 1, body.length - 3);
    expect(verify({ ...request(), body })).toBe(false);
    expect(verify({ ...request(), path: '/api/v1/withdrawals' })).toBe(false);
    expect(verify({ ...request(), method: 'PUT' })).toBe(false);
    expect(verify(flipped(request(), 'signature', -4))).toBe(false);
    expect(verify(flipped(request(), 'signature-input', -3))).toBe(false); // in the nonce
    expect(verify(flipped(request(), 'content-digest', 12))).toBe(false);
  });

  it('refuses an unknown key, a key signing for another, and a stale or missing created', () => {
    const verify = createFloorVerifier(KEYS, WINDOW);
    const stranger = { id: 'pk_test_stranger', secret: KEYS[0]!.secret };
    expect(verify(nativeOrderRequest(stranger, NOW, 4))).toBe(false);
    const other = nativeOrderRequest({ id: KEYS[1]!.id, secret: KEYS[0]!.secret }, NOW, 5);
    expect(verify(other)).toBe(false);
    expect(verify({ ...nativeOrderRequest(KEYS[0]!, NOW, 6), nowMs: NOW + 10_000 })).toBe(false);
    expect(verify({ ...nativeOrderRequest(KEYS[0]!, NOW, 7), nowMs: NOW - 10_000 })).toBe(false);
    const request = nativeOrderRequest(KEYS[0]!, NOW, 8);
    const input = (request.headers['signature-input'] as string).replace(/created=\d+;/, '');
    expect(verify(withHeader(request, 'signature-input', input))).toBe(false);
  });
});
