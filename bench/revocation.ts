/**
 * Revocation under load across nodes, shared by `npm run bench -- --cluster` (bench/cluster.ts)
 * and test/e2e/cluster/three-nodes.test.ts: client loops hammer some nodes with a key until each
 * serves it from its cache, the key is revoked through another node, and the loops run on until
 * every hammered node has refused it. The caller decides what to assert or report.
 */
import { performance } from 'node:perf_hooks';
import type { ReadAnswer } from './signed-read.js';

export interface Sent extends ReadAnswer {
  readonly sentAt: number;
  readonly doneAt: number;
}

export interface RevocationRun {
  /** One log per target, every request in the order sent (performance.now() times). */
  readonly logs: readonly (readonly Sent[])[];
  readonly revokedAt: number;
  readonly acknowledgedAt: number;
}

export interface RevocationTimes {
  /** Per target: ms from sending the revoke call to the first refusal that target answered. */
  readonly fromCallMs: number[];
  /** Per target: ms from the revocation's acknowledgement to the first refusal (0 if before). */
  readonly afterAckMs: number[];
  /**
   * Per target: how long after the acknowledgement a request could still be sent and be
   * allowed (0 if none was): the window in which the key was observed still working there.
   */
  readonly usableAfterAckMs: number[];
  /** How long the revoke call took (commit + audit + publish + answer). */
  readonly revokeCallMs: number;
}

/** Polls a condition (every few ms) until it holds; throws after `timeoutMs`. */
export async function until(condition: () => boolean, timeoutMs: number, what: string) {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** One client loop: reads one after the other until told to stop. */
async function hammer(read: () => Promise<ReadAnswer>, stopped: () => boolean, log: Sent[]) {
  while (!stopped()) {
    const sentAt = performance.now();
    const answer = await read();
    log.push({ sentAt, doneAt: performance.now(), status: answer.status, code: answer.code });
  }
}

/**
 * Hammers every target (`loopsPerTarget` loops each) until each has served the key `warmReads`
 * times (so it is in their caches and only an event can revoke it there), calls `revoke` (which
 * must answer 200), and waits until every target has answered KEY_REVOKED.
 */
export async function revokeUnderLoad(options: {
  readonly targets: readonly (() => Promise<ReadAnswer>)[];
  readonly revoke: () => Promise<number>;
  readonly loopsPerTarget?: number;
  readonly warmReads?: number;
  readonly timeoutMs?: number;
}): Promise<RevocationRun> {
  const logs: Sent[][] = options.targets.map(() => []);
  let stop = false;
  const loops = options.targets.flatMap((read, n) =>
    Array.from({ length: options.loopsPerTarget ?? 2 }, () =>
      hammer(read, () => stop, logs[n] as Sent[]),
    ),
  );
  try {
    const warmReads = options.warmReads ?? 3;
    await until(
      () => logs.every((log) => log.filter((s) => s.status === 200).length >= warmReads),
      20_000,
      'every target to serve the key',
    );
    const revokedAt = performance.now();
    const status = await options.revoke();
    const acknowledgedAt = performance.now();
    if (status !== 200) throw new Error(`the revoke call answered ${status}`);
    await until(
      () => logs.every((log) => log.some((s) => s.code === 'KEY_REVOKED')),
      options.timeoutMs ?? 5_000,
      'every target to refuse the revoked key',
    );
    stop = true;
    await Promise.all(loops);
    return { logs, revokedAt, acknowledgedAt };
  } finally {
    stop = true;
    await Promise.all(loops);
  }
}

/** When a target first answered KEY_REVOKED (performance.now() time). */
export const firstRefusal = (log: readonly Sent[]): number =>
  Math.min(...log.filter((s) => s.code === 'KEY_REVOKED').map((s) => s.doneAt));

/** The times of one run, per target. */
export function revocationTimes(run: RevocationRun): RevocationTimes {
  const perTarget = run.logs.map((log) => ({
    refusedAt: firstRefusal(log),
    lastAllowedSent: Math.max(...log.filter((s) => s.status === 200).map((s) => s.sentAt)),
  }));
  return {
    fromCallMs: perTarget.map((t) => t.refusedAt - run.revokedAt),
    afterAckMs: perTarget.map((t) => Math.max(0, t.refusedAt - run.acknowledgedAt)),
    usableAfterAckMs: perTarget.map((t) => Math.max(0, t.lastAllowedSent - run.acknowledgedAt)),
    revokeCallMs: run.acknowledgedAt - run.revokedAt,
  };
}

/** Percentile (nearest rank) of a non-empty list. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}
