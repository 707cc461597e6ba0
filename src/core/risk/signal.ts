/** What the risk engine reads (one data-plane decision) and what it raises (a signal). */
import type { Environment } from '../keys/model.js';
import type { SignalKind } from './risk-config.js';

/** One data-plane decision, as fed to the engine off the request path. */
export interface RiskEvent {
  readonly nowMs: number;
  readonly environment: Environment;
  /** The key the request claimed; with reason KEY_UNKNOWN it only counts towards its prefix. */
  readonly keyId?: string;
  readonly accountId?: string;
  /** The client's /24 (IPv4) or /48 (IPv6) prefix; see `riskIpPrefix`. */
  readonly ipPrefix: string;
  /** The route action name (`order.place`), or a fixed placeholder for unmatched routes. */
  readonly action: string;
  readonly outcome: 'allow' | 'deny';
  /** The reason code of a denial. */
  readonly reason?: string;
}

export type SignalSubjectType = 'key' | 'account' | 'ip_prefix';

export interface SignalSubject {
  readonly type: SignalSubjectType;
  readonly id: string;
}

/** An anomaly: which signal, about whom, and the measurement against its threshold. */
export interface Signal {
  readonly kind: SignalKind;
  readonly environment: Environment;
  readonly subject: SignalSubject;
  /** The key and account of the event that raised it, when known. */
  readonly keyId?: string;
  readonly accountId?: string;
  readonly ipPrefix: string;
  readonly action: string;
  readonly atMs: number;
  /** Raised by a signal in shadow mode: report it, never act on it. */
  readonly shadow: boolean;
  /** What was measured (`count`, `z`, `share`, …) and the threshold it crossed. */
  readonly observed: number;
  readonly threshold: number;
}
