/**
 * A signed login message checked like a signed request (pipeline steps 2–3 and 5): window, key,
 * signature (the same work for an unknown key), key state, environment, passphrase, replay, IP
 * allowlist; failures spend the client prefix's failure budget as failed REST requests do.
 */
import type { ApiKey } from '../keys/model.js';
import { keyState } from '../keys/model.js';
import { ipBucket } from '../limits/ip-bucket.js';
import { chargeFailure, guardPrefix } from '../limits/limit-step.js';
import type { CachedKey, Decision, PipelineDeps } from '../pipeline.js';
import type { ReasonCode } from '../reasons.js';
import { replayKey } from '../replay/replay-guard.js';
import type { WsAuthorizeDeps } from './authorize-message.js';
import { verifyWsLogin, wsLoginInWindow, wsLoginReplayTtlMs, type WsLogin } from './ws-login.js';

export interface WsLoginDeps extends WsAuthorizeDeps {
  readonly window: PipelineDeps['window'];
  readonly replay: PipelineDeps['replay'];
  readonly dummyKeys: PipelineDeps['dummyKeys'];
}

export type WsLoginResult =
  | { readonly ok: true; readonly key: ApiKey }
  | { readonly ok: false; readonly reason: ReasonCode; readonly retryAfterMs?: number };

/** Verifies a parsed login for a client at `clientIp`; never throws. */
export async function verifyWsLoginMessage(
  deps: WsLoginDeps,
  login: WsLogin,
  clientIp: string,
  nowMs: number,
): Promise<WsLoginResult> {
  const prefix = ipBucket(clientIp) ?? clientIp;
  if (deps.limits !== undefined) {
    const refused = guardPrefix(deps.limits, prefix, nowMs, login.dialect, undefined);
    if (refused !== undefined)
      return { ok: false, reason: refused.reason, retryAfterMs: refused.retryAfterMs ?? 1000 };
  }
  const result = await verifyInner(deps, login, clientIp, nowMs);
  if (result.ok || deps.limits === undefined) return result;
  const denial: Extract<Decision, { outcome: 'deny' }> = {
    outcome: 'deny',
    reason: result.reason,
    dialect: login.dialect,
    keyId: login.keyId,
  };
  const charged = await chargeFailure(deps.limits, prefix, nowMs, denial);
  return charged.retryAfterMs === undefined
    ? { ok: false, reason: charged.reason }
    : { ok: false, reason: charged.reason, retryAfterMs: charged.retryAfterMs };
}

async function verifyInner(
  deps: WsLoginDeps,
  login: WsLogin,
  clientIp: string,
  nowMs: number,
): Promise<WsLoginResult> {
  if (!wsLoginInWindow(login, nowMs, deps.window))
    return { ok: false, reason: 'TIMESTAMP_OUTSIDE_WINDOW' };
  let cached: CachedKey | undefined;
  try {
    cached = await deps.keys.get(login.keyId);
  } catch {
    cached = undefined;
  }
  if (cached === undefined) {
    // Same work as a known key with a bad signature: no key-existence oracle.
    verifyWsLogin(
      login,
      login.algorithm === 'ed25519' ? deps.dummyKeys.ed25519 : deps.dummyKeys.hmac,
    );
    return { ok: false, reason: 'KEY_UNKNOWN' };
  }
  if (verifyWsLogin(login, cached.verifierAt(nowMs)) < 0)
    return { ok: false, reason: 'SIGNATURE_INVALID' };
  const { key } = cached;
  const state = keyState(key, nowMs);
  if (state === 'revoked') return { ok: false, reason: 'KEY_REVOKED' };
  if (state === 'expired') return { ok: false, reason: 'KEY_EXPIRED' };
  if (key.environment !== deps.environment) return { ok: false, reason: 'ENV_MISMATCH' };
  if (login.dialect === 'okx' && !cached.passphraseMatches(login.passphrase ?? ''))
    return { ok: false, reason: 'PASSPHRASE_INVALID' };
  let verdict;
  try {
    verdict = await deps.replay.remember(
      replayKey(key.id, `ws:${login.replayId}`),
      wsLoginReplayTtlMs(login, nowMs, deps.window),
    );
  } catch {
    verdict = 'unavailable' as const;
  }
  if (verdict === 'replayed') return { ok: false, reason: 'NONCE_REPLAYED' };
  if (verdict === 'unavailable') return { ok: false, reason: 'REPLAY_CHECK_UNAVAILABLE' };
  if (!cached.allowlist(clientIp)) return { ok: false, reason: 'IP_NOT_ALLOWED' };
  if (deps.risk?.stateOf(key.id, nowMs)?.disabled === true)
    return { ok: false, reason: 'KEY_DISABLED' };
  return { ok: true, key };
}
