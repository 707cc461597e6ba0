/**
 * A Map with a size bound: inserting beyond the bound drops the least recently used entry. Map
 * keeps insertion order, so delete + set moves an entry to the most recent end.
 *
 * Moving costs a Map delete and insert (and the tombstones make V8 rehash now and then): on the
 * detection path that was ~1.7 µs per request for a handful of hot keys. So an entry is moved
 * only once at least ⌊bound / 2⌋ moves and inserts happened since its own. What stays exact:
 * the ⌈bound / 2⌉ + 1 most recently used keys (bound - ⌊bound / 2⌋ + 1) are never dropped, since
 * fewer than `bound` entries can have been placed after any of them (property-tested).
 */
export interface BoundedLru<V> {
  readonly size: number;
  get(key: string): V | undefined;
  /** The entry for `key`, created with `create()` (possibly evicting the oldest) when absent. */
  getOrCreate(key: string, create: () => V): V;
  delete(key: string): void;
  keys(): IterableIterator<string>;
}

interface Slot<V> {
  readonly value: V;
  /** The operation count when the entry was last placed at the most recent end. */
  placed: number;
}

/** Creates an LRU holding at most `maxEntries` entries (at least 1). */
export function createBoundedLru<V>(maxEntries: number): BoundedLru<V> {
  const bound = Math.max(1, Math.floor(maxEntries));
  const stale = Math.max(1, Math.floor(bound / 2));
  const entries = new Map<string, Slot<V>>();
  let operations = 0;
  const get = (key: string): V | undefined => {
    const slot = entries.get(key);
    if (slot === undefined) return undefined;
    if (operations - slot.placed >= stale) {
      entries.delete(key);
      entries.set(key, slot);
      slot.placed = ++operations;
    }
    return slot.value;
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
      entries.set(key, { value, placed: ++operations });
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
