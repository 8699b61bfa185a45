/** Principals: search and pages, create. */
import { useEffect, useState } from 'preact/hooks';
import { api, type CreatePrincipal, describeError, type Principal } from './api.ts';
import { Message, Pager, usePages, when } from './ui.tsx';

export function PrincipalsPage() {
  const [search, setSearch] = useState('');
  const [filter, setFilter] = useState('');
  const [info, setInfo] = useState<string>();
  const [error, setError] = useState<string>();
  const pages = usePages<Principal>((cursor) => api.principals(cursor ?? { search: filter }));
  useEffect(() => {
    void pages.first();
  }, [filter]);

  const create = async (event: Event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    const input: CreatePrincipal = {
      name: String(data.get('name') ?? '').trim(),
      kind: String(data.get('kind')) === 'user' ? 'user' : 'service',
    };
    const password = String(data.get('password') ?? '');
    if (password) input.password = password;
    try {
      const principal = await api.createPrincipal(input);
      form.reset();
      setError(undefined);
      setInfo(`Created principal ${principal.name}.`);
      void pages.first();
    } catch (failure) {
      setError(describeError(failure));
    }
  };

  return (
    <section aria-labelledby="principals-title">
      <h1 id="principals-title" tabIndex={-1}>
        Principals
      </h1>
      <form
        class="filters"
        aria-label="Search principals"
        onSubmit={(event) => {
          event.preventDefault();
          setFilter(search.trim());
        }}
      >
        <div class="field">
          <label for="principal-search">Name contains</label>
          <input id="principal-search" value={search} onInput={(event) => setSearch(event.currentTarget.value)} />
        </div>
        <button type="submit">Search</button>
      </form>
      <Message error={pages.error} info={info} />
      {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a region that scrolls sideways must be reachable by keyboard (WCAG 2.1.1) */}
      <section class="table-wrap" tabIndex={0} aria-label="Principals table, scrolls sideways on small screens">
        <table aria-busy={pages.loading}>
          <caption>Principals by name</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Kind</th>
              <th scope="col">State</th>
              <th scope="col">Password</th>
              <th scope="col">Created</th>
              <th scope="col">Keys</th>
            </tr>
          </thead>
          <tbody>
            {pages.items.map((principal) => (
              <tr key={principal.name}>
                <th scope="row">{principal.name}</th>
                <td>{principal.kind}</td>
                <td>
                  <span class={`badge ${principal.disabled ? 'revoked' : 'active'}`}>
                    {principal.disabled ? 'disabled' : 'enabled'}
                  </span>
                </td>
                <td>{principal.hasPassword ? 'set' : '—'}</td>
                <td>{when(principal.createdAt)}</td>
                <td>
                  <a href={`#/keys?principal=${encodeURIComponent(principal.name)}`}>Keys of {principal.name}</a>
                </td>
              </tr>
            ))}
            {pages.items.length === 0 && !pages.loading ? (
              <tr>
                <td colSpan={6}>No principals match.</td>
              </tr>
            ) : null}
          </tbody>
        </table>
      </section>
      <Pager label="Principals" pages={pages} />
      <section aria-labelledby="create-principal-title" class="panel">
        <h2 id="create-principal-title">Create a principal</h2>
        <form onSubmit={create} class="grid-form">
          <div class="field">
            <label for="new-principal-name">Name</label>
            <input id="new-principal-name" name="name" required maxLength={128} />
          </div>
          <div class="field">
            <label for="new-principal-kind">Kind</label>
            <select id="new-principal-kind" name="kind" defaultValue="service">
              <option value="service">service</option>
              <option value="user">user</option>
            </select>
          </div>
          <div class="field">
            <label for="new-principal-password">Password (optional)</label>
            <input
              id="new-principal-password"
              name="password"
              type="password"
              minLength={8}
              autoComplete="new-password"
              aria-describedby="new-principal-password-help"
            />
            <small id="new-principal-password-help">At least 8 characters; lets the principal sign in or log in</small>
          </div>
          <div class="actions wide">
            <button type="submit" class="primary">
              Create principal
            </button>
          </div>
        </form>
        <Message error={error} />
      </section>
    </section>
  );
}
