/**
 * The replay guard port: remembers request ids (a nonce or a signature) for as long as a replay
 * could still pass the time-window check, and refuses the second sighting.
 */
import { hash } from 'node:crypto';

/**
 * `fresh`: not seen within its ttl, and now recorded. `replayed`: seen, refuse the request.
 * `unavailable`: the guard cannot prove the id is new (store unreachable, memory bound reached);
 * the pipeline must refuse with REPLAY_CHECK_UNAVAILABLE — failing open would allow replays.
 */
export type ReplayVerdict = 'fresh' | 'replayed' | 'unavailable';

export interface ReplayGuard {
  /**
   * Records `id` for `ttlMs` milliseconds unless it is already recorded; atomic, so of many
   * concurrent calls with one id exactly one answers `fresh`. `ttlMs` must be a positive number of
   * at most MAX_REPLAY_TTL_MS; anything else is a programming error and throws a RangeError.
   */
  remember(id: string, ttlMs: number): ReplayVerdict | Promise<ReplayVerdict>;
}

/** A day: far beyond any signing window, small enough that time arithmetic stays exact. */
export const MAX_REPLAY_TTL_MS = 86_400_000;

/** Ids longer than this are stored as a SHA-256 digest (an Ed25519 signature alone is 88 chars). */
export const MAX_PLAIN_REPLAY_KEY_LENGTH = 96;

/**
 * The stored id of one request: scoped by key id so two keys never collide, injective (the key
 * id's length is written first, so `a:b`+`c` and `a`+`b:c` differ), and bounded in length —
 * long ids become `h.` + base64url SHA-256, a prefix no plain id can carry.
 */
export function replayKey(keyId: string, replayId: string): string {
  const plain = `r.${keyId.length}.${keyId}.${replayId}`;
  if (plain.length <= MAX_PLAIN_REPLAY_KEY_LENGTH) return plain;
  return `h.${hash('sha256', plain, 'base64url')}`;
}

/** Whole milliseconds of a ttl, or a RangeError for values no caller should pass. */
export function checkedTtlMs(ttlMs: number): number {
  const whole = Math.ceil(ttlMs);
  if (!(whole >= 1 && whole <= MAX_REPLAY_TTL_MS)) {
    throw new RangeError(`replay ttl must be between 1 and ${MAX_REPLAY_TTL_MS} ms`);
  }
  return whole;
}
