// Start-up of one-shot commands, whole process, against the Go tools in the same run:
// `lading --version` vs `crane version`, `lading digest` vs `crane digest` and `lading verify
// --key` vs `cosign verify --key`, on a local registry (distribution 2.8, plain http). Prints
// medians and ratios (goal: each ≤ 1.5× the Go tool) and `node -e 0`, the floor of any Node
// command on this machine right now. lading runs as installed: package.json's bin (the
// esbuild bundle) under this Node. The environment is a minimal one: NODE_EXTRA_CA_CERTS, when set to a
// whole CA bundle, costs every Node process tens of ms before it runs any code (see README).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair, sign } from '../src/sign/index.js';
import { startRegistry } from '../test/env/registry.js';
import { toolPath } from '../test/env/tools.js';
import { benchEnv, interleavedMedians, ladingBin, loadLine, pushSmallImage, requireLadingBin, RUNS, type Timed } from './helpers.js';

export default async function bench(): Promise<void> {
  requireLadingBin();
  const crane = toolPath('crane');
  const cosign = toolPath('cosign');
  const registry = await startRegistry({ flavor: 'distribution2' });
  const dir = mkdtempSync(join(tmpdir(), 'lading-bench-startup-'));
  try {
    await generateKeyPair({ dir, password: '' });
    const pub = join(dir, 'cosign.pub');
    const ref = await pushSmallImage(registry.host, 'bench/startup');
    await sign(ref, { key: join(dir, 'cosign.key'), password: '' });
    const { env, lading } = benchEnv(dir);
    process.stdout.write(`${loadLine()} before; lading = ${ladingBin} (Node ${process.version}), crane = ${crane}, cosign = ${cosign}; ${RUNS} runs each, medians\n`);
    const m = await interleavedMedians({
      ladingVersion: lading(['--version']),
      craneVersion: [crane, ['version'], env] as Timed,
      ladingDigest: lading(['digest', ref]),
      craneDigest: [crane, ['digest', '--insecure', ref], env] as Timed,
      ladingVerify: lading(['verify', '--key', pub, ref]),
      cosignVerify: [cosign, ['verify', '--key', pub, '--insecure-ignore-tlog=true', '--allow-http-registry', ref], env] as Timed,
      floor: [process.execPath, ['-e', '0'], env] as Timed,
    });
    const row = (what: string, l: number, go: number, goName: string) =>
      `${what.padEnd(10)} lading ${l.toFixed(0).padStart(4)} ms  ${goName.padEnd(6)} ${go.toFixed(0).padStart(4)} ms  → ${(l / go).toFixed(2)}× (goal ≤ 1.50×)\n`;
    process.stdout.write(row('--version', m.ladingVersion, m.craneVersion, 'crane'));
    process.stdout.write(row('digest', m.ladingDigest, m.craneDigest, 'crane'));
    process.stdout.write(row('verify', m.ladingVerify, m.cosignVerify, 'cosign'));
    process.stdout.write(`node -e 0  ${m.floor.toFixed(0)} ms (Node's own start-up, part of every lading command)\n`);
    process.stdout.write(`${loadLine()} after\n`);
  } finally {
    await registry.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
