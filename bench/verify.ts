// `lading verify` vs `cosign verify` on the same signed image, whole process (Node start-up
// included), in the same run: one image signed in the classic format and one in the bundle
// format, each verified alternately by both tools. Prints medians and the lading/cosign ratio,
// with the load average, since a busy machine moves every number. lading runs as installed:
// package.json's bin (the esbuild bundle) under this Node. bench/startup.ts has the other one-shot
// commands.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair, sign, type SignatureFormat } from '../src/sign/index.js';
import { startRegistry } from '../test/env/registry.js';
import { toolPath } from '../test/env/tools.js';
import { benchEnv, interleavedMedians, ladingBin, loadLine, pushSmallImage, requireLadingBin, RUNS, type Timed } from './helpers.js';

export default async function bench(): Promise<void> {
  requireLadingBin();
  const cosign = toolPath('cosign');
  const registry = await startRegistry({ flavor: 'distribution2' });
  const dir = mkdtempSync(join(tmpdir(), 'lading-bench-verify-'));
  try {
    await generateKeyPair({ dir, password: '' });
    const key = join(dir, 'cosign.key');
    const pub = join(dir, 'cosign.pub');
    const { env, lading } = benchEnv(dir);
    process.stdout.write(`${loadLine()} before; lading = ${ladingBin} (Node ${process.version}), cosign = ${cosign}\n`);
    for (const format of ['classic', 'bundle'] as SignatureFormat[]) {
      const ref = await pushSmallImage(registry.host, `bench-${format}`);
      await sign(ref, { key, password: '', format });
      const verifyArgs = ['verify', '--key', pub, ref];
      const cosignArgs = ['verify', '--key', pub, '--insecure-ignore-tlog=true', '--allow-http-registry', ref];
      const m = await interleavedMedians({
        lading: lading(verifyArgs),
        cosign: [cosign, cosignArgs, env] as Timed,
      });
      process.stdout.write(`verify ${format.padEnd(7)} ${RUNS} runs each: lading ${m.lading.toFixed(0)} ms, cosign ${m.cosign.toFixed(0)} ms (medians) → ratio ${(m.lading / m.cosign).toFixed(2)}× (goal ≤ 1.50×)\n`);
    }
    // The same over TLS, as with a registry that has a private CA: lading gets it with --ca-file,
    // cosign (Go) with SSL_CERT_FILE. Not part of the goal (the benchmark is the local
    // registry above), shown because real registries speak TLS: Node builds its certificate
    // store, parsing its ~140 bundled roots, before the first TLS connection (~20 ms).
    const tlsRegistry = await startRegistry({ flavor: 'distribution2', tls: true });
    try {
      const caFile = tlsRegistry.caFile as string;
      const ref = await pushSmallImage(tlsRegistry.host, 'bench-tls', { caFile });
      await sign(ref, { key, password: '', format: 'classic', registry: { caFile } });
      const ladingArgs = ['verify', '--key', pub, '--ca-file', caFile, ref];
      const cosignArgs = ['verify', '--key', pub, '--insecure-ignore-tlog=true', ref];
      const cosignEnv = { ...env, SSL_CERT_FILE: caFile };
      const m = await interleavedMedians({
        lading: lading(ladingArgs),
        cosign: [cosign, cosignArgs, cosignEnv] as Timed,
      });
      process.stdout.write(`verify classic over TLS (private CA) ${RUNS} runs each: lading ${m.lading.toFixed(0)} ms, cosign ${m.cosign.toFixed(0)} ms (medians) → ratio ${(m.lading / m.cosign).toFixed(2)}× (informational)\n`);
    } finally {
      await tlsRegistry.stop();
    }
    process.stdout.write(`${loadLine()} after\n`);
  } finally {
    await registry.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
