/** Runs the CLI in the test's own process against an admin API, capturing what it prints. */
import { vi } from 'vitest';
import { main } from '../../src/cli/main.js';

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** `portcullis ARGS --admin-url URL --token TOKEN`, stdout and stderr captured, not printed. */
export async function runCli(
  target: { readonly adminUrl: string; readonly token: string },
  ...args: string[]
): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    stdout += String(chunk);
    return true;
  });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    stderr += String(chunk);
    return true;
  });
  try {
    const code = await main([...args, '--admin-url', target.adminUrl, '--token', target.token], {});
    return { code, stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}
