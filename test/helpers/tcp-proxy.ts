/**
 * A TCP proxy between a node and a shared server (PostgreSQL, Redis) whose link a test can cut
 * and restore, so that an outage is made for real without stopping a server other people use.
 *
 * - `cut('reset')`: every open connection is reset and new ones are reset on accept (the server
 *   is down, or its host refuses).
 * - `cut('blackhole')`: open connections stop carrying bytes and new ones are accepted and never
 *   answered (a network partition: only the client's timeouts end the wait).
 * - `restore()`: held connections are reset (their clients reconnect) and new ones are forwarded.
 */
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

export type CutMode = 'reset' | 'blackhole';

export interface TcpProxy {
  /** The port the proxy listens on, on 127.0.0.1. */
  readonly port: number;
  /** Connections accepted so far (to tell that a client came back). */
  accepted(): number;
  cut(mode: CutMode): void;
  restore(): void;
  close(): Promise<void>;
}

/** Starts a proxy on 127.0.0.1 (ephemeral port) in front of `target`. */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  let mode: CutMode | 'open' = 'open';
  let accepted = 0;
  const live = new Set<Socket>();
  const track = (socket: Socket) => {
    live.add(socket);
    socket.once('close', () => live.delete(socket));
    // A reset peer is expected here; an unhandled 'error' would end the test process.
    socket.on('error', () => undefined);
  };
  const resetAll = () => {
    for (const socket of live) socket.resetAndDestroy();
  };

  const server: Server = createServer((client) => {
    accepted += 1;
    track(client);
    if (mode === 'reset') {
      client.resetAndDestroy();
      return;
    }
    if (mode === 'blackhole') return; // held open, never answered
    const upstream = connect(target.port, target.host);
    track(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    const teardown = () => {
      client.destroy();
      upstream.destroy();
    };
    client.once('close', teardown);
    upstream.once('close', teardown);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

  return {
    port: (server.address() as AddressInfo).port,
    accepted: () => accepted,
    cut(next) {
      mode = next;
      if (next === 'reset') {
        resetAll();
        return;
      }
      // Blackhole: stop both directions of every open pair without closing anything.
      for (const socket of live) {
        socket.unpipe();
        socket.pause();
      }
    },
    restore() {
      mode = 'open';
      resetAll();
    },
    async close() {
      mode = 'reset';
      resetAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
