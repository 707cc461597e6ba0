/**
 * The action index: a request only evaluates the policies whose action and environment can
 * apply. Lists are resolved once per (action, environment) and memoised, so the hot path is one
 * Map lookup; action names come from the route table, and the memo is bounded regardless.
 */
import { ENVIRONMENTS, type Environment } from '../keys/model.js';

export interface Indexable {
  /** Exact names, `family.*` or `*`; null matches every action. */
  readonly actions: readonly string[] | null;
  readonly environments: ReadonlySet<Environment> | null;
}

export interface PolicyIndex<T> {
  lookup(action: string, environment: Environment): readonly T[];
}

type PerEnvironment<T> = Readonly<Record<Environment, readonly T[]>>;

const MAX_MEMO_ENTRIES = 4096;

/** Builds the index; entries keep their order in `items`. */
export function createPolicyIndex<T extends Indexable>(items: readonly T[]): PolicyIndex<T> {
  const memo = new Map<string, PerEnvironment<T>>();
  const resolve = (action: string): PerEnvironment<T> => {
    const matching = items.filter(
      (item) => item.actions === null || item.actions.some((p) => actionMatches(p, action)),
    );
    const byEnvironment = {} as Record<Environment, readonly T[]>;
    for (const environment of ENVIRONMENTS) {
      byEnvironment[environment] = Object.freeze(
        matching.filter((item) => item.environments === null || item.environments.has(environment)),
      );
    }
    return Object.freeze(byEnvironment);
  };
  for (const item of items) {
    for (const pattern of item.actions ?? []) {
      if (!pattern.endsWith('*')) memo.set(pattern, resolve(pattern));
    }
  }
  return {
    lookup(action, environment) {
      let entry = memo.get(action);
      if (entry === undefined) {
        entry = resolve(action);
        if (memo.size < MAX_MEMO_ENTRIES) memo.set(action, entry);
      }
      return entry[environment];
    },
  };
}

/** `*` matches all; `order.*` matches `order.place` and `order.cancel.all`, not `order`. */
export function actionMatches(pattern: string, action: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('.*')) return action.startsWith(pattern.slice(0, -1));
  return pattern === action;
}
