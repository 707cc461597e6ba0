/**
 * The CEL environments of the policy language: declared variables, their field types, and the
 * custom functions. Built once per process (building an Environment is the expensive part of
 * cel-js; parsing and evaluation against it are cheap).
 */
import { Environment as CelEnvironment } from '@marcbachmann/cel-js';
import { compileCidrMatcher, type IpMatcher } from '../net/compile-allowlist.js';
import { parseCidr } from '../net/cidr.js';
import { PARAM_TYPES, POLICY_LIMITS } from './model.js';
import {
  PolicyAccount,
  PolicyAction,
  PolicyKey,
  PolicyParamsValue,
  PolicyRequest,
  PolicyTime,
} from './policy-context.js';

/** Custom functions whose last argument must be a valid CIDR (or list of them) when literal. */
export const CIDR_FUNCTIONS: ReadonlySet<string> = new Set(['ipInCidr', 'ipInAnyCidr']);

const MAX_CACHED_MATCHERS = 1024;
const matchers = new Map<string, IpMatcher>();

/**
 * A matcher per CIDR text, cached: literal CIDRs are validated at compile time, so the cache
 * only grows past the literals when a condition builds CIDRs at run time — it is bounded anyway.
 */
export function matcherFor(cidr: string): IpMatcher {
  const cached = matchers.get(cidr);
  if (cached) return cached;
  const parsed = parseCidr(cidr);
  // Thrown inside a condition: an evaluation error, which denies (fail closed).
  if (!parsed.ok) throw new Error(`ipInCidr: invalid CIDR (${parsed.error})`);
  const matcher = compileCidrMatcher([parsed.cidr]);
  if (matchers.size >= MAX_CACHED_MATCHERS) matchers.clear();
  matchers.set(cidr, matcher);
  return matcher;
}

function ipInCidr(ip: string, cidr: string): boolean {
  return matcherFor(cidr)(ip);
}

function ipInAnyCidr(ip: string, cidrs: readonly string[]): boolean {
  for (const cidr of cidrs) if (matcherFor(cidr)(ip)) return true;
  return false;
}

function paramFields(): Record<string, string> {
  return { ...PARAM_TYPES };
}

function createConditionEnvironment(): CelEnvironment {
  return new CelEnvironment({
    limits: { maxAstNodes: POLICY_LIMITS.maxAstNodes, maxDepth: POLICY_LIMITS.maxDepth },
  })
    .registerType('Key', {
      ctor: PolicyKey,
      fields: {
        id: 'string',
        scopes: 'list<string>',
        ageDays: 'double',
        label: 'string',
        labels: 'map<string, string>',
        riskLevel: 'string',
      },
    })
    .registerType('Account', { ctor: PolicyAccount, fields: { id: 'string' } })
    .registerType('Action', { ctor: PolicyAction, fields: { name: 'string' } })
    .registerType('Params', { ctor: PolicyParamsValue, fields: paramFields() })
    .registerType('Request', {
      ctor: PolicyRequest,
      fields: { ip: 'string', environment: 'string', method: 'string', path: 'string' },
    })
    .registerType('Time', {
      ctor: PolicyTime,
      fields: { now: 'google.protobuf.Timestamp', hourUtc: 'int', weekdayUtc: 'int' },
    })
    .registerVariable('key', 'Key')
    .registerVariable('account', 'Account')
    .registerVariable('action', 'Action')
    .registerVariable('params', 'Params')
    .registerVariable('request', 'Request')
    .registerVariable('time', 'Time')
    .registerFunction('ipInCidr(string, string): bool', ipInCidr, {
      description:
        'Whether an IPv4/IPv6 address is inside a CIDR (IPv4-mapped IPv6 counts as IPv4).',
    })
    .registerFunction('ipInAnyCidr(string, list<string>): bool', ipInAnyCidr, {
      description: 'Whether an address is inside any of the CIDRs.',
    });
}

function createExtractorEnvironment(): CelEnvironment {
  return new CelEnvironment({
    limits: { maxAstNodes: POLICY_LIMITS.maxAstNodes, maxDepth: POLICY_LIMITS.maxDepth },
  })
    .registerVariable('query', 'map<string, string>')
    .registerVariable('pathParams', 'map<string, string>')
    .registerVariable('body', 'dyn')
    .registerFunction('absent(): dyn', leaveOut, {
      description:
        'Leaves the parameter out, as a missing field does (e.g. a market order sized in the quote currency has no base quantity).',
    });
}

/** What `absent()` throws: the fault a missing field gives, which extraction treats as absent. */
function leaveOut(): never {
  throw Object.assign(new Error('the parameter is absent'), {
    code: 'no_such_key',
    summary: 'the parameter is absent',
  });
}

let conditionEnvironment: CelEnvironment | undefined;
let extractorEnvironment: CelEnvironment | undefined;

/** The environment policy conditions are compiled against. */
export function policyConditionEnvironment(): CelEnvironment {
  conditionEnvironment ??= createConditionEnvironment();
  return conditionEnvironment;
}

/** The environment route parameter extractors are compiled against (`query`, `pathParams`, `body`). */
export function parameterExtractorEnvironment(): CelEnvironment {
  extractorEnvironment ??= createExtractorEnvironment();
  return extractorEnvironment;
}
