/** The risk store contract on the PostgreSQL control store, one fresh schema per test. */
import { createPostgresHarness } from '../adapters/postgres/postgres-harness.js';
import { describeRiskStoreContract } from './risk-store.contract.js';

describeRiskStoreContract('postgres', async () => {
  const harness = await createPostgresHarness();
  return {
    store: harness.store.riskStore(),
    openPeer: async () => (await harness.openPeer()).riskStore(),
    close: () => harness.close(),
  };
});
