/**
 * The signed-in admin: the token lives in sessionStorage (gone when the tab closes, never in
 * localStorage), the role comes from /v1/whoami, and `can()` answers from the same role table
 * the admin API enforces (src/core/admin-permissions.ts).
 */
import { createContext, useContext } from 'react';
import { roleAllows, type Permission } from '../../src/core/admin-permissions.js';
import { call, type Environment, type Whoami } from './api.js';

const TOKEN_KEY = 'portcullis.adminToken';

export interface Session {
  readonly token: string;
  readonly who: Whoami;
  readonly environment: Environment;
  setEnvironment: (environment: Environment) => void;
  can: (permission: Permission) => boolean;
  /** An admin API call with this session's token. */
  api<T>(method: string, path: string, body?: unknown): Promise<T>;
  signOut: () => void;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (session === null) throw new Error('useSession outside a signed-in console');
  return session;
}

export const storedToken = (): string | null => sessionStorage.getItem(TOKEN_KEY);
export const storeToken = (token: string): void => sessionStorage.setItem(TOKEN_KEY, token);
export const forgetToken = (): void => sessionStorage.removeItem(TOKEN_KEY);

/** Checks a token against the API; resolves with who it is. */
export const whoami = (token: string): Promise<Whoami> => call<Whoami>(token, 'GET', '/v1/whoami');

export const allows = (who: Whoami, permission: Permission): boolean =>
  roleAllows(who.role, permission);
