/**
 * Composition of the integrations (docs/integrations.md): the check listener for nginx and
 * Envoy over the data planes' own authorities, and the key lookup of an embedded instance that
 * re-reads a cached key after a bounded interval — an embedded instance runs in another process
 * than the admin API, so the in-process change events of a single SQLite node never reach it.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { Clock } from '../core/clock.js';
import { createClientIpResolver } from '../core/net/client-ip.js';
import type { CachedKey, KeyLookup } from '../core/pipeline.js';
import { buildCheckApp } from '../server/check/build-check-app.js';
import type { KeyCache } from '../services/key-cache.js';
import type { PlaneAuthority } from './data-planes.js';

export interface CheckListener {
  readonly app: ReturnType<typeof buildCheckApp>;
  /** Listens on `check.listen`; resolves the URL. */
  listen(): Promise<string>;
}

/** The check listener over every enabled environment's authority. */
export function createCheckListener(
  config: Config,
  deps: { authorities: ReadonlyMap<string, PlaneAuthority>; clock: Clock; logger: Logger },
): CheckListener {
  const app = buildCheckApp(
    {
      authorities: deps.authorities,
      clientIp: createClientIpResolver({ trustedProxies: config.check.trustedProxies }),
      clock: deps.clock,
    },
    { bodyLimitBytes: config.dataPlane.bodyLimitBytes, logger: deps.logger.child({ check: true }) },
  );
  return {
    app,
    listen: () => app.listen({ host: config.check.listen.host, port: config.check.listen.port }),
  };
}

export interface EmbeddedKeys extends KeyLookup {
  readonly size: number;
  close(): void;
}

/**
 * The key cache with a freshness bound: a key validated more than `intervalMs` ago is dropped
 * and re-read from the store on its next request, so a revocation or rotation made by another
 * process reaches this one within `intervalMs` (0: every request reads the store). The hot path
 * is one Map lookup and a comparison.
 */
export function createEmbeddedKeys(
  cache: KeyCache,
  clock: Clock,
  intervalMs: number,
): EmbeddedKeys {
  const validatedAt = new Map<string, number>();
  // Bounded like the cache: beyond that many keys the bookkeeping restarts (every key re-read).
  const maxTracked = 100_000;
  return {
    get(keyId): CachedKey | undefined | Promise<CachedKey | undefined> {
      const now = clock.now();
      const at = validatedAt.get(keyId);
      if (at === undefined || now - at >= intervalMs) {
        cache.invalidate(keyId);
        if (validatedAt.size >= maxTracked) validatedAt.clear();
        validatedAt.set(keyId, now);
      }
      return cache.get(keyId);
    },
    get size() {
      return cache.size;
    },
    close() {
      validatedAt.clear();
    },
  };
}
