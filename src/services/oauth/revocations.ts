import type { Clock } from '../../core/clock.js';
import type { ControlStore } from '../../ports.js';

/** Revoked token ids (RFC 7009). An entry matters only until the token's own expiry. */
export interface RevocationList {
  revoke(jti: string, expiresAtMs: number): Promise<void>;
  isRevoked(jti: string): Promise<boolean>;
}

/**
 * Revocations in the store's meta table, so every node of a cluster sees them on its next
 * check; this node's own revocations (and answers read from the store) are also kept in a
 * bounded in-memory map until the token expires. Rows are tiny and written only on revocation.
 */
export function createStoreRevocationList(
  deps: { store: Pick<ControlStore, 'getMeta' | 'setMeta'>; clock: Clock },
  options: { maxCached?: number } = {},
): RevocationList {
  const maxCached = options.maxCached ?? 100_000;
  const revoked = new Map<string, number>();
  const name = (jti: string) => `oauth.revoked.${jti}`;

  function remember(jti: string, expiresAtMs: number): void {
    if (revoked.size >= maxCached) {
      const nowMs = deps.clock.now();
      for (const [id, exp] of revoked) if (exp <= nowMs) revoked.delete(id);
      // Still full: forget the oldest entry (the store keeps it).
      if (revoked.size >= maxCached) {
        const oldest = revoked.keys().next();
        if (oldest.done !== true) revoked.delete(oldest.value);
      }
    }
    revoked.set(jti, expiresAtMs);
  }

  return {
    async revoke(jti, expiresAtMs) {
      remember(jti, expiresAtMs);
      await deps.store.setMeta(name(jti), String(expiresAtMs));
    },
    async isRevoked(jti) {
      if (revoked.has(jti)) return true;
      const stored = await deps.store.getMeta(name(jti));
      if (stored === undefined) return false;
      remember(jti, Number(stored));
      return true;
    },
  };
}
