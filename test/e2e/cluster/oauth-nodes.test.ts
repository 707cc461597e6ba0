/**
 * The authorization server across two real gateway processes on one PostgreSQL store (a schema
 * of their own) and one Redis (a key prefix of their own): both publish the same signing keys,
 * a token issued by node A is honoured by node B, and a revocation — of the token through A, or
 * of the key through A's admin API — is refused by B on its next check.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  dropSchema,
  POSTGRES_URL,
  randomSchema,
} from '../../adapters/postgres/postgres-harness.js';
import type { CliKey } from '../../helpers/cli-keys.js';
import { adminRequest } from '../../helpers/server-process.js';
import { send, signed, type Answer } from '../data-plane/helpers.js';
import { createKey, runPrefix, startCluster, type Cluster } from './helpers.js';

const schema = randomSchema();
let cluster: Cluster;

beforeAll(async () => {
  const prefix = runPrefix('oauth');
  cluster = await startCluster({
    size: 2,
    store: `${POSTGRES_URL}?schema=${schema}`,
    redis: 'redis://127.0.0.1:6379',
    config: {
      cluster: { keyPrefix: `${prefix}c:` },
      oauth: { ticketKeyPrefix: `${prefix}t:` },
    },
  });
}, 180_000);

afterAll(async () => {
  await cluster?.cleanup();
  await dropSchema(schema);
});

const post = (node: number, path: string, body: object, key: CliKey): Promise<Answer> =>
  send(signed(cluster.url(node), 'POST', path, body, key));

async function tokenFrom(node: number, key: CliKey): Promise<string> {
  const answer = await post(node, '/oauth/token', { grant_type: 'client_credentials' }, key);
  expect(answer.status).toBe(200);
  return answer.body['access_token'] as string;
}

const bearerTicket = (node: number, token: string): Promise<Answer> =>
  send({
    method: 'POST',
    url: `${cluster.url(node)}/oauth/ticket`,
    headers: { authorization: `Bearer ${token}` },
    body: Buffer.alloc(0),
  });

describe('two nodes, one store', () => {
  it('publish the same JWKS, and B introspects a token A issued', async () => {
    const key = await createKey(cluster.nodes[0] ?? expect.fail('no node'));
    const token = await tokenFrom(0, key);
    const [a, b] = await Promise.all(
      [0, 1].map((i) =>
        send({
          method: 'GET',
          url: `${cluster.url(i)}/.well-known/jwks.json`,
          headers: {},
          body: Buffer.alloc(0),
        }),
      ),
    );
    expect(a?.body['keys']).toEqual(b?.body['keys']);
    const introspected = await post(1, '/oauth/introspect', { token }, key);
    expect(introspected.body).toMatchObject({ active: true, sub: key.id });
    expect((await bearerTicket(1, token)).status).toBe(200);
  });

  it('a token revoked through A is inactive on B', async () => {
    const key = await createKey(cluster.nodes[0] ?? expect.fail('no node'));
    const token = await tokenFrom(0, key);
    expect((await post(1, '/oauth/introspect', { token }, key)).body['active']).toBe(true);
    expect((await post(0, '/oauth/revoke', { token }, key)).status).toBe(200);
    expect((await post(1, '/oauth/introspect', { token }, key)).body).toEqual({ active: false });
    const ticket = await bearerTicket(1, token);
    expect([ticket.status, ticket.body['reason']]).toEqual([401, 'TOKEN_REVOKED']);
  });

  it('a key revoked through A’s admin API voids its tokens on B', async () => {
    const node = cluster.nodes[0] ?? expect.fail('no node');
    const key = await createKey(node);
    const token = await tokenFrom(0, key);
    expect((await bearerTicket(1, token)).status).toBe(200);
    const revoked = await adminRequest(node, 'POST', `/v1/keys/${key.id}/revoke`, {});
    expect(revoked.status).toBe(200);
    // Node B learns of the change from the Redis event (or its bounded re-read of the feed).
    let answer = await bearerTicket(1, token);
    for (let i = 0; i < 100 && answer.status === 200; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      answer = await bearerTicket(1, token);
    }
    expect([answer.status, answer.body['reason']]).toEqual([401, 'KEY_REVOKED']);
  });
});
