/**
 * The baseline for gateway throughput: a plain Fastify + undici proxy in front of its own
 * built-in sandbox exchange, adding the same static identity headers and nothing else.
 */
import { randomBytes } from 'node:crypto';
import Fastify from 'fastify';
import { Pool } from 'undici';
import { startSandboxExchange } from '../src/sandbox/start-sandbox-exchange.js';

const upstreamToken = randomBytes(24).toString('base64url');
const sandbox = await startSandboxExchange({ host: '127.0.0.1', port: 0, upstreamToken });
const pool = new Pool(sandbox.url, { connections: 128, pipelining: 1 });
const app = Fastify({ logger: false });
app.removeAllContentTypeParsers();
app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
app.all('/*', async (request, reply) => {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (
      value !== undefined &&
      name !== 'host' &&
      name !== 'connection' &&
      name !== 'content-length'
    )
      headers[name] = value;
  }
  headers['x-portcullis-account'] = 'acc_bench';
  headers['x-portcullis-key'] = 'pk_test_bench';
  headers['x-portcullis-scopes'] = 'read,trade';
  headers['x-portcullis-upstream-token'] = upstreamToken;
  const response = await pool.request({
    method: request.method,
    path: request.url,
    headers,
    body: Buffer.isBuffer(request.body) ? request.body : null,
  });
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(response.headers)) {
    if (
      value !== undefined &&
      name !== 'connection' &&
      name !== 'keep-alive' &&
      name !== 'transfer-encoding'
    )
      out[name] = value;
  }
  return reply.status(response.statusCode).headers(out).send(response.body);
});
const url = await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`${JSON.stringify({ url })}\n`);
process.on('SIGTERM', () => {
  void app
    .close()
    .then(() => sandbox.close())
    .then(() => process.exit(0));
});
