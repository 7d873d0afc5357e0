// crane (go-containerregistry, built by test/env/tools.ts) as a second independent client, and
// as the model for lading's registry commands: `lading digest|ls|manifest` print what `crane
// digest|ls|manifest` print, byte for byte; images crane builds, lading copies intact
// (`crane validate --remote` checks every layer against its digest and the config's diff IDs).
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/cli/program.js';
import { LayoutStore, copy, openRepository } from '../../src/oci/index.js';
import { startRegistry, type RunningRegistry } from '../env/registry.js';
import { toolPath } from '../env/tools.js';
import { pushRandomImage, pushRandomIndex, tempDir } from './helpers.js';

const exec = promisify(execFile);
let reg: RunningRegistry;
let crane: string;
const tmp = tempDir('lading-crane-');
const env = { ...process.env, HOME: tmp.path, DOCKER_CONFIG: join(tmp.path, 'docker') };

beforeAll(async () => {
  crane = toolPath('crane');
  reg = await startRegistry();
});
afterAll(async () => {
  await reg?.stop();
  tmp.remove();
});

async function craneOut(args: string[]): Promise<string> {
  return (await exec(crane, args, { env, maxBuffer: 64 << 20 })).stdout;
}

async function ladingOut(args: string[]): Promise<string> {
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = '';
  let stderr = '';
  out.on('data', (d: Buffer) => (stdout += d.toString()));
  err.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await run(args, { stdout: out, stderr: err, stdin: Readable.from([]), env, cwd: tmp.path });
  expect(code, stderr).toBe(0);
  return stdout;
}

describe('lading prints what crane prints', () => {
  it('digest, ls and manifest of an index and an image', async () => {
    const repo = openRepository(`${reg.host}/crane/same`);
    await pushRandomIndex(repo, 'multi');
    await pushRandomImage(repo, { tag: 'single', docker: true });
    for (const ref of [`${reg.host}/crane/same:multi`, `${reg.host}/crane/same:single`]) {
      expect(await ladingOut(['digest', ref])).toBe(await craneOut(['digest', ref]));
      expect(await ladingOut(['manifest', ref])).toBe(await craneOut(['manifest', ref]));
    }
    expect(await ladingOut(['ls', `${reg.host}/crane/same`])).toBe(await craneOut(['ls', `${reg.host}/crane/same`]));
  });
});

describe('interop', () => {
  it('an image crane builds survives lading copies through a layout and back (crane validate)', async () => {
    const file = join(tmp.path, 'hello.txt');
    writeFileSync(file, 'hello from crane\n');
    const layerTar = join(tmp.path, 'layer.tar');
    await exec('/usr/bin/tar', ['-cf', layerTar, '-C', tmp.path, 'hello.txt']);
    await craneOut(['append', '-f', layerTar, '-t', `${reg.host}/crane/built:v1`]);
    const digest = (await craneOut(['digest', `${reg.host}/crane/built:v1`])).trim();
    const layout = await LayoutStore.open(join(tmp.path, 'layout'), { create: true });
    await copy(openRepository(`${reg.host}/crane/built`), 'v1', layout, 'v1');
    await copy(layout, 'v1', openRepository(`${reg.host}/crane/back`), 'v2');
    expect((await craneOut(['digest', `${reg.host}/crane/back:v2`])).trim()).toBe(digest);
    await craneOut(['validate', '--remote', `${reg.host}/crane/back:v2`]);
  });

  it('crane copies what lading pushed, and validates it', async () => {
    const repo = openRepository(`${reg.host}/crane/from-lading`);
    const { descriptor } = await pushRandomIndex(repo, 'multi');
    await craneOut(['copy', `${reg.host}/crane/from-lading:multi`, `${reg.host}/crane/copied:multi`]);
    expect((await openRepository(`${reg.host}/crane/copied`).resolve('multi')).digest).toBe(descriptor.digest);
  });
});
