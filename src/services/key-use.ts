/**
 * Each key's last use — time and client IP — tracked cheaply (issue 8, key governance): the data
 * plane's allowed requests are noted off the request path (observability's batch), kept in a
 * bounded map and written to the store at most once per `flushMs`. The admin API shows the IP
 * as `lastUsedIp` (the time, `lastUsedAt`, is the control store's).
 */
export interface KeyUse {
  readonly at: number;
  readonly ip: string;
}

/** Where last uses are kept across restarts (SQLite beside the traffic log). */
export interface KeyUseStore {
  write(uses: readonly (KeyUse & { readonly keyId: string })[]): void;
  read(keyId: string): KeyUse | undefined;
}

export interface KeyUseTracker {
  /** Notes an allowed request of `keyId` (called off the request path). */
  note(keyId: string, at: number, ip: string): void;
  /** The newest known use of the key; undefined when it was never used (or not on this node). */
  lastUse(keyId: string): KeyUse | undefined;
  /** Writes what is pending now. */
  flush(): void;
}

/** Creates the tracker; without a store, uses are kept in memory only (per node). */
export function createKeyUseTracker(
  deps: { store?: KeyUseStore; now: () => number; onError?: (error: unknown) => void },
  options: { flushMs: number; maxKeys: number },
): KeyUseTracker {
  const recent = new Map<string, KeyUse>();
  let pending = new Map<string, KeyUse>();
  let lastFlushMs = deps.now();

  function flush(): void {
    lastFlushMs = deps.now();
    if (pending.size === 0 || deps.store === undefined) return;
    const batch = [...pending].map(([keyId, use]) => ({ keyId, ...use }));
    pending = new Map();
    try {
      deps.store.write(batch);
    } catch (error) {
      deps.onError?.(error);
    }
  }

  return {
    note(keyId, at, ip) {
      const previous = recent.get(keyId);
      if (previous !== undefined && previous.at > at) return;
      // Bounded: past maxKeys the in-memory view starts over; the store still has every key.
      if (previous === undefined && recent.size >= options.maxKeys) recent.clear();
      const use = { at, ip };
      recent.set(keyId, use);
      pending.set(keyId, use);
      if (pending.size >= options.maxKeys || deps.now() - lastFlushMs >= options.flushMs) flush();
    },
    lastUse(keyId) {
      const known = recent.get(keyId);
      if (known !== undefined) return known;
      try {
        return deps.store?.read(keyId);
      } catch (error) {
        deps.onError?.(error);
        return undefined;
      }
    },
    flush,
  };
}
