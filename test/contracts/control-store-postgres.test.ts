/** The ControlStore contract against the real PostgreSQL, one fresh schema per test. */
import { createPostgresHarness } from '../adapters/postgres/postgres-harness.js';
import { describeControlStoreContract } from './control-store.contract.js';

describeControlStoreContract('postgres', () => createPostgresHarness());
