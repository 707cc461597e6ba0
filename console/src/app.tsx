/** The console shell: sign-in, navigation (only the pages the role may see), environment. */
import { useCallback, useEffect, useMemo, useState, type FormEvent, type ReactNode } from 'react';
import type { Permission } from '../../src/core/admin-permissions.js';
import { ApiError, call, type Environment, type Whoami } from './api.js';
import { asApiError, EnvBadge, ErrorBox } from './common.js';
import { AlertsPage } from './pages/alerts.js';
import { ApprovalsPage } from './pages/approvals.js';
import { AuditPage } from './pages/audit.js';
import { KeysPage } from './pages/keys.js';
import { PoliciesPage } from './pages/policies.js';
import { TrafficPage } from './pages/traffic.js';
import {
  allows,
  forgetToken,
  SessionContext,
  storedToken,
  storeToken,
  whoami,
  type Session,
} from './session.js';

const PAGES = [
  { id: 'keys', title: 'Accounts & keys', needs: 'keys:read', perEnv: true, Page: KeysPage },
  {
    id: 'approvals',
    title: 'Approvals',
    needs: 'approvals:read',
    perEnv: false,
    Page: ApprovalsPage,
  },
  { id: 'policies', title: 'Policies', needs: 'policies:read', perEnv: false, Page: PoliciesPage },
  { id: 'audit', title: 'Audit log', needs: 'audit:read', perEnv: false, Page: AuditPage },
  { id: 'alerts', title: 'Alerts', needs: 'audit:read', perEnv: true, Page: AlertsPage },
  { id: 'traffic', title: 'Traffic', needs: 'audit:read', perEnv: true, Page: TrafficPage },
] as const satisfies readonly {
  id: string;
  title: string;
  needs: Permission;
  /** Shows one environment at a time (the switch in the header). */
  perEnv: boolean;
  Page: () => ReactNode;
}[];
type PageId = (typeof PAGES)[number]['id'];

const ENV_KEY = 'portcullis.environment';

function pageFromPath(): PageId | undefined {
  const id = location.pathname.replace(/^\/console\/?/, '').split('/')[0] ?? '';
  return PAGES.find((p) => p.id === id)?.id;
}

export function App() {
  const [auth, setAuth] = useState<{ token: string; who: Whoami } | null>(null);
  const [checking, setChecking] = useState(() => storedToken() !== null);
  const [environment, setEnv] = useState<Environment>(() =>
    sessionStorage.getItem(ENV_KEY) === 'production' ? 'production' : 'sandbox',
  );
  const [page, setPage] = useState<PageId | undefined>(pageFromPath);

  useEffect(() => {
    const token = storedToken();
    if (token === null) return;
    whoami(token).then(
      (who) => {
        setAuth({ token, who });
        setChecking(false);
      },
      () => {
        forgetToken();
        setChecking(false);
      },
    );
  }, []);

  useEffect(() => {
    const onPop = () => setPage(pageFromPath());
    addEventListener('popstate', onPop);
    return () => removeEventListener('popstate', onPop);
  }, []);

  const signOut = useCallback(() => {
    forgetToken();
    setAuth(null);
  }, []);
  const setEnvironment = useCallback((env: Environment) => {
    sessionStorage.setItem(ENV_KEY, env);
    setEnv(env);
  }, []);

  const session = useMemo<Session | null>(
    () =>
      auth === null
        ? null
        : {
            token: auth.token,
            who: auth.who,
            environment,
            setEnvironment,
            can: (p) => allows(auth.who, p),
            // A token that stopped working (expired, revoked) ends the session.
            api: <T,>(method: string, path: string, body?: unknown) =>
              call<T>(auth.token, method, path, body).catch((error: unknown) => {
                if (error instanceof ApiError && error.status === 401) signOut();
                throw error;
              }),
            signOut,
          },
    [auth, environment, setEnvironment, signOut],
  );

  if (checking) return <p className="centered">Checking your session…</p>;
  if (session === null) {
    return (
      <SignIn
        onSignedIn={(token, who) => {
          storeToken(token);
          setAuth({ token, who });
        }}
      />
    );
  }
  const visible = PAGES.filter((p) => session.can(p.needs));
  const current = visible.find((p) => p.id === page) ?? visible[0];
  const go = (id: PageId) => {
    history.pushState(null, '', `/console/${id}`);
    setPage(id);
  };
  return (
    <SessionContext.Provider value={session}>
      <div className={`shell shell-${environment}`}>
        <header className="top">
          <span className="brand">Portcullis</span>
          <EnvironmentSwitch value={environment} onChange={setEnvironment} />
          <span className="who" data-testid="who">
            {session.who.label !== '' ? session.who.label : session.who.id} ·{' '}
            <strong>{session.who.role}</strong>
          </span>
          <button type="button" onClick={signOut}>
            Sign out
          </button>
        </header>
        <nav className="nav" aria-label="Pages">
          {visible.map((p) => (
            <a
              key={p.id}
              href={`/console/${p.id}`}
              aria-current={p.id === current?.id ? 'page' : undefined}
              onClick={(e) => {
                e.preventDefault();
                go(p.id);
              }}
            >
              {p.title}
            </a>
          ))}
        </nav>
        <main className="main" id="main">
          {current === undefined ? (
            <p>This role may not see any page.</p>
          ) : (
            <>
              <h1>
                {current.title} {current.perEnv && <EnvBadge environment={environment} />}
              </h1>
              <current.Page />
            </>
          )}
        </main>
      </div>
    </SessionContext.Provider>
  );
}

function EnvironmentSwitch(props: { value: Environment; onChange: (env: Environment) => void }) {
  return (
    <fieldset className="env-switch" aria-label="Environment">
      <legend className="sr-only">Environment</legend>
      {(['sandbox', 'production'] as const).map((env) => (
        <label key={env} className={`env-option env-${env}`}>
          <input
            type="radio"
            name="environment"
            value={env}
            checked={props.value === env}
            onChange={() => props.onChange(env)}
          />
          {env === 'production' ? 'Production' : 'Sandbox'}
        </label>
      ))}
    </fieldset>
  );
}

function SignIn(props: { onSignedIn: (token: string, who: Whoami) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<ApiError>();
  const [busy, setBusy] = useState(false);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    whoami(token.trim()).then(
      (who) => props.onSignedIn(token.trim(), who),
      (reason: unknown) => {
        setError(asApiError(reason));
        setBusy(false);
      },
    );
  };
  return (
    <main className="signin">
      <h1>Portcullis console</h1>
      <form onSubmit={submit}>
        <label htmlFor="token">Admin token</label>
        <input
          id="token"
          type="password"
          autoComplete="off"
          placeholder="pct_…"
          value={token}
          onChange={(e) => setToken(e.target.value)}
          required
          autoFocus
        />
        <p className="hint">
          Kept in this tab only (session storage) and sent to this server's admin API. What you see
          and can do follows the token's role.
        </p>
        <ErrorBox error={error} />
        <button type="submit" className="primary" disabled={busy || token.trim() === ''}>
          Sign in
        </button>
      </form>
    </main>
  );
}
