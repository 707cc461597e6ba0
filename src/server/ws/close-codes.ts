/**
 * WebSocket close codes of the gateway (docs/websocket.md §5, docs/errors.md). 1000–1014 are
 * RFC 6455 §7.4.1 codes; 4000–4999 are private-use codes (§7.4.2) for session ends a client
 * should act on: re-authenticate, stop, or back off.
 */
export const WS_CLOSE = {
  /** The gateway is shutting down. */
  GOING_AWAY: { code: 1001, reason: 'GOING_AWAY' },
  /** A frame over `maxPayloadBytes` (ws closes with 1009 itself). */
  MESSAGE_TOO_BIG: { code: 1009, reason: 'MESSAGE_TOO_BIG' },
  /** The client did not read fast enough: more than `maxBufferedBytes` queued for it. */
  SLOW_CONSUMER: { code: 1008, reason: 'SLOW_CONSUMER' },
  /** Messages well over the per-connection rate cap. */
  MESSAGE_RATE_EXCEEDED: { code: 1008, reason: 'MESSAGE_RATE_EXCEEDED' },
  /** The upstream WebSocket closed or could not be reached. */
  UPSTREAM_CLOSED: { code: 1014, reason: 'UPSTREAM_CLOSED' },
  /** No message and no pong within `idleTimeout`. */
  IDLE_TIMEOUT: { code: 4000, reason: 'IDLE_TIMEOUT' },
  KEY_REVOKED: { code: 4001, reason: 'KEY_REVOKED' },
  KEY_UNKNOWN: { code: 4001, reason: 'KEY_UNKNOWN' },
  KEY_EXPIRED: { code: 4002, reason: 'KEY_EXPIRED' },
  TOKEN_EXPIRED: { code: 4002, reason: 'TOKEN_EXPIRED' },
  /** The access token the session opened with was revoked (/oauth/revoke). */
  TOKEN_REVOKED: { code: 4001, reason: 'TOKEN_REVOKED' },
  SCOPES_REMOVED: { code: 4003, reason: 'SCOPES_REMOVED' },
  IP_NOT_ALLOWED: { code: 4004, reason: 'IP_NOT_ALLOWED' },
  KEY_DISABLED: { code: 4005, reason: 'KEY_DISABLED' },
  ENV_MISMATCH: { code: 4006, reason: 'ENV_MISMATCH' },
  /** No login message within `loginTimeout`. */
  LOGIN_TIMEOUT: { code: 4008, reason: 'LOGIN_TIMEOUT' },
  /** The login message was refused; the reason names the reason code. */
  LOGIN_FAILED: { code: 4009, reason: 'LOGIN_FAILED' },
  /** The key already holds `maxConnectionsPerKey` sessions. */
  KEY_CONNECTION_LIMIT: { code: 4029, reason: 'KEY_CONNECTION_LIMIT' },
} as const;

export type WsCloseName = keyof typeof WS_CLOSE;
export type WsCloseCode = (typeof WS_CLOSE)[WsCloseName];

/** The close for a fatal reason code found on a message or by a re-check. */
export function closeForReason(reason: string): WsCloseCode {
  switch (reason) {
    case 'KEY_REVOKED':
      return WS_CLOSE.KEY_REVOKED;
    case 'KEY_EXPIRED':
      return WS_CLOSE.KEY_EXPIRED;
    case 'IP_NOT_ALLOWED':
      return WS_CLOSE.IP_NOT_ALLOWED;
    case 'KEY_DISABLED':
      return WS_CLOSE.KEY_DISABLED;
    case 'ENV_MISMATCH':
      return WS_CLOSE.ENV_MISMATCH;
    default:
      return WS_CLOSE.KEY_UNKNOWN;
  }
}
