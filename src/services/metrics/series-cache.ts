/**
 * Bounded cache of labelled children of one prom-client metric. Looking a child up by a joined
 * string is cheaper than `metric.labels(...)` on every request, and the bound is a last line
 * of defence against an unbounded label value: beyond `maxSeries` every new combination is
 * recorded under the label value `_other` instead of growing the scrape without limit.
 */
export const OVERFLOW_LABEL = '_other';

export interface SeriesCache<C> {
  get(values: readonly string[]): C;
  readonly size: number;
}

/** `child(values)` creates the child for one combination (e.g. `metric.labels(...values)`). */
export function createSeriesCache<C>(
  child: (values: readonly string[]) => C,
  maxSeries: number,
): SeriesCache<C> {
  const children = new Map<string, C>();
  let overflow: C | undefined;
  return {
    get(values) {
      const id = values.join('\u0000');
      const found = children.get(id);
      if (found !== undefined) return found;
      if (children.size >= maxSeries) {
        overflow ??= child(values.map(() => OVERFLOW_LABEL));
        return overflow;
      }
      const created = child(values);
      children.set(id, created);
      return created;
    },
    get size() {
      return children.size;
    },
  };
}
