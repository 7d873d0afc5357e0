// push --sign / pull|inspect|diff --verify: cosign signatures made and checked by src/sign.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pullArtifact } from '../../src/artifact/index.js';
import { generateKeyPair } from '../../src/sign/index.js';
import { lading } from './cli-io.js';
import { demoApp, readTree, registryForSuite, repoName, tempDir } from './helpers.js';

describe('signed artifacts', async () => {
  const reg = await registryForSuite();
  const keys = tempDir();
  const good = await generateKeyPair({ dir: keys, outputKeyPrefix: 'good', password: '' });
  const other = await generateKeyPair({ dir: keys, outputKeyPrefix: 'other', password: '' });
  const env = { LADING_PASSWORD: '' };

  it('signs on push and verifies before pull, inspect and diff; a wrong key fails and writes nothing', async () => {
    const url = `oci://${reg.host}/${repoName('signed')}:1.0.0`;
    const pushed = await lading(['push', 'artifact', url, '--path', demoApp, '--sign', '--key', good.privateKeyPath], { env });
    expect(pushed.code).toBe(0);

    const cwd = tempDir();
    const pulled = await lading(['pull', 'artifact', url, '-o', 'ok', '--verify', '--key', good.publicKeyPath], { cwd });
    expect(pulled.code).toBe(0);
    expect(readTree(join(cwd, 'ok'))).toEqual(readTree(demoApp));

    const rejected = await lading(['pull', 'artifact', url, '-o', 'bad', '--verify', '--key', other.publicKeyPath], { cwd });
    expect(rejected.code).toBe(1);
    expect(rejected.stderr).toMatch(/✗ .+/);
    expect(existsSync(join(cwd, 'bad'))).toBe(false);
    expect(readdirSync(cwd)).toEqual(['ok']);

    expect((await lading(['inspect', 'artifact', url, '--verify', '--key', good.publicKeyPath])).code).toBe(0);
    expect((await lading(['inspect', 'artifact', url, '--verify', '--key', other.publicKeyPath])).code).toBe(1);
    expect((await lading(['diff', 'artifact', url, '--path', demoApp, '--verify', '--key', good.publicKeyPath])).code).toBe(0);
  });

  it('is a usage error to give --verify without a key, or --key without --verify or --sign', async () => {
    const url = `oci://${reg.host}/${repoName('usage')}:1.0.0`;
    const noKey = await lading(['pull', 'artifact', url, '-o', join(tempDir(), 'x'), '--verify']);
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toContain('--verify needs a key');
    const keyOnly = await lading(['push', 'artifact', url, '--path', demoApp, '--key', good.privateKeyPath], { env });
    expect(keyOnly.code).toBe(2);
    expect(keyOnly.stderr).toContain('--key is used with --sign');
  });

  it('refuses an unsigned artifact when asked to verify', async () => {
    const url = `oci://${reg.host}/${repoName('unsigned')}:1.0.0`;
    expect((await lading(['push', 'artifact', url, '--path', demoApp])).code).toBe(0);
    const out = join(tempDir(), 'out');
    await expect(pullArtifact({ url, output: out, verifyKey: good.publicKeyPath })).rejects.toThrow();
    expect(existsSync(out)).toBe(false);
  });
});
