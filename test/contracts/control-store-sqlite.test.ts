import { join } from 'node:path';
import { createSqliteControlStore } from '../../src/adapters/sqlite/sqlite-control-store.js';
import { createManualClock } from '../helpers/manual-clock.js';
import { createTempDir } from '../helpers/temp-dir.js';
import { describeControlStoreContract } from './control-store.contract.js';

describeControlStoreContract('sqlite file', () => {
  const dir = createTempDir();
  const store = createSqliteControlStore({
    path: join(dir.path, 'portcullis.db'),
    clock: createManualClock(),
  });
  return Promise.resolve({
    store,
    close: async () => {
      await store.close();
      dir.remove();
    },
  });
});

describeControlStoreContract('sqlite :memory:', () => {
  const store = createSqliteControlStore({ path: ':memory:', clock: createManualClock() });
  return Promise.resolve({ store, close: () => store.close() });
});
