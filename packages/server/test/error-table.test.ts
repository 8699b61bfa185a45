import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as core from '@hmac-kit/core';
import {
  countsAsFailure,
  ERROR_TABLE,
  type ErrorCode,
  HmacKitError,
  PROBLEM_TABLE,
  type ProblemCode,
  problemType,
  toProblem,
} from '@hmac-kit/core';
import * as keys from '@hmac-kit/keys';
import * as limits from '@hmac-kit/limits';
import * as middleware from '@hmac-kit/middleware';
import * as nodeCrypto from '@hmac-kit/node-crypto';
import * as server from '@hmac-kit/server';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { serverProblem } from '../src/http.js';

// Errors as data (issue #11): every error class any package exports has a row in ERROR_TABLE,
// every row belongs to a class, and every public problem code has one `type` style.

type ErrorClass = (abstract new (...args: never[]) => HmacKitError) & { code: string; name: string };

const ROOT = join(import.meta.dirname, '..', '..', '..');

/** Every HmacKitError subclass (and the base) among the exports of the server's packages. */
function exportedErrorClasses(): ErrorClass[] {
  const found = new Set<ErrorClass>();
  for (const module of [core, keys, limits, middleware, nodeCrypto, server]) {
    for (const value of Object.values(module)) {
      if (typeof value === 'function' && (value === HmacKitError || value.prototype instanceof HmacKitError)) {
        found.add(value as unknown as ErrorClass);
      }
    }
  }
  return [...found];
}

/** An instance whatever the constructor's extra argument is (server time, scopes, rate-limit info, key id). */
function instanceOf(type: ErrorClass): HmacKitError {
  const info = { retryAfter: 3, limit: 1, windowSeconds: 3 };
  return Reflect.construct(type, ['a message that must not reach the client', info]) as HmacKitError;
}

const classes = exportedErrorClasses();

describe('ERROR_TABLE', () => {
  it('finds the error classes (the enumeration itself works)', () => {
    const names = classes.map((type) => type.name);
    expect(names).toEqual(
      expect.arrayContaining(['HmacKitError', 'SignatureInvalid', 'KeyRevoked', 'KeyExpired', 'PrincipalNotFound']),
    );
    expect(classes.length).toBeGreaterThanOrEqual(30);
  });

  for (const type of classes) {
    it(`${type.name}: its code has a row and toProblem answers by it`, () => {
      const error = instanceOf(type);
      expect(error.code).toBe(type.code);
      expect(Object.keys(ERROR_TABLE)).toContain(error.code);
      const row = ERROR_TABLE[error.code];
      const problem = toProblem(error, { instance: 'req-1' });
      expect(problem.status).toBe(row.status);
      expect(problem.body.code).toBe(row.shownToClientAs);
      expect(problem.body.type).toBe(`urn:hmac-kit:problem:${row.shownToClientAs}`);
      expect(row.type).toBe(problem.body.type);
      // The public code's own status is the row's: a code never answers two statuses.
      expect(PROBLEM_TABLE[row.shownToClientAs].status).toBe(row.status);
      expect(JSON.stringify(problem.body)).not.toContain('must not reach');
      // Only what an attacker produces counts as a failure; a 5xx, 413 or 429 never does.
      if (row.countsAsFailure) expect([400, 401]).toContain(row.status);
      expect(countsAsFailure(error)).toBe(row.countsAsFailure);
    });
  }

  it('has no row without a class: the union of codes is exactly what the packages throw', () => {
    const thrown = new Set(classes.map((type) => type.code));
    const rows = Object.keys(ERROR_TABLE) as ErrorCode[];
    expect(rows.filter((code) => !thrown.has(code))).toEqual([]);
  });

  it('docs/protocol.md has the table as it is: one row per code with status, public code and throttle flag', () => {
    const text = readFileSync(join(ROOT, 'docs', 'protocol.md'), 'utf8');
    const documented = new Map<string, string[]>();
    for (const match of text.matchAll(/^\| `\w+` \(`(ERR_[A-Z_]+)`\)\s*\|([^\n]*)$/gm)) {
      documented.set(
        match[1]!,
        match[2]!.split('|').map((cell) => cell.trim()),
      );
    }
    for (const [code, row] of Object.entries(ERROR_TABLE)) {
      expect(documented.get(code)?.slice(0, 3), code).toEqual([
        String(row.status),
        `\`${row.shownToClientAs}\``,
        row.countsAsFailure ? 'yes' : 'no',
      ]);
    }
    expect([...documented.keys()].sort()).toEqual(Object.keys(ERROR_TABLE).sort());
  });

  it('key-related failures all read as signature_invalid and all count as failures', () => {
    for (const code of [
      'ERR_KEY_UNKNOWN',
      'ERR_KEY_INACTIVE',
      'ERR_KEY_REVOKED',
      'ERR_KEY_EXPIRED',
      'ERR_SIGNATURE_INVALID',
    ] as const) {
      expect(ERROR_TABLE[code]).toEqual(ERROR_TABLE.ERR_SIGNATURE_INVALID);
    }
  });
});

describe('PROBLEM_TABLE (every code clients can receive)', () => {
  const codes = Object.keys(PROBLEM_TABLE) as ProblemCode[];

  for (const code of codes) {
    it(`${code}: urn type, status and title from the table`, () => {
      const problem = serverProblem(code);
      expect(problem.body.type).toBe(problemType(code));
      expect(problem.body.type).toMatch(/^urn:hmac-kit:problem:[a-z][a-z0-9_]*$/);
      expect(problem.status).toBe(PROBLEM_TABLE[code].status);
      expect(problem.body.status).toBe(problem.status);
      expect(problem.status).toBeGreaterThanOrEqual(400);
      expect(problem.status).toBeLessThan(600);
      expect(problem.body.title.length).toBeGreaterThan(0);
    });
  }

  it('docs/openapi.yaml lists exactly these codes and the urn type style', () => {
    const document = parse(readFileSync(join(ROOT, 'docs', 'openapi.yaml'), 'utf8')) as {
      components: { schemas: { Problem: { properties: { code: { enum: string[] }; type: { pattern: string } } } } };
    };
    const schema = document.components.schemas.Problem.properties;
    expect([...schema.code.enum].sort()).toEqual([...codes].sort());
    expect(schema.type.pattern).toBe('^urn:hmac-kit:problem:[a-z][a-z0-9_]*$');
  });

  it('no source file builds another problem type style', () => {
    const offenders: string[] = [];
    for (const pkg of readdirSync(join(ROOT, 'packages'))) {
      const src = join(ROOT, 'packages', pkg, 'src');
      let files: string[];
      try {
        files = readdirSync(src, { recursive: true }) as string[];
      } catch {
        continue;
      }
      for (const file of files) {
        if (!file.endsWith('.ts')) continue;
        const text = readFileSync(join(src, file), 'utf8');
        if (/https?:\/\/[^'"`\s]*\/problems?\//.test(text)) offenders.push(`${pkg}/src/${file}`);
      }
    }
    expect(offenders).toEqual([]);
  });
});
