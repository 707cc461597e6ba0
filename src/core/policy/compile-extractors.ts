/**
 * Route parameter extraction: a route declares, per parameter, a CEL expression over the
 * verified request (`query`, `pathParams`, `body`), e.g.
 * `{ symbol: 'body.symbol', notional: 'double(body.quantity) * double(body.price)' }`.
 * Expressions are compiled once with the route table; extraction runs per request.
 */
import type { ParseResult } from '@marcbachmann/cel-js';
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
  const programs: Program[] = [];
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
    programs.push({ param, program, ...fastPathOf(source.trim()) });
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

type Variable = 'query' | 'pathParams' | 'body';

/**
 * A compiled parameter. A plain field read (`body.symbol`, `query.amount`), a field read from
 * the query or else the body (`has(query.side) ? query.side : body.side`, Binance's two places),
 * either lower-cased (`….lowerAscii()`), and a product of two such reads (a notional) also keep
 * the fields, read directly when the container is an object that has them and the value is a
 * string or a finite number — what CEL would return; anything else goes through CEL, so the
 * answer and its errors are the same either way (about 150 ns per field saved on every request).
 */
interface Program {
  readonly param: ParamName;
  readonly program: ParseResult;
  readonly read?: Operand;
  /** `read` lower-cased (CEL's `lowerAscii()`, which cel-js implements as toLowerCase). */
  readonly lower?: boolean;
  /** `double(a) * double(b)` over two reads (a notional). */
  readonly product?: readonly [Operand, Operand];
}

interface Field {
  readonly variable: Variable;
  readonly name: string;
}

/** A field, or `has(first) ? first : fallback` (the same name in two variables). */
interface Operand {
  readonly first: Field;
  readonly fallback?: Field;
}

const VARIABLE = '(query|pathParams|body)';
const NAME = '([A-Za-z_][A-Za-z0-9_]*)';
const FIELD = new RegExp(`^${VARIABLE}\\.${NAME}$`);
const EITHER_SOURCE = `has\\(${VARIABLE}\\.${NAME}\\)\\s*\\?\\s*\\1\\.\\2\\s*:\\s*${VARIABLE}\\.\\2`;
const EITHER = new RegExp(`^${EITHER_SOURCE}$`);
const EITHER_IN_PARENS = new RegExp(`^\\(${EITHER_SOURCE}\\)$`);
const LOWER = /^(.*)\.lowerAscii\(\)$/;
const PRODUCT = /^double\((.*)\)\s*\*\s*double\((.*)\)$/;
/** Decimal text whose JavaScript Number is exactly what CEL's double() makes of it. */
const PLAIN_DECIMAL = /^\d{1,20}(?:\.\d{1,20})?$/;

/** `body.x`, or the query-else-body read, bare (`bare`) or in one pair of parentheses. */
function operandOf(source: string, bare: boolean): Operand | undefined {
  const field = FIELD.exec(source);
  if (field !== null)
    return { first: { variable: field[1] as Variable, name: field[2] as string } };
  const either = (bare ? EITHER : EITHER_IN_PARENS).exec(source);
  if (either === null || either[1] === either[3]) return undefined;
  const name = either[2] as string;
  return {
    first: { variable: either[1] as Variable, name },
    fallback: { variable: either[3] as Variable, name },
  };
}

function fastPathOf(source: string): Pick<Program, 'read' | 'lower' | 'product'> {
  const read = operandOf(source, true);
  if (read !== undefined) return { read };
  const lower = LOWER.exec(source);
  if (lower !== null) {
    const operand = operandOf(lower[1] as string, false);
    return operand === undefined ? {} : { read: operand, lower: true };
  }
  const product = PRODUCT.exec(source);
  if (product === null) return {};
  const a = operandOf(product[1] as string, false) ?? operandOf(product[1] as string, true);
  const b = operandOf(product[2] as string, false) ?? operandOf(product[2] as string, true);
  return a === undefined || b === undefined ? {} : { product: [a, b] };
}

/** A read as a double when it is a plain decimal string or a finite number; else undefined. */
function readDouble(
  variables: Readonly<Record<Variable, unknown>>,
  operand: Operand,
): number | undefined {
  const value = readOperand(variables, operand);
  if (typeof value === 'number') return value;
  return value !== undefined && PLAIN_DECIMAL.test(value) ? Number(value) : undefined;
}

/** The read's value, or undefined to let CEL answer (a container CEL's `has` would fail on). */
function readOperand(
  variables: Readonly<Record<Variable, unknown>>,
  operand: Operand,
): string | number | undefined {
  if (operand.fallback === undefined) return readField(variables, operand.first);
  const container = variables[operand.first.variable];
  if (!isPlainContainer(container)) return undefined;
  return readField(
    variables,
    Object.hasOwn(container, operand.first.name) ? operand.first : operand.fallback,
  );
}

function isPlainContainer(value: unknown): value is object {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function readField(
  variables: Readonly<Record<Variable, unknown>>,
  field: Field,
): string | number | undefined {
  const container = variables[field.variable];
  if (!isPlainContainer(container)) return undefined;
  if (!Object.hasOwn(container, field.name)) return undefined;
  const value = (container as Record<string, unknown>)[field.name];
  if (typeof value === 'string') return value;
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function extract(programs: readonly Program[], input: ExtractorInput): ExtractResult {
  const variables = {
    query: input.query,
    pathParams: input.pathParams ?? NO_QUERY,
    body: input.body ?? null,
  };
  const params: Record<string, string | number> = {};
  const decimals: Partial<Record<ParamName, string>> = {};
  let errors: ExtractError[] | undefined;
  for (const { param, program, read, lower, product } of programs) {
    let value: unknown;
    if (read !== undefined) {
      value = readOperand(variables, read);
      // lowerAscii() of a number is a CEL error: that one goes through CEL.
      if (lower === true) value = typeof value === 'string' ? value.toLowerCase() : undefined;
    } else if (product !== undefined) {
      const a = readDouble(variables, product[0]);
      const b = a === undefined ? undefined : readDouble(variables, product[1]);
      if (a !== undefined && b !== undefined) value = a * b;
    }
    if (value === undefined) {
      try {
        value = program(variables);
      } catch (error) {
        const fault = evaluationFault(error);
        if (fault.code !== 'no_such_key') (errors ??= []).push({ param, ...fault });
        continue;
      }
    }
    const failed = store(param, value, params, decimals);
    if (failed !== undefined) (errors ??= []).push(failed);
  }
  if (errors !== undefined) return { ok: false, errors };
  return { ok: true, params, decimals };
}

/**
 * Stores a parameter's value converted to its type (the exact decimal text of a numeric one that
 * came from a string or an int goes to `decimals`); returns the error instead when it does not
 * convert. No intermediate objects: this runs for every parameter of every request.
 */
function store(
  param: ParamName,
  value: unknown,
  params: Record<string, string | number>,
  decimals: Partial<Record<ParamName, string>>,
): ExtractError | undefined {
  if (PARAM_TYPES[param] === 'string') {
    if (typeof value !== 'string') return failure(param, 'type_mismatch', 'must be a string');
    params[param] = value;
    return undefined;
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return failure(param, 'bad_decimal', 'is not finite');
    params[param] = value;
    return undefined;
  }
  if (typeof value === 'bigint') {
    params[param] = Number(value);
    if (value >= 0n) decimals[param] = value.toString();
    return undefined;
  }
  if (typeof value === 'string') {
    // Amounts arrive as decimal strings (Binance style): kept exact for the transaction rules.
    const decimal = canonicalDecimal(value);
    if (decimal === undefined) return failure(param, 'bad_decimal', 'is not a plain decimal');
    params[param] = Number(value);
    decimals[param] = decimal;
    return undefined;
  }
  return failure(param, 'type_mismatch', 'must be a number or a decimal string');
}

function failure(
  param: ParamName,
  code: 'type_mismatch' | 'bad_decimal',
  what: string,
): ExtractError {
  return { param, code, message: `${param} ${what}` };
}

/**
 * `normalizeDecimal` (transactions/decimal.ts) without a regular expression, per request: the
 * same grammar — `0` or 1–30 digits without a leading zero, then optionally `.` and 1–18
 * digits — and the same canonical text (`1.50` → `1.5`, `2.0` → `2`); undefined otherwise.
 * test/core/policy/canonical-decimal.test.ts holds it to normalizeDecimal.
 */
export function canonicalDecimal(text: string): string | undefined {
  const length = text.length;
  let dot = -1;
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x2e && dot === -1) dot = i;
    else if (c < 0x30 || c > 0x39) return undefined;
  }
  const whole = dot === -1 ? length : dot;
  if (whole === 0 || whole > 30 || (whole > 1 && text.charCodeAt(0) === 0x30)) return undefined;
  if (dot === -1) return text;
  const fractionDigits = length - dot - 1;
  if (fractionDigits === 0 || fractionDigits > 18) return undefined;
  let end = length;
  while (text.charCodeAt(end - 1) === 0x30) end--;
  return end === dot + 1 ? text.slice(0, dot) : text.slice(0, end);
}
