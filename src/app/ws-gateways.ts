/**
 * Wires the WebSocket gateway (src/server/ws) onto one environment's data-plane listener: the
 * same pipeline pieces as REST (key cache, replay guard, window, limits, policies, risk), the
 * change events, the authorization server for tokens and tickets, and the environment's
 * upstream WebSocket at `<upstream>/ws` (the built-in sandbox exchange serves it).
 */
import type { FastifyInstance } from 'fastify';
import type { WebsocketConfig } from '../config/websocket-config.js';
import type { Clock } from '../core/clock.js';
import type { ClientIpResolver } from '../core/net/client-ip.js';
import type { PipelineDeps } from '../core/pipeline.js';
import type { PolicyStep } from '../core/policy/policy-step.js';
import type { ChangeEvents } from '../ports.js';
import type { DataPlaneGovernance } from '../server/data-plane/data-plane-governance.js';
import { createWsGateway, type WsGateway, type WsTokenAuthority } from '../server/ws/ws-gateway.js';

export interface WsGatewayWiring {
  readonly pipeline: PipelineDeps;
  readonly policies: PolicyStep | undefined;
  readonly clientIp: ClientIpResolver;
  readonly clock: Clock;
  /** The upstream's HTTP origin (`http://127.0.0.1:41234`). */
  readonly origin: string;
  readonly upstreamToken: string | undefined;
  readonly events?: ChangeEvents;
  readonly tokens?: WsTokenAuthority;
  /** The data plane's governance: holds orders of keys with a notional spend allowance. */
  readonly governance?: Pick<DataPlaneGovernance, 'reserve'>;
  readonly config: WebsocketConfig;
}

/** The WebSocket URL of an HTTP origin's `/ws`. */
export function upstreamWsUrl(origin: string): string {
  return `${origin.replace(/^http/, 'ws').replace(/\/+$/, '')}/ws`;
}

/** Serves the gateway on `app`'s listener; closed before the listener closes. */
export function attachWsGateway(app: FastifyInstance, wiring: WsGatewayWiring): WsGateway {
  const { pipeline, config } = wiring;
  const gateway = createWsGateway(
    {
      authorize: {
        environment: pipeline.environment,
        keys: pipeline.keys,
        routes: pipeline.routes,
        window: pipeline.window,
        replay: pipeline.replay,
        dummyKeys: pipeline.dummyKeys,
        ...(wiring.policies !== undefined ? { policies: wiring.policies } : {}),
        ...(pipeline.risk !== undefined ? { risk: pipeline.risk } : {}),
        ...(pipeline.limits !== undefined ? { limits: pipeline.limits } : {}),
      },
      clock: wiring.clock,
      clientIp: wiring.clientIp,
      upstream: {
        url: upstreamWsUrl(wiring.origin),
        headers:
          wiring.upstreamToken === undefined
            ? {}
            : { 'x-portcullis-upstream-token': wiring.upstreamToken },
      },
      ...(wiring.events !== undefined ? { events: wiring.events } : {}),
      ...(wiring.tokens !== undefined ? { tokens: wiring.tokens } : {}),
      ...(wiring.governance !== undefined
        ? { reserve: wiring.governance.reserve.bind(wiring.governance) }
        : {}),
    },
    config,
  );
  app.server.on('upgrade', (request, socket, head: Buffer) =>
    gateway.handleUpgrade(request, socket, head),
  );
  // Before the HTTP server closes: it would otherwise wait for the upgraded sockets.
  app.addHook('preClose', (done) => {
    gateway.close();
    done();
  });
  return gateway;
}
