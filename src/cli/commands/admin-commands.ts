import { readFileSync } from 'node:fs';
import type { ParseArgsConfig } from 'node:util';
import { callAdmin, type AdminTarget } from '../admin-client.js';
import { formatRecord, formatTable } from '../output.js';
import { OBSERVABILITY_COMMANDS } from './observability-commands.js';
import { WITHDRAWAL_COMMANDS } from './withdrawal-commands.js';
import { ALLOWANCE_COMMANDS } from './allowance-commands.js';

export interface CommandContext {
  readonly values: Record<string, string | boolean | undefined>;
  readonly positionals: readonly string[];
  readonly target: AdminTarget;
  readonly usage: (message: string) => Error;
}

export interface CommandResult {
  readonly json: unknown;
  readonly text: string;
  readonly exitCode?: number;
}

interface CommandSpec {
  readonly usage: string;
  readonly options: NonNullable<ParseArgsConfig['options']>;
  run(ctx: CommandContext): Promise<CommandResult>;
}

type KeyJson = Record<string, unknown> & { id: string };

const str = (ctx: CommandContext, name: string): string | undefined => {
  const value = ctx.values[name];
  return typeof value === 'string' ? value : undefined;
};
const list = (text: string): string[] =>
  text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
const idArg = (ctx: CommandContext): string => {
  const id = ctx.positionals[0];
  if (id === undefined) throw ctx.usage('A key id is required.');
  return id;
};

const keyText = (key: KeyJson, secret?: string): string =>
  formatRecord({
    id: key.id,
    account: key.accountId,
    environment: key.environment,
    scheme: key.scheme,
    scopes: key.scopes,
    ipAllowlist: key.ipAllowlist,
    label: key.label,
    state: key.state,
    createdAt: key.createdAt,
    expiresAt: key.expiresAt,
    lastUsedAt: key.lastUsedAt,
    lastUsedIp: key.lastUsedIp,
    ...(secret !== undefined ? { secret } : {}),
  }) +
  (secret !== undefined
    ? '\n\nThe secret is shown once. Store it now; it cannot be read again.'
    : '');

const withSecret = (result: { key: KeyJson; secret?: string }): CommandResult => ({
  json: { ...result.key, ...(result.secret !== undefined ? { secret: result.secret } : {}) },
  text: keyText(result.key, result.secret),
});

const readJsonFile = (ctx: CommandContext, name: string): unknown => {
  const file = str(ctx, name);
  if (file === undefined) throw ctx.usage(`--${name} FILE is required.`);
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as unknown;
  } catch {
    throw ctx.usage(`Cannot read JSON from ${file}.`);
  }
};
const enc = encodeURIComponent;

/** `portcullis policy …` and `portcullis approvals …` (docs/policies.md). */
const GOVERNANCE_COMMANDS: Readonly<Record<string, CommandSpec>> = {
  'policy list': {
    usage: 'portcullis policy list',
    options: {},
    async run(ctx) {
      const { policies } = await callAdmin<{ policies: Record<string, unknown>[] }>(
        ctx.target,
        'GET',
        '/v1/policies',
      );
      return {
        json: policies,
        text: formatTable(policies, ['id', 'version', 'effect', 'mode', 'condition']),
      };
    },
  },
  'policy create': {
    usage: 'portcullis policy create --file policy.json',
    options: { file: { type: 'string' } },
    async run(ctx) {
      const { policy } = await callAdmin<{ policy: Record<string, unknown> }>(
        ctx.target,
        'POST',
        '/v1/policies',
        readJsonFile(ctx, 'file'),
      );
      return { json: policy, text: formatRecord(policy) };
    },
  },
  'policy update': {
    usage: 'portcullis policy update ID --file policy.json',
    options: { file: { type: 'string' } },
    async run(ctx) {
      const id = ctx.positionals[0];
      if (id === undefined) throw ctx.usage('A policy id is required.');
      const { policy } = await callAdmin<{ policy: Record<string, unknown> }>(
        ctx.target,
        'PUT',
        `/v1/policies/${enc(id)}`,
        readJsonFile(ctx, 'file'),
      );
      return { json: policy, text: formatRecord(policy) };
    },
  },
  'policy delete': {
    usage: 'portcullis policy delete ID',
    options: {},
    async run(ctx) {
      const id = ctx.positionals[0];
      if (id === undefined) throw ctx.usage('A policy id is required.');
      const { policy } = await callAdmin<{ policy: Record<string, unknown> }>(
        ctx.target,
        'DELETE',
        `/v1/policies/${enc(id)}`,
      );
      return { json: policy, text: formatRecord(policy) };
    },
  },
  'policy test': {
    usage: 'portcullis policy test --file request.json',
    options: { file: { type: 'string' } },
    async run(ctx) {
      const result = await callAdmin<Record<string, unknown> & { decision: string }>(
        ctx.target,
        'POST',
        '/v1/policies/simulate',
        readJsonFile(ctx, 'file'),
      );
      const decidedBy = result.decidedBy as { policyId: string; version: number } | null;
      const by = decidedBy ? ` by ${decidedBy.policyId} v${decidedBy.version}` : '';
      return {
        json: result,
        text: `${result.decision} (${String(result.reason)})${by}\n${JSON.stringify(result.explanation, null, 2)}`,
      };
    },
  },
  'approvals list': {
    usage: 'portcullis approvals list [--state pending]',
    options: { state: { type: 'string' } },
    async run(ctx) {
      const state = str(ctx, 'state');
      const { approvals } = await callAdmin<{ approvals: Record<string, unknown>[] }>(
        ctx.target,
        'GET',
        `/v1/approvals${state !== undefined ? `?state=${enc(state)}` : ''}`,
      );
      return {
        json: approvals,
        text: formatTable(approvals, ['id', 'kind', 'state', 'quorum', 'initiator', 'createdAt']),
      };
    },
  },
  'approvals show': {
    usage: 'portcullis approvals show ID',
    options: {},
    async run(ctx) {
      const id = ctx.positionals[0];
      if (id === undefined) throw ctx.usage('An approval id is required.');
      const { approval } = await callAdmin<{ approval: Record<string, unknown> }>(
        ctx.target,
        'GET',
        `/v1/approvals/${enc(id)}`,
      );
      return { json: approval, text: JSON.stringify(approval, null, 2) };
    },
  },
  ...Object.fromEntries(
    (['approve', 'reject'] as const).map((vote) => [
      `approvals ${vote}`,
      {
        usage: `portcullis approvals ${vote} ID [--digest HEX]`,
        options: { digest: { type: 'string' } },
        async run(ctx: CommandContext): Promise<CommandResult> {
          const id = ctx.positionals[0];
          if (id === undefined) throw ctx.usage('An approval id is required.');
          const digest = str(ctx, 'digest');
          const { approval } = await callAdmin<{ approval: Record<string, unknown> }>(
            ctx.target,
            'POST',
            `/v1/approvals/${enc(id)}/${vote}`,
            digest !== undefined ? { digest } : {},
          );
          return { json: approval, text: `approval ${id}: ${String(approval.state)}` };
        },
      } satisfies CommandSpec,
    ]),
  ),
};

/**
 * Every item of a paged admin list (`{ <field>: [...], next }`): follows `next` as `after` until
 * the last page. `query` carries the filters and page size, and is advanced in place.
 */
async function allPages<T>(
  target: AdminTarget,
  path: string,
  query: URLSearchParams,
  field: string,
): Promise<T[]> {
  const items: T[] = [];
  for (;;) {
    const page = await callAdmin<{ readonly next: string | null } & Record<string, unknown>>(
      target,
      'GET',
      `${path}?${query.toString()}`,
    );
    items.push(...(page[field] as T[]));
    if (page.next === null) return items;
    query.set('after', page.next);
  }
}

/** Every admin command; `portcullis --help` lists them in this order within each group. */
export const ADMIN_COMMANDS: Readonly<Record<string, CommandSpec>> = {
  'accounts create': {
    usage: 'portcullis accounts create --name NAME',
    options: { name: { type: 'string' } },
    async run(ctx) {
      const name = str(ctx, 'name');
      if (!name) throw ctx.usage('--name is required.');
      const account = await callAdmin<Record<string, unknown>>(ctx.target, 'POST', '/v1/accounts', {
        name,
      });
      return { json: account, text: formatRecord(account) };
    },
  },
  'accounts list': {
    usage: 'portcullis accounts list',
    options: {},
    async run(ctx) {
      // Every account, oldest first, a page of 1,000 per call.
      const query = new URLSearchParams({ limit: '1000' });
      const accounts = await allPages<Record<string, unknown>>(
        ctx.target,
        '/v1/accounts',
        query,
        'accounts',
      );
      return { json: accounts, text: formatTable(accounts, ['id', 'name', 'createdAt']) };
    },
  },
  'keys create': {
    usage:
      'portcullis keys create --account ID --env sandbox|production --scopes read,trade [--ip CIDR,CIDR] [--scheme hmac|ed25519] [--public-key FILE] [--passphrase P] [--label L] [--expires-in 90d]',
    options: {
      account: { type: 'string' },
      env: { type: 'string' },
      scopes: { type: 'string' },
      ip: { type: 'string' },
      scheme: { type: 'string' },
      'public-key': { type: 'string' },
      passphrase: { type: 'string' },
      label: { type: 'string' },
      'expires-in': { type: 'string' },
    },
    async run(ctx) {
      const accountId = str(ctx, 'account');
      const environment = str(ctx, 'env');
      const scopes = str(ctx, 'scopes');
      if (!accountId || !environment || scopes === undefined)
        throw ctx.usage('--account, --env and --scopes are required.');
      const publicKeyFile = str(ctx, 'public-key');
      let publicKey: string | undefined;
      if (publicKeyFile !== undefined) {
        try {
          publicKey = readFileSync(publicKeyFile, 'utf8');
        } catch {
          throw ctx.usage(`Cannot read the public key file ${publicKeyFile}.`);
        }
      }
      const body = {
        accountId,
        environment,
        scopes: list(scopes),
        scheme: str(ctx, 'scheme') ?? (publicKey !== undefined ? 'ed25519' : 'hmac'),
        ...(str(ctx, 'ip') !== undefined ? { ipAllowlist: list(str(ctx, 'ip') ?? '') } : {}),
        ...(publicKey !== undefined ? { publicKey } : {}),
        ...(str(ctx, 'passphrase') !== undefined ? { passphrase: str(ctx, 'passphrase') } : {}),
        ...(str(ctx, 'label') !== undefined ? { label: str(ctx, 'label') } : {}),
        ...(str(ctx, 'expires-in') !== undefined ? { expiresIn: str(ctx, 'expires-in') } : {}),
      };
      return withSecret(await callAdmin(ctx.target, 'POST', '/v1/keys', body));
    },
  },
  'keys list': {
    usage: 'portcullis keys list [--account ID] [--env sandbox|production]',
    options: { account: { type: 'string' }, env: { type: 'string' } },
    async run(ctx) {
      const query = new URLSearchParams();
      const account = str(ctx, 'account');
      const env = str(ctx, 'env');
      if (account !== undefined) query.set('accountId', account);
      if (env !== undefined) query.set('environment', env);
      const keys = await allPages<KeyJson>(ctx.target, '/v1/keys', query, 'keys');
      return {
        json: keys,
        text: formatTable(keys, [
          'id',
          'accountId',
          'environment',
          'scopes',
          'state',
          'label',
          'lastUsedIp',
        ]),
      };
    },
  },
  'keys show': {
    usage: 'portcullis keys show ID',
    options: {},
    async run(ctx) {
      const { key } = await callAdmin<{ key: KeyJson }>(
        ctx.target,
        'GET',
        `/v1/keys/${encodeURIComponent(idArg(ctx))}`,
      );
      return { json: key, text: keyText(key) };
    },
  },
  'keys update': {
    usage:
      'portcullis keys update ID [--scopes read,trade] [--ip CIDR,CIDR|none] [--label L] [--expires-in 90d|never]',
    options: {
      scopes: { type: 'string' },
      ip: { type: 'string' },
      label: { type: 'string' },
      'expires-in': { type: 'string' },
    },
    async run(ctx) {
      const id = idArg(ctx);
      const ip = str(ctx, 'ip');
      const expires = str(ctx, 'expires-in');
      const body = {
        ...(str(ctx, 'scopes') !== undefined ? { scopes: list(str(ctx, 'scopes') ?? '') } : {}),
        ...(ip !== undefined ? { ipAllowlist: ip === 'none' ? [] : list(ip) } : {}),
        ...(str(ctx, 'label') !== undefined ? { label: str(ctx, 'label') } : {}),
        ...(expires !== undefined
          ? expires === 'never'
            ? { expiresAt: null }
            : { expiresIn: expires }
          : {}),
      };
      if (Object.keys(body).length === 0) throw ctx.usage('Nothing to update.');
      const { key } = await callAdmin<{ key: KeyJson }>(
        ctx.target,
        'PATCH',
        `/v1/keys/${encodeURIComponent(id)}`,
        body,
      );
      return { json: key, text: keyText(key) };
    },
  },
  'keys rotate': {
    usage: 'portcullis keys rotate ID [--grace 1h]',
    options: { grace: { type: 'string' } },
    async run(ctx) {
      const grace = str(ctx, 'grace');
      return withSecret(
        await callAdmin(
          ctx.target,
          'POST',
          `/v1/keys/${encodeURIComponent(idArg(ctx))}/rotate`,
          grace !== undefined ? { grace } : {},
        ),
      );
    },
  },
  'keys revoke': {
    usage: 'portcullis keys revoke ID',
    options: {},
    async run(ctx) {
      const { key } = await callAdmin<{ key: KeyJson }>(
        ctx.target,
        'POST',
        `/v1/keys/${encodeURIComponent(idArg(ctx))}/revoke`,
        {},
      );
      return { json: key, text: keyText(key) };
    },
  },
  'audit list': {
    usage: 'portcullis audit list [--after SEQ] [--limit N] [--target ID]',
    options: { after: { type: 'string' }, limit: { type: 'string' }, target: { type: 'string' } },
    async run(ctx) {
      const query = new URLSearchParams();
      if (str(ctx, 'after') !== undefined) query.set('afterSeq', str(ctx, 'after') ?? '');
      if (str(ctx, 'limit') !== undefined) query.set('limit', str(ctx, 'limit') ?? '');
      if (str(ctx, 'target') !== undefined) query.set('target', str(ctx, 'target') ?? '');
      const { entries } = await callAdmin<{ entries: Record<string, unknown>[] }>(
        ctx.target,
        'GET',
        `/v1/audit?${query.toString()}`,
      );
      return {
        json: entries,
        text: formatTable(entries, ['seq', 'ts', 'actor', 'action', 'target', 'requestId']),
      };
    },
  },
  'audit verify': {
    usage: 'portcullis audit verify',
    options: {},
    async run(ctx) {
      const result = await callAdmin<{
        ok: boolean;
        entries: number;
        firstBadSeq?: number;
        problem?: string;
        headSeq?: number;
        headHash?: string;
      }>(ctx.target, 'GET', '/v1/audit/verify');
      const text = result.ok
        ? `audit chain intact: ${result.entries} entries, head #${result.headSeq ?? 0} ${result.headHash ?? ''}`
        : `audit chain BROKEN at entry #${result.firstBadSeq ?? '?'} (${result.problem ?? 'unknown'}); ${result.entries} entries read`;
      return { json: result, text, exitCode: result.ok ? 0 : 1 };
    },
  },
  'bans list': {
    usage: 'portcullis bans list',
    options: {},
    async run(ctx) {
      const { bans } = await callAdmin<{ bans: Record<string, unknown>[] }>(
        ctx.target,
        'GET',
        '/v1/bans',
      );
      return {
        json: bans,
        text:
          bans.length === 0
            ? 'no active bans'
            : formatTable(bans, ['environment', 'prefix', 'until', 'offences']),
      };
    },
  },
  'bans lift': {
    usage: 'portcullis bans lift PREFIX [--forgive]',
    options: { forgive: { type: 'boolean' } },
    async run(ctx) {
      const prefix = ctx.positionals[0];
      if (prefix === undefined) throw ctx.usage('An IP prefix is required.');
      const result = await callAdmin<{ prefix: string; lifted: string[] }>(
        ctx.target,
        'POST',
        '/v1/bans/lift',
        { prefix, forgive: ctx.values.forgive === true },
      );
      return {
        json: result,
        text:
          result.lifted.length === 0
            ? `${prefix} was not banned`
            : `ban on ${prefix} lifted (${result.lifted.join(', ')})`,
      };
    },
  },
  'admin-tokens create': {
    usage:
      'portcullis admin-tokens create --role owner|operator|auditor|approver [--label L] [--expires-in 30d]',
    options: {
      role: { type: 'string' },
      label: { type: 'string' },
      'expires-in': { type: 'string' },
    },
    async run(ctx) {
      const role = str(ctx, 'role');
      if (!role) throw ctx.usage('--role is required.');
      const result = await callAdmin<{ token: Record<string, unknown>; secret: string }>(
        ctx.target,
        'POST',
        '/v1/admin-tokens',
        {
          role,
          ...(str(ctx, 'label') !== undefined ? { label: str(ctx, 'label') } : {}),
          ...(str(ctx, 'expires-in') !== undefined ? { expiresIn: str(ctx, 'expires-in') } : {}),
        },
      );
      return {
        json: { ...result.token, secret: result.secret },
        text: `${formatRecord({ ...result.token, token: result.secret })}\n\nThe token is shown once. Store it now.`,
      };
    },
  },
  'master-key rotate': {
    usage: 'portcullis master-key rotate',
    options: {},
    async run(ctx) {
      const result = await callAdmin<{ rewrapped: number; activeKeyId: string }>(
        ctx.target,
        'POST',
        '/v1/master-key/rotate',
        {},
      );
      return {
        json: result,
        text: `master key rotated: now ${result.activeKeyId}; ${result.rewrapped} secret(s) re-wrapped`,
      };
    },
  },
  ...ALLOWANCE_COMMANDS,
  ...OBSERVABILITY_COMMANDS,
  ...WITHDRAWAL_COMMANDS,
  ...GOVERNANCE_COMMANDS,
};
