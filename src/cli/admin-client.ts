import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** An error answered by the admin API (or a connection problem), with its stable code. */
export class AdminApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    readonly requestId?: string,
  ) {
    super(message);
  }
}

export interface AdminTarget {
  readonly url: string;
  readonly token: string | undefined;
}

/**
 * Finds the admin API: flags first, then PORTCULLIS_ADMIN_URL / PORTCULLIS_ADMIN_TOKEN, then the
 * local server's runtime.json and admin-token files in the data directory.
 */
export function resolveAdminTarget(options: {
  adminUrl?: string | undefined;
  token?: string | undefined;
  dataDir?: string | undefined;
  env: Readonly<Record<string, string | undefined>>;
}): AdminTarget {
  const dataDir = resolve(options.dataDir ?? options.env.PORTCULLIS_DATA_DIR ?? 'data');
  let url = options.adminUrl ?? options.env.PORTCULLIS_ADMIN_URL;
  if (url === undefined) {
    const runtimeFile = join(dataDir, 'runtime.json');
    if (existsSync(runtimeFile)) {
      try {
        url = (JSON.parse(readFileSync(runtimeFile, 'utf8')) as { adminUrl?: string }).adminUrl;
      } catch {
        url = undefined;
      }
    }
  }
  let token = options.token ?? options.env.PORTCULLIS_ADMIN_TOKEN;
  if (token === undefined) {
    const tokenFile = join(dataDir, 'admin-token');
    if (existsSync(tokenFile)) token = readFileSync(tokenFile, 'utf8').trim();
  }
  return { url: url ?? 'http://127.0.0.1:8081', token };
}

/** One admin API call; throws AdminApiError with the server's code on any failure. */
export async function callAdmin<T>(
  target: AdminTarget,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  let response: Response;
  try {
    response = await fetch(new URL(path, target.url), {
      method,
      headers: {
        ...(target.token ? { authorization: `Bearer ${target.token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(30_000),
    });
  } catch {
    throw new AdminApiError(
      'ADMIN_UNREACHABLE',
      `Cannot reach the admin API at ${target.url}; is the server running?`,
      0,
    );
  }
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : {};
  } catch {
    throw new AdminApiError(
      'BAD_RESPONSE',
      `The admin API answered ${response.status} with a non-JSON body.`,
      response.status,
    );
  }
  if (!response.ok) {
    const error = (parsed as { error?: { code?: string; message?: string; requestId?: string } })
      .error;
    throw new AdminApiError(
      error?.code ?? 'HTTP_ERROR',
      error?.message ?? `HTTP ${response.status}`,
      response.status,
      error?.requestId,
    );
  }
  return parsed as T;
}
