import type { ControlStore } from '../ports.js';

/**
 * Last-use bookkeeping off the request path: the newest time per key is kept in memory and
 * written in one batch every `flushMs` (bounded: at most `maxKeys` pending, then it flushes).
 */
export function createLastUsedTracker(
  store: ControlStore,
  options: { flushMs: number; maxKeys: number },
) {
  let pending = new Map<string, number>();
  const flush = async (): Promise<void> => {
    if (pending.size === 0) return;
    const batch = pending;
    pending = new Map();
    await store.recordKeyUse([...batch].map(([keyId, at]) => ({ keyId, at })));
  };
  const timer = setInterval(() => {
    flush().catch(() => undefined);
  }, options.flushMs);
  timer.unref();
  return {
    record(keyId: string, at: number): void {
      pending.set(keyId, at);
      if (pending.size >= options.maxKeys) flush().catch(() => undefined);
    },
    flush,
    async close(): Promise<void> {
      clearInterval(timer);
      await flush();
    },
  };
}
