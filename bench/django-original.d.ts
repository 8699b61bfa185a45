// Types of bench/django-original.js for the tests (test/bench-django-original.test.ts).

/** Where the original django system runs, as benchmark 3 loads it. */
export interface DjangoOriginal {
  /** Its origin, e.g. `http://127.0.0.1:8765`. */
  url: string;
  /** The gunicorn master's pid. */
  pid: number;
  /** Its CPU is counted with every descendant's (the workers). */
  tree: true;
  keyId: string;
  /** The key's secret in hmac-kit's printable form (`hks_...`). */
  secret: string;
}

export function djangoOriginalFrom(env: Record<string, string | undefined>): DjangoOriginal | undefined;
export function checkedDjangoOriginal(original: DjangoOriginal): Promise<DjangoOriginal>;
