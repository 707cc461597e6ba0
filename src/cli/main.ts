import { parseArgs, type ParseArgsConfig } from 'node:util';
import { AdminApiError, resolveAdminTarget } from './admin-client.js';
import { ADMIN_COMMANDS, type CommandContext } from './commands/admin-commands.js';
import { runSign } from './commands/sign.js';
import { runStart } from './commands/start.js';

const GLOBAL_OPTIONS = {
  json: { type: 'boolean' },
  'data-dir': { type: 'string' },
  'admin-url': { type: 'string' },
  token: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

const USAGE = `Usage: portcullis <command> [options]

  start [--config FILE] [--data-dir DIR]     run the gateway
  accounts create --name NAME | accounts list
  keys create --account ID --env sandbox|production --scopes read,trade
       [--ip CIDR,CIDR] [--scheme hmac|ed25519] [--public-key FILE]
       [--passphrase P] [--label L] [--expires-in 90d]
  keys list [--account ID] [--env E] | keys show ID
  keys update ID [--scopes S] [--ip CIDR,…|none] [--label L] [--expires-in D|never]
  keys rotate ID [--grace 1h] | keys revoke ID
  audit list [--after SEQ] [--limit N] | audit verify
  admin-tokens create --role owner|operator|auditor|approver [--label L] [--expires-in D]
  master-key rotate
  traffic [--key ID] [--account ID] [--env E] [--since 1h] [--reason CODE] [--limit N]
  alerts list [--env E] [--state S] [--key ID] | alerts ack ID | alerts resolve ID
  keys report | keys risk ID | keys risk-reset ID
  policy list | policy create --file F | policy update ID --file F | policy delete ID
  policy test --file request.json            decide a described request (simulate)
  approvals list [--state S] | approvals show ID | approvals approve|reject ID [--digest HEX]
  withdrawals rules ACC | withdrawals set-rules ACC [--file F] [--address-book required|off]
       [--cool-down 24h] [--account-per-tx|-hour|-day N] [--key-per-tx|-hour|-day N]
       [--address-approval-quorum N]           replace the account's withdrawal rules
  withdrawals addresses ACC | withdrawals add-address ACC --asset A --address X [--network N] [--memo M]
  keys allowance set KEY --kind notional|withdrawal --asset A --amount N --period 24h|lifetime
       (--expires-in 30d | --expires-at ISO)  a bounded, expiring spend allowance
  keys allowance list KEY | keys allowance remove KEY ALLOWANCE_ID
  risk prefixes | risk lift-prefix PREFIX    prefix-wide anomaly responses (bans, throttles)
  sign --key-id ID (--secret-file F | --private-key FILE) --url URL [--method M]
       [--body TEXT | --body-file F] [--json | --curl]   sign one request locally

Global: --json (one JSON document on stdout), --data-dir DIR (default ./data),
        --admin-url URL, --token TOKEN (or PORTCULLIS_ADMIN_URL / PORTCULLIS_ADMIN_TOKEN)`;

/** Usage mistakes exit with 2; API and verification failures with 1. */
class UsageError extends Error {}

/** The CLI entry point; returns the process exit code. */
export async function main(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<number> {
  const [command, sub] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return command === undefined ? 2 : 0;
  }
  if (command === 'start') return runStart(argv.slice(1), env);
  if (command === 'sign') return runSign(argv.slice(1), env);

  const name = sub !== undefined && !sub.startsWith('-') ? `${command} ${sub}` : command;
  const spec = ADMIN_COMMANDS[name];
  const json = argv.includes('--json');
  try {
    if (!spec) throw new UsageError(`Unknown command "${name}". Run "portcullis --help".`);
    let parsed;
    try {
      parsed = parseArgs({
        args: argv.slice(name.split(' ').length),
        options: { ...GLOBAL_OPTIONS, ...spec.options },
        allowPositionals: true,
        strict: true,
      });
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    const values = parsed.values as Record<string, string | boolean | undefined>;
    if (values.help) {
      process.stdout.write(`${spec.usage}\n`);
      return 0;
    }
    const ctx: CommandContext = {
      values,
      positionals: parsed.positionals,
      target: resolveAdminTarget({
        adminUrl: values['admin-url'] as string | undefined,
        token: values.token as string | undefined,
        dataDir: values['data-dir'] as string | undefined,
        env,
      }),
      usage: (message: string) => new UsageError(`${message}\nUsage: ${spec.usage}`),
    };
    const result = await spec.run(ctx);
    process.stdout.write(`${json ? JSON.stringify(result.json, null, 2) : result.text}\n`);
    return result.exitCode ?? 0;
  } catch (error) {
    return reportError(error, json);
  }
}

function reportError(error: unknown, json: boolean): number {
  if (error instanceof UsageError) {
    process.stderr.write(
      json
        ? `${JSON.stringify({ error: { code: 'USAGE', message: error.message } })}\n`
        : `${error.message}\n`,
    );
    return 2;
  }
  if (error instanceof AdminApiError) {
    const body = {
      error: {
        code: error.code,
        message: error.message,
        ...(error.requestId ? { requestId: error.requestId } : {}),
      },
    };
    process.stderr.write(
      json
        ? `${JSON.stringify(body)}\n`
        : `error ${error.code}: ${error.message}${error.requestId ? ` (request ${error.requestId})` : ''}\n`,
    );
    return 1;
  }
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(
    json ? `${JSON.stringify({ error: { code: 'CLI_ERROR', message } })}\n` : `error: ${message}\n`,
  );
  return 1;
}
