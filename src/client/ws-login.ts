/** Signed login messages for the gateway's WebSocket endpoint (docs/websocket.md §2). */
import { createHmac, sign } from 'node:crypto';
import type { Environment } from '../core/keys/model.js';
import { nativeLoginPayload } from '../core/ws/ws-login.js';
import { newNonce, type SigningKey } from './sign-request.js';

/**
 * The native login message: `{"id", "method": "login", "params": {keyId, alg, created, nonce,
 * signature}}`, signed with the key's HMAC secret or Ed25519 private key.
 */
export function signNativeWsLogin(input: {
  readonly key: SigningKey;
  readonly environment: Environment;
  readonly createdSeconds: number;
  readonly nonce?: string;
  readonly id?: string | number;
}): Record<string, unknown> {
  const nonce = input.nonce ?? newNonce();
  const { key } = input;
  const payload = nativeLoginPayload(input.environment, key.keyId, input.createdSeconds, nonce);
  const signature =
    key.secret !== undefined
      ? createHmac('sha256', key.secret).update(payload).digest('base64')
      : sign(null, Buffer.from(payload), key.privateKey).toString('base64');
  return {
    id: input.id ?? 'login',
    method: 'login',
    params: {
      keyId: key.keyId,
      alg: key.secret !== undefined ? 'hmac-sha256' : 'ed25519',
      created: input.createdSeconds,
      nonce,
      signature,
    },
  };
}
