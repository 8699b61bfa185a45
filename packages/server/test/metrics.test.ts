import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { RunningServer } from '@hmac-kit/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshAddress, send, signed } from '../../../test-support/cli-client.js';
import { refusedPort } from '../../../test-support/ports.js';
import { startUpstream } from '../../../test-support/upstream.js';
import { issueKey, startInProcess } from './support/in-process.js';

/** The sample value of one series (`name{labels}`), or undefined when it is not exported. */
function sample(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

function promtoolPath(): string | undefined {
  const found = spawnSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : undefined;
}

describe('/metrics for stock dashboards', () => {
  let api: RunningServer;
  let gateway: RunningServer;
  let broken: RunningServer;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let key: Awaited<ReturnType<typeof issueKey>>;

  beforeAll(async () => {
    upstream = await startUpstream();
    api = await startInProcess();
    key = await issueKey(api, 'alice');
    gateway = await startInProcess({ upstream: upstream.url });
    broken = await startInProcess({ upstream: `http://127.0.0.1:${await refusedPort()}` });
  });

  afterAll(async () => {
    await Promise.all([api?.close(), gateway?.close(), broken?.close()]);
    await upstream?.close();
  });

  const scrape = async (server: RunningServer, prefix = '') => {
    const response = await fetch(`${server.url}${prefix}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return response.text();
  };

  it('exports the default process and Node.js metrics unprefixed, as Prometheus names them', async () => {
    const text = await scrape(api);
    for (const name of [
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'process_start_time_seconds',
      'nodejs_heap_size_used_bytes',
      'nodejs_eventloop_lag_seconds',
      'nodejs_eventloop_lag_p99_seconds',
      'nodejs_version_info',
    ]) {
      expect(text).toMatch(new RegExp(`^# TYPE ${name} `, 'm'));
    }
    expect(text).not.toMatch(/^hmac_kit_process_|^hmac_kit_nodejs_/m);
  });

  it('exports hmac_kit_build_info = 1 with the running version', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    const text = await scrape(api);
    expect(sample(text, `hmac_kit_build_info{version="${version}",node_version="${process.version}"}`)).toBe(1);
  });

  it('times every request by route, method and status code', async () => {
    const before = await scrape(api);
    const series = 'hmac_kit_http_request_duration_seconds_count{route="whoami",method="GET",code="200"}';
    const unsigned = 'hmac_kit_http_request_duration_seconds_count{route="whoami",method="GET",code="401"}';
    const request = await signed(key, 'GET', `${api.url}/v1/whoami`);
    expect((await send(request, { 'x-forwarded-for': freshAddress() })).status).toBe(200);
    expect((await fetch(`${api.url}/v1/whoami`, { headers: { 'x-forwarded-for': freshAddress() } })).status).toBe(401);
    expect((await fetch(`${api.url}/nothing-here`)).status).toBe(404);
    // Methods beyond the usual ones share one label value, not one series per method.
    expect((await fetch(`${api.url}/nothing-here`, { method: 'PROPFIND' })).status).toBe(404);
    const after = await scrape(api);
    expect((sample(after, series) ?? 0) - (sample(before, series) ?? 0)).toBe(1);
    expect((sample(after, unsigned) ?? 0) - (sample(before, unsigned) ?? 0)).toBe(1);
    expect(
      sample(after, 'hmac_kit_http_request_duration_seconds_count{route="not_found",method="GET",code="404"}'),
    ).toBeGreaterThanOrEqual(1);
    expect(
      sample(after, 'hmac_kit_http_request_duration_seconds_count{route="not_found",method="other",code="404"}'),
    ).toBe(1);
    expect(after).not.toContain('PROPFIND');
    expect(after).toMatch(/^hmac_kit_http_request_duration_seconds_bucket\{le="0\.0005",route="whoami"/m);
  });

  it('times the upstream exchange of the gateway: responses and failures', async () => {
    const gatewayKey = await issueKey(gateway, 'orders');
    const request = await signed(gatewayKey, 'GET', `${gateway.url}/orders`);
    // The test upstream answers 201 with what it received.
    expect((await send(request, { 'x-forwarded-for': freshAddress() })).status).toBe(201);
    const text = await scrape(gateway, '/_hmac-kit');
    expect(sample(text, 'hmac_kit_upstream_request_duration_seconds_count{outcome="response"}')).toBe(1);
    expect(sample(text, 'hmac_kit_http_request_duration_seconds_count{route="gateway",method="GET",code="201"}')).toBe(
      1,
    );

    const brokenKey = await issueKey(broken, 'orders');
    const failing = await signed(brokenKey, 'GET', `${broken.url}/orders`);
    expect((await send(failing, { 'x-forwarded-for': freshAddress() })).status).toBe(502);
    const brokenText = await scrape(broken, '/_hmac-kit');
    expect(sample(brokenText, 'hmac_kit_upstream_request_duration_seconds_count{outcome="error"}')).toBe(1);
  });

  it('passes `promtool check metrics` (the Prometheus linter)', async (context) => {
    const promtool = promtoolPath();
    if (!promtool) {
      if (process.env.CI === 'true') throw new Error('promtool missing (apt-get install prometheus); CI requires it');
      console.warn('[hmac-kit] SKIPPED promtool check: promtool not installed (apt-get install prometheus)');
      context.skip();
      return;
    }
    // Scrape after traffic so the labelled series (histograms, counters) are in the text too.
    const request = await signed(key, 'GET', `${api.url}/v1/whoami`);
    await send(request, { 'x-forwarded-for': freshAddress() });
    for (const text of [await scrape(api), await scrape(gateway, '/_hmac-kit')]) {
      const result = spawnSync(promtool, ['check', 'metrics'], { input: text, encoding: 'utf8' });
      expect({ status: result.status, problems: `${result.stdout}${result.stderr}`.trim() }).toEqual({
        status: 0,
        problems: '',
      });
    }
  });
});
