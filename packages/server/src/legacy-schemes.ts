/**
 * `legacySchemes` in the server's config file: declarative schemes (issue #12) validated at start,
 * every mistake reported on its own line, then turned into `@hmac-kit/core` schemes.
 * Ready-made files: examples/legacy/; grades: docs/protocol-legacy.md.
 */
import { type DeclarativeSchemeDefinition, declarativeScheme, declarativeWeakness, type Scheme } from '@hmac-kit/core';
import { isPlausibleKeyId, looksLikeSecret } from '@hmac-kit/keys';
import { parseDuration } from './units.js';
import { z } from './zod-runtime.js';

const HEADER = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/;
const BUILT_IN_NAMES = ['rfc9421', 'sigv4', 'x-api', 'django-hmac', 'standard-webhooks'];

const headerName = (what: string) =>
  z
    .string({ error: `${what} must be a header name` })
    .regex(HEADER, { error: `${what} must be a header name (letters, digits, -)` })
    .transform((value) => value.toLowerCase());

const seconds = (what: string) =>
  z
    .union([z.string(), z.number()], { error: `${what} must be a duration such as 5m or a number of seconds` })
    .transform((value, ctx) => {
      try {
        const parsed = parseDuration(value, what);
        if (parsed < 1 || parsed > 7 * 24 * 3600) throw new TypeError(`${what} must be between 1s and 7d`);
        return parsed;
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message });
        return z.NEVER;
      }
    });

const source = (what: string) =>
  z.union(
    [
      z.object({ header: headerName(`${what}.header`) }).strict(),
      z.object({ jsonField: z.string().min(1).max(200) }).strict(),
    ],
    {
      error: `${what} must be {"header": NAME} or {"jsonField": "a.b"}`,
    },
  );

const part = z.union(
  [
    z.enum(['method', 'path', 'query', 'body', 'django-json', 'python-str']),
    z.object({ literal: z.string().max(1000) }).strict(),
    z.object({ header: headerName('message header') }).strict(),
    z.object({ jsonField: z.string().min(1).max(200) }).strict(),
  ],
  {
    error:
      'a message part is one of "method", "path", "query", "body", "django-json", "python-str", {"literal": TEXT}, {"header": NAME}, {"jsonField": "a.b"}',
  },
);

const definition = z
  .object({
    name: z
      .string({ error: 'name is required' })
      .regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, { error: 'name must be 1-63 characters of a-z 0-9 . _ -' })
      .refine((name) => !BUILT_IN_NAMES.includes(name), { error: 'name must not be a built-in scheme name' }),
    signature: z
      .object({
        header: headerName('signature.header'),
        prefix: z.string().max(64).optional(),
        encoding: z.enum(['hex', 'base64'], { error: 'signature.encoding must be hex or base64' }),
      })
      .strict(),
    algorithms: z
      .array(z.enum(['sha256', 'sha384', 'sha512'], { error: 'algorithms may be sha256, sha384, sha512' }))
      .min(1)
      .default(['sha256']),
    keyId: z.union(
      [
        z.object({ header: headerName('keyId.header') }).strict(),
        z
          .object({
            fixed: z.string().refine((id) => isPlausibleKeyId(id) && !looksLikeSecret(id), {
              error: 'keyId.fixed must be a key id such as legacy (not a secret)',
            }),
          })
          .strict(),
      ],
      { error: 'keyId must be {"header": NAME} or {"fixed": "legacy"}' },
    ),
    message: z.array(part).min(1, { error: 'message must list at least one part' }),
    timestamp: z
      .intersection(
        source('timestamp'),
        z.object({
          format: z.enum(['unix', 'iso8601'], { error: 'timestamp.format must be unix or iso8601' }),
          window: seconds('timestamp.window').optional(),
        }),
      )
      .optional(),
    nonce: z
      .object({ header: headerName('nonce.header') })
      .strict()
      .optional(),
    remember: seconds('remember').optional(),
  })
  .strict();

/** The raw `legacySchemes` setting: an array of definitions. */
export const legacySchemesSchema = z.array(z.unknown()).max(32, { error: 'at most 32 legacy schemes' });

/**
 * Validates `legacySchemes` entries. Returns the definitions, or every mistake as one line each
 * (`legacySchemes[0].signature.encoding: signature.encoding must be hex or base64`).
 *
 * @example
 * ```ts
 * const { definitions, mistakes } = parseLegacySchemes(raw.legacySchemes ?? [], ['rfc9421']);
 * if (mistakes.length) throw new ConfigError(mistakes.join('\n'));
 * ```
 */
export function parseLegacySchemes(
  raw: readonly unknown[],
  enabledSchemes: readonly string[] = [],
): {
  definitions: DeclarativeSchemeDefinition[];
  mistakes: string[];
} {
  const definitions: DeclarativeSchemeDefinition[] = [];
  const mistakes: string[] = [];
  const names = new Set<string>();
  raw.forEach((entry, index) => {
    const parsed = definition.safeParse(entry);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        const where = [`legacySchemes[${index}]`, ...issue.path.map(String)].join('.');
        const message =
          issue.code === 'unrecognized_keys'
            ? `unknown setting ${issue.keys.map((key) => JSON.stringify(key)).join(', ')}`
            : issue.message;
        mistakes.push(`${where}: ${message}`);
      }
      return;
    }
    const value = parsed.data;
    if (names.has(value.name)) mistakes.push(`legacySchemes[${index}].name: ${value.name} is declared twice`);
    names.add(value.name);
    // Two schemes answering to the same header: the built-in would claim the request first.
    if (value.signature.header === 'x-api-signature' && enabledSchemes.includes('x-api'))
      mistakes.push(
        `legacySchemes[${index}].signature.header: x-api-signature is the built-in x-api scheme's; leave x-api out of schemes`,
      );
    if (value.signature.header === 'authorization' && !value.signature.prefix)
      mistakes.push(
        `legacySchemes[${index}].signature.prefix: an Authorization signature needs its prefix (e.g. "HMAC "), or it would claim every Authorization header`,
      );
    const { window, ...timestamp } = value.timestamp ?? ({} as { window?: number });
    definitions.push({
      name: value.name,
      signature: value.signature,
      algorithms: value.algorithms,
      keyId: value.keyId,
      message: value.message,
      ...(value.timestamp
        ? {
            timestamp: {
              ...(timestamp as { header: string } | { jsonField: string }),
              format: value.timestamp.format,
              ...(window !== undefined ? { windowSeconds: window } : {}),
            },
          }
        : {}),
      ...(value.nonce ? { nonce: value.nonce } : {}),
      ...(value.remember !== undefined ? { rememberSeconds: value.remember } : {}),
    });
  });
  return { definitions, mistakes };
}

/** Schemes for the validated definitions, in order. */
export function legacySchemesOf(definitions: readonly DeclarativeSchemeDefinition[]): Scheme[] {
  return definitions.map((entry) => declarativeScheme(entry));
}

/** The start-up warnings for declared schemes: each one that leaves something open. */
export function legacySchemeWarnings(
  definitions: readonly DeclarativeSchemeDefinition[],
): Array<{ scheme: string; unprotected: string }> {
  const out: Array<{ scheme: string; unprotected: string }> = [];
  for (const entry of definitions) {
    const unprotected = declarativeWeakness(entry);
    if (unprotected) out.push({ scheme: entry.name, unprotected });
  }
  return out;
}
