import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type onRequestHookHandler,
} from 'fastify';
import { systemClock, type Clock } from '../core/clock.js';
import { PortcullisError } from '../core/errors.js';
import { parseDecimal } from './decimal.js';
import type { HandlerDeps, HandlerTable } from './handler.js';
import { createBinanceHandlers, registerBinanceBodyParser } from './handlers/binance-handlers.js';
import { createBybitHandlers } from './handlers/bybit-handlers.js';
import { createNativeHandlers } from './handlers/native-handlers.js';
import { createOkxHandlers } from './handlers/okx-handlers.js';
import { readIdentity, upstreamTokenCheck } from './identity.js';
import { createLedger } from './ledger.js';
import {
  ASSET_PATTERN,
  DEFAULT_MARKETS,
  createMarkets,
  type SandboxMarketConfig,
} from './markets.js';
import { renderFault } from './render-fault.js';
import { SANDBOX_ROUTES, dialectOfPath, routeKey, type SandboxDialect } from './routes.js';
import { SandboxFault, type SandboxErrorCode } from './sandbox-fault.js';
import { withLedgerEvents } from './ws/ledger-events.js';
import { createSandboxWs } from './ws/sandbox-ws.js';

export interface SandboxExchangeOptions {
  /** Defaults to the system clock; tests inject a fixed one. */
  readonly clock?: Clock;
  /**
   * When set, every request must carry it in X-Portcullis-Upstream-Token, so a local process
   * cannot reach the sandbox around the gateway. At least 16 characters.
   */
  readonly upstreamToken?: string;
  /** Balances each account starts with, by asset, as decimal strings. */
  readonly seedBalances?: Readonly<Record<string, string>>;
  readonly markets?: readonly SandboxMarketConfig[];
  readonly bodyLimitBytes?: number;
  /** Fastify log level; logging is off unless given. URLs are logged without their query. */
  readonly logLevel?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
}

export const DEFAULT_SEED_BALANCES: Readonly<Record<string, string>> = Object.freeze({
  USDT: '100000',
  BTC: '2',
  ETH: '50',
});

const DEFAULT_BODY_LIMIT_BYTES = 64 * 1024;
// Request ids are echoed into responses and logs, so only short printable ones are taken over.
const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
const MIN_UPSTREAM_TOKEN_LENGTH = 16;

/**
 * Builds the paper-trading upstream (no listen); each instance has its own ledger. Its WebSocket
 * API (`/ws`) is served on the same HTTP server once it listens.
 */
export function buildSandboxExchange(options: SandboxExchangeOptions = {}): FastifyInstance {
  const clock = options.clock ?? systemClock;
  const upstreamToken = validateUpstreamToken(options.upstreamToken);
  // Every order and balance change is also told to the WebSocket API's subscribers.
  const { ledger, events } = withLedgerEvents(
    createLedger({
      clock,
      markets: createMarkets(options.markets ?? DEFAULT_MARKETS),
      seedBalances: validateSeed(options.seedBalances ?? DEFAULT_SEED_BALANCES),
    }),
  );
  const app = Fastify({
    logger: options.logLevel === undefined ? false : loggerOptions(options.logLevel),
    bodyLimit: validateBodyLimit(options.bodyLimitBytes),
    exposeHeadRoutes: false,
    requestIdHeader: false,
    genReqId: requestIdOf,
    frameworkErrors: (_error, request: FastifyRequest, reply: FastifyReply) => {
      const fault = new SandboxFault('VALIDATION_FAILED', 'the request URL is malformed');
      sendFault(request, reply, fault, clock);
    },
  });

  app.addHook('onRequest', (request, reply, done) => {
    void reply.header('x-request-id', request.id);
    done();
  });
  app.setErrorHandler<Error>((error, request, reply) => {
    const fault = toFault(error);
    if (fault.code === 'INTERNAL_ERROR') request.log.error({ err: error }, 'sandbox fault');
    return sendFault(request, reply, fault, clock);
  });
  app.setNotFoundHandler({ preValidation: createGuard(upstreamToken, false) }, () => {
    throw new SandboxFault('NOT_FOUND', 'no such endpoint');
  });

  const sockets = createSandboxWs({ ledger, events, upstreamToken });
  app.server.on('upgrade', (request, socket, head: Buffer) =>
    sockets.handleUpgrade(request, socket, head),
  );
  // Before the HTTP server closes: it would otherwise wait for the upgraded sockets.
  app.addHook('preClose', (done) => {
    sockets.close();
    done();
  });

  const deps: HandlerDeps = { ledger, clock };
  registerDialect(app, 'native', createNativeHandlers(deps), upstreamToken);
  registerDialect(app, 'binance', createBinanceHandlers(deps), upstreamToken);
  registerDialect(app, 'bybit', createBybitHandlers(deps), upstreamToken);
  registerDialect(app, 'okx', createOkxHandlers(deps), upstreamToken);
  return app;
}

/** Answers a fault in the envelope of the dialect the path belongs to. */
function sendFault(
  request: FastifyRequest,
  reply: FastifyReply,
  fault: SandboxFault,
  clock: Clock,
): FastifyReply {
  const context = { requestId: request.id, nowMs: clock.now() };
  const rendered = renderFault(dialectOfPath(request.url), fault, context);
  return reply.code(rendered.status).send(rendered.body);
}

/** Registers one dialect's routes from the route table, in its own encapsulated context. */
function registerDialect(
  app: FastifyInstance,
  dialect: SandboxDialect,
  handlers: HandlerTable,
  upstreamToken: string | undefined,
): void {
  const routes = SANDBOX_ROUTES.filter((route) => route.dialect === dialect);
  // Checked here, synchronously, so a table entry without a handler fails the build, not a request.
  for (const route of routes) {
    if (!Object.hasOwn(handlers, routeKey(route))) {
      throw new Error(`sandbox route ${routeKey(route)} has no handler`);
    }
  }
  void app.register((instance, _options, done) => {
    if (dialect === 'binance') registerBinanceBodyParser(instance);
    for (const route of routes) {
      const handler = handlers[routeKey(route)];
      if (!handler) continue; // unreachable: checked above
      instance.route({
        method: route.method,
        url: route.path,
        onRequest: createGuard(upstreamToken, route.scope !== null),
        handler,
      });
    }
    done();
  });
}

/**
 * Runs before the body is read: the upstream token first (it says whether the gateway sent the
 * request at all), then the forwarded identity on private routes.
 */
function createGuard(upstreamToken: string | undefined, isPrivate: boolean): onRequestHookHandler {
  const tokenMatches = upstreamToken === undefined ? undefined : upstreamTokenCheck(upstreamToken);
  return (request, _reply, done) => {
    if (tokenMatches !== undefined && !tokenMatches(request.headers)) {
      done(new SandboxFault('UPSTREAM_TOKEN_INVALID', 'the upstream token is missing or wrong'));
      return;
    }
    if (isPrivate && !readIdentity(request.headers)) {
      done(new SandboxFault('IDENTITY_MISSING', 'no caller identity was forwarded'));
      return;
    }
    done();
  };
}

const FASTIFY_FAULTS: Readonly<Record<string, SandboxErrorCode>> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'MALFORMED_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'MALFORMED_JSON',
};

/** Maps anything thrown to a fault; Fastify's own messages are replaced, never echoed. */
function toFault(error: Error): SandboxFault {
  if (error instanceof SandboxFault) return error;
  const code = 'code' in error && typeof error.code === 'string' ? error.code : '';
  const status =
    'statusCode' in error && typeof error.statusCode === 'number' ? error.statusCode : 500;
  const mapped = FASTIFY_FAULTS[code];
  if (mapped) return new SandboxFault(mapped, `the request was refused (${mapped})`);
  if (status === 413) return new SandboxFault('PAYLOAD_TOO_LARGE', 'the body is too large');
  if (status === 415) return new SandboxFault('UNSUPPORTED_MEDIA_TYPE', 'unsupported body type');
  if (status >= 400 && status < 500) {
    return new SandboxFault('VALIDATION_FAILED', 'the request is malformed');
  }
  return new SandboxFault('INTERNAL_ERROR', 'an unexpected fault occurred');
}

function requestIdOf(request: IncomingMessage): string {
  const given = request.headers['x-request-id'];
  if (typeof given === 'string' && REQUEST_ID_PATTERN.test(given)) return given;
  return `req_${randomUUID().replaceAll('-', '')}`;
}

/** Query strings can carry Binance signatures, so only the path is logged. */
function loggerOptions(level: NonNullable<SandboxExchangeOptions['logLevel']>): object {
  return {
    level,
    serializers: {
      req: (request: { method?: string; url?: string; id?: unknown }) => ({
        method: request.method,
        path: (request.url ?? '').split('?')[0],
        requestId: request.id,
      }),
    },
  };
}

function validateUpstreamToken(token: string | undefined): string | undefined {
  if (token === undefined) return undefined;
  if (token.length < MIN_UPSTREAM_TOKEN_LENGTH) {
    throw new PortcullisError(
      'CONFIG_INVALID',
      `sandbox upstreamToken must be at least ${MIN_UPSTREAM_TOKEN_LENGTH} characters`,
    );
  }
  return token;
}

function validateSeed(seed: Readonly<Record<string, string>>): ReadonlyMap<string, bigint> {
  const balances = new Map<string, bigint>();
  for (const [asset, text] of Object.entries(seed)) {
    const amount = parseDecimal(text);
    if (!ASSET_PATTERN.test(asset) || !amount.ok) {
      throw new PortcullisError('CONFIG_INVALID', `sandbox seed balance for ${asset} is invalid`);
    }
    balances.set(asset, amount.value);
  }
  return balances;
}

function validateBodyLimit(bytes: number | undefined): number {
  if (bytes === undefined) return DEFAULT_BODY_LIMIT_BYTES;
  if (!Number.isInteger(bytes) || bytes < 1024 || bytes > 1024 * 1024) {
    throw new PortcullisError('CONFIG_INVALID', 'sandbox bodyLimitBytes must be 1 KiB to 1 MiB');
  }
  return bytes;
}
