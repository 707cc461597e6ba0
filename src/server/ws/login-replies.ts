/**
 * Answers to a login message in the wire format of its dialect, so an exchange client library
 * recognises success and failure (exchange-signing.md: Binance §3.2, Bybit and OKX WebSocket).
 */
import type { ApiKey } from '../../core/keys/model.js';
import { REASON_CATALOG, type ReasonCode } from '../../core/reasons.js';
import type { WsLogin } from '../../core/ws/ws-login.js';

/** Binance error codes for refused logons: -1021 time, -1022 signature, -2015 key/IP/permissions. */
function binanceCode(reason: ReasonCode): number {
  if (reason === 'TIMESTAMP_OUTSIDE_WINDOW') return -1021;
  if (reason === 'SIGNATURE_INVALID' || reason === 'SIGNATURE_MALFORMED') return -1022;
  if (reason === 'RATE_LIMITED') return -1003;
  return -2015;
}

/** The success answer for `login`; `connId` is the session id. */
export function loginAccepted(
  login: Pick<WsLogin, 'dialect' | 'requestId'>,
  key: ApiKey,
  scopes: readonly string[],
  ctx: { sessionId: string; nowMs: number },
): Record<string, unknown> {
  switch (login.dialect) {
    case 'binance':
      return {
        id: login.requestId,
        status: 200,
        result: {
          apiKey: key.id,
          authorizedSince: ctx.nowMs,
          connectedSince: ctx.nowMs,
          returnRateLimits: false,
          serverTime: ctx.nowMs,
        },
      };
    case 'bybit':
      return {
        success: true,
        ret_msg: '',
        op: 'auth',
        conn_id: ctx.sessionId,
        ...(login.requestId !== null ? { req_id: login.requestId } : {}),
      };
    case 'okx':
      return { event: 'login', code: '0', msg: '', connId: ctx.sessionId };
    case 'native':
      return {
        id: login.requestId,
        status: 200,
        result: {
          sessionId: ctx.sessionId,
          keyId: key.id,
          accountId: key.accountId,
          environment: key.environment,
          scopes,
        },
      };
  }
}

/** The failure answer; the reason code is carried where the dialect has room for it. */
export function loginRefused(
  login: Pick<WsLogin, 'dialect' | 'requestId'>,
  reason: ReasonCode,
  ctx: { sessionId: string },
): Record<string, unknown> {
  const status = REASON_CATALOG[reason].status;
  switch (login.dialect) {
    case 'binance':
      return {
        id: login.requestId,
        status,
        error: { code: binanceCode(reason), msg: reason },
      };
    case 'bybit':
      return {
        success: false,
        ret_msg: reason,
        op: 'auth',
        conn_id: ctx.sessionId,
        ...(login.requestId !== null ? { req_id: login.requestId } : {}),
      };
    case 'okx':
      // OKX answers every failed login with 60009 "Login failed."; the reason follows.
      return {
        event: 'error',
        code: '60009',
        msg: `Login failed. ${reason}`,
        connId: ctx.sessionId,
      };
    case 'native':
      return { id: login.requestId, status, error: { code: reason } };
  }
}
