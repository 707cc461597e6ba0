/** Key governance: rotation age, unrestricted keys, dormancy (pure, injected time). */
export {
  DEFAULT_GOVERNANCE_POLICIES,
  FINDING_CODES,
  evaluateKeyGovernance,
  keysReport,
  mergeKeysReports,
  type FindingCode,
  type GovernanceAction,
  type GovernanceFinding,
  type GovernancePolicies,
  type GovernancePolicy,
  type GovernanceResult,
  type KeysReport,
  type KeysReportRow,
} from './key-governance.js';
