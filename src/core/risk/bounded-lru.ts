/**
 * A Map with a size bound: reading an entry makes it the most recent, inserting beyond the bound
 * drops the least recently used one. Map keeps insertion order, so delete + set is the "touch".
 */
export interface BoundedLru<V> {
  readonly size: number;
  get(key: string): V | undefined;
  /** The entry for `key`, created with `create()` (possibly evicting the oldest) when absent. */
  getOrCreate(key: string, create: () => V): V;
  delete(key: string): void;
  keys(): IterableIterator<string>;
}

/** Creates an LRU holding at most `maxEntries` entries (at least 1). */
export function createBoundedLru<V>(maxEntries: number): BoundedLru<V> {
  const bound = Math.max(1, Math.floor(maxEntries));
  const entries = new Map<string, V>();
  const get = (key: string): V | undefined => {
    const value = entries.get(key);
    if (value === undefined) return undefined;
    entries.delete(key);
    entries.set(key, value);
    return value;
  };
  return {
    get size() {
      return entries.size;
    },
    get,
    getOrCreate(key, create) {
      const found = get(key);
      if (found !== undefined) return found;
      const value = create();
      entries.set(key, value);
      if (entries.size > bound) {
        const oldest = entries.keys().next();
        if (!oldest.done) entries.delete(oldest.value);
      }
      return value;
    },
    delete(key) {
      entries.delete(key);
    },
    keys: () => entries.keys(),
  };
}
