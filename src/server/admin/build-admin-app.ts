import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyRequest,
  type FastifyBaseLogger,
} from 'fastify';
import { roleAllows, type Permission } from '../../core/admin-permissions.js';
import { PortcullisError } from '../../core/errors.js';
import type { AdminToken } from '../../ports.js';
import type { AdminTokenService } from '../../services/admin-tokens.js';
import type { AuditService } from '../../services/audit-service.js';
import { newRequestId } from '../../services/ids.js';
import type { KeyService } from '../../services/key-service.js';
import { replyWithError } from '../error-envelope.js';
import { defaultConsoleDir, registerConsoleRoutes } from './console-static.js';
import { collectOpenApi } from './openapi.js';
import { registerAccountRoutes } from './routes/accounts.js';
import { registerAuditRoutes } from './routes/audit.js';
import { registerBanRoutes } from './routes/bans.js';
import { registerKeyRoutes } from './routes/keys.js';
import { registerGovernanceRoutes, type GovernanceDeps } from './routes/governance.js';
import { registerTokenRoutes } from './routes/tokens.js';
import {
  registerObservabilityRoutes,
  type ObservabilityAdminDeps,
} from './routes/observability.js';
import type { KeyChangeGate } from '../../services/key-change-gate.js';
import { lazyChildLogger } from '../lazy-child-logger.js';

export interface AdminDeps {
  readonly keys: KeyService;
  readonly tokens: AdminTokenService;
  readonly audit: AuditService;
  readonly clock: { now(): number };
  /** Policies, approvals and withdrawal rules; absent when the store lacks those ports. */
  readonly governance?: GovernanceDeps & { readonly keyChanges?: KeyChangeGate };
  /** Re-wraps every secret under a new master key. */
  readonly rotateMasterKey: (ctx: {
    actor: string;
    requestId: string;
  }) => Promise<{ rewrapped: number; activeKeyId: string }>;
  /** Metrics, traffic, alerts, key risk, governance report; absent means not wired. */
  readonly observability?: ObservabilityAdminDeps;
  /** IP-prefix bans of the data planes; absent means no bans to show (no data plane). */
  readonly bans?: {
    list(): readonly {
      environment: 'production' | 'sandbox';
      prefix: string;
      untilMs: number;
      offences: number;
    }[];
    /** Lifts and audits; returns the environments the ban was lifted in. */
    lift(
      prefix: string,
      forgive: boolean,
      ctx: { actor: string; requestId: string },
    ): Promise<readonly ('production' | 'sandbox')[]>;
  };
}

export interface AdminAppOptions {
  readonly bodyLimitBytes: number;
  /** A pino logger; absent means no request logging (tests). */
  readonly logger?: FastifyBaseLogger;
  /** The built web console served under /console/; `<package root>/dist/console` by default. */
  readonly consoleDir?: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    admin: AdminToken | null;
  }
  interface FastifyContextConfig {
    /** The permission a route needs; routes without one are public (health, OpenAPI). */
    permission?: Permission;
  }
}

/** The admin API as a Fastify app without `listen`: tests drive it through `inject()`. */
export function buildAdminApp(deps: AdminDeps, options: AdminAppOptions): FastifyInstance {
  const app = Fastify({
    ...(options.logger ? { loggerInstance: options.logger } : { logger: false }),
    childLoggerFactory: lazyChildLogger,
    bodyLimit: options.bodyLimitBytes,
    genReqId: () => newRequestId(),
    requestIdHeader: false,
    ajv: {
      // Unknown fields are errors (UNKNOWN_FIELD), never silently dropped; no type coercion.
      customOptions: {
        removeAdditional: false,
        coerceTypes: false,
        useDefaults: true,
        allErrors: true,
      },
    },
    return503OnClosing: true,
  });
  // Fastify parses text/plain by default; the admin API speaks JSON only, so any other body
  // is UNSUPPORTED_MEDIA_TYPE rather than a string that fails schema validation.
  app.removeContentTypeParser('text/plain');
  app.decorateRequest('admin', null);
  const openapi = collectOpenApi(app);

  app.addHook('onRequest', async (request, reply) => {
    void reply.header('x-request-id', request.id);
    const permission = request.routeOptions.config.permission;
    if (permission === undefined) return;
    const auth = await deps.tokens.authenticate(request.headers.authorization);
    if (!auth.ok) throw new PortcullisError(auth.code, authMessage(auth.code));
    if (!roleAllows(auth.token.role, permission)) {
      throw new PortcullisError(
        'ROLE_FORBIDDEN',
        `The ${auth.token.role} role may not do this (${permission}).`,
      );
    }
    request.admin = auth.token;
  });

  // A POST without a body means "no options": validate it as an empty object.
  app.addHook('preValidation', (request, _reply, done) => {
    if (request.body === undefined && (request.method === 'POST' || request.method === 'PATCH')) {
      request.body = {};
    }
    done();
  });

  app.setErrorHandler((error: FastifyError, request, reply) =>
    replyWithError(error, request, reply),
  );
  app.setNotFoundHandler((request, reply) =>
    replyWithError(
      new PortcullisError(
        'NOT_FOUND',
        `No endpoint ${request.method} ${request.url.split('?')[0] ?? ''}.`,
      ),
      request,
      reply,
    ),
  );

  app.get('/health', () => ({ status: 'ok' }));
  app.get('/openapi.json', () => openapi.document());
  app.get('/v1/whoami', { config: { permission: 'approvals:read' } }, (request) => whoami(request));

  registerAccountRoutes(app, deps);
  registerKeyRoutes(app, deps);
  registerAuditRoutes(app, deps);
  registerTokenRoutes(app, deps);
  registerBanRoutes(app, deps);
  registerGovernanceRoutes(app, deps);
  registerObservabilityRoutes(app, deps);
  registerConsoleRoutes(app, { dir: options.consoleDir ?? defaultConsoleDir() });
  return app;
}

function whoami(request: FastifyRequest) {
  const token = request.admin;
  return token ? { id: token.id, role: token.role, label: token.label } : {};
}

function authMessage(code: string): string {
  switch (code) {
    case 'ADMIN_TOKEN_MISSING':
      return 'Send an admin token as "Authorization: Bearer <token>".';
    case 'ADMIN_TOKEN_EXPIRED':
      return 'The admin token has expired.';
    default:
      return 'The admin token is not valid.';
  }
}

/** Who is acting, for the audit log. */
export function actorOf(request: FastifyRequest): { actor: string; requestId: string } {
  return { actor: request.admin?.id ?? 'anonymous', requestId: request.id };
}
