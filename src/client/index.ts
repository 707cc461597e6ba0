/** `portcullis/client`: the TypeScript SDK for Portcullis' native signed API (docs/sdk.md). */
export { createClient, type PortcullisClient } from './create-client.js';
export type { ClientOptions, ClientResponse, FetchLike, RequestOptions } from './types.js';
export {
  PortcullisApiError,
  isPortcullisApiError,
  CLIENT_ERROR_CODES,
  type ClientErrorCode,
} from './portcullis-api-error.js';
export {
  createRateLimitPacer,
  type ObservedAnswer,
  type RateLimitPacer,
} from './rate-limit-pacer.js';
export {
  newNonce,
  resolveRequestUrl,
  signRequest,
  toSigningKey,
  type SignRequestInput,
  type SigningKey,
} from './sign-request.js';
export type {
  Account,
  Balance,
  Order,
  PlaceOrderInput,
  SandboxApi,
  Withdrawal,
  WithdrawInput,
} from './sandbox-api.js';
export { PortcullisError } from '../core/errors.js';
export {
  PortcullisWsClient,
  PortcullisWsError,
  type WsClientAuth,
  type WsClientOptions,
  type WsCloseInfo,
} from './ws-client.js';
export { signNativeWsLogin } from './ws-login.js';
