import type { AddressInfo } from 'node:net';
import { buildSandboxExchange, type SandboxExchangeOptions } from './build-sandbox-exchange.js';

export interface StartSandboxOptions extends SandboxExchangeOptions {
  /** Loopback by default: the sandbox is meant to be reached only through the gateway. */
  readonly host?: string;
  /** 0 (the default) picks a free ephemeral port. */
  readonly port?: number;
}

export interface RunningSandbox {
  /** Base URL without a trailing slash, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  close(): Promise<void>;
}

/** Builds a sandbox exchange and listens; `close()` stops it. */
export async function startSandboxExchange(
  options: StartSandboxOptions = {},
): Promise<RunningSandbox> {
  const { host = '127.0.0.1', port = 0, ...buildOptions } = options;
  const app = buildSandboxExchange(buildOptions);
  await app.listen({ host, port });
  const address = app.server.address() as AddressInfo;
  const hostPart = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${hostPart}:${address.port}`,
    close: () => app.close(),
  };
}
