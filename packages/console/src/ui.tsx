/** Small shared pieces: dialogs, pagination, status messages, formatting. */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';

/** A date as the operator reads it (local time), or a dash. */
export function when(iso: string | null | undefined): string {
  if (!iso) return '—';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

/**
 * A modal dialog on the native `<dialog>` element: the browser traps focus inside it, Escape
 * closes it, and focus returns to what opened it.
 */
export function Modal(props: {
  open: boolean;
  title: string;
  onClose: () => void;
  children: ComponentChildren;
  labelId: string;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (props.open && !dialog.open) {
      const opener = document.activeElement as HTMLElement | null;
      dialog.showModal();
      return () => opener?.focus?.();
    }
    if (!props.open && dialog.open) dialog.close();
    return undefined;
  }, [props.open]);
  return (
    <dialog
      ref={ref}
      aria-labelledby={props.labelId}
      onClose={props.onClose}
      onCancel={(event) => {
        event.preventDefault();
        props.onClose();
      }}
    >
      <h2 id={props.labelId}>{props.title}</h2>
      {props.open ? props.children : null}
    </dialog>
  );
}

/** The one-time display of a new secret, with a copy button. */
export function SecretDialog(props: {
  issued: { keyId: string; secret: string; principal: string; previous?: string } | undefined;
  onClose: () => void;
}) {
  const [copied, setCopied] = useState<string>('');
  const secretRef = useRef<HTMLInputElement>(null);
  const { issued } = props;
  useEffect(() => setCopied(''), [issued?.secret]);
  const copy = async () => {
    if (!issued) return;
    try {
      await navigator.clipboard.writeText(issued.secret);
      setCopied('Secret copied to the clipboard.');
    } catch {
      // No clipboard permission (plain HTTP on another host): select it for Ctrl+C instead.
      secretRef.current?.select();
      setCopied('Select and copy the secret with Ctrl+C (the browser refused the clipboard).');
    }
  };
  return (
    <Modal open={issued !== undefined} title="New secret" onClose={props.onClose} labelId="secret-title">
      {issued ? (
        <div class="secret">
          <p class="warning" role="alert">
            Copy this secret now: <strong>you will not see it again.</strong> hmac-kit stores it encrypted and never
            shows it after this dialog closes.
          </p>
          <dl>
            <dt>Key id</dt>
            <dd>
              <code data-testid="issued-key-id">{issued.keyId}</code>
            </dd>
            <dt>Principal</dt>
            <dd>{issued.principal}</dd>
            {issued.previous ? (
              <>
                <dt>Replaces</dt>
                <dd>
                  <code>{issued.previous}</code> (valid until the overlap ends)
                </dd>
              </>
            ) : null}
          </dl>
          <label for="issued-secret">Secret</label>
          <input
            id="issued-secret"
            ref={secretRef}
            class="mono"
            readOnly
            value={issued.secret}
            data-testid="issued-secret"
            onFocus={(event) => (event.currentTarget as HTMLInputElement).select()}
          />
          <div class="actions">
            <button type="button" onClick={copy}>
              Copy secret
            </button>
            <button type="button" class="primary" onClick={props.onClose}>
              I have stored it
            </button>
          </div>
          <p role="status" class="note">
            {copied}
          </p>
        </div>
      ) : null}
    </Modal>
  );
}

/** Previous/next buttons over keyset pages: `next` comes from the server, previous pages are remembered. */
/** What {@link Pager} reads of a {@link usePages} state. */
export interface PagerState {
  pageNumber: number;
  items: readonly unknown[];
  hasPrevious: boolean;
  hasNext: boolean;
  previous: () => unknown;
  next: () => unknown;
}

/** Previous/Next buttons and the page number of a listing paged with {@link usePages}. */
export function Pager(props: { label: string; pages: PagerState }) {
  const { pages } = props;
  return (
    <nav class="pager" aria-label={`${props.label} pages`}>
      <button type="button" onClick={pages.previous} disabled={!pages.hasPrevious}>
        Previous page
      </button>
      <span aria-live="polite">
        Page {pages.pageNumber} · {pages.items.length} shown
      </span>
      <button type="button" onClick={pages.next} disabled={!pages.hasNext}>
        Next page
      </button>
    </nav>
  );
}

/** A message for screen readers and eyes: errors as alerts, the rest as status. */
export function Message(props: { error?: string; info?: string }) {
  return (
    <>
      <p role="alert" class={props.error ? 'error' : 'hidden'}>
        {props.error ?? ''}
      </p>
      <p role="status" class={props.info ? 'info' : 'hidden'}>
        {props.info ?? ''}
      </p>
    </>
  );
}

/**
 * Keyset paging state: the URL of each page seen so far (the first is `undefined`: the filter
 * itself), so Previous goes back without offsets and Next follows the server's `Link`.
 */
export function usePages<T>(load: (cursor: string | undefined) => Promise<{ items: T[]; next: string | undefined }>) {
  const [stack, setStack] = useState<Array<string | undefined>>([undefined]);
  const [items, setItems] = useState<T[]>([]);
  const [next, setNext] = useState<string | undefined>();
  const [error, setError] = useState<string>();
  const [loading, setLoading] = useState(false);
  const fetchPage = async (cursor: string | undefined, nextStack: Array<string | undefined>) => {
    setLoading(true);
    try {
      const page = await load(cursor);
      setItems(page.items);
      setNext(page.next);
      setStack(nextStack);
      setError(undefined);
    } catch (failure) {
      setError(failure instanceof Error ? failure.message : String(failure));
    } finally {
      setLoading(false);
    }
  };
  return {
    items,
    error,
    loading,
    pageNumber: stack.length,
    hasPrevious: stack.length > 1,
    hasNext: next !== undefined,
    reload: () => fetchPage(stack.at(-1), stack),
    first: () => fetchPage(undefined, [undefined]),
    next: () => (next ? fetchPage(next, [...stack, next]) : Promise.resolve()),
    previous: () => {
      const back = stack.slice(0, -1);
      return fetchPage(back.at(-1), back.length > 0 ? back : [undefined]);
    },
  };
}
