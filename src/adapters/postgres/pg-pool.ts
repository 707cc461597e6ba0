/**
 * The slice of the `pg` driver the PostgreSQL adapter uses, and the one place that builds a
 * pool: timeouts on every layer (connect, statement, client read, idle transaction) so that a
 * database that is down or stuck fails a call with STORE_UNAVAILABLE instead of hanging it.
 */
import pg from 'pg';
import { PortcullisError } from '../../core/errors.js';

export interface PgQueryResult<Row> {
  readonly rows: Row[];
  readonly rowCount: number | null;
}

/** Something that runs one parameterised statement: a pool or a checked-out client. */
export interface PgQueryable {
  query<Row>(text: string, values?: readonly unknown[]): Promise<PgQueryResult<Row>>;
}

export interface PgPoolClient extends PgQueryable {
  /** `destroy` drops a connection that may be broken instead of returning it to the pool. */
  release(destroy?: boolean): void;
}

export interface PgPool extends PgQueryable {
  connect(): Promise<PgPoolClient>;
  end(): Promise<void>;
}

export interface PgPoolOptions {
  /** `postgres://user@host:port/database` */
  readonly url: string;
  /** Unquoted identifier; every connection's search_path is this schema only. */
  readonly schema: string;
  /** Connections per node. Default 10. */
  readonly maxConnections?: number;
  /** Longest wait for a connection (new or from the pool). Default 2000 ms. */
  readonly connectTimeoutMs?: number;
  /** Server-side limit per statement, also the client-side read limit. Default 5000 ms. */
  readonly statementTimeoutMs?: number;
  /** Shown in pg_stat_activity. Default `portcullis`. */
  readonly applicationName?: string;
  /**
   * Told about errors of connections no query is waiting on (the server went away), idle or
   * checked out; never given credentials.
   */
  readonly onIdleError?: (error: Error) => void;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
const INT8_OID = 20;

/** Checks a schema name; it is interpolated into DDL, so only plain lower-case identifiers pass. */
export function checkedSchemaName(schema: string): string {
  if (!SCHEMA_NAME.test(schema)) {
    throw new PortcullisError(
      'CONFIG_INVALID',
      'The PostgreSQL schema must be a lower-case identifier (a-z, 0-9, _).',
    );
  }
  return schema;
}

/**
 * int8 columns (epoch-millisecond times, counts) as JavaScript numbers. Times stay far below
 * 2^53; a larger value is a corrupted row, refused rather than silently rounded.
 */
function parseInt8(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new Error('int8 value outside the safe integer range');
  return value;
}

/** The driver's rows are untyped; the statement's column list is what gives them their shape. */
function typed<Row>(result: pg.QueryResult): PgQueryResult<Row> {
  const rows: unknown[] = result.rows;
  return { rows: rows as Row[], rowCount: result.rowCount };
}

const defaultTypeParser = pg.types.getTypeParser as (
  oid: number,
  format: 'text' | 'binary',
) => (value: string) => unknown;

/** Builds the pool. No connection is opened until the first query. */
export function createPgPool(options: PgPoolOptions): PgPool {
  const schema = checkedSchemaName(options.schema);
  const statementTimeoutMs = options.statementTimeoutMs ?? 5000;
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.maxConnections ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 2000,
    statement_timeout: statementTimeoutMs,
    lock_timeout: statementTimeoutMs,
    // The client-side limit catches a server that stopped answering at all (no cancel arrives).
    query_timeout: statementTimeoutMs + 1000,
    idle_in_transaction_session_timeout: statementTimeoutMs * 2,
    application_name: options.applicationName ?? 'portcullis',
    options: `-c search_path=${schema}`,
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID && format !== 'binary'
          ? parseInt8
          : defaultTypeParser(oid, format ?? 'text')) as pg.CustomTypesConfig['getTypeParser'],
    },
  });
  // An idle connection that dies emits 'error' on the pool; unhandled, it would end the process.
  pool.on('error', (error) => options.onIdleError?.(error));
  return {
    query: async <Row>(text: string, values?: readonly unknown[]) =>
      typed<Row>(await pool.query(text, values ? [...values] : undefined)),
    async connect() {
      const client = await pool.connect();
      // A checked-out connection that dies between two statements of a transaction (no query
      // running to reject) emits 'error' on the client, which the pool only listens to while the
      // connection is idle: unhandled, it would end the process. The next statement fails and
      // the connection is dropped on release.
      let failed = false;
      const onError = (error: Error) => {
        failed = true;
        options.onIdleError?.(error);
      };
      client.on('error', onError);
      return {
        query: async <Row>(text: string, values?: readonly unknown[]) =>
          typed<Row>(await client.query(text, values ? [...values] : undefined)),
        release: (destroy?: boolean) => {
          client.off('error', onError);
          client.release(destroy === true || failed);
        },
      };
    },
    end: () => pool.end(),
  };
}

const UNAVAILABLE_NODE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
]);

/**
 * SQLSTATEs that mean "the database cannot serve this now" (PostgreSQL manual, Appendix A):
 * class 08 connection exceptions, 53300 too many connections, 57014 statement timeout,
 * 55P03 lock timeout, 57P01–57P03 shutdown / cannot connect now.
 */
function isUnavailableSqlState(code: string): boolean {
  return (
    code.startsWith('08') ||
    code === '53300' ||
    code === '57014' ||
    code === '55P03' ||
    code === '57P01' ||
    code === '57P02' ||
    code === '57P03'
  );
}

/** Messages of the driver's own failures (no SQLSTATE): connect timeout, lost socket, closed pool. */
const UNAVAILABLE_DRIVER_MESSAGE =
  /timeout exceeded when trying to connect|connection terminated|query read timeout|connection error|not queryable|after calling end on the pool|connection timeout/i;

/** Whether an error from the driver means the store cannot be reached (rather than a bad write). */
export function isUnavailableError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (UNAVAILABLE_NODE_CODES.has(code)) return true;
    if (/^[0-9A-Z]{5}$/.test(code) && isUnavailableSqlState(code)) return true;
  }
  if (error instanceof AggregateError) return error.errors.some(isUnavailableError);
  return UNAVAILABLE_DRIVER_MESSAGE.test(error.message);
}

/**
 * Maps a driver error to the fault the caller sees. The driver's messages and `detail` can quote
 * row values (a token hash, a label), so only the SQLSTATE and the constraint name go through.
 */
export function toStoreError(error: unknown): Error {
  if (error instanceof PortcullisError) return error;
  if (isUnavailableError(error)) {
    return new PortcullisError('STORE_UNAVAILABLE', 'The PostgreSQL store cannot be reached.');
  }
  const { code, constraint } = (error ?? {}) as { code?: unknown; constraint?: unknown };
  const where = typeof constraint === 'string' ? ` (${constraint})` : '';
  if (code === '23505') {
    return new PortcullisError('CONFLICT', `The record already exists${where}.`);
  }
  const wrapped = new Error(
    `PostgreSQL error ${typeof code === 'string' ? code : 'unknown'}${where}`,
  );
  Object.assign(wrapped, { code });
  return wrapped;
}
