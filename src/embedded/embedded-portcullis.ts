/**
 * The pipeline inside a venue's own Node service (docs/integrations.md): the composition root
 * in embedded mode — the same store, master key, key cache, replay guard, rate limits, policies
 * and audit/traffic/metrics as the gateway built from the same configuration — with no listener.
 * The Fastify plugin and the Express middleware are thin adapters over `authorize`.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from 'pino';
import { loadConfig, readConfigFile, type Config } from '../config/config.js';
import { createRuntime, type Runtime } from '../app/runtime.js';
import { PortcullisError } from '../core/errors.js';
import type { Clock } from '../core/clock.js';
import { systemClock } from '../core/clock.js';
import type { Environment } from '../core/keys/model.js';
import { createClientIpResolver, type ClientIpResolver } from '../core/net/client-ip.js';
import { newRequestId } from '../services/ids.js';
import {
  authorizeRequest,
  renderCheckDenial,
  type Authorization,
} from '../server/check/authorize-request.js';

export interface EmbeddedOptions {
  /** A loaded configuration, or… */
  readonly config?: Config;
  /** …the path of the configuration file the gateway uses (JSON or YAML). */
  readonly configFile?: string;
  /** Which environment's keys, routes and limits this service enforces. */
  readonly environment: Environment;
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** Environment variables (PORTCULLIS_MASTER_KEY, overrides); default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** What an embedded consumer hands over: the exact bytes it received. */
export interface EmbeddedRequest {
  readonly method: string;
  /** The request target as received: path and raw query. */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  /** The socket peer; `X-Forwarded-For` is believed only from `dataPlane.trustedProxies`. */
  readonly remoteAddress: string;
}

/** What the route handler is told about an allowed caller (absent for a public route). */
export interface PortcullisIdentity {
  readonly requestId: string;
  readonly keyId: string;
  readonly accountId: string;
  readonly environment: Environment;
  readonly scopes: readonly string[];
}

export interface EmbeddedPortcullis {
  readonly config: Config;
  readonly environment: Environment;
  /** Largest body read (`dataPlane.bodyLimitBytes`). */
  readonly bodyLimitBytes: number;
  authorize(request: EmbeddedRequest): Promise<Authorization>;
  /** The BODY_TOO_LARGE denial, for an adapter that stopped reading the body. */
  tooLarge(headers: IncomingHttpHeaders): Authorization & { outcome: 'deny' };
  close(): Promise<void>;
}

/** The identity of an allowed decision, or undefined for a public route. */
export function identityOf(result: Authorization): PortcullisIdentity | undefined {
  if (result.outcome !== 'allow' || result.decision.outcome !== 'allow') return undefined;
  const { key } = result.decision;
  return {
    requestId: result.headers['x-request-id'] ?? '',
    keyId: key.id,
    accountId: key.accountId,
    environment: key.environment,
    scopes: key.scopes,
  };
}

/** Opens the store and composes the pipeline of one environment; `close()` releases it. */
export async function createEmbeddedPortcullis(
  options: EmbeddedOptions,
): Promise<EmbeddedPortcullis> {
  const env = options.env ?? process.env;
  const config =
    options.config ?? loadConfig(options.configFile ? readConfigFile(options.configFile) : {}, env);
  const clock = options.clock ?? systemClock;
  const runtime: Runtime = await createRuntime(config, {
    env,
    clock,
    embedded: true,
    ...(options.logger ? { logger: options.logger } : {}),
  });
  const authority = runtime.authorities.get(options.environment);
  if (authority === undefined) {
    await runtime.stop();
    throw new PortcullisError(
      'CONFIG_INVALID',
      `The ${options.environment} environment is not enabled in this configuration.`,
    );
  }
  const clientIp: ClientIpResolver = createClientIpResolver({
    trustedProxies: config.dataPlane.trustedProxies,
  });
  // Policy changes made by another process are picked up within the same bound as keys.
  const policies = runtime.policies;
  const reload =
    policies === undefined
      ? undefined
      : setInterval(
          () => {
            policies.load().catch((error: unknown) => {
              runtime.logger.error({ err: error }, 'embedded policy reload failed');
            });
          },
          Math.max(config.embedded.keyRevalidateIntervalMs, 250),
        );
  reload?.unref();

  return {
    config,
    environment: options.environment,
    bodyLimitBytes: config.dataPlane.bodyLimitBytes,
    authorize(request) {
      const q = request.url.indexOf('?');
      return authorizeRequest(authority, {
        requestId: newRequestId(),
        method: request.method,
        path: q < 0 ? request.url : request.url.slice(0, q),
        rawQuery: q < 0 ? null : request.url.slice(q + 1),
        headers: request.headers,
        body: request.body,
        clientIp: clientIp(request.remoteAddress, request.headers['x-forwarded-for']),
        nowMs: clock.now(),
      });
    },
    tooLarge(headers) {
      const requestId = newRequestId();
      const dialect =
        headers['x-mbx-apikey'] !== undefined
          ? 'binance'
          : headers['x-bapi-api-key'] !== undefined
            ? 'bybit'
            : headers['ok-access-key'] !== undefined
              ? 'okx'
              : 'native';
      return {
        outcome: 'deny',
        reason: 'BODY_TOO_LARGE',
        dialect,
        decision: { outcome: 'deny', reason: 'BODY_TOO_LARGE', dialect },
        rendered: renderCheckDenial(authority, dialect, 'BODY_TOO_LARGE', {
          requestId,
          nowMs: clock.now(),
        }),
      };
    },
    async close() {
      if (reload) clearInterval(reload);
      await runtime.stop();
    },
  };
}
