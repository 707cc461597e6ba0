/**
 * Fast conditions: the common shapes of a policy condition compiled once, with the policy, into
 * plain JavaScript over the context's input — comparisons of context fields with literals, `in`
 * a literal list or `key.scopes`, `has(params.x)`, `ipInCidr`/`ipInAnyCidr` with literal CIDRs,
 * `startsWith`/`endsWith`/`contains` with a literal, joined by `&&`, `||`, `!` and `? :`.
 *
 * A fast condition answers true or false only where CEL answers the same; wherever CEL would
 * raise an error (an absent parameter, a value of an unexpected type) it answers undefined and
 * the caller evaluates the CEL program, so errors, and the denials they cause, stay CEL's own.
 * Anything else is not compiled at all. test/core/policy/fast-condition.test.ts checks both
 * agree over random conditions and contexts.
 */
import type { ASTNode } from '@marcbachmann/cel-js';
import { PARAM_TYPES, isParamName } from './model.js';
import { keyAgeDays, type PolicyContextInput } from './policy-context.js';
import { matcherFor } from './policy-environment.js';

/** True or false as CEL answers; undefined where CEL raises an error (CEL then decides). */
export type FastCondition = (input: PolicyContextInput) => boolean | undefined;

type Kind = 'bool' | 'string' | 'double' | 'int';
type Value = boolean | string | number;
/** Reads an operand; undefined stands for a CEL error. Ints are JavaScript numbers (safe range). */
type Read = (input: PolicyContextInput) => Value | undefined;

interface Operand {
  readonly kind: Kind;
  readonly read: Read;
  readonly literal?: Value;
}

/** Compiles a type-checked condition; undefined when it uses anything outside the fast shapes. */
export function compileFastCondition(ast: ASTNode): FastCondition | undefined {
  const operand = compile(ast);
  if (operand?.kind !== 'bool') return undefined;
  const read = operand.read;
  return (input) => {
    // No valid decision time, no CEL context (its time fields cannot be built): CEL's error.
    if (!(Math.abs(input.nowMs) <= MAX_TIME_MS)) return undefined;
    const value = read(input);
    return typeof value === 'boolean' ? value : undefined;
  };
}

function compile(node: ASTNode): Operand | undefined {
  switch (node.op) {
    case 'value':
      return literal(node.args);
    case '.':
      return node.args[0].op === 'id' ? field(node.args[0].args, node.args[1]) : undefined;
    case '!_':
      return not(compile(node.args));
    case '&&':
    case '||':
      return logical(node.op, compile(node.args[0]), compile(node.args[1]));
    case '==':
    case '!=':
      return equality(node.op, compile(node.args[0]), compile(node.args[1]));
    case '<':
    case '<=':
    case '>':
    case '>=':
      return ordering(node.op, compile(node.args[0]), compile(node.args[1]));
    case 'in':
      return membership(compile(node.args[0]), node.args[1]);
    case '?:':
      return conditional(node.args.map(compile));
    case 'call':
      return call(node.args[0], node.args[1]);
    case 'rcall':
      return stringMethod(node.args[0], compile(node.args[1]), node.args[2]);
    // Arithmetic, indexing, optionals, bare identifiers, maps and list values: CEL's.
    case '-_':
    case '+':
    case '-':
    case '*':
    case '/':
    case '%':
    case '.?':
    case '[]':
    case '[?]':
    case 'id':
    case 'list':
    case 'map':
      return undefined;
  }
}

function literal(value: unknown): Operand | undefined {
  const constant = (kind: Kind, v: Value): Operand => ({ kind, read: () => v, literal: v });
  if (typeof value === 'boolean') return constant('bool', value);
  if (typeof value === 'string') return constant('string', value);
  if (typeof value === 'number') return constant('double', value);
  // An int beyond ±2^53 would not compare exactly as a JavaScript number: left to CEL.
  if (typeof value === 'bigint' && Number.isSafeInteger(Number(value))) {
    return constant('int', Number(value));
  }
  return undefined;
}

const string = (get: (input: PolicyContextInput) => unknown): Operand => ({
  kind: 'string',
  read: (input) => {
    const value = get(input);
    return typeof value === 'string' ? value : undefined;
  },
});

/** Context fields by variable; field values exactly as buildPolicyContext puts them in CEL. */
const FIELDS: Readonly<Record<string, Readonly<Record<string, Operand>>>> = {
  key: {
    id: string((i) => i.key.id),
    label: string((i) => i.key.label ?? ''),
    riskLevel: string((i) => i.key.riskLevel ?? 'normal'),
    ageDays: {
      kind: 'double',
      read: (i) => number(keyAgeDays(i.key.createdAt, i.nowMs)),
    },
  },
  account: { id: string((i) => i.accountId) },
  action: { name: string((i) => i.action) },
  request: {
    ip: string((i) => i.request.ip),
    environment: string((i) => i.request.environment),
    method: string((i) => i.request.method),
    path: string((i) => i.request.path),
  },
  time: {
    hourUtc: { kind: 'int', read: (i) => utcField(i.nowMs, HOUR_MS, 24, 0) },
    weekdayUtc: { kind: 'int', read: (i) => utcField(i.nowMs, DAY_MS, 7, 4) },
  },
};

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/** ECMAScript's time value range (TimeClip): outside it a Date is invalid. */
const MAX_TIME_MS = 8.64e15;

/**
 * `getUTCHours()` / `getUTCDay()` of `new Date(nowMs)` without allocating a Date, as the
 * ECMAScript spec defines them: HourFromTime(t) = floor(t / msPerHour) modulo 24, WeekDay(t) =
 * (Day(t) + 4) modulo 7, t being TimeClip(nowMs); an invalid date is left to CEL.
 */
function utcField(
  nowMs: number,
  unitMs: number,
  modulo: number,
  offset: number,
): number | undefined {
  const t = Math.trunc(nowMs);
  if (!(Math.abs(t) <= MAX_TIME_MS)) return undefined;
  const n = (Math.floor(t / unitMs) + offset) % modulo;
  return n < 0 ? n + modulo : n;
}

/** NaN is left to CEL. */
function number(value: unknown): number | undefined {
  return typeof value === 'number' && !Number.isNaN(value) ? value : undefined;
}

function field(variable: string, name: string): Operand | undefined {
  if (variable === 'params') return param(name);
  return Object.hasOwn(FIELDS, variable) ? FIELDS[variable]?.[name] : undefined;
}

/** `params.x`: an absent parameter is a CEL error (`no_such_key`), so undefined here. */
function param(name: string): Operand | undefined {
  if (!isParamName(name)) return undefined;
  const get = (i: PolicyContextInput): unknown =>
    Object.hasOwn(i.params, name) ? i.params[name] : undefined;
  return PARAM_TYPES[name] === 'string'
    ? string(get)
    : { kind: 'double', read: (i) => number(get(i)) };
}

function not(a: Operand | undefined): Operand | undefined {
  if (a?.kind !== 'bool') return undefined;
  const read = a.read;
  return {
    kind: 'bool',
    read: (i) => {
      const v = read(i);
      return v === undefined ? undefined : !v;
    },
  };
}

/** CEL's commutative `&&`/`||`: a false (true) side decides even when the other side errs. */
function logical(op: '&&' | '||', a?: Operand, b?: Operand): Operand | undefined {
  if (a?.kind !== 'bool' || b?.kind !== 'bool') return undefined;
  const [left, right] = [a.read, b.read];
  const decisive = op === '||';
  return {
    kind: 'bool',
    read: (i) => {
      const l = left(i);
      if (l === decisive) return decisive;
      const r = right(i);
      if (r === decisive) return decisive;
      return l === undefined || r === undefined ? undefined : !decisive;
    },
  };
}

/** `==`/`!=` only between operands of one kind (the type checker refuses int == double). */
function equality(op: '==' | '!=', a?: Operand, b?: Operand): Operand | undefined {
  if (a === undefined || b === undefined || a.kind !== b.kind) return undefined;
  const [left, right] = [a.read, b.read];
  const equal = op === '==';
  return {
    kind: 'bool',
    read: (i) => {
      const l = left(i);
      const r = l === undefined ? undefined : right(i);
      return r === undefined ? undefined : (l === r) === equal;
    },
  };
}

/** Numeric ordering (int and double compare exactly: ints are safe integers here). */
function ordering(op: '<' | '<=' | '>' | '>=', a?: Operand, b?: Operand): Operand | undefined {
  const numeric = (o?: Operand): o is Operand => o?.kind === 'double' || o?.kind === 'int';
  if (!numeric(a) || !numeric(b)) return undefined;
  const compare = COMPARE[op];
  const [left, right] = [a.read, b.read];
  return {
    kind: 'bool',
    read: (i) => {
      const l = left(i);
      const r = l === undefined ? undefined : right(i);
      return typeof l === 'number' && typeof r === 'number' ? compare(l, r) : undefined;
    },
  };
}

const COMPARE: Readonly<Record<'<' | '<=' | '>' | '>=', (l: number, r: number) => boolean>> = {
  '<': (l, r) => l < r,
  '<=': (l, r) => l <= r,
  '>': (l, r) => l > r,
  '>=': (l, r) => l >= r,
};

/** `x in ["a", "b"]` over string literals, and `"s" in key.scopes`. */
function membership(a: Operand | undefined, list: ASTNode): Operand | undefined {
  if (a?.kind !== 'string') return undefined;
  const read = a.read;
  if (list.op === 'list') {
    const items = list.args.map(compile);
    if (!items.every((item) => item?.kind === 'string' && item.literal !== undefined)) {
      return undefined;
    }
    const members = new Set(items.map((item) => item?.literal));
    return {
      kind: 'bool',
      read: (i) => {
        const v = read(i);
        return v === undefined ? undefined : members.has(v);
      },
    };
  }
  if (list.op !== '.' || list.args[0].op !== 'id') return undefined;
  if (list.args[0].args !== 'key' || list.args[1] !== 'scopes') return undefined;
  return {
    kind: 'bool',
    read: (i) => {
      const scopes = i.key.scopes;
      const v = read(i);
      return typeof v === 'string' ? scopes.includes(v) : undefined;
    },
  };
}

function conditional(parts: (Operand | undefined)[]): Operand | undefined {
  const [test, yes, no] = parts;
  if (test?.kind !== 'bool' || yes === undefined || no === undefined) return undefined;
  if (yes.kind !== no.kind) return undefined;
  const [t, y, n] = [test.read, yes.read, no.read];
  return {
    kind: yes.kind,
    read: (i) => {
      const v = t(i);
      return v === undefined ? undefined : v === true ? y(i) : n(i);
    },
  };
}

function call(name: string, args: readonly ASTNode[]): Operand | undefined {
  const [first, second] = args;
  if (name === 'has' && args.length === 1 && first?.op === '.') {
    const [target, fieldName] = first.args;
    if (target.op !== 'id' || target.args !== 'params' || !isParamName(fieldName)) return undefined;
    // Present means true only with a value of the declared type; anything else is left to CEL.
    const value = param(fieldName);
    if (value === undefined) return undefined;
    const read = value.read;
    return {
      kind: 'bool',
      read: (i) =>
        !Object.hasOwn(i.params, fieldName) ? false : read(i) === undefined ? undefined : true,
    };
  }
  if ((name !== 'ipInCidr' && name !== 'ipInAnyCidr') || args.length !== 2) return undefined;
  const ip = first === undefined ? undefined : compile(first);
  const cidrs = second?.op === 'list' ? second.args : name === 'ipInCidr' ? [second] : [];
  if (ip?.kind !== 'string' || (name === 'ipInAnyCidr' && second?.op !== 'list')) return undefined;
  const literals = cidrs.map((c) => (c?.op === 'value' ? c.args : undefined));
  if (!literals.every((c): c is string => typeof c === 'string')) return undefined;
  const matchers = cidrMatchers(literals);
  if (matchers === undefined) return undefined;
  const read = ip.read;
  return {
    kind: 'bool',
    read: (i) => {
      const v = read(i);
      return typeof v === 'string' ? anyMatches(matchers, v) : undefined;
    },
  };
}

/** The same cached matchers the CEL functions use (literal CIDRs are validated when compiled). */
function cidrMatchers(cidrs: readonly string[]): ((ip: string) => boolean)[] | undefined {
  try {
    return cidrs.map(matcherFor);
  } catch {
    return undefined;
  }
}

const STRING_METHODS: Readonly<Record<string, (s: string, arg: string) => boolean>> = {
  startsWith: (s, arg) => s.startsWith(arg),
  endsWith: (s, arg) => s.endsWith(arg),
  contains: (s, arg) => s.includes(arg),
};

/** `s.startsWith("…")`, `s.endsWith("…")`, `s.contains("…")` with a literal argument. */
function stringMethod(
  name: string,
  target: Operand | undefined,
  args: readonly ASTNode[],
): Operand | undefined {
  const method = Object.hasOwn(STRING_METHODS, name) ? STRING_METHODS[name] : undefined;
  const [only] = args;
  if (method === undefined || target?.kind !== 'string' || args.length !== 1) return undefined;
  if (only?.op !== 'value' || typeof only.args !== 'string') return undefined;
  const [read, arg] = [target.read, only.args];
  return {
    kind: 'bool',
    read: (i) => {
      const v = read(i);
      return typeof v === 'string' ? method(v, arg) : undefined;
    },
  };
}

/** Whether any matcher matches; undefined (CEL decides) if one throws. */
function anyMatches(
  matchers: readonly ((ip: string) => boolean)[],
  ip: string,
): boolean | undefined {
  try {
    for (let m = 0; m < matchers.length; m++) if (matchers[m]?.(ip) === true) return true;
    return false;
  } catch {
    return undefined;
  }
}
