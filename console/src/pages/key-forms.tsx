/** Creating a key (scopes explained, allowlist checked as you type) and the one-time secret. */
import { useEffect, useRef, useState, type FormEvent } from 'react';
import type { Account, ApiError, ApiKey, Environment } from '../api.js';
import { asApiError, EnvBadge, ErrorBox } from '../common.js';
import { parseAllowlist } from '../ip.js';
import { useSession } from '../session.js';

export const SCOPES = [
  ['read', 'See balances, orders, positions and history. Cannot change anything.'],
  ['trade', 'Place, amend and cancel orders. Cannot move funds out.'],
  ['withdraw', 'Send funds to external addresses. Restrict by IP and keep it short-lived.'],
  ['transfer', 'Move funds between your own accounts and sub-accounts.'],
] as const;

const EXPIRIES = [
  ['30d', '30 days'],
  ['90d', '90 days'],
  ['365d', '1 year'],
  ['', 'Never (not recommended)'],
] as const;

export function CreateKeyForm(props: {
  accounts: Account[];
  onCreated: (result: { key: ApiKey; secret: string }) => void;
}) {
  const session = useSession();
  const [accountId, setAccountId] = useState('');
  const [environment, setEnvironment] = useState<Environment>(session.environment);
  const [scopes, setScopes] = useState<string[]>(['read']);
  const [allowlist, setAllowlist] = useState('');
  const [scheme, setScheme] = useState<'hmac' | 'ed25519'>('hmac');
  const [publicKey, setPublicKey] = useState('');
  const [expiresIn, setExpiresIn] = useState('90d');
  const [label, setLabel] = useState('');
  const [error, setError] = useState<ApiError>();
  const [busy, setBusy] = useState(false);
  useEffect(() => setEnvironment(session.environment), [session.environment]);

  const ip = parseAllowlist(allowlist);
  const account = accountId !== '' ? accountId : (props.accounts[0]?.id ?? '');
  const invalid =
    account === '' ||
    scopes.length === 0 ||
    ip.problems.length > 0 ||
    (scheme === 'ed25519' && publicKey.trim() === '');

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (invalid) return;
    setBusy(true);
    const body = {
      accountId: account,
      environment,
      scopes,
      scheme,
      ipAllowlist: ip.entries,
      ...(label.trim() !== '' ? { label: label.trim() } : {}),
      ...(expiresIn !== '' ? { expiresIn } : {}),
      ...(scheme === 'ed25519' ? { publicKey: publicKey.trim() } : {}),
    };
    session.api<{ key: ApiKey; secret?: string }>('POST', '/v1/keys', body).then(
      (r) => {
        setBusy(false);
        setError(undefined);
        setAllowlist('');
        setLabel('');
        props.onCreated({ key: r.key, secret: r.secret ?? '' });
      },
      (reason: unknown) => {
        setBusy(false);
        setError(asApiError(reason));
      },
    );
  };

  return (
    <section
      aria-labelledby="create-key-title"
      className={`card create-key env-edge-${environment}`}
    >
      <h2 id="create-key-title">Create a key</h2>
      <form onSubmit={submit} className="grid-form">
        <label htmlFor="key-account">Account</label>
        <select id="key-account" value={account} onChange={(e) => setAccountId(e.target.value)}>
          {props.accounts.map((a) => (
            <option key={a.id} value={a.id}>
              {a.name} ({a.id})
            </option>
          ))}
        </select>

        <span className="label">Environment</span>
        <div role="radiogroup" aria-label="Key environment" className="choices">
          {(['sandbox', 'production'] as const).map((env) => (
            <label key={env} className={`env-option env-${env}`}>
              <input
                type="radio"
                name="key-environment"
                value={env}
                checked={environment === env}
                onChange={() => setEnvironment(env)}
              />
              <EnvBadge environment={env} />
            </label>
          ))}
          {environment === 'production' && (
            <p className="warn">Production keys trade real funds.</p>
          )}
        </div>

        <span className="label">Scopes</span>
        <fieldset className="scopes">
          <legend className="sr-only">Scopes</legend>
          {SCOPES.map(([scope, explanation]) => (
            <label key={scope} className="scope">
              <input
                type="checkbox"
                name="scope"
                value={scope}
                checked={scopes.includes(scope)}
                onChange={(e) =>
                  setScopes((s) =>
                    e.target.checked ? [...s, scope] : s.filter((x) => x !== scope),
                  )
                }
              />
              <strong>{scope}</strong> — {explanation}
            </label>
          ))}
          {scopes.length === 0 && <p className="field-error">Choose at least one scope.</p>}
        </fieldset>

        <label htmlFor="key-ips">IP allowlist</label>
        <div>
          <textarea
            id="key-ips"
            rows={2}
            placeholder="203.0.113.0/24, 2001:db8::/48 — empty means any address"
            value={allowlist}
            aria-invalid={ip.problems.length > 0}
            aria-describedby="key-ips-help"
            onChange={(e) => setAllowlist(e.target.value)}
          />
          <div id="key-ips-help">
            {ip.problems.length > 0 ? (
              <ul className="field-error" data-testid="ip-problems">
                {ip.problems.map((p) => (
                  <li key={p}>{p}</li>
                ))}
              </ul>
            ) : (
              <p className="hint">
                IPv4/IPv6 addresses or CIDRs, one per line or comma-separated.
                {ip.entries.length === 0 && ' Empty: the key works from anywhere.'}
              </p>
            )}
          </div>
        </div>

        <span className="label">Signature scheme</span>
        <div role="radiogroup" aria-label="Signature scheme" className="choices">
          <label>
            <input
              type="radio"
              name="scheme"
              checked={scheme === 'hmac'}
              onChange={() => setScheme('hmac')}
            />
            HMAC-SHA256 (we generate the secret)
          </label>
          <label>
            <input
              type="radio"
              name="scheme"
              checked={scheme === 'ed25519'}
              onChange={() => setScheme('ed25519')}
            />
            Ed25519 (you keep the private key)
          </label>
        </div>
        {scheme === 'ed25519' && (
          <>
            <label htmlFor="key-public">Public key</label>
            <textarea
              id="key-public"
              rows={3}
              placeholder="-----BEGIN PUBLIC KEY----- … or base64"
              value={publicKey}
              onChange={(e) => setPublicKey(e.target.value)}
            />
          </>
        )}

        <label htmlFor="key-expiry">Expires</label>
        <select id="key-expiry" value={expiresIn} onChange={(e) => setExpiresIn(e.target.value)}>
          {EXPIRIES.map(([value, text]) => (
            <option key={value} value={value}>
              {text}
            </option>
          ))}
        </select>

        <label htmlFor="key-label">Label</label>
        <input
          id="key-label"
          value={label}
          maxLength={128}
          onChange={(e) => setLabel(e.target.value)}
        />

        <span />
        <div>
          <ErrorBox error={error} />
          <button type="submit" className="primary" disabled={busy || invalid}>
            Create {environment} key
          </button>
        </div>
      </form>
    </section>
  );
}

/** The secret, shown once: never stored, gone on reload or when dismissed. */
export function SecretOnce(props: {
  keyId: string;
  secret: string;
  why: string;
  onDone: () => void;
}) {
  const [copied, setCopied] = useState<'yes' | 'failed' | undefined>();
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), []);
  const copy = () => {
    navigator.clipboard.writeText(props.secret).then(
      () => setCopied('yes'),
      () => {
        input.current?.select();
        setCopied('failed');
      },
    );
  };
  return (
    <section className="secret-once" role="region" aria-labelledby="secret-title">
      <h2 id="secret-title">
        Secret for <code>{props.keyId}</code> ({props.why})
      </h2>
      <p className="warn">
        This is the only time the secret is shown. Copy it into your secret store now: it cannot be
        shown again, only replaced by rotating the key.
      </p>
      {props.secret === '' ? (
        <p>Ed25519 key: the private key never left your machine.</p>
      ) : (
        <div className="inline">
          <input
            ref={input}
            readOnly
            aria-label="Secret"
            data-testid="secret"
            value={props.secret}
            onFocus={(e) => e.target.select()}
          />
          <button type="button" onClick={copy}>
            Copy
          </button>
          {copied === 'yes' && <span role="status">Copied.</span>}
          {copied === 'failed' && <span role="status">Selected — press Ctrl+C to copy.</span>}
        </div>
      )}
      <button type="button" className="primary" onClick={props.onDone}>
        I have stored it
      </button>
    </section>
  );
}
