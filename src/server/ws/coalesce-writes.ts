/**
 * Write coalescing for the transport under a WebSocket: the frames a session sends during one
 * turn of the event loop (a burst of messages read from one TCP chunk, or the answers to them)
 * leave in one write instead of one system call per frame.
 */
import type { Duplex } from 'node:stream';

/** Returns `hold()`, which corks `socket` until the current turn ends (once per turn). */
export function coalesceWrites(socket: Duplex): () => void {
  let held = false;
  const release = (): void => {
    held = false;
    socket.uncork();
  };
  return () => {
    if (held) return;
    held = true;
    socket.cork();
    // After the stack that is sending (and its microtasks): everything sent meanwhile goes at once.
    process.nextTick(release);
  };
}
