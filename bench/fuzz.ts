/**
 * `npm run fuzz -- --runs 1000000`: the long run of the native-signature mutation property
 * (the same property `npm test` runs a few thousand times): no single-byte mutation of a validly
 * signed request — method, path, query, headers, body, signature, nonce, created — ever verifies.
 */
import fc from 'fast-check';
import { nativeMutationProperty } from '../test/core/signing/native/mutations.js';

const flag = process.argv.indexOf('--runs');
const runs = flag >= 0 ? Number(process.argv[flag + 1]) : 100_000;
const seedFlag = process.argv.indexOf('--seed');
const seed = seedFlag >= 0 ? Number(process.argv[seedFlag + 1]) : Date.now() % 2 ** 31;
if (!Number.isSafeInteger(runs) || runs <= 0) {
  process.stderr.write('usage: npm run fuzz -- [--runs N] [--seed S]\n');
  process.exit(2);
}
const started = Date.now();
process.stdout.write(`fuzzing the native scheme: ${runs} mutated requests, seed ${seed}\n`);
try {
  fc.assert(nativeMutationProperty(), { numRuns: runs, seed });
  const seconds = (Date.now() - started) / 1000;
  process.stdout.write(
    `${runs} passed, 0 failed (${seconds.toFixed(0)} s): no mutation was ever accepted\n`,
  );
} catch (error) {
  process.stdout.write(`FAILED: ${(error as Error).message}\n`);
  process.exitCode = 1;
}
