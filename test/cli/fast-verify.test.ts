// The fast path of `lading verify` (src/cli/fast-verify.ts, its own bundle run first by
// dist/cli/lading.cjs): every command line is run twice by the installed command, with the fast
// path and without it (LADING_NO_FAST_PATH=1, the commander program), against a real registry;
// both runs must print the same and exit the same. Which path ran is checked through the
// bundles the process loaded.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseVerifyArgs } from '../../src/cli/fast-verify.js';
import { StaticCredentials, openRepository } from '../../src/oci/index.js';
import { sign } from '../../src/sign/index.js';
import { startRegistry, type RunningRegistry } from '../env/registry.js';
import { pushRandomImage, tempDir } from '../oci/helpers.js';
import { signedImages } from './signed-images.js';

const root = resolve(import.meta.dirname, '..', '..');
const bin = join(root, (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { bin: { lading: string } }).bin.lading);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  /** The bundles the process compiled (dist/cli/bundles/*.cjs), in order. */
  bundles: string[];
}

let registry: RunningRegistry;
const tmp = tempDir('lading-fast-verify-');
let env: NodeJS.ProcessEnv;
let preload: string;
let classicRef: string;
let bundleRef: string;
let unsignedRef: string;
let pub: string;
let otherPub: string;

/** Runs the installed command; a preload records which bundles the launcher compiled. */
function lading(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<Run> {
  const record = join(tmp.path, `bundles-${Math.random().toString(36).slice(2)}.json`);
  return new Promise((resolvePromise) => {
    const child = execFile(process.execPath, ['-r', preload, bin, ...args], { env: { ...env, ...extraEnv, LADING_TEST_BUNDLES: record }, cwd: tmp.path, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      const bundles = existsSync(record) ? (JSON.parse(readFileSync(record, 'utf8')) as string[]) : [];
      resolvePromise({ code, stdout: String(stdout), stderr: String(stderr), bundles });
    });
    child.stdin?.end();
  });
}

/** Both paths on the same command line: same output, same exit code; returns the fast run. */
async function bothPaths(args: string[]): Promise<Run> {
  const [fast, full] = await Promise.all([lading(args), lading(args, { LADING_NO_FAST_PATH: '1' })]);
  expect({ code: fast.code, stdout: fast.stdout, stderr: fast.stderr }, `lading ${args.join(' ')}`).toEqual({ code: full.code, stdout: full.stdout, stderr: full.stderr });
  expect(full.bundles).toEqual(['sign']);
  return fast;
}

beforeAll(async () => {
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run \`npm run build\` (npm test does)`);
  registry = await startRegistry({ flavor: 'distribution2' });
  ({ pub, otherPub, classicRef, bundleRef, unsignedRef } = await signedImages(registry, tmp.path, 'fast'));
  preload = join(tmp.path, 'bundles.cjs');
  // Records each bundle the launcher compiles (vm.Script with a dist/cli/bundles filename).
  writeFileSync(
    preload,
    `const vm = require('node:vm'); const seen = []; const Script = vm.Script;
vm.Script = function (source, options) { const m = /bundles[\\\\/]([a-z-]+)\\.cjs$/.exec(String(options && options.filename)); if (m) seen.push(m[1]); return new Script(source, options); };
process.on('exit', () => require('node:fs').writeFileSync(process.env.LADING_TEST_BUNDLES, JSON.stringify(seen)));\n`,
  );
  env = { PATH: `${resolve(process.execPath, '..')}:${process.env['PATH'] ?? '/usr/bin:/bin'}`, HOME: tmp.path, DOCKER_CONFIG: join(tmp.path, '.docker') };
});

afterAll(async () => {
  await registry?.stop();
  tmp.remove();
});

describe('lading verify: the fast path prints and exits as the full CLI', () => {
  it('takes plain command lines: classic and bundle signatures, -o, -a, registry and cosign flags', async () => {
    const lines = [
      ['verify', '--key', pub, classicRef],
      ['verify', '--key', pub, bundleRef],
      ['verify', classicRef, '--key', pub],
      ['verify', '--key=cosign.pub', `oci://${classicRef}`],
      ['verify', '--key', pub, '-o', 'table', classicRef],
      ['verify', '--key', pub, '--output=yaml', bundleRef],
      ['verify', '--key', pub, '-a', 'env=prod', classicRef],
      ['verify', '--key', pub, '--annotations', 'env=prod', '-a', 'env=prod', classicRef],
      ['verify', '--key', pub, '--insecure-ignore-tlog=true', classicRef],
      ['verify', '--key', pub, '--insecure-ignore-tlog', '--registry-timeout', '30s', '--insecure', classicRef],
      ['verify', '-y', '--key', 'other.pub', '--key', pub, classicRef],
    ];
    for (const args of lines) {
      const r = await bothPaths(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      expect(r.bundles, args.join(' ')).toEqual(['verify-fast']);
    }
  });

  it('fails as the full CLI does: wrong key, no signatures, annotation mismatch, bad values, unreachable registry', async () => {
    const cases: Array<[string[], number]> = [
      [['verify', '--key', otherPub, classicRef], 1],
      [['verify', '--key', pub, unsignedRef], 1],
      [['verify', '--key', pub, '-a', 'env=dev', classicRef], 1],
      [['verify', '--key', pub, '-a', 'no-equals', classicRef], 2],
      [['verify', '--key', pub, '-o', 'xml', classicRef], 2],
      [['verify', '--key', pub, '--registry-timeout', 'soon', classicRef], 2],
      [['verify', '--key', pub, '--cert-file', 'c.pem', classicRef], 2],
      [['verify', '--key', join(tmp.path, 'missing.pub'), classicRef], 1],
      [['verify', '--key', pub, 'not a reference'], 1],
      [['verify', '--key', pub, `${registry.host}/fast/none:1.0.0`], 1],
      [['verify', '--key', pub, '127.0.0.1:1/fast/classic:1.0.0'], 1],
    ];
    for (const [args, code] of cases) {
      const r = await bothPaths(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(code);
      expect(r.stderr, args.join(' ')).toMatch(/^✗ /m);
      expect(r.bundles, args.join(' ')).toEqual(['verify-fast']);
    }
  });

  it('leaves everything else to the full CLI (help, missing --key, unknown flags, odd forms)', async () => {
    const lines = [
      ['verify', '--help'],
      ['verify', '-h'],
      ['verify', classicRef],
      ['verify', '--key', pub],
      ['verify', '--key', pub, classicRef, bundleRef],
      ['verify', '--nope', '--key', pub, classicRef],
      ['verify', '--ke', pub, classicRef],
      ['verify', `-a=env=prod`, '--key', pub, classicRef],
      ['verify', '--key', pub, '--', classicRef],
      ['verify', '--key', pub, '--insecure-ignore-tlog', 'true', classicRef],
      ['verify', '--insecure=yes', '--key', pub, classicRef],
      ['verify', '--key', '--output', classicRef],
    ];
    for (const args of lines) {
      const r = await bothPaths(args);
      expect(r.bundles, args.join(' ')).toEqual(['verify-fast', 'sign']);
    }
  });
});

describe('lading verify over TLS with basic auth: the fast path passes --ca-file and --creds on', () => {
  let secure: RunningRegistry;
  beforeAll(async () => {
    secure = await startRegistry({ flavor: 'distribution2', tls: true, auth: true });
  });
  afterAll(async () => {
    await secure?.stop();
  });

  it('verifies with the CA and the credentials, and fails as the full CLI without them', async () => {
    const registry = { caFile: secure.caFile as string, credentials: new StaticCredentials({ [secure.host]: { username: secure.username as string, password: secure.password as string } }) };
    await pushRandomImage(openRepository(`${secure.host}/fast/secure`, registry), { tag: '1.0.0' });
    const ref = `${secure.host}/fast/secure:1.0.0`;
    await sign(ref, { key: join(tmp.path, 'cosign.key'), password: '', registry });
    const creds = `${secure.username as string}:${secure.password as string}`;
    const ok = await bothPaths(['verify', '--key', pub, '--ca-file', secure.caFile as string, '--creds', creds, ref]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.bundles).toEqual(['verify-fast']);
    expect(ok.stderr).not.toContain(secure.password as string);
    for (const args of [
      ['verify', '--key', pub, '--creds', creds, ref],
      ['verify', '--key', pub, '--ca-file', secure.caFile as string, ref],
      ['verify', '--key', pub, '--ca-file', secure.caFile as string, '--creds', `${secure.username as string}:wrong`, ref],
    ]) {
      const r = await bothPaths(args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).not.toContain(secure.password as string);
    }
  });
});

describe('parseVerifyArgs', () => {
  it('gives the flags under commander names with commander defaults', () => {
    expect(parseVerifyArgs(['verify', '--key', 'k.pub', 'r'])).toEqual({ reference: 'r', opts: { key: 'k.pub', output: 'json', registryTimeout: '60s' } });
    expect(parseVerifyArgs(['verify', '-a', 'a=1', '--annotations=b=2', '--ca-file', 'ca.pem', '--creds', 'u:p', '--insecure', '--key=k', 'r'])).toEqual({
      reference: 'r',
      opts: { key: 'k', annotations: ['a=1', 'b=2'], caFile: 'ca.pem', creds: 'u:p', insecure: true, output: 'json', registryTimeout: '60s' },
    });
  });

  it('declines what it does not take', () => {
    for (const argv of [['sign', '--key', 'k', 'r'], ['verify'], ['verify', '--key', '', 'r'], ['verify', '-ojson', '--key', 'k', 'r'], ['verify', '--yes=1', '--key', 'k', 'r'], ['verify', '--key']]) {
      expect(parseVerifyArgs(argv), argv.join(' ')).toBeUndefined();
    }
  });
});
