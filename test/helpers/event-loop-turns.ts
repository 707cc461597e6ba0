/**
 * Counts turns of the event loop (one setImmediate callback per turn) from `countTurns()` until
 * `stop()`: a step that takes a turn between two pages shows a larger count at the second page
 * than at the first, while work done in one go shows the same count throughout.
 */
export function countTurns(): { readonly count: () => number; stop(): void } {
  let turns = 0;
  let counting = true;
  const tick = () => {
    turns += 1;
    if (counting) setImmediate(tick);
  };
  setImmediate(tick);
  return {
    count: () => turns,
    stop: () => {
      counting = false;
    },
  };
}
