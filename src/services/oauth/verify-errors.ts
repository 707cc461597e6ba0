import { errors } from 'jose';
import type { TokenReasonCode } from '../../core/oauth/token-reasons.js';

/** RFC 9068 §2.1 / RFC 8725 §3.11: access tokens are explicitly typed. */
export const TOKEN_TYPE = 'at+jwt';

/** Maps a `jose` verification error to a stable token reason (never its message). */
export function mapJoseError(error: unknown): TokenReasonCode {
  if (error instanceof errors.JWTExpired) return 'TOKEN_EXPIRED';
  if (error instanceof errors.JWTClaimValidationFailed) {
    switch (error.claim) {
      case 'iss':
        return 'TOKEN_ISSUER_MISMATCH';
      case 'aud':
        return 'TOKEN_AUDIENCE_MISMATCH';
      case 'nbf':
      case 'iat':
        return error.reason === 'check_failed' ? 'TOKEN_NOT_YET_VALID' : 'TOKEN_CLAIMS_INVALID';
      case 'typ':
        return 'TOKEN_TYPE_REFUSED';
      default:
        return 'TOKEN_CLAIMS_INVALID';
    }
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'TOKEN_SIGNATURE_INVALID';
  if (error instanceof errors.JOSEAlgNotAllowed) return 'TOKEN_ALGORITHM_REFUSED';
  return 'TOKEN_MALFORMED';
}
