/**
 * The data plane's key cache is bounded (`dataPlane.keyCacheSize`): a node in front of a store
 * of a million keys holds only the keys in use. Loads come from a counting stand-in for the key
 * service, so each test sees exactly which lookups reached the store.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createLocalEvents } from '../../src/app/local-events.js';
import type { ApiKey } from '../../src/core/keys/model.js';
import { createKeyCache } from '../../src/services/key-cache.js';
import type { KeyVerificationMaterial } from '../../src/services/key-service.js';

function material(id: string): KeyVerificationMaterial {
  const key: ApiKey = {
    id,
    accountId: 'acc_test',
    label: 'test',
    environment: 'sandbox',
    scheme: 'hmac',
    scopes: ['read'],
    ipAllowlist: [],
    hasPassphrase: false,
    status: 'active',
    createdAt: 0,
    expiresAt: null,
    revokedAt: null,
    lastUsedAt: null,
    epoch: 1,
    secretVersion: 1,
  };
  return {
    stored: { key, passphraseHash: null, publicKeyPem: null },
    secrets: [{ bytes: Buffer.from('secret'), notAfter: null }],
    publicKey: null,
  };
}

function cacheOf(maxEntries: number) {
  const loads: string[] = [];
  const events = createLocalEvents();
  const cache = createKeyCache(
    {
      keys: {
        loadVerificationMaterial: (id: string) => {
          loads.push(id);
          return Promise.resolve(material(id));
        },
      },
      events,
    },
    { maxEntries },
  );
  return { cache, loads, events };
}

describe('the key cache bound', () => {
  it('never holds more than maxEntries keys, whatever is looked up', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.integer({ min: 0, max: 30 }), { maxLength: 200 }),
        async (maxEntries, lookups) => {
          const { cache } = cacheOf(maxEntries);
          for (const n of lookups) {
            await cache.get(`pk_test_${n}`);
            expect(cache.size).toBeLessThanOrEqual(maxEntries);
          }
          cache.close();
        },
      ),
    );
  });

  it('serves a held key from memory without reaching the store', async () => {
    const { cache, loads } = cacheOf(2);
    await cache.get('pk_test_a');
    expect(cache.get('pk_test_a')).not.toBeInstanceOf(Promise);
    expect(loads).toEqual(['pk_test_a']);
  });

  it('evicts a key not used since it was loaded before one that was (second chance)', async () => {
    const { cache, loads } = cacheOf(2);
    await cache.get('pk_test_used');
    await cache.get('pk_test_idle');
    await cache.get('pk_test_used'); // a hit: marks it referenced
    await cache.get('pk_test_new'); // over the bound: one of the two older keys goes
    expect(cache.size).toBe(2);
    loads.length = 0;
    await cache.get('pk_test_used');
    expect(loads).toEqual([]);
    await cache.get('pk_test_idle');
    expect(loads).toEqual(['pk_test_idle']);
  });

  it('reloads an evicted key on its next lookup', async () => {
    const { cache, loads } = cacheOf(1);
    await cache.get('pk_test_a');
    await cache.get('pk_test_b');
    const again = await cache.get('pk_test_a');
    expect(again?.key.id).toBe('pk_test_a');
    expect(loads).toEqual(['pk_test_a', 'pk_test_b', 'pk_test_a']);
  });
});
