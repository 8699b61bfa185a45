/**
 * The hmac-kit admin console. Preact (3 kB of runtime) keeps the page small enough to build into the
 * server package; routes live in the URL fragment so the server serves one page for all of them.
 */
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ActivityPage } from './activity.tsx';
import { ApiError, api, describeError, type Session, whenSignedOut } from './api.ts';
import { KeysPage } from './keys.tsx';
import { PrincipalsPage } from './principals.tsx';
import { TryPage } from './try.tsx';
import { Message } from './ui.tsx';
import './styles.css';

type RouteName = 'keys' | 'principals' | 'activity' | 'try';
const ROUTES: Array<{ name: RouteName; title: string }> = [
  { name: 'keys', title: 'Keys' },
  { name: 'principals', title: 'Principals' },
  { name: 'activity', title: 'Activity' },
  { name: 'try', title: 'Try a request' },
];

function currentRoute(): { name: RouteName; params: URLSearchParams } {
  const [path = '', search = ''] = window.location.hash.replace(/^#\/?/, '').split('?');
  const name = ROUTES.some((route) => route.name === path) ? (path as RouteName) : 'keys';
  return { name, params: new URLSearchParams(search) };
}

function SignIn(props: { onSignedIn: (session: Session) => void; notice?: string }) {
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const nameRef = useRef<HTMLInputElement>(null);
  useEffect(() => nameRef.current?.focus(), []);
  return (
    <main id="main" class="sign-in">
      <h1>hmac-kit console</h1>
      <form
        class="panel"
        onSubmit={async (event) => {
          event.preventDefault();
          const data = new FormData(event.currentTarget as HTMLFormElement);
          setBusy(true);
          try {
            props.onSignedIn(await api.signIn(String(data.get('username')), String(data.get('password'))));
          } catch (failure) {
            const retry = failure instanceof ApiError && failure.status === 429;
            setError(retry ? `Too many failed sign-ins from here: ${describeError(failure)}` : describeError(failure));
            nameRef.current?.focus();
          } finally {
            setBusy(false);
          }
        }}
      >
        <p class="note">Sign in as an administrator: a principal with an active key that holds the admin scope.</p>
        <Message info={props.notice} />
        <div class="field">
          <label for="username">Principal name</label>
          <input id="username" name="username" ref={nameRef} required autoComplete="username" />
        </div>
        <div class="field">
          <label for="password">Password</label>
          <input id="password" name="password" type="password" required autoComplete="current-password" />
        </div>
        <Message error={error} />
        <button type="submit" class="primary" disabled={busy}>
          Sign in
        </button>
      </form>
    </main>
  );
}

function App() {
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const [notice, setNotice] = useState<string>();
  const [route, setRoute] = useState(currentRoute);
  const [mode, setMode] = useState<'api' | 'gateway'>();
  const [loadError, setLoadError] = useState<string>();
  const mainRef = useRef<HTMLElement>(null);

  useEffect(() => {
    api.session().then(
      (found) => setSession(found ?? null),
      (failure) => {
        setLoadError(describeError(failure));
        setSession(null);
      },
    );
    whenSignedOut(() => {
      setSession(null);
      setNotice('Your session ended (idle too long, or signed out). Sign in again.');
    });
    const onHash = () => setRoute(currentRoute());
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  useEffect(() => {
    if (session)
      api.health().then(
        (health) => setMode(health.mode),
        () => undefined,
      );
  }, [session]);
  // A new page: move focus to its heading so keyboard and screen-reader users start there.
  useEffect(() => {
    const title = ROUTES.find((item) => item.name === route.name)?.title ?? '';
    document.title = `${title} · hmac-kit console`;
    mainRef.current?.querySelector<HTMLElement>('h1')?.focus();
  }, [route.name, session]);

  if (session === undefined) return <p class="loading">Loading…</p>;
  if (session === null) {
    return (
      <>
        <Message error={loadError} />
        <SignIn
          notice={notice}
          onSignedIn={(signedIn) => {
            setNotice(undefined);
            setSession(signedIn);
          }}
        />
      </>
    );
  }
  return (
    <>
      <button type="button" class="skip" onClick={() => mainRef.current?.querySelector<HTMLElement>('h1')?.focus()}>
        Skip to content
      </button>
      <header class="top">
        <span class="brand">hmac-kit</span>
        <nav aria-label="Console">
          <ul>
            {ROUTES.map((item) => (
              <li key={item.name}>
                <a href={`#/${item.name}`} aria-current={item.name === route.name ? 'page' : undefined}>
                  {item.title}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <span class="who">
          Signed in as <strong data-testid="signed-in-as">{session.principal}</strong>
        </span>
        <button
          type="button"
          onClick={async () => {
            await api.signOut().catch(() => undefined);
            setNotice('Signed out.');
            setSession(null);
          }}
        >
          Sign out
        </button>
      </header>
      <main id="main" ref={mainRef}>
        {route.name === 'keys' ? (
          <KeysPage key={route.params.toString()} initialPrincipal={route.params.get('principal') ?? undefined} />
        ) : null}
        {route.name === 'principals' ? <PrincipalsPage /> : null}
        {route.name === 'activity' ? <ActivityPage /> : null}
        {route.name === 'try' ? <TryPage mode={mode} /> : null}
      </main>
    </>
  );
}

const root = document.getElementById('app');
if (root) render(<App />, root);
