import { parseDecimal } from './decimal.js';
import { SandboxFault, fieldFault } from './sandbox-fault.js';

/** Request parameters by name, from a JSON object, a query string or a form body. */
export type ParamValues = ReadonlyMap<string, unknown>;

const MAX_PARAMS = 64;

/**
 * Parses `a=1&b=2` (query string or application/x-www-form-urlencoded body) into flat string
 * params. A repeated name is refused: the gateway verified a signature over these exact bytes,
 * and two values for one name would let the signed and the executed meaning differ.
 */
export function parseFlatParams(text: string): Map<string, string> {
  const params = new Map<string, string>();
  for (const pair of text.split('&')) {
    if (pair === '') continue;
    const equals = pair.indexOf('=');
    const name = decodeComponent(equals === -1 ? pair : pair.slice(0, equals));
    const value = equals === -1 ? '' : decodeComponent(pair.slice(equals + 1));
    if (name === '') throw new SandboxFault('MALFORMED_PARAMS', 'a parameter has no name');
    if (params.has(name)) {
      throw new SandboxFault('DUPLICATE_PARAMETER', `${name} is sent more than once`, {
        field: name,
      });
    }
    if (params.size >= MAX_PARAMS) {
      throw new SandboxFault('VALIDATION_FAILED', `more than ${MAX_PARAMS} parameters`);
    }
    params.set(name, value);
  }
  return params;
}

/** The raw query string of a request URL, without the `?`. */
export function rawQuery(url: string): string {
  const mark = url.indexOf('?');
  return mark === -1 ? '' : url.slice(mark + 1);
}

/** Joins query and body params; a name in both is a duplicate, not an override. */
export function mergeParams(first: ParamValues, second: ParamValues): ParamValues {
  const merged = new Map(first);
  for (const [name, value] of second) {
    if (merged.has(name)) {
      throw new SandboxFault('DUPLICATE_PARAMETER', `${name} is sent more than once`, {
        field: name,
      });
    }
    merged.set(name, value);
  }
  return merged;
}

/** A JSON body as params: absent means no params; anything but a plain object is refused. */
export function paramsFromJson(body: unknown): ParamValues {
  if (body === undefined) return new Map();
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new SandboxFault('VALIDATION_FAILED', 'the body must be a JSON object');
  }
  return new Map(Object.entries(body));
}

function decodeComponent(text: string): string {
  try {
    return decodeURIComponent(text.replaceAll('+', ' '));
  } catch {
    throw new SandboxFault('MALFORMED_PARAMS', 'a parameter is not valid percent-encoding');
  }
}

/**
 * Reads validated fields. Unknown names are refused up front; `ignored` names (e.g. Binance's
 * timestamp/recvWindow/signature, already checked by the gateway) are accepted and never read.
 * An empty string counts as absent, as the exchanges treat it.
 */
export class ParamReader {
  constructor(
    private readonly values: ParamValues,
    allowed: readonly string[],
    ignored: readonly string[] = [],
  ) {
    for (const name of values.keys()) {
      if (!allowed.includes(name) && !ignored.includes(name)) {
        throw new SandboxFault('UNKNOWN_FIELD', `${name} is not a known field`, { field: name });
      }
    }
  }

  /** True when the field is present and non-empty. */
  has(name: string): boolean {
    return this.optional(name) !== undefined;
  }

  optional(name: string, pattern?: RegExp, expected?: string): string | undefined {
    const value = this.values.get(name);
    if (value === undefined || value === '') return undefined;
    if (typeof value !== 'string') throw fieldFault(name, 'invalid', 'a string');
    if (pattern && !pattern.test(value)) throw fieldFault(name, 'invalid', expected);
    return value;
  }

  required(name: string, pattern?: RegExp, expected?: string): string {
    const value = this.optional(name, pattern, expected);
    if (value === undefined) throw fieldFault(name, 'missing');
    return value;
  }

  /** One of a closed set of spellings, mapped to the sandbox's own value. */
  choice<T>(name: string, choices: Readonly<Record<string, T>>): T | undefined {
    const value = this.optional(name);
    if (value === undefined) return undefined;
    if (!Object.hasOwn(choices, value)) {
      throw fieldFault(name, 'invalid', `one of ${Object.keys(choices).join(', ')}`);
    }
    return choices[value];
  }

  requiredChoice<T>(name: string, choices: Readonly<Record<string, T>>): T {
    const value = this.choice(name, choices);
    if (value === undefined) throw fieldFault(name, 'missing');
    return value;
  }

  /** A strictly positive decimal string with at most 8 decimal places. */
  amount(name: string): bigint | undefined {
    const text = this.optional(name);
    if (text === undefined) return undefined;
    const parsed = parseDecimal(text);
    if (!parsed.ok) throw fieldFault(name, parsed.problem, 'a positive decimal string');
    if (parsed.value <= 0n) throw fieldFault(name, 'invalid', 'a positive decimal string');
    return parsed.value;
  }

  requiredAmount(name: string): bigint {
    const value = this.amount(name);
    if (value === undefined) throw fieldFault(name, 'missing');
    return value;
  }

  /** Refuses a field that must not accompany the others (e.g. a price on a market order). */
  forbid(name: string): void {
    if (this.has(name)) throw fieldFault(name, 'not-allowed');
  }
}

/** A parsed application/x-www-form-urlencoded body, marked so handlers can tell it from JSON. */
export class FormBody {
  constructor(readonly params: ReadonlyMap<string, string>) {}
}
