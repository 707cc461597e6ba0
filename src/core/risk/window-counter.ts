/**
 * A sliding-window event counter in constant memory: the window is cut into `slots` buckets and
 * the count is the sum of the buckets still inside it. The answer covers between
 * `windowMs - windowMs/slots` and `windowMs` of history, which is precise enough for a burst
 * threshold and never grows with the event rate.
 */
export interface WindowCounter {
  readonly slotMs: number;
  readonly slotIds: Float64Array;
  readonly counts: Float64Array;
}

/** A counter over `windowMs` split into `slots` buckets. */
export function createWindowCounter(windowMs: number, slots = 12): WindowCounter {
  const n = Math.max(1, Math.floor(slots));
  return {
    slotMs: Math.max(1, Math.ceil(windowMs / n)),
    slotIds: new Float64Array(n).fill(-Infinity),
    counts: new Float64Array(n),
  };
}

/** Adds one event at `nowMs` and returns the count inside the window, this event included. */
export function addToWindow(counter: WindowCounter, nowMs: number): number {
  const slotId = Math.floor(nowMs / counter.slotMs);
  const n = counter.counts.length;
  const index = slotId % n;
  if (counter.slotIds[index] !== slotId) {
    counter.slotIds[index] = slotId;
    counter.counts[index] = 0;
  }
  counter.counts[index] = (counter.counts[index] ?? 0) + 1;
  return windowCount(counter, nowMs);
}

/** Events inside the window ending at `nowMs`. */
export function windowCount(counter: WindowCounter, nowMs: number): number {
  const current = Math.floor(nowMs / counter.slotMs);
  const n = counter.counts.length;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const id = counter.slotIds[i] ?? -Infinity;
    if (id > current - n && id <= current) total += counter.counts[i] ?? 0;
  }
  return total;
}
