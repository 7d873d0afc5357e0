// The `lading` command of package.json's "bin" (dist/bin/lading.js, the esbuild bundle `npm run build` writes) run as
// a process, as users run it: against a real registry, with a signature made by the real cosign
// and one made by lading. (test/cli/pack.test.ts runs it installed from the npm package.)
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRepository } from '../../src/oci/index.js';
import { generateKeyPair, sign } from '../../src/sign/index.js';
import { startRegistry, type RunningRegistry } from '../env/registry.js';
import { toolPath } from '../env/tools.js';
import { pushRandomImage, tempDir } from '../oci/helpers.js';

const root = resolve(import.meta.dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string; bin: { lading: string } };
const bin = join(root, pkg.bin.lading);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolvePromise) => {
    const child = execFile(cmd, args, { env, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolvePromise({ code, stdout: String(stdout), stderr: String(stderr) });
    });
    child.stdin?.end();
  });
}

let registry: RunningRegistry;
const tmp = tempDir('lading-bin-');
let env: NodeJS.ProcessEnv;
const lading = (args: string[]) => run(process.execPath, [bin, ...args], env);

beforeAll(async () => {
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run \`npm run build\` (npm test does)`);
  registry = await startRegistry({ flavor: 'distribution2' });
  await generateKeyPair({ dir: tmp.path, password: '' });
  env = { PATH: `${resolve(process.execPath, '..')}:${process.env['PATH'] ?? '/usr/bin:/bin'}`, HOME: tmp.path, DOCKER_CONFIG: join(tmp.path, '.docker'), TUF_ROOT: join(tmp.path, '.sigstore') };
});

afterAll(async () => {
  await registry?.stop();
  tmp.remove();
});

describe('the installed lading command', () => {
  it('verifies a signature made by cosign and one made by lading, as cosign prints them', async () => {
    const key = join(tmp.path, 'cosign.key');
    const pub = join(tmp.path, 'cosign.pub');
    const byCosign = await pushRandomImage(openRepository(`${registry.host}/bin/cosign`), { tag: '1.0.0' });
    const cosignRef = `${registry.host}/bin/cosign:1.0.0`;
    const signed = await run(toolPath('cosign'), ['sign', '--key', key, '--new-bundle-format=false', '--tlog-upload=false', '--use-signing-config=false', '--allow-http-registry', '-y', cosignRef], { ...env, COSIGN_PASSWORD: '' });
    expect(signed.code, signed.stderr).toBe(0);
    const byLading = await pushRandomImage(openRepository(`${registry.host}/bin/lading`), { tag: '1.0.0' });
    const ladingRef = `${registry.host}/bin/lading:1.0.0`;
    await sign(ladingRef, { key, password: '', format: 'bundle' });

    for (const [ref, digest] of [
      [cosignRef, byCosign.descriptor.digest],
      [ladingRef, byLading.descriptor.digest],
    ] as const) {
      const r = await lading(['verify', '--key', pub, ref]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain(`Verification for ${ref} --`);
      const claims = JSON.parse(r.stdout) as Array<{ critical: { image: { 'docker-manifest-digest': string } } }>;
      expect(claims.map((c) => c.critical.image['docker-manifest-digest'])).toEqual([digest]);
    }
  });

  it('fails with exit 1 and the reason on a wrong key, 2 on bad usage', async () => {
    await generateKeyPair({ dir: tmp.path, outputKeyPrefix: 'other', password: '' });
    await pushRandomImage(openRepository(`${registry.host}/bin/wrong`), { tag: '1.0.0' });
    const ref = `${registry.host}/bin/wrong:1.0.0`;
    await sign(ref, { key: join(tmp.path, 'cosign.key'), password: '' });
    const wrong = await lading(['verify', '--key', join(tmp.path, 'other.pub'), ref]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(new RegExp(`^✗ verifying ${ref}: no matching signatures`, 'm'));
    expect(wrong.stdout).toBe('');
    const usage = await lading(['verify', ref]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("required option '--key <path>' not specified");
  });

  it('prints its version, its help and the help of each verb', async () => {
    expect((await lading(['--version'])).stdout).toBe(`${pkg.version}\n`);
    const help = await lading(['--help']);
    expect(help.code).toBe(0);
    for (const verb of ['copy', 'verify', 'push', 'apply', 'build']) expect(help.stdout).toContain(`  ${verb}`);
    for (const verb of ['ls', 'verify', 'pull', 'get', 'diff', 'build']) {
      const r = await lading([verb, '--help']);
      expect(r.code, `${verb} --help: ${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^Usage: lading ${verb}`));
    }
    const unknown = await lading(['nope', '--help']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown command 'nope'");
  });
});
