/**
 * `portcullis keys allowance set|list|remove …`: the spend allowances of a key
 * (docs/policies.md §4.1, docs/admin-api.md). Reading needs `keys:read`, changing `keys:write`.
 */
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

const USAGE = `portcullis keys allowance set KEY_ID --kind notional|withdrawal --asset USDT --amount N --period 1h|24h|7d|lifetime (--expires-in 30d | --expires-at ISO)
       portcullis keys allowance list KEY_ID
       portcullis keys allowance remove KEY_ID ALLOWANCE_ID`;

const COLUMNS = [
  'id',
  'kind',
  'asset',
  'amount',
  'period',
  'spent',
  'remaining',
  'state',
  'expiresAt',
];

const str = (ctx: CommandContext, name: string): string | undefined => {
  const value = ctx.values[name];
  return typeof value === 'string' ? value : undefined;
};

/** The POST body from the flags; the API validates the values themselves. */
function setBody(ctx: CommandContext): Row {
  const kind = str(ctx, 'kind');
  if (kind !== 'notional' && kind !== 'withdrawal') {
    throw ctx.usage('--kind is notional or withdrawal.');
  }
  const body: Row = { kind };
  for (const flag of ['asset', 'amount', 'period'] as const) {
    const value = str(ctx, flag);
    if (value === undefined) throw ctx.usage(`--${flag} is required.`);
    body[flag] = value;
  }
  const expiresIn = str(ctx, 'expires-in');
  const expiresAt = str(ctx, 'expires-at');
  if ((expiresIn === undefined) === (expiresAt === undefined)) {
    throw ctx.usage('Give exactly one of --expires-in and --expires-at: an allowance expires.');
  }
  if (expiresIn !== undefined) body.expiresIn = expiresIn;
  if (expiresAt !== undefined) body.expiresAt = expiresAt;
  return body;
}

export const ALLOWANCE_COMMANDS: Readonly<Record<string, CommandSpec>> = {
  'keys allowance': {
    usage: USAGE,
    options: {
      kind: { type: 'string' },
      asset: { type: 'string' },
      amount: { type: 'string' },
      period: { type: 'string' },
      'expires-in': { type: 'string' },
      'expires-at': { type: 'string' },
    },
    async run(ctx) {
      const [action, keyId, allowanceId, ...extra] = ctx.positionals;
      if (keyId === undefined) throw ctx.usage('An action and a key id are required.');
      const base = `/v1/keys/${encodeURIComponent(keyId)}/allowances`;
      if (action === 'list' && allowanceId === undefined) {
        const { allowances } = await callAdmin<{ allowances: Row[] }>(ctx.target, 'GET', base);
        return {
          json: allowances,
          text:
            allowances.length === 0
              ? `key ${keyId} has no allowances (scopes and policies alone decide)`
              : formatTable(allowances, COLUMNS),
        };
      }
      if (action === 'set' && allowanceId === undefined) {
        const { allowance } = await callAdmin<{ allowance: Row }>(
          ctx.target,
          'POST',
          base,
          setBody(ctx),
        );
        return { json: allowance, text: formatRecord(allowance) };
      }
      if (action === 'remove' && allowanceId !== undefined && extra.length === 0) {
        const result = await callAdmin<{ removed?: string; approval?: Row }>(
          ctx.target,
          'DELETE',
          `${base}/${encodeURIComponent(allowanceId)}`,
        );
        if (result.approval !== undefined) {
          const id = String(result.approval.id);
          return {
            json: result,
            text: `held for approval ${id} (quorum ${String(result.approval.quorum)}): portcullis approvals show ${id}`,
          };
        }
        return { json: result, text: `removed allowance ${String(result.removed)} of ${keyId}` };
      }
      throw ctx.usage('The action is set KEY_ID, list KEY_ID or remove KEY_ID ALLOWANCE_ID.');
    },
  },
};
