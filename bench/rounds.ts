/**
 * Throughput compared round by round: this machine's speed drifts by tens of percent within a
 * minute, so servers under comparison run side by side and take the same load in turn, in rounds
 * whose order alternates; each ratio is taken within a round and the figure is their median.
 */
import { runLoad, type LoadResult } from './processes.js';

/** Rounds per comparison, and each load's length (plus its warm-up). */
export const THROUGHPUT_ROUNDS = 4;
export const THROUGHPUT_LOAD = {
  path: '/api/v1/balances',
  connections: 32,
  durationMs: 2_000,
  warmupMs: 500,
};

/** The median of a non-empty list (the mean of the middle two for an even count). */
export const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** `min–max` of a list of ratios, for the table. */
export const range = (values: readonly number[]): string =>
  `${Math.min(...values).toFixed(2)}–${Math.max(...values).toFixed(2)}`;

/**
 * Loads each of `urls` in turn for THROUGHPUT_ROUNDS rounds (order reversed every other round),
 * after a one-second warm-up of each; every server's results, by name, round by round.
 */
export async function loadInRounds<Name extends string>(
  urls: Readonly<Record<Name, string>>,
  keysFile: string,
): Promise<Record<Name, LoadResult[]>> {
  const names = Object.keys(urls) as Name[];
  const results = Object.fromEntries(names.map((n) => [n, [] as LoadResult[]])) as Record<
    Name,
    LoadResult[]
  >;
  for (const name of names) {
    await runLoad({ ...THROUGHPUT_LOAD, durationMs: 1_000, url: urls[name], keysFile });
  }
  for (let i = 0; i < THROUGHPUT_ROUNDS; i++) {
    for (const name of i % 2 === 0 ? names : [...names].reverse()) {
      results[name].push(await runLoad({ ...THROUGHPUT_LOAD, url: urls[name], keysFile }));
    }
  }
  return results;
}

/** Per round, `a`'s throughput over `b`'s. */
export const roundRatios = (a: readonly LoadResult[], b: readonly LoadResult[]): number[] =>
  a.map((r, i) => r.rps / (b[i]?.rps ?? NaN));

/** The mean of a server's loads (throughput averaged, failures summed). */
export const meanLoad = (list: readonly LoadResult[]): LoadResult => ({
  ...list[list.length - 1]!,
  rps: list.reduce((sum, r) => sum + r.rps, 0) / list.length,
  failed: list.reduce((sum, r) => sum + r.failed, 0),
});
