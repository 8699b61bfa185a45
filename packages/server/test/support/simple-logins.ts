/**
 * The logins a page of another origin can make a browser send without a CORS preflight (a "simple
 * request": a text/plain or form body), as the login-forgery tests send them: [path, content type,
 * body of a username and password].
 */
export const SIMPLE_LOGINS = [
  ['/v1/keys', 'text/plain', (u: string, p: string) => JSON.stringify({ username: u, password: p })],
  [
    '/v1/keys',
    'application/x-www-form-urlencoded',
    (u: string, p: string) => new URLSearchParams({ username: u, password: p }).toString(),
  ],
  [
    '/obtain-hmac-api-key/',
    'application/x-www-form-urlencoded',
    (u: string, p: string) => new URLSearchParams({ username: u, password: p }).toString(),
  ],
] as const;
