/**
 * Whether an upstream answer says the exchange rejected the request, for settling amounts held
 * before it was forwarded (spend allowances, withdrawal reservations; docs/policies.md).
 *
 * Bybit and OKX answer a rejected order with HTTP 200 and their own code in the body (Bybit
 * `retCode` ≠ 0; OKX `code` ≠ "0", the reason per order in `data[].sCode`), so a status alone
 * would count a rejected order against the key's allowance. Pure; reads at most the bytes given.
 * Anything that is not such an envelope, or cannot be read, is not a rejection: the amount stays
 * counted (the safe side).
 */
import type { Dialect } from '../signing/types.js';

/** Whether answers of `dialect` can carry a rejection in a 2xx body. */
export function rejectsInBody(dialect: Dialect): boolean {
  return dialect === 'bybit' || dialect === 'okx';
}

/**
 * True when a 2xx answer's body is the dialect's envelope of a rejected request: Bybit's
 * `retCode` is a number other than 0; OKX's `code` is a string other than "0" and no entry of
 * `data` succeeded (an `sCode` of "0", or none: a batch answered "2" placed some orders, which
 * stay counted).
 */
export function rejectedInBody(dialect: Dialect, body: Buffer): boolean {
  if (!rejectsInBody(dialect)) return false;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return false;
  }
  if (!isObject(parsed)) return false;
  if (dialect === 'bybit') {
    return typeof parsed.retCode === 'number' && parsed.retCode !== 0;
  }
  if (typeof parsed.code !== 'string' || parsed.code === '0') return false;
  const data = Array.isArray(parsed.data) ? (parsed.data as unknown[]) : [];
  return data.every(
    (entry) => isObject(entry) && typeof entry.sCode === 'string' && entry.sCode !== '0',
  );
}

/**
 * Whether an upstream answer placed what was held for it: a 2xx status whose body (when it was
 * read) is not the dialect's rejection. The one rule every path that settles a hold applies.
 */
export function answerPlaced(dialect: Dialect, status: number, body: Buffer | undefined): boolean {
  return status >= 200 && status < 300 && !(body !== undefined && rejectedInBody(dialect, body));
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
