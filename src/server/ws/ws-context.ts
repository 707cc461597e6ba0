import type { Clock } from '../../core/clock.js';
import type { ApiKey } from '../../core/keys/model.js';
import type { WsSpend } from '../../core/ws/authorize-message.js';
import type { ReserveOutcome } from '../data-plane/data-plane-governance.js';
import type { WsLoginDeps } from '../../core/ws/verify-ws-login.js';
import type { WsCloseCode } from './close-codes.js';
import type { WsSession } from './ws-session.js';

/** Limits of the WebSocket endpoint (config `dataPlane.websocket`, docs/configuration.md). */
export interface WsGatewayOptions {
  readonly path: string;
  readonly maxPayloadBytes: number;
  readonly maxMessagesPerSecond: number;
  readonly maxConnectionsPerKey: number;
  readonly maxConnectionsPerIp: number;
  readonly loginTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  readonly maxBufferedBytes: number;
  /** How often every live session's key is re-checked from the key cache. */
  readonly recheckIntervalMs: number;
  /** How long a held order waits for its answer before the hold is kept (default 30 s). */
  readonly holdAnswerTimeoutMs?: number;
}

/** What a session needs from its gateway. */
export interface WsGatewayContext {
  readonly clock: Clock;
  readonly options: WsGatewayOptions;
  readonly authorize: WsLoginDeps;
  readonly upstream: { readonly url: string; readonly headers: Readonly<Record<string, string>> };
  /** Whether one more session of this key fits under `maxConnectionsPerKey`. */
  admitKey(keyId: string): boolean;
  register(session: WsSession): void;
  closed(session: WsSession, close: WsCloseCode | undefined): void;
  /** Counts an authorized (or refused) message, for the bench and metrics. */
  counted(allowed: boolean): void;
  /**
   * Holds an order's notional against the key's spend allowances (the data plane's governance);
   * undefined without one, and then such orders are refused (ALLOWANCE_EXCEEDED, fail closed).
   */
  readonly reserve?: (
    input: WsSpend & { readonly key: ApiKey; readonly requestId: string },
  ) => Promise<ReserveOutcome>;
}
