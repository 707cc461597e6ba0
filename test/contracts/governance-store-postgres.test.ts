/** The governance store contract against the real PostgreSQL, one fresh schema per test. */
import { createPostgresHarness } from '../adapters/postgres/postgres-harness.js';
import { describeGovernanceStoreContract } from './governance-store.contract.js';

describeGovernanceStoreContract('postgres', () => createPostgresHarness());
