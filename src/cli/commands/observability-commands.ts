/** `portcullis traffic`, `alerts …`, `keys report`, `keys risk …` (docs/observability.md). */
import type { ParseArgsConfig } from 'node:util';
import { callAdmin } from '../admin-client.js';
import { formatRecord, formatTable } from '../output.js';
import type { CommandContext, CommandResult } from './admin-commands.js';

interface CommandSpec {
  readonly usage: string;
  readonly options: NonNullable<ParseArgsConfig['options']>;
  run(ctx: CommandContext): Promise<CommandResult>;
}

const str = (ctx: CommandContext, name: string): string | undefined => {
  const value = ctx.values[name];
  return typeof value === 'string' ? value : undefined;
};
const enc = encodeURIComponent;
const idArg = (ctx: CommandContext, what: string): string => {
  const id = ctx.positionals[0];
  if (id === undefined) throw ctx.usage(`${what} id is required.`);
  return id;
};
/** `?a=1&b=2` from the options that are set. */
const query = (pairs: Record<string, string | undefined>): string => {
  const set = Object.entries(pairs).filter((p): p is [string, string] => p[1] !== undefined);
  return set.length === 0 ? '' : `?${set.map(([k, v]) => `${k}=${enc(v)}`).join('&')}`;
};

type Row = Record<string, unknown>;

const alertCommand = (verb: 'ack' | 'resolve'): CommandSpec => ({
  usage: `portcullis alerts ${verb} ID`,
  options: {},
  async run(ctx) {
    const id = idArg(ctx, 'An alert');
    const { alert } = await callAdmin<{ alert: Row }>(
      ctx.target,
      'POST',
      `/v1/alerts/${enc(id)}/${verb}`,
      {},
    );
    return { json: alert, text: formatRecord(alert) };
  },
});

const riskText = (risk: Row & { responses?: Row[] }): string =>
  `${formatRecord({ key: risk.keyId, level: risk.level, state: risk.state })}\n\n${formatTable(
    risk.responses ?? [],
    ['id', 'step', 'reason', 'environment', 'startedAt', 'expiresAt'],
  )}`;

export const OBSERVABILITY_COMMANDS: Readonly<Record<string, CommandSpec>> = {
  traffic: {
    usage:
      'portcullis traffic [--key ID] [--account ID] [--env sandbox|production] [--since 1h] [--reason CODE] [--limit N]',
    options: {
      key: { type: 'string' },
      account: { type: 'string' },
      env: { type: 'string' },
      since: { type: 'string' },
      reason: { type: 'string' },
      limit: { type: 'string' },
    },
    async run(ctx) {
      const { records } = await callAdmin<{ records: Row[] }>(
        ctx.target,
        'GET',
        `/v1/traffic${query({
          keyId: str(ctx, 'key'),
          accountId: str(ctx, 'account'),
          environment: str(ctx, 'env'),
          since: str(ctx, 'since'),
          reason: str(ctx, 'reason'),
          limit: str(ctx, 'limit'),
        })}`,
      );
      return {
        json: records,
        text: formatTable(records, [
          'ts',
          'environment',
          'keyId',
          'ip',
          'method',
          'action',
          'decision',
          'reason',
          'status',
          'totalMs',
        ]),
      };
    },
  },
  'alerts list': {
    usage:
      'portcullis alerts list [--env sandbox|production] [--state open|acknowledged|resolved] [--key ID]',
    options: { env: { type: 'string' }, state: { type: 'string' }, key: { type: 'string' } },
    async run(ctx) {
      const { alerts } = await callAdmin<{ alerts: Row[] }>(
        ctx.target,
        'GET',
        `/v1/alerts${query({ environment: str(ctx, 'env'), state: str(ctx, 'state'), keyId: str(ctx, 'key') })}`,
      );
      return {
        json: alerts,
        text: formatTable(alerts, [
          'id',
          'state',
          'environment',
          'signal',
          'step',
          'keyId',
          'ipPrefix',
          'createdAt',
        ]),
      };
    },
  },
  'alerts ack': alertCommand('ack'),
  'alerts resolve': alertCommand('resolve'),
  'keys report': {
    usage: 'portcullis keys report',
    options: {},
    async run(ctx) {
      const report = await callAdmin<{
        rows: (Row & { findings: { code: string; dueAtMs: number; breached: boolean }[] })[];
        totals: Row;
      }>(ctx.target, 'GET', '/v1/keys/report');
      const rows = report.rows.map((r) => ({
        ...r,
        findings: r.findings.map(
          (f) => `${f.code}${f.breached ? '' : ` (due ${new Date(f.dueAtMs).toISOString()})`}`,
        ),
      }));
      return {
        json: report,
        text: `${formatTable(rows, ['keyId', 'environment', 'accountId', 'label', 'findings'])}\n\n${formatRecord(report.totals)}`,
        exitCode: 0,
      };
    },
  },
  'keys risk': {
    usage: 'portcullis keys risk ID',
    options: {},
    async run(ctx) {
      const risk = await callAdmin<Row>(
        ctx.target,
        'GET',
        `/v1/keys/${enc(idArg(ctx, 'A key'))}/risk`,
      );
      return { json: risk, text: riskText(risk) };
    },
  },
  'keys risk-reset': {
    usage: 'portcullis keys risk-reset ID',
    options: {},
    async run(ctx) {
      const risk = await callAdmin<Row>(
        ctx.target,
        'POST',
        `/v1/keys/${enc(idArg(ctx, 'A key'))}/risk/reset`,
        {},
      );
      return { json: risk, text: riskText(risk) };
    },
  },
};
