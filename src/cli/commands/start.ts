import { parseArgs } from 'node:util';
import { createRuntime } from '../../app/runtime.js';
import { loadConfig, readConfigFile } from '../../config/config.js';
import { isPortcullisError } from '../../core/errors.js';

/** `portcullis start`: runs the gateway until SIGINT/SIGTERM. */
export async function runStart(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): Promise<number> {
  let values;
  try {
    values = parseArgs({
      args: [...args],
      options: {
        config: { type: 'string' },
        'data-dir': { type: 'string' },
        json: { type: 'boolean' },
      },
      strict: true,
    }).values;
  } catch (error) {
    process.stderr.write(
      `${(error as Error).message}\nUsage: portcullis start [--config FILE] [--data-dir DIR]\n`,
    );
    return 2;
  }
  try {
    const raw = values.config !== undefined ? readConfigFile(values.config) : {};
    const config = loadConfig(
      raw,
      values['data-dir'] !== undefined ? { ...env, PORTCULLIS_DATA_DIR: values['data-dir'] } : env,
    );
    const runtime = await createRuntime(config, { env });
    const info = await runtime.start();
    const lines = [
      'Portcullis is running.',
      `  admin API        ${info.adminUrl}   (OpenAPI: ${info.adminUrl}/openapi.json)`,
      `  web console      ${info.adminUrl}/console/   (sign in with the admin token below)`,
      ...Object.entries(info.dataPlanes).map(
        ([name, plane]) => `  ${name.padEnd(16)} ${plane.url}   → upstream ${plane.upstream}`,
      ),
      `  admin token      ${info.adminTokenFile}${info.bootstrapTokenCreated ? '   (bootstrap owner token, created now)' : ''}`,
      `  data directory   ${config.dataDir}`,
      '',
      'Next: in another terminal,',
      '  node bin/portcullis.js accounts create --name demo',
      '  node bin/portcullis.js keys create --account <acc_id> --env sandbox --scopes read,trade',
      'Docs: README.md and docs/.',
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await runtime.stop();
    return 0;
  } catch (error) {
    if (isPortcullisError(error)) {
      process.stderr.write(`error ${error.code}: ${error.message}\n`);
      return 1;
    }
    process.stderr.write(`error: ${(error as Error).message}\n`);
    return 1;
  }
}
