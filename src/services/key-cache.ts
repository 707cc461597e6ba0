import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { compileAllowlist } from '../core/net/cidr.js';
import type { CachedKey, KeyLookup } from '../core/pipeline.js';
import type { VerifierKey } from '../core/signing/types.js';
import type { ChangeEvents } from '../ports.js';
import type { KeyService, KeyVerificationMaterial } from './key-service.js';
import { verifyPassphrase } from './passphrase.js';

export interface KeyCacheOptions {
  /** At most this many keys are held; the least recently used is dropped beyond it. */
  readonly maxEntries: number;
}

export interface KeyCache extends KeyLookup {
  readonly size: number;
  /** Drops one key (or all) so that the next request reloads it from the store. */
  invalidate(keyId?: string): void;
  /**
   * `false`: held entries are not trusted and every lookup reads the store (a cluster node that
   * may be missing change events); `true` (the default) serves hits from memory again.
   */
  setTrusted(trusted: boolean): void;
  stats(): { hits: number; misses: number; size: number };
  close(): void;
}

/**
 * The data plane's bounded LRU of keys in front of the store. A change event (revocation,
 * rotation, scope or allowlist change) drops the entry synchronously, before the admin API
 * answers, so the very next request reloads the key.
 */
export function createKeyCache(
  deps: { keys: Pick<KeyService, 'loadVerificationMaterial'>; events: ChangeEvents },
  options: KeyCacheOptions,
): KeyCache {
  // Second-chance (CLOCK) eviction: a hit only sets a flag, so the hot path never reorders the map.
  const entries = new Map<string, { cached: CachedKey; referenced: boolean }>();
  const inflight = new Map<string, Promise<CachedKey | undefined>>();
  // A load that started before an invalidation must not repopulate the cache with stale data.
  let generation = 0;
  let fullInvalidation = 0;
  const keyGeneration = new Map<string, number>();
  let hits = 0;
  let misses = 0;
  let trusted = true;

  const unsubscribe = deps.events.subscribe((event) => {
    if (event.type === 'key.changed') invalidate(event.keyId);
  });

  function invalidate(keyId?: string): void {
    generation += 1;
    if (keyId === undefined || keyGeneration.size >= options.maxEntries) {
      // Forgetting per-key generations is safe only as a full invalidation.
      fullInvalidation = generation;
      keyGeneration.clear();
    }
    if (keyId === undefined) {
      entries.clear();
      inflight.clear();
      return;
    }
    entries.delete(keyId);
    inflight.delete(keyId);
    keyGeneration.set(keyId, generation);
  }

  function evictBeyondBound(): void {
    // Each step either evicts the oldest entry or clears its flag and moves it to the back,
    // so the loop ends after at most one pass.
    while (entries.size > options.maxEntries) {
      const oldest = entries.entries().next();
      if (oldest.done) return;
      const [id, slot] = oldest.value;
      entries.delete(id);
      if (slot.referenced) {
        slot.referenced = false;
        entries.set(id, slot);
      }
    }
  }

  async function load(keyId: string): Promise<CachedKey | undefined> {
    const startedAt = generation;
    const material = await deps.keys.loadVerificationMaterial(keyId);
    if (!material) return undefined;
    const cached = toCachedKey(material);
    const invalidatedAt = Math.max(keyGeneration.get(keyId) ?? 0, fullInvalidation);
    if (invalidatedAt <= startedAt) {
      entries.set(keyId, { cached, referenced: false });
      evictBeyondBound();
    }
    return cached;
  }

  return {
    get(keyId) {
      const slot = trusted ? entries.get(keyId) : undefined;
      if (slot) {
        hits += 1;
        slot.referenced = true;
        return slot.cached;
      }
      misses += 1;
      let pending = inflight.get(keyId);
      if (!pending) {
        const started = load(keyId).finally(() => {
          if (inflight.get(keyId) === started) inflight.delete(keyId);
        });
        pending = started;
        inflight.set(keyId, started);
      }
      return pending;
    },
    get size() {
      return entries.size;
    },
    invalidate,
    setTrusted(next) {
      trusted = next;
    },
    stats: () => ({ hits, misses, size: entries.size }),
    close: () => {
      unsubscribe();
    },
  };
}

const PASSPHRASE_MEMO_KEY = randomBytes(32);
const memoOf = (passphrase: string): Buffer =>
  createHmac('sha256', PASSPHRASE_MEMO_KEY).update(passphrase).digest();

/** Builds the in-memory form of a key: compiled allowlist, secrets with their grace ends. */
export function toCachedKey(material: KeyVerificationMaterial): CachedKey {
  const { stored } = material;
  const secrets = material.secrets;
  let verifier: VerifierKey;
  let validUntil = Infinity;
  const rebuild = (nowMs: number): VerifierKey => {
    const live = secrets.filter((s) => s.notAfter === null || s.notAfter > nowMs);
    validUntil = Math.min(...live.map((s) => s.notAfter ?? Infinity), Infinity);
    return { scheme: 'hmac', secrets: live.map((s) => s.bytes) };
  };
  if (stored.key.scheme === 'ed25519' && material.publicKey) {
    verifier = { scheme: 'ed25519', publicKey: material.publicKey };
  } else {
    verifier = rebuild(-Infinity);
  }
  // The passphrase hash is slow (scrypt) by design; a match is remembered as a keyed digest.
  let rememberedPassphrase: Buffer | undefined;
  return {
    key: stored.key,
    allowlist: compileAllowlist(stored.key.ipAllowlist),
    verifierAt(nowMs) {
      // Only when a secret's grace has ended is the list rebuilt; otherwise no allocation.
      if (verifier.scheme === 'hmac' && nowMs >= validUntil) verifier = rebuild(nowMs);
      return verifier;
    },
    passphraseMatches(passphrase) {
      if (stored.passphraseHash === null) return false;
      const memo = memoOf(passphrase);
      if (rememberedPassphrase && timingSafeEqual(rememberedPassphrase, memo)) return true;
      if (!verifyPassphrase(passphrase, stored.passphraseHash)) return false;
      rememberedPassphrase = memo;
      return true;
    },
  };
}
