import { hash } from 'node:crypto';
import { decodeCanonicalBase64 } from './parse-signature-headers.js';

/** The RFC 9530 digest algorithms the native profile accepts. */
export const DIGEST_ALGORITHMS = ['sha-256', 'sha-512'] as const;
export type DigestAlgorithm = (typeof DIGEST_ALGORITHMS)[number];

export type ContentDigestCheck = 'ok' | 'SIGNATURE_MALFORMED' | 'DIGEST_MISMATCH';

const DIGEST_BYTES: Readonly<Record<DigestAlgorithm, number>> = { 'sha-256': 32, 'sha-512': 64 };
const HASH_NAME: Readonly<Record<DigestAlgorithm, string>> = {
  'sha-256': 'sha256',
  'sha-512': 'sha512',
};
/** Longest Content-Digest value parsed at all (both algorithms fit easily). */
const MAX_CONTENT_DIGEST_CHARS = 512;
const MEMBER = /^([a-z0-9-]+)=:([^:]*):$/;
/** `sha-256=:` + 44 base64 characters + `:`. */
const SHA256_FIELD_LENGTH = 9 + 44 + 1;

/** The RFC 9530 `Content-Digest` field value for `body`. */
export function contentDigest(body: Buffer, alg: DigestAlgorithm = 'sha-256'): string {
  return `${alg}=:${hash(HASH_NAME[alg], body, 'base64')}:`;
}

/**
 * Checks a Content-Digest field (RFC 9530 §2) against the raw body bytes. The field is an RFC
 * 8941 dictionary; the profile accepts only `sha-256` and `sha-512` members, each once, each a
 * canonical byte sequence of the right length without parameters, and every member must match.
 * An unsupported algorithm is a profile violation (SIGNATURE_MALFORMED), not something to skip,
 * so a client never believes its body was checked when it was not. Never throws.
 */
export function checkContentDigest(fieldValue: string, body: Buffer): ContentDigestCheck {
  if (fieldValue.length > MAX_CONTENT_DIGEST_CHARS) return 'SIGNATURE_MALFORMED';
  // Fast path for the common field, one sha-256 member: exact text comparison of public digests.
  if (fieldValue.length === SHA256_FIELD_LENGTH && fieldValue.startsWith('sha-256=:')) {
    const expected = hash('sha256', body, 'base64');
    if (
      fieldValue.charCodeAt(SHA256_FIELD_LENGTH - 1) === 0x3a &&
      fieldValue.slice(9, -1) === expected
    ) {
      return 'ok';
    }
  }
  const members = fieldValue.split(',');
  if (members.length > DIGEST_ALGORITHMS.length) return 'SIGNATURE_MALFORMED';
  let result: ContentDigestCheck = 'ok';
  let seen = '';
  for (let i = 0; i < members.length; i++) {
    // RFC 8941 §4.2.2: members are separated by "," and optional whitespace.
    const member = i === 0 ? (members[i] ?? '') : trimLeadingOws(members[i] ?? '');
    const match = MEMBER.exec(member);
    const key = match?.[1];
    const provided = match?.[2];
    if (!isDigestAlgorithm(key) || provided === undefined || seen === key) {
      return 'SIGNATURE_MALFORMED';
    }
    seen = key;
    // Digests are public: comparing canonical base64 text is exact and saves a decode.
    const expected = hash(HASH_NAME[key], body, 'base64');
    if (provided === expected) continue;
    const bytes = decodeCanonicalBase64(provided);
    if (bytes === undefined || bytes.length !== DIGEST_BYTES[key]) return 'SIGNATURE_MALFORMED';
    result = 'DIGEST_MISMATCH';
  }
  return result;
}

function isDigestAlgorithm(value: string | undefined): value is DigestAlgorithm {
  return value === 'sha-256' || value === 'sha-512';
}

function trimLeadingOws(value: string): string {
  let i = 0;
  while (value.charCodeAt(i) === 0x20 || value.charCodeAt(i) === 0x09) i++;
  return i === 0 ? value : value.slice(i);
}
