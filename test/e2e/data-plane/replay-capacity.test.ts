/**
 * REPLAY_CHECK_UNAVAILABLE from a real request: with `dataPlane.replayCacheSize: 1000` (the
 * smallest allowed), once 1000 nonces are held inside their window the guard cannot prove the
 * next one new, and the gateway refuses it (fail closed, 503) rather than risk a replay. Its own
 * server: the full guard would refuse every other test's requests for the nonce lifetime.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cliCreateAccount, cliCreateKey, type CliKey } from '../../helpers/cli-keys.js';
import { startServer, type ServerHandle } from '../../helpers/server-process.js';
import { createTempDir } from '../../helpers/temp-dir.js';
import { codeOf, NO_LIMITS, send, signed, writeConfig } from './helpers.js';

const CAPACITY = 1000;
const configDir = createTempDir('portcullis-dp-replay-');
let server: ServerHandle;
let sandboxUrl: string;
let trader: CliKey;

beforeAll(async () => {
  const config = writeConfig(configDir.path, {
    dataPlane: { replayCacheSize: CAPACITY },
    environments: { sandbox: NO_LIMITS, production: NO_LIMITS },
  });
  server = await startServer({ args: ['--config', config] });
  try {
    sandboxUrl = (server.info.dataPlanes.sandbox as { url: string }).url;
    const accountId = await cliCreateAccount(server.dataDir, 'replay-capacity');
    trader = await cliCreateKey(server.dataDir, { accountId, scopes: 'read' });
  } catch (error) {
    await server.cleanup();
    throw error;
  }
}, 90_000);

afterAll(async () => {
  await server?.cleanup();
  configDir.remove();
});

it('a full replay guard refuses the next new nonce with 503 REPLAY_CHECK_UNAVAILABLE', async () => {
  // A signed request to an unknown route still records its nonce (the replay check comes
  // first), and costs no upstream round trip.
  const fill = () => send(signed(sandboxUrl, 'GET', '/api/v1/nowhere', undefined, trader));
  const workers = Array.from({ length: 8 }, async () => {
    const codes: (string | undefined)[] = [];
    for (let i = 0; i < CAPACITY / 8; i++) codes.push(codeOf(await fill()));
    return codes;
  });
  const codes = (await Promise.all(workers)).flat();
  expect(new Set(codes)).toEqual(new Set(['ROUTE_UNKNOWN']));

  const answer = await send(signed(sandboxUrl, 'GET', '/api/v1/balances', undefined, trader));
  expect({ status: answer.status, code: codeOf(answer) }).toEqual({
    status: 503,
    code: 'REPLAY_CHECK_UNAVAILABLE',
  });
}, 60_000);
