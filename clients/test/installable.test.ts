// The Python and Ruby clients are installable packages: `pip install` into a fresh virtual
// environment and `gem build` + `gem install` into an empty GEM_HOME, then the INSTALLED
// command (run from outside the repository, no PYTHONPATH) signs a request the real server accepts.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Echo,
  type LiveServer,
  run,
  sha256Hex,
  startLiveServer,
  tempDir,
} from '../../test-support/clients/harness.js';

const CLIENTS = fileURLToPath(new URL('..', import.meta.url));
const pyprojectVersion = /^version = "([^"]+)"$/m.exec(
  readFileSync(join(CLIENTS, 'python/pyproject.toml'), 'utf8'),
)?.[1];
const gemVersion = /VERSION = '([^']+)'/.exec(readFileSync(join(CLIENTS, 'ruby/lib/hmac_kit_client.rb'), 'utf8'))?.[1];
const BODY = '{"sku":"A1","note":"café"}';

/** Runs a command and fails with its output when it exits non-zero. */
async function must(command: string, args: string[], options: Parameters<typeof run>[2] = {}): Promise<string> {
  const result = await run(command, args, options);
  if (result.code !== 0)
    throw new Error(`${command} ${args.join(' ')} exited ${result.code}:\n${result.stderr}${result.stdout}`);
  return result.stdout;
}

describe('Python and Ruby clients as installed packages', () => {
  const dir = tempDir('hmac-kit-installable-');
  const venv = join(dir.path, 'venv');
  const gemHome = join(dir.path, 'gems');
  let server: LiveServer;
  // Outside the repository, and without PYTHONPATH / RUBYLIB: only the installed copies can be found.
  const baseEnv = () => {
    const env: NodeJS.ProcessEnv = { ...process.env, HMAC_KIT_SECRET: server.secret };
    delete env.PYTHONPATH;
    delete env.RUBYLIB;
    return env;
  };

  beforeAll(async () => {
    const python = (async () => {
      // A fresh virtual environment without a pip of its own (`python3 -m venv` copying pip into it cost
      // ~4 s of CPU, more than the rest of this file's Python work), and python3's pip installing into it
      // with `--python`: pip then runs under the environment's interpreter and installs into its
      // site-packages and bin/, as `venv/bin/pip install` does. Without a pip >= 22.3 on python3
      // (no `--python`), the environment gets its own pip first, as before.
      await must('python3', ['-m', 'venv', '--without-pip', venv]);
      const pythonInVenv = join(venv, 'bin/python');
      const systemPip = await run('python3', ['-c', 'import pip; print(pip.__version__)']);
      const [major = 0, minor = 0] = systemPip.stdout.trim().split('.').map(Number);
      const pip =
        systemPip.code === 0 && (major > 22 || (major === 22 && minor >= 3))
          ? ['python3', ['-m', 'pip', '--python', pythonInVenv]]
          : await must(pythonInVenv, ['-m', 'ensurepip', '--default-pip']).then(() => [pythonInVenv, ['-m', 'pip']]);
      const [command, args] = pip as [string, string[]];
      // Build isolation fetches the build backend (flit_core) from the configured index; the
      // package itself has no dependencies.
      await must(command, [...args, 'install', '--quiet', join(CLIENTS, 'python')], { cwd: dir.path });
    })();
    const ruby = (async () => {
      await must('gem', ['build', 'hmac_kit_client.gemspec', '--output', join(dir.path, 'hmac_kit_client.gem')], {
        cwd: join(CLIENTS, 'ruby'),
      });
      await must(
        'gem',
        ['install', '--local', '--no-document', '--install-dir', gemHome, join(dir.path, 'hmac_kit_client.gem')],
        {
          cwd: dir.path,
        },
      );
    })();
    [server] = await Promise.all([startLiveServer(), python, ruby]);
  }, 300_000);
  afterAll(async () => {
    await server?.close();
    dir.cleanup();
  });

  function expectAccepted(stdout: string): void {
    const echo = JSON.parse(stdout) as Echo;
    expect(echo).toMatchObject({ keyId: server.keyId, method: 'POST', target: '/orders?dry_run=1' });
    expect(echo.bodySha256).toBe(sha256Hex(BODY));
  }

  const requestArgs = () => [
    'request',
    'POST',
    `${server.origin}/orders?dry_run=1`,
    '-H',
    'Content-Type: application/json',
    '--data',
    BODY,
    '--key-id',
    server.keyId,
    '--secret-env',
    'HMAC_KIT_SECRET',
  ];

  it('pip: the installed module and command carry the version of pyproject.toml', async () => {
    expect(pyprojectVersion).toMatch(/^\d+\.\d+\.\d+$/);
    const version = await must(join(venv, 'bin/hmac-kit-client'), ['--version'], { cwd: dir.path, fullEnv: baseEnv() });
    expect(version.trim()).toBe(`hmac-kit-client ${pyprojectVersion}`);
    const where = await must(
      join(venv, 'bin/python'),
      [
        '-c',
        'import importlib.metadata as m, hmac_kit_client as c; print(c.__version__, m.version("hmac-kit-client"), c.__file__)',
      ],
      { cwd: dir.path, fullEnv: baseEnv() },
    );
    const [moduleVersion, distVersion, file] = where.trim().split(' ');
    expect([moduleVersion, distVersion]).toEqual([pyprojectVersion, pyprojectVersion]);
    expect(file?.startsWith(join(venv, 'lib'))).toBe(true);
  });

  it('pip: the installed hmac-kit-client sends a request the server accepts', async () => {
    expectAccepted(await must(join(venv, 'bin/hmac-kit-client'), requestArgs(), { cwd: dir.path, fullEnv: baseEnv() }));
  });

  it('gem: the installed library and command carry the gemspec version', async () => {
    expect(gemVersion).toMatch(/^\d+\.\d+\.\d+$/);
    const env = { ...baseEnv(), GEM_HOME: gemHome, GEM_PATH: gemHome };
    const version = await must(join(gemHome, 'bin/hmac-kit-client'), ['--version'], { cwd: dir.path, fullEnv: env });
    expect(version.trim()).toBe(`hmac-kit-client ${gemVersion}`);
    const where = await must(
      'ruby',
      ['-e', "require 'hmac_kit_client'; puts HmacKitClient::VERSION, $LOADED_FEATURES.grep(/hmac_kit_client\\.rb$/)"],
      { cwd: dir.path, fullEnv: env },
    );
    const [loadedVersion, file] = where.trim().split('\n');
    expect(loadedVersion).toBe(gemVersion);
    expect(file?.startsWith(gemHome)).toBe(true);
  });

  it('gem: the installed hmac-kit-client sends a request the server accepts', async () => {
    const env = { ...baseEnv(), GEM_HOME: gemHome, GEM_PATH: gemHome };
    expectAccepted(await must(join(gemHome, 'bin/hmac-kit-client'), requestArgs(), { cwd: dir.path, fullEnv: env }));
  });

  it('no compiled Python files are committed', async () => {
    const tracked = await must('git', ['ls-files', 'clients'], { cwd: join(CLIENTS, '..') });
    expect(tracked.split('\n').filter((file) => /__pycache__|\.py[cod]$/.test(file))).toEqual([]);
  });
});
