/** The governance store contract on SQLite: a file (with a second connection as peer) and :memory:. */
import { join } from 'node:path';
import {
  createSqliteControlStore,
  type SqliteControlStore,
} from '../../src/adapters/sqlite/sqlite-control-store.js';
import { createManualClock } from '../helpers/manual-clock.js';
import { createTempDir } from '../helpers/temp-dir.js';
import { describeGovernanceStoreContract } from './governance-store.contract.js';

describeGovernanceStoreContract('sqlite file', () => {
  const dir = createTempDir();
  const path = join(dir.path, 'portcullis.db');
  const open = () => createSqliteControlStore({ path, clock: createManualClock() });
  const store = open();
  const peers: SqliteControlStore[] = [];
  return Promise.resolve({
    store,
    openPeer: () => {
      const peer = open();
      peers.push(peer);
      return Promise.resolve(peer);
    },
    close: async () => {
      await Promise.all([store, ...peers].map((each) => each.close()));
      dir.remove();
    },
  });
});

describeGovernanceStoreContract('sqlite :memory:', () => {
  const store = createSqliteControlStore({ path: ':memory:', clock: createManualClock() });
  return Promise.resolve({ store, close: () => store.close() });
});
