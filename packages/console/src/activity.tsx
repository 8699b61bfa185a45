/** Activity: health, failures over the last hour, the audit trail with filters. */
import { useEffect, useState } from 'preact/hooks';
import { type AuditEventType, api, describeError, type FailureWindow, type Health } from './api.ts';
import { auditEventTypeValues } from './generated/openapi.ts';
import { Message, Pager, usePages, when } from './ui.tsx';

/**
 * The audit event types the filter offers: the admin API's own list (`AuditEventType` in
 * docs/openapi.yaml, generated with `--enum-values`), which a test keeps equal to the keys package's.
 */
const EVENT_TYPES: readonly AuditEventType[] = auditEventTypeValues;

export function ActivityPage() {
  const [health, setHealth] = useState<Health>();
  const [failures, setFailures] = useState<FailureWindow>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    api.health().then(setHealth, (failure) => setError(describeError(failure)));
    api.activity().then(setFailures, (failure) => setError(describeError(failure)));
  }, []);
  return (
    <section aria-labelledby="activity-title">
      <h1 id="activity-title" tabIndex={-1}>
        Activity
      </h1>
      <Message error={error} />
      <div class="cards">
        <section aria-labelledby="health-title" class="panel">
          <h2 id="health-title">Health</h2>
          {health ? (
            <dl class="facts">
              <dt>Version</dt>
              <dd data-testid="health-version">{health.version}</dd>
              <dt>Mode</dt>
              <dd>{health.mode}</dd>
              <dt>Database</dt>
              <dd>
                <span class={`badge ${health.database.state === 'ok' ? 'active' : 'revoked'}`}>
                  {health.database.state}
                </span>{' '}
                {health.database.kind} <span class="mono">{health.database.location}</span>
              </dd>
              <dt>Redis</dt>
              <dd>
                {health.redis ? (
                  <span class={`badge ${health.redis.state === 'ok' ? 'active' : 'revoked'}`}>
                    {health.redis.state}
                  </span>
                ) : (
                  'not configured (memory stores)'
                )}
              </dd>
              <dt>Master keys</dt>
              <dd class="mono">
                {health.masterKeyIds.join(', ')} (encrypting with {health.currentMasterKeyId})
              </dd>
              <dt>Schemes</dt>
              <dd>{health.schemes.join(', ')}</dd>
            </dl>
          ) : (
            <p>Loading…</p>
          )}
        </section>
        <section aria-labelledby="failures-title" class="panel">
          <h2 id="failures-title">Failures, last hour</h2>
          {failures ? (
            <>
              <p class="note">
                {failures.total} failed authentications. Source: this server process's memory (a window of the last{' '}
                {failures.windowSeconds / 60} minutes, per process; restarts start it afresh).
              </p>
              {failures.throttled > 0 ? (
                <p class="note">
                  {failures.throttled} of them were refused because their address was already blocked after earlier
                  failures: counted for the address only, not for the key id they named (it was not tried).
                </p>
              ) : null}
              <FailureTable caption="By key" rows={failures.byKey} heading="Key id" />
              <FailureTable caption="By source address" rows={failures.bySource} heading="Address" />
            </>
          ) : (
            <p>Loading…</p>
          )}
        </section>
      </div>
      <AuditTrail />
    </section>
  );
}

function FailureTable(props: { caption: string; heading: string; rows: Array<{ subject: string; count: number }> }) {
  return (
    <table class="compact">
      <caption>{props.caption}</caption>
      <thead>
        <tr>
          <th scope="col">{props.heading}</th>
          <th scope="col">Failures</th>
        </tr>
      </thead>
      <tbody>
        {props.rows.map((row) => (
          <tr key={row.subject}>
            <th scope="row" class="mono">
              {row.subject}
            </th>
            <td>{row.count}</td>
          </tr>
        ))}
        {props.rows.length === 0 ? (
          <tr>
            <td colSpan={2}>None.</td>
          </tr>
        ) : null}
      </tbody>
    </table>
  );
}

function AuditTrail() {
  const [keyId, setKeyId] = useState('');
  const [principal, setPrincipal] = useState('');
  const [type, setType] = useState<AuditEventType | ''>('');
  const [filter, setFilter] = useState<{ keyId: string; principal: string; type: AuditEventType | '' }>({
    keyId: '',
    principal: '',
    type: '',
  });
  const pages = usePages((cursor) => api.audit(cursor ?? filter));
  useEffect(() => {
    void pages.first();
  }, [filter]);
  return (
    <section aria-labelledby="audit-title">
      <h2 id="audit-title">Audit trail</h2>
      <form
        class="filters"
        aria-label="Filter the audit trail"
        onSubmit={(event) => {
          event.preventDefault();
          setFilter({ keyId: keyId.trim(), principal: principal.trim(), type });
        }}
      >
        <div class="field">
          <label for="audit-key">Key id</label>
          <input id="audit-key" class="mono" value={keyId} onInput={(event) => setKeyId(event.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="audit-principal">Principal</label>
          <input id="audit-principal" value={principal} onInput={(event) => setPrincipal(event.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="audit-type">Event</label>
          <select
            id="audit-type"
            value={type}
            onChange={(event) => setType(event.currentTarget.value as AuditEventType | '')}
          >
            <option value="">any</option>
            {EVENT_TYPES.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </div>
        <button type="submit">Filter</button>
      </form>
      <Message error={pages.error} />
      {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a region that scrolls sideways must be reachable by keyboard (WCAG 2.1.1) */}
      <section class="table-wrap" tabIndex={0} aria-label="Audit table, scrolls sideways on small screens">
        <table aria-busy={pages.loading}>
          <caption>Audit entries, newest first</caption>
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Event</th>
              <th scope="col">Principal</th>
              <th scope="col">Key id</th>
              <th scope="col">By</th>
              <th scope="col">Source</th>
              <th scope="col">Details</th>
            </tr>
          </thead>
          <tbody>
            {pages.items.map((entry) => (
              <tr key={entry.id} data-audit-type={entry.type}>
                <td>{when(entry.at)}</td>
                <th scope="row">{entry.type}</th>
                <td>{entry.principal ?? '—'}</td>
                <td class="mono">{entry.keyId ?? '—'}</td>
                <td>{entry.actor ?? '—'}</td>
                <td class="mono">{entry.source ?? '—'}</td>
                <td>
                  {[entry.code, entry.detail ? JSON.stringify(entry.detail) : undefined].filter(Boolean).join(' ') ||
                    '—'}
                </td>
              </tr>
            ))}
            {pages.items.length === 0 && !pages.loading ? (
              <tr>
                <td colSpan={7}>No entries match.</td>
              </tr>
            ) : null}
          </tbody>
        </table>
      </section>
      <Pager label="Audit" pages={pages} />
    </section>
  );
}
