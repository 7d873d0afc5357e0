// The same round trip against distribution v3 (built by test/env/tools.ts), which answers some
// requests differently from Debian's 2.8 (e.g. the referrers API, manifest media types).
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { inspectArtifact, listArtifacts, pullArtifact, pushArtifact, tagArtifact } from '../../src/artifact/index.js';
import { demoApp, readTree, registryForSuite, repoName, tempDir } from './helpers.js';

describe('artifacts on distribution v3', async () => {
  const reg = await registryForSuite({ flavor: 'distribution3' });

  it('pushes, tags, lists, inspects and pulls', async () => {
    const base = `oci://${reg.host}/${repoName('v3')}`;
    const pushed = await pushArtifact({ url: `${base}:1.0.0`, path: demoApp, source: 'src', revision: 'rev', reproducible: true });
    const again = await pushArtifact({ url: `${base}:1.0.1`, path: demoApp, source: 'src', revision: 'rev', reproducible: true });
    expect(again.digest).toBe(pushed.digest);
    await tagArtifact({ url: `${base}:1.0.0`, tags: ['latest'] });
    expect((await listArtifacts({ url: base })).map((a) => [a.tag, a.digest, a.source, a.revision])).toEqual([
      ['latest', pushed.digest, 'src', 'rev'],
      ['1.0.1', pushed.digest, 'src', 'rev'],
      ['1.0.0', pushed.digest, 'src', 'rev'],
    ]);
    expect((await inspectArtifact({ url: `${base}:latest` })).images).toEqual(['ghcr.io/stefanprodan/podinfo:6.0.0', 'redis:6.0.1']);
    const out = join(tempDir(), 'out');
    await pullArtifact({ url: `${base}@${pushed.digest}`, output: out });
    expect(readTree(out)).toEqual(readTree(demoApp));
  });
});
