/**
 * The WebSocket endpoint's configuration (`dataPlane.websocket`, docs/websocket.md,
 * docs/configuration.md). Validated by the schema first; defaults filled in here.
 */
import { parseDuration } from '../core/duration.js';

const duration = { type: 'string', pattern: '^\\d{1,9}(ms|s|m|h|d)$' } as const;

/** The `dataPlane.websocket` section of the configuration schema. */
export const WEBSOCKET_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    enabled: { type: 'boolean' },
    path: { type: 'string', pattern: '^/[A-Za-z0-9/_-]{0,63}$' },
    maxPayloadBytes: { type: 'integer', minimum: 256, maximum: 1048576 },
    maxMessagesPerSecond: { type: 'integer', minimum: 1, maximum: 100000 },
    maxConnectionsPerKey: { type: 'integer', minimum: 1, maximum: 10000 },
    maxConnectionsPerIp: { type: 'integer', minimum: 1, maximum: 100000 },
    maxBufferedBytes: { type: 'integer', minimum: 1024, maximum: 268435456 },
    loginTimeout: duration,
    idleTimeout: duration,
    heartbeatInterval: duration,
    recheckInterval: duration,
    holdAnswerTimeout: duration,
  },
} as const;

export interface WebsocketConfig {
  readonly enabled: boolean;
  readonly path: string;
  readonly maxPayloadBytes: number;
  readonly maxMessagesPerSecond: number;
  readonly maxConnectionsPerKey: number;
  readonly maxConnectionsPerIp: number;
  readonly maxBufferedBytes: number;
  readonly loginTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  /** Never above 1 s: a change must reach live sessions within a second even without events. */
  readonly recheckIntervalMs: number;
  /** How long a held order waits for the upstream's answer before its hold is kept. */
  readonly holdAnswerTimeoutMs: number;
}

type Raw = Record<string, unknown>;
const obj = (value: unknown): Raw =>
  value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Raw) : {};
const msOf = (value: unknown, fallback: string, min: number, max: number): number => {
  const ms = parseDuration(typeof value === 'string' ? value : fallback) ?? 0;
  return Math.min(max, Math.max(min, ms));
};
const int = (value: unknown, fallback: number): number =>
  typeof value === 'number' && Number.isInteger(value) ? value : fallback;

/** `dataPlane.websocket` with its defaults. */
export function websocketConfigOf(dataPlane: unknown): WebsocketConfig {
  const raw = obj(obj(dataPlane).websocket);
  return Object.freeze({
    enabled: raw.enabled !== false,
    path: typeof raw.path === 'string' ? raw.path : '/ws',
    maxPayloadBytes: int(raw.maxPayloadBytes, 16_384),
    maxMessagesPerSecond: int(raw.maxMessagesPerSecond, 100),
    maxConnectionsPerKey: int(raw.maxConnectionsPerKey, 10),
    maxConnectionsPerIp: int(raw.maxConnectionsPerIp, 50),
    maxBufferedBytes: int(raw.maxBufferedBytes, 4 * 1024 * 1024),
    loginTimeoutMs: msOf(raw.loginTimeout, '10s', 100, 300_000),
    idleTimeoutMs: msOf(raw.idleTimeout, '120s', 1000, 86_400_000),
    heartbeatIntervalMs: msOf(raw.heartbeatInterval, '20s', 100, 3_600_000),
    recheckIntervalMs: msOf(raw.recheckInterval, '250ms', 50, 1000),
    holdAnswerTimeoutMs: msOf(raw.holdAnswerTimeout, '30s', 100, 600_000),
  });
}
