/**
 * The request logger made on its first line (src/server/lazy-child-logger.ts): nothing is built
 * for a request that never logs, and a request that does logs exactly what a pino child would.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { lazyChildLogger } from '../../src/server/lazy-child-logger.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean))
        lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, stream };
}

describe('lazyChildLogger', () => {
  it('makes no child until a line is written, then writes it with the bindings', () => {
    const { lines, stream } = capture();
    const parent = pino({ level: 'info' }, stream);
    let children = 0;
    const child = parent.child.bind(parent);
    parent.child = ((...args: Parameters<typeof child>) => {
      children++;
      return child(...args);
    }) as typeof parent.child;
    const log = lazyChildLogger(parent, { reqId: 'req_1' }, {});
    expect(children).toBe(0);
    expect(log.level).toBe('info');
    log.debug('below the level');
    log.info({ reason: 'SCOPE_MISSING' }, 'denied');
    log.warn('second line');
    expect(children).toBe(1);
    expect(lines.map((l) => [l.reqId, l.msg])).toEqual([
      ['req_1', 'denied'],
      ['req_1', 'second line'],
    ]);
    expect(lines[0]?.reason).toBe('SCOPE_MISSING');
  });

  it('honours a level given for the child and a level set later', () => {
    const { lines, stream } = capture();
    const parent = pino({ level: 'info' }, stream);
    const log = lazyChildLogger(parent, { reqId: 'req_2' }, { level: 'warn' });
    expect(log.level).toBe('warn');
    log.info('dropped');
    log.error('kept');
    log.level = 'debug';
    log.debug('now kept');
    expect(lines.map((l) => l.msg)).toEqual(['kept', 'now kept']);
    expect(parent.level).toBe('info');
  });

  it('passes its bindings on to its own children', () => {
    const { lines, stream } = capture();
    const log = lazyChildLogger(pino({}, stream), { reqId: 'req_3' }, {});
    log.child({ part: 'upstream' }).info('x');
    expect(lines[0]).toMatchObject({ reqId: 'req_3', part: 'upstream', msg: 'x' });
  });
});
