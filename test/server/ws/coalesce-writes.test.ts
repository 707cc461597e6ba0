import { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { coalesceWrites } from '../../../src/server/ws/coalesce-writes.js';

/** A transport that records each write it is handed: one entry per batch of chunks. */
function recordingTransport(): { socket: Duplex; batches: string[][] } {
  const batches: string[][] = [];
  const socket = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, done) {
      batches.push([chunk.toString()]);
      done();
    },
    writev(chunks, done) {
      batches.push(chunks.map((c) => String(c.chunk)));
      done();
    },
  });
  return { socket, batches };
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('coalesceWrites', () => {
  it('sends the frames written in one turn as one write, in order', async () => {
    const { socket, batches } = recordingTransport();
    const hold = coalesceWrites(socket);
    for (const frame of ['a', 'b', 'c']) {
      hold();
      socket.write(frame);
    }
    expect(batches).toEqual([]);
    await nextTurn();
    expect(batches).toEqual([['a', 'b', 'c']]);
  });

  it('holds again in a later turn', async () => {
    const { socket, batches } = recordingTransport();
    const hold = coalesceWrites(socket);
    hold();
    socket.write('a');
    await nextTurn();
    hold();
    socket.write('b');
    hold();
    socket.write('c');
    await nextTurn();
    expect(batches).toEqual([['a'], ['b', 'c']]);
  });
});
