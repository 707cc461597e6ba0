/**
 * Durable first sightings (docs/observability.md): `new_ip_prefix` and `first_sensitive_action`
 * are about the first time something is seen, so their memory must outlive a process and be
 * shared by every node; otherwise a restart makes every key's next withdrawal a "first" (and the
 * next request from an attacker's prefix the silently learned "first prefix"), and each node of
 * a cluster raises the same first use again. The store records each sighting atomically and
 * answers whether it was the first; these pure functions say which sightings an event makes
 * and what the store's answer means.
 */
import type { Environment } from '../keys/model.js';
import type { Measurement } from './detectors.js';
import type { RiskThresholds, SignalKind } from './risk-config.js';
import type { RiskEvent, SignalSubject } from './signal.js';

/** One thing seen once: a key's IP prefix, or a key's or an account's use of an action. */
export interface Sighting {
  readonly environment: Environment;
  readonly subject: SignalSubject;
  readonly kind: 'prefix' | 'action';
  readonly value: string;
  readonly atMs: number;
}

/** How the store records a sighting: what "forgotten" means and how many values it keeps. */
export interface SightingRule {
  /** A value last seen before this instant counts as not seen (prefix decay); 0 = never. */
  readonly sinceMs: number;
  /** Values kept per subject and kind, least recently seen dropped first; 0 = unbounded. */
  readonly keep: number;
}

/** The store's answer: whether this sighting is the first (or the first since forgotten). */
export interface SightingAnswer {
  readonly first: boolean;
  /** Other values of the same kind the subject was seen with since `sinceMs`. */
  readonly others: number;
}

/** The signal a sighting can raise. */
export function sightingSignalKind(sighting: Sighting): SignalKind {
  return sighting.kind === 'prefix' ? 'new_ip_prefix' : 'first_sensitive_action';
}

/**
 * The sightings an event makes: only allowed requests teach what is normal (as in the engine),
 * the key's IP prefix, and the key's and the account's first use of a listed action.
 */
export function sightingsOf(event: RiskEvent, t: RiskThresholds): Sighting[] {
  if (event.outcome !== 'allow' || event.keyId === undefined) return [];
  const out: Sighting[] = [];
  const { environment, nowMs: atMs } = event;
  const key: SignalSubject = { type: 'key', id: event.keyId };
  if (t.newIpPrefix.mode !== 'off') {
    out.push({ environment, subject: key, kind: 'prefix', value: event.ipPrefix, atMs });
  }
  if (
    t.firstSensitiveAction.mode !== 'off' &&
    t.firstSensitiveAction.actions.includes(event.action)
  ) {
    out.push({ environment, subject: key, kind: 'action', value: event.action, atMs });
    if (event.accountId !== undefined) {
      const account: SignalSubject = { type: 'account', id: event.accountId };
      out.push({ environment, subject: account, kind: 'action', value: event.action, atMs });
    }
  }
  return out;
}

/** How the store must record `sighting` under the thresholds in force. */
export function sightingRule(sighting: Sighting, t: RiskThresholds): SightingRule {
  if (sighting.kind === 'action') return { sinceMs: 0, keep: 0 };
  return {
    sinceMs: Math.max(0, sighting.atMs - t.newIpPrefix.forgetAfterMs),
    keep: Math.max(1, t.newIpPrefix.maxPrefixesPerKey),
  };
}

/**
 * What the answer measures, or undefined when it raises nothing: a first use of an action; a
 * prefix first seen while the key has other remembered prefixes (the first prefix a key is ever
 * used from is learned silently, nothing to compare it with).
 */
export function sightingMeasurement(
  sighting: Sighting,
  answer: SightingAnswer,
): Measurement | undefined {
  if (!answer.first) return undefined;
  if (sighting.kind === 'action') return { observed: 1, threshold: 1 };
  return answer.others > 0 ? { observed: answer.others, threshold: 0 } : undefined;
}
