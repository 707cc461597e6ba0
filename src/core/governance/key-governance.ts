/**
 * Key governance rules, per environment: maximum key age (warn before, then step down or
 * expire), keys without an IP allowlist (lose `trade`/`withdraw` after a while, as Binance does
 * after 30 days, or may never hold `withdraw`), and dormant keys. Pure: the caller passes the
 * time and applies the actions (each through the audited key service).
 */
import { keyState, type ApiKey, type Environment, type Scope } from '../keys/model.js';

export interface GovernancePolicy {
  /** Keys older than this are stepped down or expired; null = no maximum age. */
  readonly maxKeyAgeMs: number | null;
  /** Findings start this long before a deadline. */
  readonly warnBeforeMs: number;
  /** At maximum age: `step_down` removes every scope but `read`; `expire` ends the key. */
  readonly onMaxAge: 'step_down' | 'expire';
  /** A key with no IP allowlist loses `unrestrictedLosesScopes` this long after creation. */
  readonly unrestrictedScopeTtlMs: number | null;
  readonly unrestrictedLosesScopes: readonly Scope[];
  /** A key with no IP allowlist may never hold `withdraw` (removed at once). */
  readonly unrestrictedMayWithdraw: boolean;
  /** Keys unused this long (since last use, or creation if never used) are disabled. */
  readonly dormantAfterMs: number | null;
}

export type GovernancePolicies = Readonly<Record<Environment, GovernancePolicy>>;

const DAY_MS = 86_400_000;

export const DEFAULT_GOVERNANCE_POLICIES: GovernancePolicies = {
  production: {
    maxKeyAgeMs: 365 * DAY_MS,
    warnBeforeMs: 14 * DAY_MS,
    onMaxAge: 'step_down',
    unrestrictedScopeTtlMs: 30 * DAY_MS,
    unrestrictedLosesScopes: ['trade', 'withdraw', 'transfer'],
    unrestrictedMayWithdraw: false,
    dormantAfterMs: 90 * DAY_MS,
  },
  sandbox: {
    maxKeyAgeMs: null,
    warnBeforeMs: 14 * DAY_MS,
    onMaxAge: 'step_down',
    unrestrictedScopeTtlMs: null,
    unrestrictedLosesScopes: ['trade', 'withdraw', 'transfer'],
    unrestrictedMayWithdraw: true,
    dormantAfterMs: 180 * DAY_MS,
  },
};

export const FINDING_CODES = [
  'KEY_AGE_WARNING',
  'KEY_TOO_OLD',
  'UNRESTRICTED_SCOPES_EXPIRING',
  'UNRESTRICTED_SCOPES_LAPSED',
  'UNRESTRICTED_WITHDRAW',
  'KEY_DORMANT_SOON',
  'KEY_DORMANT',
] as const;
export type FindingCode = (typeof FINDING_CODES)[number];

export interface GovernanceFinding {
  readonly code: FindingCode;
  readonly keyId: string;
  /** When the rule bites (or bit); epoch ms. */
  readonly dueAtMs: number;
  /** True when the deadline has passed (an action accompanies it). */
  readonly breached: boolean;
}

export type GovernanceAction =
  | {
      readonly type: 'remove_scopes';
      readonly keyId: string;
      readonly scopes: readonly Scope[];
      readonly because: FindingCode;
    }
  | { readonly type: 'expire'; readonly keyId: string; readonly because: FindingCode }
  | { readonly type: 'disable'; readonly keyId: string; readonly because: FindingCode };

export interface GovernanceResult {
  readonly findings: readonly GovernanceFinding[];
  readonly actions: readonly GovernanceAction[];
}

const NONE: GovernanceResult = { findings: [], actions: [] };

/** The findings and due actions for one key under its environment's policy at `nowMs`. */
export function evaluateKeyGovernance(
  key: ApiKey,
  policies: GovernancePolicies,
  nowMs: number,
): GovernanceResult {
  if (keyState(key, nowMs) !== 'active') return NONE;
  const policy = policies[key.environment];
  const findings: GovernanceFinding[] = [];
  const actions: GovernanceAction[] = [];
  // Scopes already taken away by an earlier rule in this evaluation.
  const removed = new Set<Scope>();
  const held = (scope: Scope): boolean => key.scopes.includes(scope) && !removed.has(scope);
  const removeScopes = (scopes: readonly Scope[], because: FindingCode): void => {
    const present = scopes.filter(held);
    if (present.length === 0) return;
    present.forEach((s) => removed.add(s));
    actions.push({ type: 'remove_scopes', keyId: key.id, scopes: present, because });
  };
  const deadline = (
    dueAtMs: number,
    warnCode: FindingCode,
    breachCode: FindingCode,
  ): boolean | undefined => {
    if (nowMs >= dueAtMs) {
      findings.push({ code: breachCode, keyId: key.id, dueAtMs, breached: true });
      return true;
    }
    if (nowMs >= dueAtMs - policy.warnBeforeMs) {
      findings.push({ code: warnCode, keyId: key.id, dueAtMs, breached: false });
    }
    return undefined;
  };
  const unrestricted = key.ipAllowlist.length === 0;

  if (unrestricted && !policy.unrestrictedMayWithdraw && held('withdraw')) {
    findings.push({
      code: 'UNRESTRICTED_WITHDRAW',
      keyId: key.id,
      dueAtMs: key.createdAt,
      breached: true,
    });
    removeScopes(['withdraw'], 'UNRESTRICTED_WITHDRAW');
  }
  if (unrestricted && policy.unrestrictedScopeTtlMs !== null) {
    const losing = policy.unrestrictedLosesScopes.filter(held);
    if (losing.length > 0) {
      const due = key.createdAt + policy.unrestrictedScopeTtlMs;
      if (deadline(due, 'UNRESTRICTED_SCOPES_EXPIRING', 'UNRESTRICTED_SCOPES_LAPSED')) {
        removeScopes(losing, 'UNRESTRICTED_SCOPES_LAPSED');
      }
    }
  }
  if (policy.maxKeyAgeMs !== null) {
    const due = key.createdAt + policy.maxKeyAgeMs;
    const stepDownScopes = key.scopes.filter((s) => s !== 'read' && held(s));
    // A key already stepped down to read-only has nothing left to lose under `step_down`.
    if (policy.onMaxAge === 'expire' || stepDownScopes.length > 0) {
      if (deadline(due, 'KEY_AGE_WARNING', 'KEY_TOO_OLD')) {
        if (policy.onMaxAge === 'expire')
          actions.push({ type: 'expire', keyId: key.id, because: 'KEY_TOO_OLD' });
        else removeScopes(stepDownScopes, 'KEY_TOO_OLD');
      }
    }
  }
  if (policy.dormantAfterMs !== null) {
    const due = (key.lastUsedAt ?? key.createdAt) + policy.dormantAfterMs;
    if (deadline(due, 'KEY_DORMANT_SOON', 'KEY_DORMANT')) {
      actions.push({ type: 'disable', keyId: key.id, because: 'KEY_DORMANT' });
    }
  }
  return { findings, actions };
}

export interface KeysReportRow {
  readonly keyId: string;
  readonly accountId: string;
  readonly label: string;
  readonly environment: Environment;
  readonly findings: readonly GovernanceFinding[];
  readonly actions: readonly GovernanceAction[];
}

export interface KeysReport {
  readonly generatedAtMs: number;
  /** Keys that break the policy or will soon; breaches first, then by the nearest deadline. */
  readonly rows: readonly KeysReportRow[];
  readonly totals: Readonly<Record<Environment, { breached: number; warned: number }>>;
}

/** The report behind `portcullis keys report`; environments are never mixed in one row. */
export function keysReport(
  keys: readonly ApiKey[],
  policies: GovernancePolicies,
  nowMs: number,
): KeysReport {
  const rows: KeysReportRow[] = [];
  const totals = { sandbox: { breached: 0, warned: 0 }, production: { breached: 0, warned: 0 } };
  for (const key of keys) {
    const { findings, actions } = evaluateKeyGovernance(key, policies, nowMs);
    if (findings.length === 0) continue;
    const { id: keyId, accountId, label, environment } = key;
    rows.push({ keyId, accountId, label, environment, findings, actions });
    if (findings.some((f) => f.breached)) totals[environment].breached += 1;
    else totals[environment].warned += 1;
  }
  rows.sort(byReportOrder);
  return { generatedAtMs: nowMs, rows, totals };
}

/**
 * The reports of several sets of keys (a store's pages, evaluated one at a time) as one: rows in
 * report order, totals added up.
 */
export function mergeKeysReports(parts: readonly KeysReport[], nowMs: number): KeysReport {
  const totals = { sandbox: { breached: 0, warned: 0 }, production: { breached: 0, warned: 0 } };
  for (const part of parts) {
    for (const environment of ['sandbox', 'production'] as const) {
      totals[environment].breached += part.totals[environment].breached;
      totals[environment].warned += part.totals[environment].warned;
    }
  }
  const rows = parts.flatMap((part) => part.rows).sort(byReportOrder);
  return { generatedAtMs: nowMs, rows, totals };
}

/** Breaches first, then the nearest deadline, then the key id. */
function byReportOrder(a: KeysReportRow, b: KeysReportRow): number {
  const [ra, da] = rankOf(a);
  const [rb, db] = rankOf(b);
  return ra - rb || da - db || a.keyId.localeCompare(b.keyId);
}

const rankOf = (row: KeysReportRow): [number, number] => [
  row.findings.some((f) => f.breached) ? 0 : 1,
  Math.min(...row.findings.map((f) => f.dueAtMs)),
];
