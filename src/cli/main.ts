import { parseArgs, type ParseArgsConfig } from 'node:util';
import { AdminApiError, resolveAdminTarget } from './admin-client.js';
import { ADMIN_COMMANDS, type CommandContext } from './commands/admin-commands.js';
import { runSign, SIGN_USAGE } from './commands/sign.js';
import { runStart } from './commands/start.js';

const GLOBAL_OPTIONS = {
  json: { type: 'boolean' },
  'data-dir': { type: 'string' },
  'admin-url': { type: 'string' },
  token: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

/** Command groups in the order the overview lists them; a group not named here comes last. */
const GROUP_ORDER = [
  'accounts',
  'keys',
  'bans',
  'audit',
  'admin-tokens',
  'master-key',
  'traffic',
  'alerts',
  'risk',
  'policy',
  'approvals',
  'withdrawals',
];
const WIDTH = 100;

/**
 * The overview `portcullis --help` prints, made from every command's own usage so that it lists
 * every command and option there is (a hand-kept copy had drifted: `bans` was missing).
 */
export function usageOverview(): string {
  const rank = (name: string) => {
    const i = GROUP_ORDER.indexOf(name.split(' ')[0] ?? '');
    return i < 0 ? GROUP_ORDER.length : i;
  };
  const names = Object.keys(ADMIN_COMMANDS).sort((a, b) => rank(a) - rank(b));
  const lines = ['start [--config FILE] [--data-dir DIR]'];
  const seen = new Set<string>();
  for (const name of names) {
    const usage = ADMIN_COMMANDS[name]?.usage ?? '';
    if (seen.has(usage)) continue; // `keys allowance …` shares one usage among its verbs
    seen.add(usage);
    for (const line of usage.split('\n')) lines.push(line.trim().replace(/^portcullis /, ''));
  }
  lines.push(
    SIGN_USAGE.slice(0, SIGN_USAGE.indexOf('\n\n'))
      .replace(/^Usage: portcullis /, '')
      .replace(/\s+/g, ' '),
  );
  return [
    'Usage: portcullis <command> [options]',
    '',
    ...lines.flatMap((line) => wrap(line, '  ', '      ')),
    '',
    'Run "portcullis <command> --help" for one command. Global options:',
    '  --json (one JSON document on stdout), --data-dir DIR (default ./data), --admin-url URL,',
    '  --token TOKEN (or PORTCULLIS_ADMIN_URL / PORTCULLIS_ADMIN_TOKEN)',
  ].join('\n');
}

/** Word-wraps a usage line at WIDTH without splitting `[--opt VALUE]` or `--opt VALUE`. */
function wrap(line: string, first: string, rest: string): string[] {
  const units: string[] = [];
  let depth = 0;
  for (const word of line.split(' ')) {
    const last = units[units.length - 1];
    // Inside brackets, or the value of a bare `--option`: one unit with what came before.
    if (depth > 0 || (last?.startsWith('--') === true && !/^[-[(]/.test(word)))
      units[units.length - 1] += ` ${word}`;
    else units.push(word);
    for (const c of word) depth += c === '[' || c === '(' ? 1 : c === ']' || c === ')' ? -1 : 0;
  }
  const out: string[] = [];
  let current = first;
  for (const unit of units) {
    const indent = out.length === 0 ? first : rest;
    if (current.length > indent.length && current.length + 1 + unit.length > WIDTH) {
      out.push(current);
      current = rest + unit;
    } else current += (current.length > indent.length ? ' ' : '') + unit;
  }
  out.push(current);
  return out;
}

/** Usage mistakes exit with 2; API and verification failures with 1. */
class UsageError extends Error {}

/** The CLI entry point; returns the process exit code. */
export async function main(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<number> {
  const [command, sub] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${usageOverview()}\n`);
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
