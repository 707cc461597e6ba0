/**
 * Exact decimal amounts for the sandbox ledger. Amounts are bigints in units of 10^-16 so that a
 * quantity and a price of at most 8 fractional digits each multiply without rounding.
 */
export const AMOUNT_SCALE_DIGITS = 16;
/** Quantities, prices and withdrawal amounts carry at most this many fractional digits. */
export const INPUT_FRACTION_DIGITS = 8;

const ONE = 10n ** BigInt(AMOUNT_SCALE_DIGITS);
const STEP = 10n ** BigInt(AMOUNT_SCALE_DIGITS - INPUT_FRACTION_DIGITS);
// Plain digits only: no sign, exponent, spaces or hex, so the text means one value in every dialect.
const DECIMAL = /^(\d{1,15})(?:\.(\d{1,20}))?$/;

export type DecimalParse =
  | { readonly ok: true; readonly value: bigint }
  | { readonly ok: false; readonly problem: 'invalid' | 'precision' };

/**
 * Parses a decimal string such as `"0.1"` or `"50000.00000000"`. Trailing zeros beyond
 * {@link INPUT_FRACTION_DIGITS} are accepted (Binance clients pad to 8 or more places).
 */
export function parseDecimal(text: string): DecimalParse {
  const match = DECIMAL.exec(text);
  if (!match) return { ok: false, problem: 'invalid' };
  const integer = match[1] ?? '0';
  const fraction = (match[2] ?? '').replace(/0+$/, '');
  if (fraction.length > INPUT_FRACTION_DIGITS) return { ok: false, problem: 'precision' };
  return {
    ok: true,
    value: BigInt(integer) * ONE + BigInt(fraction.padEnd(AMOUNT_SCALE_DIGITS, '0') || '0'),
  };
}

/**
 * Writes an amount back as a decimal string: with trailing zeros removed, or with exactly
 * `fractionDigits` places (truncated, never rounded up) as Binance does.
 */
export function formatDecimal(value: bigint, fractionDigits?: number): string {
  const negative = value < 0n;
  const magnitude = negative ? -value : value;
  const integer = (magnitude / ONE).toString();
  let fraction = (magnitude % ONE).toString().padStart(AMOUNT_SCALE_DIGITS, '0');
  if (fractionDigits === undefined) fraction = fraction.replace(/0+$/, '');
  else fraction = fraction.slice(0, fractionDigits);
  const sign = negative ? '-' : '';
  return fraction.length > 0 ? `${sign}${integer}.${fraction}` : `${sign}${integer}`;
}

/** quantity × price; exact while both carry at most 8 fractional digits. */
export function multiplyAmounts(left: bigint, right: bigint): bigint {
  return (left * right) / ONE;
}

/** quote ÷ price, truncated down to the 8-digit input step (the quantity a quote amount buys). */
export function divideToStep(numerator: bigint, denominator: bigint): bigint {
  const raw = (numerator * ONE) / denominator;
  return raw - (raw % STEP);
}
