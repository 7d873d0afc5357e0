// dist/lading, the single-executable build (scripts/build-exe.mjs, scripts/exe-entry.cjs): run
// against a real registry, it must print and exit exactly as the npm-installed command
// (dist/cli/lading.cjs) on the same command lines, whether the start-up snapshot's verify fast
// path takes them or the launcher beside it does. A copy with no dist/ beside it shows which
// path ran: verify still works there, anything else says what is missing.
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, linkSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StaticCredentials, openRepository } from '../../src/oci/index.js';
import { sign } from '../../src/sign/index.js';
import { startRegistry, type RunningRegistry } from '../env/registry.js';
import { pushRandomImage, tempDir } from '../oci/helpers.js';
import { signedImages } from './signed-images.js';

const root = resolve(import.meta.dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string; bin: { lading: string } };
const bin = join(root, pkg.bin.lading);
const exe = join(root, 'dist', 'lading');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let registry: RunningRegistry;
const tmp = tempDir('lading-exe-');
let env: NodeJS.ProcessEnv;
let classicRef: string;
let bundleRef: string;
let unsignedRef: string;
let pub: string;
let otherPub: string;

function run(file: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolvePromise) => {
    const child = execFile(file, args, { env: { ...env, ...extraEnv }, cwd: tmp.path, timeout: 60_000 }, (error, stdout, stderr) => {
      resolvePromise({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
    child.stdin?.end();
  });
}

/** The executable and the npm bin on the same command line: same output and exit; returns the executable's run. */
async function sameAsBin(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<Run> {
  const [fromExe, fromBin] = await Promise.all([run(exe, args, extraEnv), run(bin, args, extraEnv)]);
  expect(fromExe, `lading ${args.join(' ')}`).toEqual(fromBin);
  return fromExe;
}

beforeAll(async () => {
  if (process.platform !== 'linux') throw new Error(`dist/lading is built on Linux only; this test runs there (platform ${process.platform})`);
  if (!existsSync(exe)) throw new Error(`${exe} is missing: run \`npm run build\` (npm test does); it is not built with a Node binary that lacks the single-executable fuse (the build says so)`);
  registry = await startRegistry({ flavor: 'distribution2' });
  ({ pub, otherPub, classicRef, bundleRef, unsignedRef } = await signedImages(registry, tmp.path, 'exe'));
  env = { PATH: `${resolve(process.execPath, '..')}:${process.env['PATH'] ?? '/usr/bin:/bin'}`, HOME: tmp.path, DOCKER_CONFIG: join(tmp.path, '.docker') };
});

afterAll(async () => {
  await registry?.stop();
  tmp.remove();
});

describe('dist/lading prints and exits as the npm-installed lading', () => {
  it('verifies from its snapshot: classic and bundle signatures, -o, -a', async () => {
    for (const args of [
      ['verify', '--key', pub, classicRef],
      ['verify', '--key', pub, bundleRef],
      ['verify', '--key', pub, '-o', 'table', '-a', 'env=prod', classicRef],
      // -o yaml loads the yaml package from node_modules, beside dist/.
      ['verify', '--key', pub, '--output=yaml', bundleRef],
    ]) {
      const r = await sameAsBin(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    }
  });

  it('fails as the npm bin does: wrong key, no signatures, bad values', async () => {
    const cases: Array<[string[], number]> = [
      [['verify', '--key', otherPub, classicRef], 1],
      [['verify', '--key', pub, unsignedRef], 1],
      [['verify', '--key', pub, '-a', 'env=dev', classicRef], 1],
      [['verify', '--key', pub, '-o', 'xml', classicRef], 2],
      [['verify', '--key', join(tmp.path, 'missing.pub'), classicRef], 1],
      [['verify', '--key', pub, '127.0.0.1:1/exe/classic:1.0.0'], 1],
    ];
    for (const [args, code] of cases) {
      const r = await sameAsBin(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(code);
      expect(r.stderr, args.join(' ')).toMatch(/^✗ /m);
    }
  });

  it('runs every other command line through the launcher beside it', async () => {
    expect((await sameAsBin(['--version'])).stdout.trim()).toBe(pkg.version);
    expect((await sameAsBin(['digest', classicRef])).stdout).toMatch(/^sha256:[a-f0-9]{64}\n$/);
    expect((await sameAsBin(['verify', '--help'])).stdout).toContain('Usage: lading verify');
    expect((await sameAsBin(['verify', '--key', pub, classicRef], { LADING_NO_FAST_PATH: '1' })).code).toBe(0);
    expect((await sameAsBin(['nope'])).code).toBe(2);
  });

  it('reads the credentials and the CA of each run (nothing kept from the build)', async () => {
    const secure = await startRegistry({ flavor: 'distribution2', tls: true, auth: true });
    try {
      const opts = { caFile: secure.caFile as string, credentials: new StaticCredentials({ [secure.host]: { username: secure.username as string, password: secure.password as string } }) };
      await pushRandomImage(openRepository(`${secure.host}/exe/secure`, opts), { tag: '1.0.0' });
      const ref = `${secure.host}/exe/secure:1.0.0`;
      await sign(ref, { key: join(tmp.path, 'cosign.key'), password: '', registry: opts });
      const creds = `${secure.username as string}:${secure.password as string}`;
      const ok = await sameAsBin(['verify', '--key', pub, '--ca-file', secure.caFile as string, '--creds', creds, ref]);
      expect(ok.code, ok.stderr).toBe(0);
      const noCa = await sameAsBin(['verify', '--key', pub, '--creds', creds, ref]);
      expect(noCa.code).toBe(1);
      expect(noCa.stderr).not.toContain(secure.password as string);
    } finally {
      await secure.stop();
    }
  });
});

describe('dist/lading on its own', () => {
  it('verifies with no dist/ beside it, and says what is missing for any other command', async () => {
    const alone = join(tmp.path, 'alone');
    const copy = join(alone, 'lading');
    mkdirSync(alone);
    try {
      linkSync(exe, copy);
    } catch {
      copyFileSync(exe, copy);
    }
    const verified = await run(copy, ['verify', '--key', pub, classicRef]);
    expect(verified.code, verified.stderr).toBe(0);
    expect(JSON.parse(verified.stdout)).toHaveLength(1);
    const other = await run(copy, ['--version']);
    expect(other.code).toBe(1);
    expect(other.stderr).toBe(`✗ ${join(alone, 'cli', 'lading.cjs')} is missing: ${copy} runs \`lading verify\` alone and every other command with the dist/ directory it was built in\n`);
  });
});
