/**
 * The key lifecycle driven through the real CLI (`--json`) against a running server, for any
 * e2e test that needs accounts and keys (the control-plane tests, and the data-plane tests that
 * check the old secret in grace, after grace and after revocation).
 */
import { runCli, type CliResult } from './server-process.js';

export interface CliKey {
  readonly id: string;
  readonly accountId: string;
  readonly environment: 'sandbox' | 'production';
  readonly scopes: string[];
  readonly ipAllowlist: string[];
  readonly state: 'active' | 'revoked' | 'expired';
  readonly epoch: number;
  readonly secretVersion: number;
  readonly secret?: string;
  readonly [field: string]: unknown;
}

/** Runs a CLI command with `--json` and returns its JSON; throws with the output on failure. */
export async function cliJson<T>(args: readonly string[], dataDir: string): Promise<T> {
  const result: CliResult = await runCli([...args, '--json'], { dataDir });
  if (result.code !== 0 || result.json === undefined) {
    throw new Error(
      `portcullis ${args.join(' ')} exited ${String(result.code)}:\n${result.stdout}\n${result.stderr}`,
    );
  }
  return result.json as T;
}

export async function cliCreateAccount(dataDir: string, name = 'e2e'): Promise<string> {
  return (await cliJson<{ id: string }>(['accounts', 'create', '--name', name], dataDir)).id;
}

export function cliCreateKey(
  dataDir: string,
  options: {
    accountId: string;
    env?: 'sandbox' | 'production';
    scopes?: string;
    extra?: readonly string[];
  },
): Promise<CliKey> {
  return cliJson<CliKey>(
    [
      'keys',
      'create',
      '--account',
      options.accountId,
      '--env',
      options.env ?? 'sandbox',
      '--scopes',
      options.scopes ?? 'read,trade',
      ...(options.extra ?? []),
    ],
    dataDir,
  );
}

export const cliShowKey = (dataDir: string, id: string): Promise<CliKey> =>
  cliJson<CliKey>(['keys', 'show', id], dataDir);

export const cliRotateKey = (dataDir: string, id: string, grace: string): Promise<CliKey> =>
  cliJson<CliKey>(['keys', 'rotate', id, '--grace', grace], dataDir);

export const cliRevokeKey = (dataDir: string, id: string): Promise<CliKey> =>
  cliJson<CliKey>(['keys', 'revoke', id], dataDir);
