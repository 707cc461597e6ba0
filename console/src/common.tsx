/** Small shared pieces: data loading, environment badge, error box, confirmation dialog. */
import { useCallback, useEffect, useRef, useState, type ReactNode } from 'react';
import { ApiError, type Environment } from './api.js';

export interface Loaded<T> {
  readonly data: T | undefined;
  readonly error: ApiError | undefined;
  readonly loading: boolean;
  reload: () => void;
}

/** Runs `load` now and whenever `deps` change or `reload()` is called. */
export function useLoad<T>(load: () => Promise<T>, deps: readonly unknown[]): Loaded<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<ApiError>();
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setLoading(true);
    load().then(
      (value) => {
        if (!live) return;
        setData(value);
        setError(undefined);
        setLoading(false);
      },
      (reason: unknown) => {
        if (!live) return;
        setError(asApiError(reason));
        setLoading(false);
      },
    );
    return () => {
      live = false;
    };
    // The caller lists what `load` reads in `deps`.
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, loading, reload };
}

export function asApiError(reason: unknown): ApiError {
  if (reason instanceof ApiError) return reason;
  return new ApiError(0, 'CLIENT_ERROR', reason instanceof Error ? reason.message : 'Failed.');
}

export function EnvBadge({ environment }: { environment: Environment }) {
  return (
    <span className={`env env-${environment}`} data-env={environment}>
      {environment === 'production' ? 'PRODUCTION' : 'sandbox'}
    </span>
  );
}

export function ErrorBox({ error }: { error: ApiError | undefined }) {
  if (error === undefined) return null;
  return (
    <div className="error" role="alert" data-code={error.code}>
      <strong>{error.code}</strong> {error.message}
      {error.details.length > 0 && (
        <ul>
          {error.details.map((d) => (
            <li key={d}>{d}</li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** A modal confirmation (native <dialog>: Escape cancels, focus stays inside). */
export function Confirm(props: {
  title: string;
  children: ReactNode;
  confirmLabel: string;
  danger?: boolean;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
  }, []);
  return (
    <dialog ref={ref} className="dialog" aria-labelledby="confirm-title" onCancel={props.onCancel}>
      <h2 id="confirm-title">{props.title}</h2>
      <div>{props.children}</div>
      <div className="actions">
        <button type="button" onClick={props.onCancel} autoFocus>
          Cancel
        </button>
        <button
          type="button"
          className={props.danger === true ? 'danger' : 'primary'}
          onClick={props.onConfirm}
        >
          {props.confirmLabel}
        </button>
      </div>
    </dialog>
  );
}

export const when = (iso: string | null | undefined): string =>
  iso === null || iso === undefined
    ? '—'
    : new Date(iso).toISOString().replace('T', ' ').slice(0, 19);

/** "3d", "5h", "12m" — how long ago. */
export function age(iso: string | null | undefined, nowMs: number): string {
  if (iso === null || iso === undefined) return 'never';
  const s = Math.max(0, Math.round((nowMs - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}
