/**
 * The sandbox exchange's WebSocket API (docs/sandbox.md): order entry and private order and
 * balance streams for the account the gateway names at the upgrade. Like the REST API it trusts
 * the forwarded identity and requires the upstream token, so it is reachable only through the
 * gateway, which authorizes every message before it gets here.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { formatDecimal } from '../decimal.js';
import { nativeOrder, nativeOrderSeq, readNativeOrder } from '../handlers/native-handlers.js';
import { unwrap } from '../handler.js';
import { readIdentity, upstreamTokenCheck } from '../identity.js';
import type { Ledger } from '../ledger.js';
import { SandboxFault } from '../sandbox-fault.js';
import type { LedgerEvent, LedgerEvents } from './ledger-events.js';

export const SANDBOX_WS_PATH = '/ws';
/** The streams a connection may subscribe to. */
export const SANDBOX_STREAMS = ['orders', 'balances'] as const;
export type SandboxStream = (typeof SANDBOX_STREAMS)[number];

const MAX_PAYLOAD_BYTES = 64 * 1024;
const ID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;

export interface SandboxWsDeps {
  readonly ledger: Ledger;
  readonly events: LedgerEvents;
  readonly upstreamToken: string | undefined;
}

/** A client request: `{"id": "1", "method": "order.place", "params": {…}}`. */
interface WsRequest {
  readonly id: string | number | null;
  readonly method: string;
  readonly params: Record<string, unknown>;
}

/** Creates the WebSocket server; `handleUpgrade` is wired to the HTTP server's `upgrade` event. */
export function createSandboxWs(deps: SandboxWsDeps): {
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void;
  close(): void;
} {
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_PAYLOAD_BYTES });
  const tokenMatches =
    deps.upstreamToken === undefined ? undefined : upstreamTokenCheck(deps.upstreamToken);
  return {
    handleUpgrade(request, socket, head) {
      const path = (request.url ?? '').split('?')[0];
      const refuse = (status: number, text: string): void => {
        socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      };
      if (path !== SANDBOX_WS_PATH) return refuse(404, 'Not Found');
      if (tokenMatches !== undefined && !tokenMatches(request.headers))
        return refuse(401, 'Unauthorized');
      const identity = readIdentity(request.headers);
      if (identity === undefined) return refuse(401, 'Unauthorized');
      wss.handleUpgrade(request, socket, head, (ws) => {
        serveConnection(ws, identity.accountId, deps);
      });
    },
    close() {
      for (const client of wss.clients) client.terminate();
      wss.close();
    },
  };
}

function serveConnection(ws: WebSocket, accountId: string, deps: SandboxWsDeps): void {
  const streams = new Set<SandboxStream>();
  const unsubscribe = deps.events.subscribe(accountId, (event) => {
    const stream: SandboxStream = event.kind === 'order' ? 'orders' : 'balances';
    if (streams.has(stream)) ws.send(JSON.stringify(renderEvent(event)));
  });
  ws.on('close', unsubscribe);
  ws.on('message', (data: RawData, isBinary: boolean) => {
    const request = isBinary ? undefined : parseRequest(data);
    if (request === undefined) {
      ws.send(JSON.stringify(failure(null, new SandboxFault('MALFORMED_JSON', 'not a request'))));
      return;
    }
    let answer: Record<string, unknown>;
    try {
      answer = { id: request.id, status: 200, result: execute(request, accountId, deps, streams) };
    } catch (error) {
      answer = failure(request.id, error);
    }
    ws.send(JSON.stringify(answer));
  });
}

function execute(
  request: WsRequest,
  accountId: string,
  deps: SandboxWsDeps,
  streams: Set<SandboxStream>,
): unknown {
  const { ledger } = deps;
  switch (request.method) {
    case 'order.place':
      return nativeOrder(
        unwrap(ledger.placeOrder(accountId, readNativeOrder(ledger, request.params))).order,
      );
    case 'order.cancel': {
      const id = request.params.orderId;
      if (typeof id !== 'string') throw new SandboxFault('VALIDATION_FAILED', 'orderId missing');
      return nativeOrder(unwrap(ledger.cancelOrder(accountId, { seq: nativeOrderSeq(id) })));
    }
    case 'subscribe':
    case 'unsubscribe': {
      for (const stream of streamsOf(request.params)) {
        if (request.method === 'subscribe') streams.add(stream);
        else streams.delete(stream);
      }
      return { streams: [...streams] };
    }
    case 'ping':
      return { pong: true };
    default:
      throw new SandboxFault('NOT_FOUND', 'no such method');
  }
}

function streamsOf(params: Record<string, unknown>): SandboxStream[] {
  const list = params.streams;
  if (!Array.isArray(list) || list.length === 0)
    throw new SandboxFault('VALIDATION_FAILED', 'streams must be a non-empty list');
  return list.map((name) => {
    if (!(SANDBOX_STREAMS as readonly unknown[]).includes(name))
      throw new SandboxFault('VALIDATION_FAILED', 'unknown stream');
    return name as SandboxStream;
  });
}

function renderEvent(event: LedgerEvent): Record<string, unknown> {
  if (event.kind === 'order') return { stream: 'orders', data: nativeOrder(event.order) };
  return {
    stream: 'balances',
    data: {
      balances: event.balances.map((b) => ({
        asset: b.asset,
        free: formatDecimal(b.free),
        locked: formatDecimal(b.locked),
      })),
    },
  };
}

function parseRequest(data: RawData): WsRequest | undefined {
  let value: unknown;
  try {
    value = JSON.parse(textOf(data));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const { id, method, params } = value as Record<string, unknown>;
  if (typeof method !== 'string') return undefined;
  const okId =
    id === undefined || id === null
      ? null
      : typeof id === 'number' && Number.isSafeInteger(id)
        ? id
        : typeof id === 'string' && ID_PATTERN.test(id)
          ? id
          : undefined;
  if (okId === undefined) return undefined;
  const okParams =
    params === undefined
      ? {}
      : typeof params === 'object' && params !== null && !Array.isArray(params)
        ? (params as Record<string, unknown>)
        : undefined;
  if (okParams === undefined) return undefined;
  return { id: okId, method, params: okParams };
}

function failure(id: WsRequest['id'], error: unknown): Record<string, unknown> {
  const fault =
    error instanceof SandboxFault
      ? error
      : new SandboxFault('INTERNAL_ERROR', 'an unexpected fault occurred');
  return { id, status: fault.status, error: { code: fault.code, message: fault.message } };
}

/** The UTF-8 text of a ws message, whichever buffer form ws delivered it in. */
function textOf(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}
