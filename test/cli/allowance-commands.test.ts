/**
 * `portcullis keys allowance set|list|remove` and the admin routes behind them, against a real
 * runtime (in process, real sockets, manual clock): allowances set through the CLI are listed
 * with their usage, roles are checked, bad input exits 2 (USAGE) or 1 with the API's code.
 */
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliRun as Run } from '../helpers/cli-in-process.js';
import { newKey, startGateway, type Gateway } from '../server/observability/gateway.js';

let g: Gateway;
beforeAll(async () => {
  g = await startGateway();
}, 60_000);
afterAll(async () => {
  await g?.close();
});

const cli = (...args: string[]): Promise<Run> => runCli(g, ...args);

const json = <T>(run: Run): T => JSON.parse(run.stdout) as T;
const errorCode = (run: Run): unknown =>
  (JSON.parse(run.stderr) as { error?: { code?: string } }).error?.code;

/** An admin call with any token and body. */
async function adminCall(
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  token: string,
  body?: unknown,
): Promise<{ status: number; body: { error?: { code?: string } } & Record<string, unknown> }> {
  const response = await request(`${g.adminUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: response.statusCode, body: (await response.body.json()) as never };
}

const SET = ['--kind', 'notional', '--asset', 'USDT', '--amount', '3', '--period', '1h'];

describe('portcullis keys allowance', () => {
  it('sets, lists and removes a key’s allowances, each change audited', async () => {
    const key = await newKey(g);
    expect((await cli('keys', 'allowance', 'list', key.id)).stdout).toContain('has no allowances');

    const set = await cli(
      'keys',
      'allowance',
      'set',
      key.id,
      ...SET,
      '--expires-in',
      '2h',
      '--json',
    );
    expect(set.code).toBe(0);
    const allowance = json<Record<string, unknown>>(set);
    expect(allowance).toMatchObject({
      keyId: key.id,
      kind: 'notional',
      asset: 'USDT',
      amount: '3',
      period: '1h',
      state: 'active',
      spent: '0',
      remaining: '3',
      expiresAt: new Date(g.clock.now() + 2 * 3_600_000).toISOString(),
    });
    const id = String(allowance.id);
    expect(id).toMatch(/^alw_/);
    // Listed oldest first: the second one is made a millisecond later.
    g.clock.advance(1);
    const lifetime = await cli(
      'keys',
      'allowance',
      'set',
      key.id,
      '--kind',
      'withdrawal',
      '--asset',
      'BTC',
      '--amount',
      '0.5',
      '--period',
      'lifetime',
      '--expires-at',
      new Date(g.clock.now() + 86_400_000).toISOString(),
      '--json',
    );
    expect(json(lifetime)).toMatchObject({ kind: 'withdrawal', period: 'lifetime' });

    const listed = json<{ id: string }[]>(await cli('keys', 'allowance', 'list', key.id, '--json'));
    expect(listed.map((a) => a.id)).toEqual([id, json<{ id: string }>(lifetime).id]);
    expect((await cli('keys', 'allowance', 'list', key.id)).stdout).toContain(id);

    const removed = await cli('keys', 'allowance', 'remove', key.id, id);
    expect(removed.code).toBe(0);
    expect(removed.stdout).toContain(`removed allowance ${id}`);
    const again = await cli('keys', 'allowance', 'remove', key.id, id, '--json');
    expect(again.code).toBe(1);
    expect(errorCode(again)).toBe('ALLOWANCE_NOT_FOUND');

    const audit = await adminCall('GET', `/v1/audit?limit=1000`, g.token);
    const actions = (audit.body.entries as { action: string; target: string }[])
      .filter((e) => e.target === key.id)
      .map((e) => e.action);
    expect(actions.filter((a) => a.startsWith('key.allowance.'))).toEqual([
      'key.allowance.add',
      'key.allowance.add',
      'key.allowance.remove',
    ]);
  });

  it.each([
    [['keys', 'allowance', 'set', 'pk_x', '--asset', 'USDT'], 'no --kind'],
    [['keys', 'allowance', 'set', 'pk_x', '--kind', 'trade', '--asset', 'USDT'], 'a bad --kind'],
    [['keys', 'allowance', 'set', 'pk_x', ...SET], 'no expiry'],
    [
      ['keys', 'allowance', 'set', 'pk_x', ...SET, '--expires-in', '1d', '--expires-at', 'x'],
      'two',
    ],
    [['keys', 'allowance', 'list'], 'no key'],
    [['keys', 'allowance', 'remove', 'pk_x'], 'no allowance id'],
    [['keys', 'allowance', 'grant', 'pk_x'], 'an unknown action'],
    [['keys', 'allowance', 'list', 'pk_x', '--colour', 'red'], 'an unknown option'],
  ])('%j exits 2 with USAGE (%s)', async (args) => {
    const run = await cli(...args, '--json');
    expect(run.code).toBe(2);
    expect(errorCode(run)).toBe('USAGE');
  });

  it.each([
    [['--amount', '1e3'], 'VALIDATION_FAILED'],
    [['--period', 'hourly'], 'INVALID_DURATION'],
    [['--asset', 'usdt'], 'VALIDATION_FAILED'],
  ])('%j exits 1 with %s', async (change, code) => {
    const key = await newKey(g);
    const args = [...SET];
    args[args.indexOf(change[0] ?? '') + 1] = change[1] ?? '';
    const run = await cli(
      'keys',
      'allowance',
      'set',
      key.id,
      ...args,
      '--expires-in',
      '1d',
      '--json',
    );
    expect(run.code).toBe(1);
    expect(errorCode(run)).toBe(code);
  });

  it('an unknown key exits 1 with KEY_NOT_FOUND', async () => {
    const run = await cli(
      'keys',
      'allowance',
      'set',
      'pk_test_none',
      ...SET,
      '--expires-in',
      '1d',
      '--json',
    );
    expect(run.code).toBe(1);
    expect(errorCode(run)).toBe('KEY_NOT_FOUND');
  });
});

describe('with PORTCULLIS_KEY_CHANGE_QUORUM=2', () => {
  let gated: Gateway;
  beforeAll(async () => {
    gated = await startGateway({}, {}, { PORTCULLIS_KEY_CHANGE_QUORUM: '2' });
  }, 60_000);
  afterAll(async () => {
    await gated?.close();
  });

  it('a removal answers 202 with an approval and leaves the allowance in force', async () => {
    const key = await newKey(gated);
    const body = { kind: 'notional', asset: 'USDT', amount: '5', period: '1h', expiresIn: '1d' };
    const call = async (method: 'GET' | 'POST' | 'DELETE', path: string, payload?: unknown) => {
      const response = await request(`${gated.adminUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${gated.token}`,
          ...(payload !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(payload !== undefined ? { body: JSON.stringify(payload) } : {}),
      });
      return { status: response.statusCode, body: (await response.body.json()) as never };
    };
    const added = await call('POST', `/v1/keys/${key.id}/allowances`, body);
    const id = (added.body as { allowance: { id: string } }).allowance.id;
    const removal = await call('DELETE', `/v1/keys/${key.id}/allowances/${id}`);
    expect(removal).toMatchObject({
      status: 202,
      body: { approval: { state: 'pending', quorum: 2 } },
    });
    const listed = await call('GET', `/v1/keys/${key.id}/allowances`);
    expect((listed.body as { allowances: { id: string }[] }).allowances.map((a) => a.id)).toEqual([
      id,
    ]);
  });
});

describe('allowance routes', () => {
  const tokens: Record<string, string> = {};
  beforeAll(async () => {
    for (const role of ['operator', 'auditor', 'approver']) {
      const created = await adminCall('POST', '/v1/admin-tokens', g.token, { role });
      tokens[role] = String(created.body.secret);
    }
  });

  it.each([
    ['operator', 201, 200, 200],
    ['auditor', 403, 200, 403],
    ['approver', 403, 200, 403],
  ])('%s: add %i, list %i, remove %i', async (role, add, list, remove) => {
    const key = await newKey(g);
    const token = tokens[role] ?? '';
    const body = { kind: 'notional', asset: 'USDT', amount: '5', period: '1h', expiresIn: '1d' };
    const added = await adminCall('POST', `/v1/keys/${key.id}/allowances`, token, body);
    expect(added.status).toBe(add);
    if (add === 403) expect(added.body.error?.code).toBe('ROLE_FORBIDDEN');
    const owned = await adminCall('POST', `/v1/keys/${key.id}/allowances`, g.token, body);
    const id = String((owned.body.allowance as { id: string }).id);
    expect((await adminCall('GET', `/v1/keys/${key.id}/allowances`, token)).status).toBe(list);
    const removed = await adminCall('DELETE', `/v1/keys/${key.id}/allowances/${id}`, token);
    expect(removed.status).toBe(remove);
    if (remove === 403) expect(removed.body.error?.code).toBe('ROLE_FORBIDDEN');
  });

  it('refuses an unknown field with UNKNOWN_FIELD, never a 500', async () => {
    const key = await newKey(g);
    const answer = await adminCall('POST', `/v1/keys/${key.id}/allowances`, g.token, {
      kind: 'notional',
      asset: 'USDT',
      amount: '5',
      period: '1h',
      expiresIn: '1d',
      unlimited: true,
    });
    expect(answer.status).toBe(400);
    expect(answer.body.error?.code).toBe('UNKNOWN_FIELD');
  });
});
