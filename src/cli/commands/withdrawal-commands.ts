/**
 * `portcullis withdrawals …` (per-account withdrawal rules and address book, docs/policies.md
 * §7) and `portcullis risk prefixes|lift-prefix` (prefix-wide anomaly responses,
 * docs/observability.md).
 */
import { readFileSync } from 'node:fs';
import type { ParseArgsConfig } from 'node:util';
import { callAdmin } from '../admin-client.js';
import { formatRecord, formatTable } from '../output.js';
import type { CommandContext, CommandResult } from './admin-commands.js';

interface CommandSpec {
  readonly usage: string;
  readonly options: NonNullable<ParseArgsConfig['options']>;
  run(ctx: CommandContext): Promise<CommandResult>;
}

type Row = Record<string, unknown>;

const str = (ctx: CommandContext, name: string): string | undefined => {
  const value = ctx.values[name];
  return typeof value === 'string' ? value : undefined;
};
const enc = encodeURIComponent;
const accountArg = (ctx: CommandContext): string => {
  const id = ctx.positionals[0];
  if (id === undefined) throw ctx.usage('An account id is required.');
  return id;
};

/** `--account-per-day 50000` style flags → `{ accountLimits: { perDay: "50000" } }`. */
const LIMIT_FLAGS = {
  'account-per-tx': ['accountLimits', 'perTransaction'],
  'account-per-hour': ['accountLimits', 'perHour'],
  'account-per-day': ['accountLimits', 'perDay'],
  'key-per-tx': ['keyLimits', 'perTransaction'],
  'key-per-hour': ['keyLimits', 'perHour'],
  'key-per-day': ['keyLimits', 'perDay'],
} as const;

/**
 * The PUT body from `--file` (a base) and the flags (which override it). The PUT replaces the
 * account's whole rule set: a field not given takes its default.
 */
function rulesBody(ctx: CommandContext): Row {
  const file = str(ctx, 'file');
  let body: Row = {};
  if (file !== undefined) {
    try {
      const parsed = JSON.parse(readFileSync(file, 'utf8')) as unknown;
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error();
      body = { ...(parsed as Row) };
    } catch {
      throw ctx.usage(`Cannot read a JSON object from ${file}.`);
    }
  }
  const book = str(ctx, 'address-book');
  if (book !== undefined) {
    if (book !== 'required' && book !== 'off') throw ctx.usage('--address-book is required|off.');
    body.addressBookRequired = book === 'required';
  }
  const coolDown = str(ctx, 'cool-down');
  if (coolDown !== undefined) body.coolDown = coolDown;
  const quorum = str(ctx, 'address-approval-quorum');
  if (quorum !== undefined) {
    if (!/^\d{1,2}$/.test(quorum)) throw ctx.usage('--address-approval-quorum is 0–20.');
    body.addressApprovalQuorum = Number(quorum);
  }
  for (const [flag, [group, field]] of Object.entries(LIMIT_FLAGS)) {
    const value = str(ctx, flag);
    if (value === undefined) continue;
    const current = body[group];
    const limits = typeof current === 'object' && current !== null ? (current as Row) : {};
    body[group] = { ...limits, [field]: value };
  }
  if (Object.keys(body).length === 0) throw ctx.usage('Nothing to set: give --file or flags.');
  return body;
}

const rulesText = (accountId: string, rules: Row | null): string =>
  rules === null
    ? `account ${accountId} has no withdrawal rules (scopes and policies alone decide)`
    : formatRecord(rules);

const ADDRESS_COLUMNS = ['id', 'asset', 'network', 'address', 'memo', 'usableFrom'];

export const WITHDRAWAL_COMMANDS: Readonly<Record<string, CommandSpec>> = {
  'withdrawals rules': {
    usage: 'portcullis withdrawals rules ACCOUNT_ID',
    options: {},
    async run(ctx) {
      const accountId = accountArg(ctx);
      const { rules } = await callAdmin<{ rules: Row | null }>(
        ctx.target,
        'GET',
        `/v1/accounts/${enc(accountId)}/withdrawal-rules`,
      );
      return { json: rules, text: rulesText(accountId, rules) };
    },
  },
  'withdrawals set-rules': {
    usage:
      'portcullis withdrawals set-rules ACCOUNT_ID [--file rules.json] [--address-book required|off] [--cool-down 24h] [--account-per-tx N] [--account-per-hour N] [--account-per-day N] [--key-per-tx N] [--key-per-hour N] [--key-per-day N] [--address-approval-quorum N]',
    options: {
      file: { type: 'string' },
      'address-book': { type: 'string' },
      'cool-down': { type: 'string' },
      'address-approval-quorum': { type: 'string' },
      ...Object.fromEntries(Object.keys(LIMIT_FLAGS).map((f) => [f, { type: 'string' as const }])),
    },
    async run(ctx) {
      const accountId = accountArg(ctx);
      const { rules } = await callAdmin<{ rules: Row }>(
        ctx.target,
        'PUT',
        `/v1/accounts/${enc(accountId)}/withdrawal-rules`,
        rulesBody(ctx),
      );
      return { json: rules, text: rulesText(accountId, rules) };
    },
  },
  'withdrawals addresses': {
    usage: 'portcullis withdrawals addresses ACCOUNT_ID',
    options: {},
    async run(ctx) {
      const { addresses } = await callAdmin<{ addresses: Row[] }>(
        ctx.target,
        'GET',
        `/v1/accounts/${enc(accountArg(ctx))}/addresses`,
      );
      return { json: addresses, text: formatTable(addresses, ADDRESS_COLUMNS) };
    },
  },
  'withdrawals add-address': {
    usage:
      'portcullis withdrawals add-address ACCOUNT_ID --asset USDT --address ADDR [--network TRC20] [--memo M]',
    options: {
      asset: { type: 'string' },
      address: { type: 'string' },
      network: { type: 'string' },
      memo: { type: 'string' },
    },
    async run(ctx) {
      const accountId = accountArg(ctx);
      const asset = str(ctx, 'asset');
      const address = str(ctx, 'address');
      if (asset === undefined || address === undefined)
        throw ctx.usage('--asset and --address are required.');
      const network = str(ctx, 'network');
      const memo = str(ctx, 'memo');
      const result = await callAdmin<{ address?: Row; approval?: Row }>(
        ctx.target,
        'POST',
        `/v1/accounts/${enc(accountId)}/addresses`,
        {
          asset,
          address,
          ...(network !== undefined ? { network } : {}),
          ...(memo !== undefined ? { memo } : {}),
        },
      );
      if (result.approval !== undefined) {
        const id = String(result.approval.id);
        return {
          json: result,
          text: `held for approval ${id} (quorum ${String(result.approval.quorum)}): portcullis approvals show ${id}`,
        };
      }
      return { json: result, text: formatRecord(result.address ?? {}) };
    },
  },
  'risk prefixes': {
    usage: 'portcullis risk prefixes',
    options: {},
    async run(ctx) {
      const { responses } = await callAdmin<{ responses: Row[] }>(
        ctx.target,
        'GET',
        '/v1/risk/prefixes',
      );
      return {
        json: responses,
        text:
          responses.length === 0
            ? 'no prefix-wide responses in force'
            : formatTable(responses, [
                'environment',
                'ipPrefix',
                'step',
                'throttleFactor',
                'reason',
                'expiresAt',
              ]),
      };
    },
  },
  'risk lift-prefix': {
    usage: 'portcullis risk lift-prefix PREFIX',
    options: {},
    async run(ctx) {
      const prefix = ctx.positionals[0];
      if (prefix === undefined) throw ctx.usage('An IP prefix is required.');
      const result = await callAdmin<{ lifted: Row[] }>(
        ctx.target,
        'POST',
        '/v1/risk/prefixes/lift',
        {
          prefix,
        },
      );
      return {
        json: result,
        text:
          result.lifted.length === 0
            ? `nothing in force on ${prefix}`
            : `lifted on ${prefix}: ${result.lifted.map((r) => String(r.step)).join(', ')}`,
      };
    },
  },
};
