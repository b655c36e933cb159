// Shared presentation of failures and loading.
import { ApiError } from '../api';

export function ErrorBox({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  const e = error as Error;
  const unreachable = e instanceof ApiError && e.kind === 'network';
  return (
    <div className="alert error" role="alert">
      <strong>{unreachable ? 'The server is unreachable' : 'The request failed'}</strong>
      <span>{e?.message ?? String(error)}</span>
      {onRetry && (
        <div>
          <button type="button" className="secondary" onClick={onRetry} style={{ marginTop: '0.5rem' }}>
            Retry
          </button>
        </div>
      )}
    </div>
  );
}

export function Skeleton({ lines = 3, label }: { lines?: number; label: string }) {
  return (
    <div role="status" aria-label={label} aria-busy="true">
      {Array.from({ length: lines }, (_, i) => (
        <div key={i} className="skeleton" style={{ marginBottom: '0.5rem', width: `${90 - i * 12}%` }} />
      ))}
    </div>
  );
}
