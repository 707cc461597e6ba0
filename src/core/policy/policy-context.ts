/**
 * The context a policy condition sees. Each variable is an instance of a class registered as a
 * CEL type with declared field types, so that a typo (`key.agedays`) or a type slip
 * (`key.ageDays > "90"`) is refused when the policy is compiled, and a wrongly typed value is
 * an evaluation error (deny) rather than a silent coercion.
 */
import type { Environment } from '../keys/model.js';
import type { PolicyParams, RiskLevel } from './model.js';

const DAY_MS = 86_400_000;
const NO_LABELS: Readonly<Record<string, string>> = Object.freeze({});

/** CEL `Key`: the calling key. */
export class PolicyKey {
  constructor(
    readonly id: string,
    readonly scopes: readonly string[],
    /** Age in days as a double (fractional), from the key's creation to now. */
    readonly ageDays: number,
    readonly label: string,
    readonly labels: Readonly<Record<string, string>>,
    readonly riskLevel: RiskLevel,
  ) {}
}

/** CEL `Account`. */
export class PolicyAccount {
  constructor(readonly id: string) {}
}

/** CEL `Action`. */
export class PolicyAction {
  constructor(readonly name: string) {}
}

/** CEL `Request`: the verified request. */
export class PolicyRequest {
  constructor(
    readonly ip: string,
    readonly environment: Environment,
    readonly method: string,
    readonly path: string,
  ) {}
}

/** CEL `Time`: the decision time, injected (never read from the system clock here). */
export class PolicyTime {
  constructor(
    readonly now: Date,
    /** 0–23, as a CEL int. */
    readonly hourUtc: bigint,
    /** 0 = Sunday … 6 = Saturday, as a CEL int (the convention of CEL's getDayOfWeek). */
    readonly weekdayUtc: bigint,
  ) {}
}

/** CEL `Params`: extracted request parameters; an absent one is an error unless guarded by has(). */
export class PolicyParamsValue {
  constructor(params: PolicyParams) {
    Object.assign(this, params);
  }
}

/** What the caller knows about a request, in plain data. */
export interface PolicyContextInput {
  readonly key: {
    readonly id: string;
    readonly scopes: readonly string[];
    readonly createdAt: number;
    readonly label?: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly riskLevel?: RiskLevel;
  };
  readonly accountId: string;
  readonly action: string;
  readonly params: PolicyParams;
  readonly request: {
    readonly ip: string;
    readonly environment: Environment;
    readonly method: string;
    readonly path: string;
  };
  readonly nowMs: number;
}

/** The CEL variables of one decision. */
export interface PolicyVariables {
  readonly key: PolicyKey;
  readonly account: PolicyAccount;
  readonly action: PolicyAction;
  readonly params: PolicyParamsValue;
  readonly request: PolicyRequest;
  readonly time: PolicyTime;
}

/** A built context: the CEL variables plus the plain fields the target index uses. */
export interface PolicyContext {
  readonly action: string;
  readonly environment: Environment;
  readonly accountId: string;
  readonly keyId: string;
  /** What the context was built from; compiled fast conditions read it directly. */
  readonly input: PolicyContextInput;
  /** Built on first read: a request whose conditions all run as fast conditions never needs it. */
  readonly variables: PolicyVariables;
}

/** Builds the context of one decision; the CEL variables are built only if a condition reads them. */
export function buildPolicyContext(input: PolicyContextInput): PolicyContext {
  return new LazyPolicyContext(input);
}

class LazyPolicyContext implements PolicyContext {
  readonly action: string;
  readonly environment: Environment;
  readonly accountId: string;
  readonly keyId: string;
  #variables: PolicyVariables | undefined;

  constructor(readonly input: PolicyContextInput) {
    this.action = input.action;
    this.environment = input.request.environment;
    this.accountId = input.accountId;
    this.keyId = input.key.id;
  }

  get variables(): PolicyVariables {
    this.#variables ??= buildVariables(this.input);
    return this.#variables;
  }
}

function buildVariables(input: PolicyContextInput): PolicyVariables {
  const { key, request, nowMs } = input;
  const now = new Date(nowMs);
  return {
    key: new PolicyKey(
      key.id,
      key.scopes,
      keyAgeDays(key.createdAt, nowMs),
      key.label ?? '',
      key.labels ?? NO_LABELS,
      key.riskLevel ?? 'normal',
    ),
    account: new PolicyAccount(input.accountId),
    action: new PolicyAction(input.action),
    params: new PolicyParamsValue(input.params),
    request: new PolicyRequest(request.ip, request.environment, request.method, request.path),
    time: new PolicyTime(now, BigInt(now.getUTCHours()), BigInt(now.getUTCDay())),
  };
}

/** `key.ageDays`: fractional days from the key's creation to now, never negative. */
export function keyAgeDays(createdAt: number, nowMs: number): number {
  return Math.max(0, nowMs - createdAt) / DAY_MS;
}
