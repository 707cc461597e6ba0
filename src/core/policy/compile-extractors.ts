/**
 * Route parameter extraction: a route declares, per parameter, a CEL expression over the
 * verified request (`query`, `pathParams`, `body`), e.g.
 * `{ symbol: 'body.symbol', notional: 'double(body.quantity) * double(body.price)' }`.
 * Expressions are compiled once with the route table; extraction runs per request.
 */
import type { ParseResult } from '@marcbachmann/cel-js';
import { normalizeDecimal } from '../transactions/decimal.js';
import { diagnosticOf, evaluationFault } from './cel-diagnostics.js';
import { PARAM_TYPES, isParamName, type ParamName, type PolicyParams } from './model.js';
import { parameterExtractorEnvironment } from './policy-environment.js';

/** The verified request, parsed: flat query map, route path parameters, parsed JSON body. */
export interface ExtractorInput {
  readonly query: Readonly<Record<string, string>>;
  readonly pathParams?: Readonly<Record<string, string>>;
  /** The parsed JSON body, or undefined/null when there is none. */
  readonly body: unknown;
}

export interface ExtractError {
  readonly param: ParamName;
  /** `type_mismatch`, `bad_decimal`, or the CEL error code. */
  readonly code: string;
  readonly message: string;
}

export type ExtractResult =
  | {
      readonly ok: true;
      readonly params: PolicyParams;
      /** Exact decimal text of numeric parameters that came from a string or an int. */
      readonly decimals: Readonly<Partial<Record<ParamName, string>>>;
    }
  | { readonly ok: false; readonly errors: readonly ExtractError[] };

export interface ParameterExtractor {
  readonly params: readonly ParamName[];
  /** Never throws. A parameter whose field is absent (`no_such_key`) is left out, not an error. */
  extract(input: ExtractorInput): ExtractResult;
}

export interface ExtractorCompileError {
  readonly param: string;
  readonly code: string;
  readonly message: string;
  readonly line: number;
  readonly column: number;
}

export type CompileExtractorsResult =
  | { readonly ok: true; readonly extractor: ParameterExtractor }
  | { readonly ok: false; readonly errors: readonly ExtractorCompileError[] };

/** Result types an expression may have for each parameter type (dyn is checked per request). */
const ACCEPTED_TYPES: Readonly<Record<'string' | 'double', ReadonlySet<string>>> = {
  string: new Set(['string', 'dyn']),
  double: new Set(['double', 'int', 'uint', 'string', 'dyn']),
};

const NO_QUERY: Readonly<Record<string, string>> = Object.freeze({});

/** Compiles the extractors of one route; all or nothing. */
export function compileExtractors(spec: Readonly<Record<string, string>>): CompileExtractorsResult {
  const env = parameterExtractorEnvironment();
  const errors: ExtractorCompileError[] = [];
  const programs: { param: ParamName; program: ParseResult }[] = [];
  for (const [param, source] of Object.entries(spec)) {
    if (!isParamName(param)) {
      errors.push({
        param,
        code: 'unknown_param',
        message: 'not a declared parameter',
        line: 1,
        column: 1,
      });
      continue;
    }
    let program: ParseResult;
    try {
      program = env.parse(source);
    } catch (error) {
      errors.push({ param, ...diagnosticOf(source, error, 'parse_error') });
      continue;
    }
    const checked = program.check();
    if (!checked.valid) {
      errors.push({ param, ...diagnosticOf(source, checked.error, 'type_error') });
      continue;
    }
    const type = checked.type ?? 'dyn';
    if (!ACCEPTED_TYPES[PARAM_TYPES[param]].has(type)) {
      const message = `${param} is a ${PARAM_TYPES[param]}, the expression is ${type}`;
      errors.push({ param, code: 'type_mismatch', message, line: 1, column: 1 });
      continue;
    }
    programs.push({ param, program });
  }
  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    extractor: {
      params: programs.map((p) => p.param),
      extract: (input) => extract(programs, input),
    },
  };
}

function extract(
  programs: readonly { param: ParamName; program: ParseResult }[],
  input: ExtractorInput,
): ExtractResult {
  const variables = {
    query: input.query,
    pathParams: input.pathParams ?? NO_QUERY,
    body: input.body ?? null,
  };
  const params: Record<string, string | number> = {};
  const decimals: Partial<Record<ParamName, string>> = {};
  const errors: ExtractError[] = [];
  for (const { param, program } of programs) {
    let value: unknown;
    try {
      value = program(variables);
    } catch (error) {
      const fault = evaluationFault(error);
      if (fault.code !== 'no_such_key') errors.push({ param, ...fault });
      continue;
    }
    const converted = convert(param, value);
    if ('code' in converted) {
      errors.push({ param, code: converted.code, message: converted.message });
      continue;
    }
    params[param] = converted.value;
    if (converted.decimal !== undefined) decimals[param] = converted.decimal;
  }
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, params, decimals };
}

type Converted =
  | { value: string | number; decimal?: string }
  | { code: 'type_mismatch' | 'bad_decimal'; message: string };

function convert(param: ParamName, value: unknown): Converted {
  if (PARAM_TYPES[param] === 'string') {
    return typeof value === 'string'
      ? { value }
      : { code: 'type_mismatch', message: `${param} must be a string` };
  }
  if (typeof value === 'number') {
    return Number.isFinite(value)
      ? { value }
      : { code: 'bad_decimal', message: `${param} is not finite` };
  }
  if (typeof value === 'bigint') {
    return value >= 0n
      ? { value: Number(value), decimal: value.toString() }
      : { value: Number(value) };
  }
  if (typeof value === 'string') {
    // Amounts arrive as decimal strings (Binance style): kept exact for the transaction rules.
    const decimal = normalizeDecimal(value);
    if (decimal === undefined)
      return { code: 'bad_decimal', message: `${param} is not a plain decimal` };
    return { value: Number(value), decimal };
  }
  return { code: 'type_mismatch', message: `${param} must be a number or a decimal string` };
}
