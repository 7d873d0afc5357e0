// An independent client: skopeo (Debian) reads and copies what lading pushes, and lading reads
// the copy.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { FluxConfigMediaType, FluxContentMediaType, pullArtifact, pushArtifact } from '../../src/artifact/index.js';
import { demoApp, readTree, registryForSuite, repoName, tempDir } from './helpers.js';

const run = promisify(execFile);

async function skopeo(args: string[]): Promise<string> {
  if (!existsSync('/usr/bin/skopeo')) throw new Error('/usr/bin/skopeo is missing: install it with `sudo apt-get install -y skopeo` (or run `npm run setup`)');
  const home = tempDir('lading-skopeo-home-');
  const { stdout } = await run('/usr/bin/skopeo', args, { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: home, REGISTRY_AUTH_FILE: join(home, 'auth.json') } });
  return stdout;
}

describe('skopeo and lading artifacts', async () => {
  const reg = await registryForSuite();

  it('skopeo inspects and copies a lading artifact; lading pulls the copy', async () => {
    const src = `${reg.host}/${repoName('skopeo')}:1.0.0`;
    const dst = `${reg.host}/${repoName('skopeo-copy')}:1.0.0`;
    const pushed = await pushArtifact({ url: src, path: demoApp, source: 'git', revision: 'r1' });
    const raw = JSON.parse(await skopeo(['inspect', '--tls-verify=false', '--raw', `docker://${src}`])) as {
      config: { mediaType: string };
      layers: Array<{ mediaType: string }>;
      annotations: Record<string, string>;
    };
    expect(raw.config.mediaType).toBe(FluxConfigMediaType);
    expect(raw.layers.map((l) => l.mediaType)).toEqual([FluxContentMediaType]);
    expect(raw.annotations['org.opencontainers.image.revision']).toBe('r1');
    await skopeo(['copy', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${src}`, `docker://${dst}`]);
    const out = join(tempDir(), 'out');
    const pulled = await pullArtifact({ url: dst, output: out });
    expect(pulled.digest).toBe(pushed.digest);
    expect(readTree(out)).toEqual(readTree(demoApp));
  });
});
