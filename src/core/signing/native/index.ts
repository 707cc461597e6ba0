export {
  nativeScheme,
  detectNative,
  parseNative,
  nativeInWindow,
  verifyNative,
} from './native-scheme.js';
export {
  checkNativeProfile,
  KEY_ID_PATTERN,
  MAX_TIMESTAMP_SECONDS,
  NATIVE_CREDENTIAL_HEADERS,
  NATIVE_REPLAY_TTL_MS,
  NONCE_PATTERN,
  type NativeCredential,
} from './native-profile.js';
export { parseSignatureHeaders, type ParsedSignatureHeaders } from './parse-signature-headers.js';
export {
  buildSignatureBase,
  componentValue,
  headerFieldValue,
  serializeSignatureParams,
} from './signature-base.js';
export { checkContentDigest, contentDigest, type DigestAlgorithm } from './content-digest.js';
export {
  verifySignatureBase,
  NATIVE_ALGORITHMS,
  type NativeAlgorithm,
} from './verify-signature-base.js';
export {
  signNativeRequest,
  NATIVE_SIGNATURE_LABEL,
  type NativeSignatureHeaders,
  type SignNativeInput,
} from './sign-native.js';
