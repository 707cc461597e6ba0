export {
  buildSandboxExchange,
  DEFAULT_SEED_BALANCES,
  type SandboxExchangeOptions,
} from './build-sandbox-exchange.js';
export {
  startSandboxExchange,
  type RunningSandbox,
  type StartSandboxOptions,
} from './start-sandbox-exchange.js';
export {
  SANDBOX_ROUTES,
  dialectOfPath,
  type SandboxAction,
  type SandboxDialect,
  type SandboxMethod,
  type SandboxRoute,
} from './routes.js';
export { SANDBOX_ERROR_CATALOG, type SandboxErrorCode } from './sandbox-fault.js';
export { DEFAULT_MARKETS, type SandboxMarketConfig } from './markets.js';
export { ACCOUNT_HEADER, KEY_HEADER, SCOPES_HEADER, UPSTREAM_TOKEN_HEADER } from './identity.js';
