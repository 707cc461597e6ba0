import type { ChangeEvent, ChangeEvents } from '../ports.js';

/** In-process change events for a single node; a cluster uses the Redis adapter instead. */
export function createLocalEvents(): ChangeEvents {
  const handlers = new Set<(event: ChangeEvent) => void>();
  return {
    publish(event) {
      for (const handler of handlers) handler(event);
    },
    subscribe(handler) {
      handlers.add(handler);
      return () => handlers.delete(handler);
    },
  };
}
