/**
 * Withdrawal rules and multi-party approval through real processes (`portcullis start` with the
 * built-in sandbox exchange, the CLI, signed native requests): concurrent withdrawals never
 * exceed a rolling limit; address book refusals; a held withdrawal (202) approved by two distinct
 * approvers is executed exactly once at the sandbox, with self-approval and a changed digest
 * refused and every transition in the audit log.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliCreateAccount, cliCreateKey, cliJson, type CliKey } from '../../helpers/cli-keys.js';
import {
  adminRequest,
  runCli,
  startServer,
  type ServerHandle,
} from '../../helpers/server-process.js';
import { createTempDir } from '../../helpers/temp-dir.js';
import {
  codeOf,
  NO_LIMITS,
  send,
  signed,
  writeConfig,
  type Answer,
} from '../data-plane/helpers.js';

const configDir = createTempDir('portcullis-e2e-governance-');
let server: ServerHandle;
let sandboxUrl: string;

const call = (method: string, target: string, body: unknown, key: CliKey): Promise<Answer> =>
  send(signed(sandboxUrl, method, target, body, key));

const withdraw = (key: CliKey, amount: string, address = 'addr-e2e-0001'): Promise<Answer> =>
  call('POST', '/api/v1/withdrawals', { asset: 'USDT', amount, address }, key);

async function usdtFree(key: CliKey): Promise<string> {
  const answer = await call('GET', '/api/v1/balances', undefined, key);
  const balances = answer.body.balances as { asset: string; free: string }[];
  return balances.find((b) => b.asset === 'USDT')?.free ?? 'none';
}

async function withdrawalAccount(name: string): Promise<{ accountId: string; key: CliKey }> {
  const accountId = await cliCreateAccount(server.dataDir, name);
  const key = await cliCreateKey(server.dataDir, { accountId, scopes: 'read,withdraw' });
  return { accountId, key };
}

beforeAll(async () => {
  const config = writeConfig(configDir.path, {
    environments: { sandbox: { ...NO_LIMITS }, production: { ...NO_LIMITS } },
  });
  server = await startServer({ args: ['--config', config] });
  sandboxUrl = (server.info.dataPlanes.sandbox as { url: string }).url;
}, 30_000);

afterAll(async () => {
  await server?.cleanup();
  configDir.remove();
});

describe('withdrawal rules on the data plane', () => {
  it('20 concurrent withdrawals of 100 against 1,000/h: exactly 10 accepted and executed', async () => {
    const { accountId, key } = await withdrawalAccount('limit');
    const rules = await adminRequest(server, 'PUT', `/v1/accounts/${accountId}/withdrawal-rules`, {
      addressBookRequired: false,
      accountLimits: { perHour: '1000' },
    });
    expect(rules.status).toBe(200);
    const answers = await Promise.all(Array.from({ length: 20 }, () => withdraw(key, '100')));
    expect(answers.filter((a) => a.status === 201)).toHaveLength(10);
    const refused = answers.filter((a) => a.status !== 201);
    expect(refused.map(codeOf)).toEqual(Array<string>(10).fill('AMOUNT_LIMIT_EXCEEDED'));
    // Only the accepted ten reached the sandbox: exactly 1,000 debited.
    expect(await usdtFree(key)).toBe('99000');
  });

  it('an address off the book is refused, and a new one is cooling down', async () => {
    const { accountId, key } = await withdrawalAccount('book');
    await adminRequest(server, 'PUT', `/v1/accounts/${accountId}/withdrawal-rules`, {
      addressBookRequired: true,
      coolDown: '24h',
    });
    expect(codeOf(await withdraw(key, '1', 'addr-unknown-01'))).toBe('ADDRESS_NOT_ALLOWED');
    const added = await adminRequest(server, 'POST', `/v1/accounts/${accountId}/addresses`, {
      asset: 'USDT',
      address: 'addr-new-0001',
    });
    expect(added.status).toBe(201);
    expect(codeOf(await withdraw(key, '1', 'addr-new-0001'))).toBe('ADDRESS_COOLING_DOWN');
    expect(await usdtFree(key)).toBe('100000');
  });
});

describe('a held withdrawal, end to end', () => {
  let accountId: string;
  let key: CliKey;
  let approvalId: string;

  const tokenOf = async (label: string): Promise<string> =>
    (
      await cliJson<{ secret: string }>(
        ['admin-tokens', 'create', '--role', 'approver', '--label', label],
        server.dataDir,
      )
    ).secret;
  const vote = (token: string, id: string, extra: readonly string[] = []) =>
    runCli(['approvals', 'approve', id, ...extra, '--json'], {
      dataDir: server.dataDir,
      env: { PORTCULLIS_ADMIN_TOKEN: token },
    });

  beforeAll(async () => {
    ({ accountId, key } = await withdrawalAccount('held'));
    const policy = await adminRequest(server, 'POST', '/v1/policies', {
      id: 'large-withdrawals',
      effect: 'require-approval',
      target: { actions: ['withdrawal.create'], accounts: [accountId] },
      condition: 'params.amount > 500.0',
      quorum: 2,
    });
    expect(policy.status).toBe(201);
  });

  it('answers 202 with the approval id and forwards nothing', async () => {
    const answer = await withdraw(key, '600');
    expect(answer.status).toBe(202);
    const approval = answer.body.approval as { id: string; state: string; expiresAt: string };
    expect(approval.state).toBe('pending');
    expect(approval.id).toMatch(/^apr_/);
    approvalId = approval.id;
    expect(await usdtFree(key)).toBe('100000');
  });

  it('the requester polls its approval with a signed GET on the data plane', async () => {
    const answer = await call('GET', `/api/v1/approvals/${approvalId}`, undefined, key);
    expect(answer.status).toBe(200);
    expect((answer.body.approval as { state: string }).state).toBe('pending');
  });

  it('another account cannot see the approval', async () => {
    const other = await withdrawalAccount('other');
    const answer = await call('GET', `/api/v1/approvals/${approvalId}`, undefined, other.key);
    expect(codeOf(answer)).toBe('ROUTE_UNKNOWN');
  });

  it('refuses self-approval by a token of the requesting account', async () => {
    const result = await vote(await tokenOf(`account:${accountId}`), approvalId);
    expect(result.code).not.toBe(0);
    expect(`${result.stdout}${result.stderr}`).toContain('APPROVAL_SELF');
  });

  it('refuses a vote on a different request digest', async () => {
    const result = await vote(await tokenOf('mallory'), approvalId, ['--digest', 'ab'.repeat(32)]);
    expect(result.code).not.toBe(0);
    expect(`${result.stdout}${result.stderr}`).toContain('DIGEST_MISMATCH');
  });

  it('two distinct approvers (the second two racing) execute it exactly once', async () => {
    const first = await vote(await tokenOf('alice'), approvalId);
    expect(first.code).toBe(0);
    expect((first.json as { state: string }).state).toBe('pending');
    const [bob, carol] = [await tokenOf('bob'), await tokenOf('carol')];
    const racing = await Promise.all([vote(bob, approvalId), vote(carol, approvalId)]);
    expect(racing.some((r) => r.code === 0)).toBe(true);
    const shown = await cliJson<{ state: string; result: { status: number } }>(
      ['approvals', 'show', approvalId],
      server.dataDir,
    );
    expect(shown.state).toBe('executed');
    expect(shown.result.status).toBe(201);
    // Exactly one debit of 600 at the sandbox.
    expect(await usdtFree(key)).toBe('99400');
  });

  it('the requester sees the executed state and the upstream answer', async () => {
    const answer = await call('GET', `/api/v1/approvals/${approvalId}`, undefined, key);
    const approval = answer.body.approval as { state: string; result: { status: number } };
    expect(approval.state).toBe('executed');
    expect(approval.result.status).toBe(201);
  });

  it('every transition is in the audit log', async () => {
    const audit = await adminRequest(server, 'GET', `/v1/audit?target=${approvalId}&limit=100`);
    const actions = (audit.body.entries as { action: string }[]).map((e) => e.action);
    expect(actions).toEqual([
      'approval.create',
      'approval.approve',
      'approval.approve',
      'approval.execute',
      'approval.finish',
    ]);
  });
});
