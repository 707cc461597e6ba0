/**
 * `portcullis start` tells the operator where to go next: every listener, the web console, the
 * admin token file — and prints no stray warnings on a clean start.
 */
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, startServer, type ServerHandle } from '../../helpers/server-process.js';

let server: ServerHandle;

beforeAll(async () => {
  assertBuilt();
  server = await startServer();
  // The banner follows runtime.json; wait for its last line on stdout, bounded by the test timeout.
  while (!server.stdout().includes('Docs: README.md')) await once(server.child.stdout!, 'data');
}, 30_000);

afterAll(async () => {
  await server?.cleanup();
});

describe('portcullis start banner', () => {
  it('names the admin API, the console, each data plane and the admin token file', () => {
    const banner = server.stdout();
    expect(banner).toContain(`admin API        ${server.adminUrl}`);
    expect(banner).toContain(`web console      ${server.adminUrl}/console/`);
    for (const plane of Object.values(server.info.dataPlanes)) expect(banner).toContain(plane.url);
    expect(banner).toContain(`${server.dataDir}/admin-token`);
  });

  it('serves the console where the banner says', async () => {
    const response = await fetch(`${server.adminUrl}/console/`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/html');
  });

  it('prints no schema-compiler warnings (ajv strict mode) on start', () => {
    expect(server.stdout() + server.stderr()).not.toMatch(/strict mode/);
  });
});
