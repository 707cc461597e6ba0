/**
 * Exact decimal amounts: text in, scaled bigint inside, text out. Amounts are never summed as
 * floats (0.1 + 0.2 ≠ 0.3); limits compare integers of 10^-18 units, enough for any asset's
 * base unit (wei is 10^-18 ether).
 */

/** Digits kept after the decimal point. */
export const DECIMAL_SCALE = 18;

const UNIT = 10n ** BigInt(DECIMAL_SCALE);
/** Plain decimal text only: no sign, exponent, leading zeros, `.5` or `5.`. */
const DECIMAL = /^(0|[1-9][0-9]{0,29})(?:\.([0-9]{1,18}))?$/;

/** Parses a non-negative decimal string into units of 10^-18; undefined if not plain decimal. */
export function parseDecimal(text: string): bigint | undefined {
  const match = DECIMAL.exec(text);
  if (!match) return undefined;
  const whole = match[1] ?? '0';
  const fraction = (match[2] ?? '').padEnd(DECIMAL_SCALE, '0');
  return BigInt(whole) * UNIT + BigInt(fraction);
}

/** Writes units of 10^-18 back as the shortest plain decimal (`1.5`, `0`, `250000`). */
export function formatDecimal(units: bigint): string {
  const negative = units < 0n;
  const magnitude = negative ? -units : units;
  const whole = magnitude / UNIT;
  const fraction = (magnitude % UNIT).toString().padStart(DECIMAL_SCALE, '0').replace(/0+$/, '');
  return `${negative ? '-' : ''}${whole}${fraction === '' ? '' : `.${fraction}`}`;
}

/**
 * The canonical text of a decimal (`1.50` → `1.5`, `2.0` → `2`); undefined if not plain decimal.
 * String work only (no BigInt): it runs per request in parameter extraction.
 */
export function normalizeDecimal(text: string): string | undefined {
  const match = DECIMAL.exec(text);
  if (!match) return undefined;
  const fraction = (match[2] ?? '').replace(/0+$/, '');
  return fraction === '' ? (match[1] ?? '0') : `${match[1] ?? '0'}.${fraction}`;
}
