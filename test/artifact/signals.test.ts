// `lading pull artifact` as users run it (the installed command, package.json's bin), killed
// mid-pull: SIGTERM and SIGINT remove the temporary directory and exit 143/130; after SIGKILL,
// which nothing can catch, the next pull sweeps the temporary the killed one left. A fault proxy
// sends the first half of the blob and then one byte a second, so the pull is mid-way for as long
// as the test needs, whatever the machine's speed.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FluxConfigMediaType, FluxContentMediaType } from '../../src/artifact/index.js';
import { startFaultProxy, type FaultProxy } from '../env/fault-proxy.js';
import { waitFor } from '../env/process.js';
import { makeTarball, type RawEntry } from './archives.js';
import { pushLayers, readTree, registryForSuite, repoName, tempDir } from './helpers.js';

const root = resolve(import.meta.dirname, '..', '..');
const bin = join(root, (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { bin: { lading: string } }).bin.lading);

interface Running {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
}

function startLading(args: string[], home: string): Running {
  const child = spawn(process.execPath, [bin, ...args], {
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: home, DOCKER_CONFIG: join(home, '.docker') },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  return { child, stderr: () => stderr, exited };
}

/** Waits until the pull's temporary directory holds some of the artifact's files. */
async function waitForTemporary(parent: string, run: Running): Promise<string> {
  const prefix = `.out.lading-tmp-${run.child.pid}-`;
  let exitCode: number | null | undefined;
  void run.exited.then((c) => (exitCode = c));
  return waitFor(
    async () => {
      const tmp = readdirSync(parent).find((n) => n.startsWith(prefix));
      return tmp !== undefined && existsSync(join(parent, tmp, 'd0')) && readdirSync(join(parent, tmp, 'd0')).length > 0 ? tmp : undefined;
    },
    {
      what: `the temporary directory of lading pull artifact in ${parent}`,
      timeoutMs: 60_000,
      intervalMs: 50,
      failIf: () => (exitCode !== undefined ? `lading exited (${exitCode}) before the pull was under way: ${run.stderr()}` : undefined),
    },
  );
}

describe('pull artifact killed mid-pull (the installed command)', async () => {
  const reg = await registryForSuite();
  let proxy: FaultProxy;
  let url: string;
  let layerSize: number;
  const home = tempDir();

  beforeAll(async () => {
    if (!existsSync(bin)) throw new Error(`${bin} is missing: run \`npm run build\` (npm test does)`);
    proxy = await startFaultProxy(reg.url);
    // 3,000 files in 30 directories, content that does not compress to nothing.
    const entries: RawEntry[] = [];
    for (let i = 0; i < 3000; i++) entries.push({ name: `d${i % 30}/f${i}.yaml`, body: `i: ${i}\nv: "${(i * 7919).toString(36).repeat(20)}"\n` });
    const layer = await makeTarball(entries);
    layerSize = layer.length;
    const repo = repoName('signals');
    await pushLayers(reg.host, repo, 'v1', [{ data: layer, mediaType: FluxContentMediaType }], FluxConfigMediaType);
    url = `oci://${proxy.host}/${repo}:v1`;
  });
  afterAll(() => proxy?.stop());

  const slowBlob = () => {
    proxy.reset();
    proxy.inject({ method: 'GET', path: /\/blobs\/sha256:/, fault: { kind: 'trickle', afterBytes: Math.floor(layerSize / 2), intervalMs: 1000 }, times: 10 });
  };

  for (const [signal, status] of [
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const) {
    it(`${signal}: the temporary directory is removed and lading exits ${status}`, async () => {
      slowBlob();
      const parent = tempDir();
      const run = startLading(['pull', 'artifact', url, '-o', join(parent, 'out')], home);
      await waitForTemporary(parent, run);
      run.child.kill(signal);
      expect(await run.exited).toBe(status);
      expect(run.stderr()).toMatch(/✗ pulling oci:\/\/.*: aborted/);
      expect(readdirSync(parent)).toEqual([]);
    });
  }

  it('SIGKILL leaves the temporary; the next pull sweeps it and succeeds', async () => {
    slowBlob();
    const parent = tempDir();
    const run = startLading(['pull', 'artifact', url, '-o', join(parent, 'out')], home);
    const tmp = await waitForTemporary(parent, run);
    run.child.kill('SIGKILL');
    await run.exited;
    expect(readdirSync(parent)).toEqual([tmp]);
    proxy.reset();
    const again = startLading(['pull', 'artifact', url, '-o', join(parent, 'out')], home);
    expect(await again.exited, again.stderr()).toBe(0);
    expect(readdirSync(parent)).toEqual(['out']);
    expect(Object.keys(readTree(join(parent, 'out')))).toHaveLength(3000);
  });
});
