import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import type { Clock } from '../../src/core/clock.js';
import {
  buildSandboxExchange,
  type SandboxExchangeOptions,
} from '../../src/sandbox/build-sandbox-exchange.js';

export const FIXED_NOW_MS = 1_700_000_000_000;

/** A clock tests move by hand. */
export function manualClock(startMs = FIXED_NOW_MS): Clock & { advance(ms: number): void } {
  let nowMs = startMs;
  return {
    now: () => nowMs,
    advance: (ms) => {
      nowMs += ms;
    },
  };
}

export interface Harness {
  readonly app: FastifyInstance;
  /** Injects as the gateway would, with identity headers for `account` (default acc_1). */
  call(options: InjectOptions & { account?: string | null }): Promise<LightMyRequestResponse>;
}

export function createHarness(options: SandboxExchangeOptions = {}): Harness {
  const app = buildSandboxExchange({ clock: manualClock(), ...options });
  return {
    app,
    call: ({ account = 'acc_1', headers = {}, ...rest }) =>
      app.inject({
        ...rest,
        headers: {
          ...(account === null
            ? {}
            : {
                'x-portcullis-account': account,
                'x-portcullis-key': 'pk_test_abc',
                'x-portcullis-scopes': 'read,trade,withdraw',
              }),
          'x-request-id': 'req_test',
          ...headers,
        },
      }),
  };
}

/** The parsed body (untyped on purpose: tests read exchange envelopes freely). */
export function json(response: LightMyRequestResponse) {
  return JSON.parse(response.body);
}

/** Balances of the native route as { asset: { free, locked } }. */
export async function nativeBalances(
  harness: Harness,
  account = 'acc_1',
): Promise<Record<string, { free: string; locked: string }>> {
  const response = await harness.call({ method: 'GET', url: '/api/v1/balances', account });
  const result: Record<string, { free: string; locked: string }> = {};
  for (const balance of json(response).balances) {
    result[balance.asset] = { free: balance.free, locked: balance.locked };
  }
  return result;
}
