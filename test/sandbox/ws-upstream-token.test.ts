/**
 * The sandbox exchange's WebSocket endpoint checks the upstream token like its HTTP routes: an
 * upgrade without it, or with a wrong one (shorter, longer, one character off), is answered 401
 * before any socket is opened; the right token with an identity is upgraded. Real sockets.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  startSandboxExchange,
  type RunningSandbox,
} from '../../src/sandbox/start-sandbox-exchange.js';
import { ACCOUNT_HEADER, UPSTREAM_TOKEN_HEADER } from '../../src/sandbox/identity.js';
import { SANDBOX_WS_PATH } from '../../src/sandbox/ws/sandbox-ws.js';

const TOKEN = 'upstream-token-0123456789abcdef';
let sandbox: RunningSandbox;

beforeAll(async () => {
  sandbox = await startSandboxExchange({ upstreamToken: TOKEN });
});
afterAll(async () => {
  await sandbox?.close();
});

/** The status the upgrade is answered with: 101 when it opened. */
function upgrade(headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${sandbox.url.replace('http', 'ws')}${SANDBOX_WS_PATH}`, { headers });
    ws.once('open', () => {
      ws.close();
      resolve(101);
    });
    ws.once('unexpected-response', (_request, response) => {
      resolve(response.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('error', reject);
  });
}

describe('sandbox WebSocket upstream token', () => {
  const identity = { [ACCOUNT_HEADER]: 'acc_ws' };

  it('upgrades with the right token and an identity', async () => {
    expect(await upgrade({ ...identity, [UPSTREAM_TOKEN_HEADER]: TOKEN })).toBe(101);
  });

  it.each([
    ['no token', undefined],
    ['a shorter token', TOKEN.slice(0, -1)],
    ['a longer token', `${TOKEN}x`],
    ['one character off', `${TOKEN.slice(0, -1)}g`],
  ])('answers 401 with %s', async (_name, token) => {
    const headers =
      token === undefined ? identity : { ...identity, [UPSTREAM_TOKEN_HEADER]: token };
    expect(await upgrade(headers)).toBe(401);
  });
});
