/** Anomaly detection and the graduated response ladder (pure, bounded, injected time). */
export { createRiskEngine, type RiskEngine } from './risk-engine.js';
export {
  DEFAULT_RISK_CONFIG,
  DEFAULT_RISK_MEMORY,
  DEFAULT_RISK_THRESHOLDS,
  SIGNAL_KINDS,
  resolveRiskConfig,
  type RiskConfigOverrides,
  type RiskEngineConfig,
  type RiskMemoryLimits,
  type RiskThresholds,
  type SignalKind,
  type SignalMode,
} from './risk-config.js';
export type { RiskEvent, Signal, SignalSubject, SignalSubjectType } from './signal.js';
export { riskIpPrefix } from './ip-prefix.js';
export {
  DEFAULT_RESPONSE_CONFIG,
  DEFAULT_RESPONSE_POLICY,
  RESPONSE_STEPS,
  decideResponse,
  responseExpiresAtMs,
  type ResponseAction,
  type ResponseConfig,
  type ResponsePolicy,
  type ResponseRule,
  type ResponseStep,
  type ResponseTarget,
  type TradeStepDown,
} from './response-ladder.js';
export {
  RISK_LEVELS,
  keyRiskLevel,
  keyRiskState,
  riskAllows,
  type ActiveResponse,
  type KeyRiskState,
  type RiskLevel,
} from './key-risk.js';
