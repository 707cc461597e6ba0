/**
 * Shared refusal windows in one process (core/limits/bans.ts addRefusals): the reference the
 * Redis adapter is held to by the contract suite, and the store of nodes that share a process
 * (tests). Bounded: at most `maxWindows` open windows; at the bound, windows whose time is over
 * are dropped first, then the oldest opened.
 */
import type { Environment } from '../../core/keys/model.js';
import {
  addRefusals,
  type SharedRefusals,
  type SharedRefusalWindow,
} from '../../core/limits/bans.js';

export function createMemorySharedRefusals(options: { maxWindows?: number } = {}): SharedRefusals {
  const maxWindows = options.maxWindows ?? 100_000;
  const windows = new Map<string, SharedRefusalWindow & { readonly endMs: number }>();

  function makeRoom(nowMs: number): void {
    for (const [name, window] of windows) if (window.endMs <= nowMs) windows.delete(name);
    for (const name of windows.keys()) {
      if (windows.size < maxWindows) return;
      windows.delete(name);
    }
  }

  return {
    add(environment: Environment, counts, nowMs, policy) {
      const offences: string[] = [];
      for (const [prefix, count] of counts) {
        const name = `${environment}\u0000${prefix}`;
        const added = addRefusals(windows.get(name), count, nowMs, policy);
        if (added.window === undefined) {
          windows.delete(name);
        } else {
          if (!windows.has(name) && windows.size >= maxWindows) makeRoom(nowMs);
          windows.set(name, {
            ...added.window,
            endMs: added.window.startMs + policy.refusalWindowMs,
          });
        }
        if (added.offence) offences.push(prefix);
      }
      return Promise.resolve(offences);
    },
  };
}
