/**
 * A strict parser for the flat `name=value&…` form used by the Binance dialect (query string or
 * `application/x-www-form-urlencoded` body) and for Bybit query strings. It never decodes: the
 * signature covers the raw bytes, so the gateway refuses anything a downstream parser could read
 * differently (security-and-approvals §5.3 #2 and #3) instead of normalising it.
 */

/** One parameter, by offsets into the parsed text (no copy of the value). */
export interface FormParam {
  readonly name: string;
  /** Offset of the first character of the name. */
  readonly start: number;
  /** Offset of the first character of the value (just after `=`). */
  readonly valueStart: number;
  /** Offset just past the value. */
  readonly end: number;
}

const MAX_NAME_LENGTH = 64;

/** Upper bound on parameters: more is refused before any work scales with it (§5.3 #9). */
export const MAX_FORM_PARAMS = 100;

function isNameStart(code: number): boolean {
  return (code >= 0x61 && code <= 0x7a) || (code >= 0x41 && code <= 0x5a) || code === 0x5f;
}

function isNameChar(code: number): boolean {
  return isNameStart(code) || (code >= 0x30 && code <= 0x39) || code === 0x2e || code === 0x2d;
}

/**
 * Splits `text` into parameters. Undefined when the text is not strictly flat: an empty segment
 * (`a=1&&b=2`, trailing `&`), a segment without `=`, a name that is not `[A-Za-z_][A-Za-z0-9_.-]*`
 * (so no `%74imestamp` aliases, no `a[]`, no `a[b]`, no name starting with a digit), a byte
 * outside visible ASCII, or more than {@link MAX_FORM_PARAMS} parameters. Duplicates are
 * reported by {@link firstDuplicateName}, not here.
 */
export function parseFormParams(text: string): FormParam[] | undefined {
  const params: FormParam[] = [];
  const length = text.length;
  if (length === 0) return undefined;
  let start = 0;
  while (start <= length) {
    if (params.length === MAX_FORM_PARAMS) return undefined;
    let i = start;
    if (i >= length || !isNameStart(text.charCodeAt(i))) return undefined;
    i++;
    while (i < length && isNameChar(text.charCodeAt(i))) i++;
    if (i - start > MAX_NAME_LENGTH || i >= length || text.charCodeAt(i) !== 0x3d) return undefined;
    const name = text.slice(start, i);
    const valueStart = i + 1;
    let end = valueStart;
    for (; end < length; end++) {
      const code = text.charCodeAt(end);
      if (code === 0x26) break;
      if (code < 0x21 || code > 0x7e) return undefined;
    }
    params.push({ name, start, valueStart, end });
    // `end === length` ends the loop; otherwise text[end] is `&` and another segment must follow.
    start = end + 1;
    if (end === length) break;
  }
  return params;
}

/** The first name that occurs twice, if any (quadratic, but the list is capped and short). */
export function firstDuplicateName(params: readonly FormParam[]): string | undefined {
  for (let i = 1; i < params.length; i++) {
    const name = (params[i] as FormParam).name;
    for (let j = 0; j < i; j++) if ((params[j] as FormParam).name === name) return name;
  }
  return undefined;
}
