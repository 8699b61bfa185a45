/** Keys: search and pages, create (secret shown once), rotate with an overlap, revoke with a confirmation. */
import { useEffect, useState } from 'preact/hooks';
import { api, type CreateKey, describeError, type IssuedKey, type Key, type KeyUsage } from './api.ts';
import { Message, Modal, Pager, SecretDialog, usePages, when } from './ui.tsx';

type Issued = { keyId: string; secret: string; principal: string; previous?: string };

export function KeysPage(props: { initialPrincipal?: string }) {
  const [principal, setPrincipal] = useState(props.initialPrincipal ?? '');
  const [keyId, setKeyId] = useState('');
  const [all, setAll] = useState(false);
  const [filter, setFilter] = useState({ principal: props.initialPrincipal ?? '', keyId: '', all: false });
  const [usage, setUsage] = useState<Record<string, KeyUsage[]>>({});
  const [issued, setIssued] = useState<Issued>();
  const [rotating, setRotating] = useState<Key>();
  const [revoking, setRevoking] = useState<Key>();
  const [info, setInfo] = useState<string>();
  const pages = usePages<Key>((cursor) => api.keys(cursor ?? filter));

  useEffect(() => {
    void pages.first();
  }, [filter]);
  // Usage is persisted by every worker in batches (a pair's first use within a poll interval), so the
  // page reads it again every few seconds while it is shown. Those refreshes are marked background:
  // they never keep the session alive (an admin who walked away is signed out after the idle
  // timeout, and the next refresh brings the sign-in screen back). A hidden tab does not refresh.
  useEffect(() => {
    const ids = pages.items.map((key) => key.keyId);
    if (ids.length === 0) return;
    const load = (background: boolean) =>
      api.usage(ids, { background }).then(
        (byKey) => setUsage(byKey),
        () => setUsage({}),
      );
    void load(false);
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') void load(true);
    }, 3000);
    return () => clearInterval(timer);
  }, [pages.items]);

  const showIssued = (key: IssuedKey, previous?: string) =>
    setIssued({ keyId: key.keyId, secret: key.secret, principal: key.principal, ...(previous ? { previous } : {}) });

  return (
    <section aria-labelledby="keys-title">
      <h1 id="keys-title" tabIndex={-1}>
        Keys
      </h1>
      <form
        class="filters"
        aria-label="Search keys"
        onSubmit={(event) => {
          event.preventDefault();
          setFilter({ principal: principal.trim(), keyId: keyId.trim(), all });
        }}
      >
        <div class="field">
          <label for="key-search-principal">Principal</label>
          <input
            id="key-search-principal"
            value={principal}
            onInput={(event) => setPrincipal(event.currentTarget.value)}
          />
        </div>
        <div class="field">
          <label for="key-search-id">Key id</label>
          <input
            id="key-search-id"
            class="mono"
            value={keyId}
            placeholder="hk_…"
            onInput={(event) => setKeyId(event.currentTarget.value)}
          />
        </div>
        <div class="field checkbox">
          <input
            id="key-search-all"
            type="checkbox"
            checked={all}
            onChange={(event) => setAll(event.currentTarget.checked)}
          />
          <label for="key-search-all">Include revoked</label>
        </div>
        <button type="submit">Search</button>
      </form>
      <Message error={pages.error} info={info} />
      {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a region that scrolls sideways must be reachable by keyboard (WCAG 2.1.1) */}
      <section class="table-wrap" tabIndex={0} aria-label="Keys table, scrolls sideways on small screens">
        <table aria-busy={pages.loading}>
          <caption>Keys, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Key id</th>
              <th scope="col">Principal</th>
              <th scope="col">Label</th>
              <th scope="col">Scopes</th>
              <th scope="col">Status</th>
              <th scope="col">Expires</th>
              <th scope="col">Last used</th>
              <th scope="col">Schemes used</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {pages.items.map((key) => (
              <tr key={key.keyId} data-key-id={key.keyId}>
                <th scope="row" class="mono">
                  {key.keyId}
                </th>
                <td>{key.principal}</td>
                <td>{key.label ?? '—'}</td>
                <td>{key.scopes.length > 0 ? key.scopes.join(', ') : '—'}</td>
                <td>
                  <span class={`badge ${key.status}`}>{key.status}</span>
                </td>
                <td>{when(key.expiresAt)}</td>
                <td>{when(key.lastUsedAt)}</td>
                <td>
                  {(usage[key.keyId] ?? []).length === 0
                    ? '—'
                    : (usage[key.keyId] ?? []).map((use, index) => (
                        <span
                          key={use.scheme}
                          class={use.weak ? 'weak-scheme' : undefined}
                          title={`${use.unprotected ? `weak: ${use.unprotected}. ` : ''}last used ${when(use.lastUsedAt)}`}
                        >
                          {index > 0 ? ', ' : ''}
                          {use.scheme} ({use.count}
                          {use.weak ? ', weak' : ''})
                        </span>
                      ))}
                </td>
                <td class="row-actions">
                  {key.status === 'active' ? (
                    <>
                      <button type="button" onClick={() => setRotating(key)} aria-label={`Rotate ${key.keyId}`}>
                        Rotate
                      </button>
                      <button
                        type="button"
                        class="danger"
                        onClick={() => setRevoking(key)}
                        aria-label={`Revoke ${key.keyId}`}
                      >
                        Revoke
                      </button>
                    </>
                  ) : null}
                </td>
              </tr>
            ))}
            {pages.items.length === 0 && !pages.loading ? (
              <tr>
                <td colSpan={9}>No keys match.</td>
              </tr>
            ) : null}
          </tbody>
        </table>
      </section>
      <Pager label="Keys" pages={pages} />
      <p class="note">
        Schemes used: requests this server process verified since it started (kept in memory, per process).
      </p>
      <CreateKeyForm
        defaultPrincipal={filter.principal}
        onCreated={(key) => {
          showIssued(key);
          setInfo(`Created ${key.keyId} for ${key.principal}.`);
          void pages.first();
        }}
      />
      <RotateDialog
        keyToRotate={rotating}
        onClose={() => setRotating(undefined)}
        onRotated={(rotated, previous) => {
          setRotating(undefined);
          showIssued(rotated, previous);
          setInfo(`Rotated ${previous}: the new key is ${rotated.keyId}.`);
          void pages.reload();
        }}
      />
      <RevokeDialog
        keyToRevoke={revoking}
        onClose={() => setRevoking(undefined)}
        onRevoked={(key) => {
          setRevoking(undefined);
          setInfo(`Revoked ${key.keyId}.`);
          void pages.reload();
        }}
      />
      <SecretDialog issued={issued} onClose={() => setIssued(undefined)} />
    </section>
  );
}

function CreateKeyForm(props: { defaultPrincipal: string; onCreated: (key: IssuedKey) => void }) {
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    const text = (name: string) => String(data.get(name) ?? '').trim();
    const input: CreateKey = {
      principal: text('principal'),
      scopes: text('scopes')
        .split(/[\s,]+/)
        .filter(Boolean),
      algorithm: text('algorithm') as CreateKey['algorithm'],
    };
    if (text('label')) input.label = text('label');
    if (text('expiresIn')) input.expiresIn = text('expiresIn');
    if (text('rateLimit')) {
      input.rateLimit = { limit: Number(text('rateLimit')), windowSeconds: Number(text('rateWindow') || '60') };
    }
    setBusy(true);
    try {
      const key = await api.createKey(input);
      setError(undefined);
      form.reset();
      props.onCreated(key);
    } catch (failure) {
      setError(describeError(failure));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby="create-key-title" class="panel">
      <h2 id="create-key-title">Create a key</h2>
      <form onSubmit={submit} class="grid-form">
        <div class="field">
          <label for="new-key-principal">Principal</label>
          <input id="new-key-principal" name="principal" required defaultValue={props.defaultPrincipal} />
        </div>
        <div class="field">
          <label for="new-key-scopes">Scopes</label>
          <input id="new-key-scopes" name="scopes" aria-describedby="new-key-scopes-help" />
          <small id="new-key-scopes-help">Separated by commas or spaces, e.g. orders:read, admin</small>
        </div>
        <div class="field">
          <label for="new-key-algorithm">Algorithm</label>
          <select id="new-key-algorithm" name="algorithm" defaultValue="sha256">
            <option value="sha256">HMAC-SHA256</option>
            <option value="sha384">HMAC-SHA384</option>
            <option value="sha512">HMAC-SHA512</option>
          </select>
        </div>
        <div class="field">
          <label for="new-key-expires">Expires in</label>
          <input id="new-key-expires" name="expiresIn" placeholder="90d" aria-describedby="new-key-expires-help" />
          <small id="new-key-expires-help">A duration such as 90d or 12h; empty = never</small>
        </div>
        <div class="field">
          <label for="new-key-rate">Rate limit (requests)</label>
          <input id="new-key-rate" name="rateLimit" type="number" min={1} inputMode="numeric" />
        </div>
        <div class="field">
          <label for="new-key-window">per (seconds)</label>
          <input id="new-key-window" name="rateWindow" type="number" min={1} inputMode="numeric" placeholder="60" />
        </div>
        <div class="field wide">
          <label for="new-key-label">Label</label>
          <input id="new-key-label" name="label" maxLength={200} />
        </div>
        <div class="actions wide">
          <button type="submit" class="primary" disabled={busy}>
            Create key
          </button>
        </div>
      </form>
      <Message error={error} />
    </section>
  );
}

function RotateDialog(props: {
  keyToRotate: Key | undefined;
  onClose: () => void;
  onRotated: (key: IssuedKey, previous: string) => void;
}) {
  const [error, setError] = useState<string>();
  const key = props.keyToRotate;
  useEffect(() => setError(undefined), [key?.keyId]);
  return (
    <Modal open={key !== undefined} title="Rotate key" onClose={props.onClose} labelId="rotate-title">
      {key ? (
        <form
          onSubmit={async (event) => {
            event.preventDefault();
            const data = new FormData(event.currentTarget as HTMLFormElement);
            const overlap = String(data.get('overlap') ?? '').trim();
            const label = String(data.get('label') ?? '').trim();
            try {
              const rotated = await api.rotateKey(key.keyId, {
                ...(overlap ? { overlap } : {}),
                ...(label ? { label } : {}),
              });
              props.onRotated(rotated, key.keyId);
            } catch (failure) {
              setError(describeError(failure));
            }
          }}
        >
          <p>
            A new key for <strong>{key.principal}</strong> replaces <code>{key.keyId}</code>, which stays valid during
            the overlap so clients can switch.
          </p>
          <div class="field">
            <label for="rotate-overlap">Overlap</label>
            <input id="rotate-overlap" name="overlap" placeholder="24h" aria-describedby="rotate-overlap-help" />
            <small id="rotate-overlap-help">How long the old key keeps working (default: the server's setting)</small>
          </div>
          <div class="field">
            <label for="rotate-label">Label of the new key</label>
            <input id="rotate-label" name="label" defaultValue={key.label ?? ''} maxLength={200} />
          </div>
          <Message error={error} />
          <div class="actions">
            <button type="button" onClick={props.onClose}>
              Cancel
            </button>
            <button type="submit" class="primary">
              Rotate
            </button>
          </div>
        </form>
      ) : null}
    </Modal>
  );
}

function RevokeDialog(props: { keyToRevoke: Key | undefined; onClose: () => void; onRevoked: (key: Key) => void }) {
  const [error, setError] = useState<string>();
  const key = props.keyToRevoke;
  useEffect(() => setError(undefined), [key?.keyId]);
  return (
    <Modal open={key !== undefined} title="Revoke key?" onClose={props.onClose} labelId="revoke-title">
      {key ? (
        <form
          onSubmit={async (event) => {
            event.preventDefault();
            const data = new FormData(event.currentTarget as HTMLFormElement);
            const reason = String(data.get('reason') ?? '').trim();
            try {
              props.onRevoked(await api.revokeKey(key.keyId, reason ? { reason } : {}));
            } catch (failure) {
              setError(describeError(failure));
            }
          }}
        >
          <p>
            <code>{key.keyId}</code> ({key.principal}) stops working at once, on every instance. This cannot be undone.
          </p>
          <div class="field">
            <label for="revoke-reason">Reason (kept in the audit trail)</label>
            <input id="revoke-reason" name="reason" maxLength={200} />
          </div>
          <Message error={error} />
          <div class="actions">
            <button type="button" onClick={props.onClose}>
              Cancel
            </button>
            <button type="submit" class="danger">
              Revoke {key.keyId}
            </button>
          </div>
        </form>
      ) : null}
    </Modal>
  );
}
