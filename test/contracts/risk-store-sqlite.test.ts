/** The risk store contract on the SQLite control store (a file, with a peer) and in memory. */
import { join } from 'node:path';
import {
  createSqliteControlStore,
  type SqliteControlStore,
} from '../../src/adapters/sqlite/sqlite-control-store.js';
import { createMemoryRiskStore } from '../../src/services/risk-store.js';
import { createManualClock } from '../helpers/manual-clock.js';
import { createTempDir } from '../helpers/temp-dir.js';
import { describeRiskStoreContract } from './risk-store.contract.js';

describeRiskStoreContract('sqlite control store', () => {
  const dir = createTempDir();
  const path = join(dir.path, 'portcullis.db');
  const open = () => createSqliteControlStore({ path, clock: createManualClock() });
  const control = open();
  const peers: SqliteControlStore[] = [];
  return Promise.resolve({
    store: control.riskStore(),
    openPeer: () => {
      const peer = open();
      peers.push(peer);
      return Promise.resolve(peer.riskStore());
    },
    close: async () => {
      await Promise.all([control, ...peers].map((each) => each.close()));
      dir.remove();
    },
  });
});

describeRiskStoreContract('memory', () =>
  Promise.resolve({ store: createMemoryRiskStore(), close: () => Promise.resolve() }),
);
