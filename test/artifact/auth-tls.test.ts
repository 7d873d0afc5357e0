// The artifact commands go through the shared registry flags: credentials and TLS.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lading } from './cli-io.js';
import { demoApp, readTree, registryForSuite, repoName, tempDir } from './helpers.js';

describe('artifacts on a registry with TLS and basic auth', async () => {
  const reg = await registryForSuite({ tls: true, auth: true });
  const creds = `${reg.username}:${reg.password}`;

  it('pushes, lists, inspects and pulls with --creds and --ca-file', async () => {
    const base = `oci://${reg.host}/${repoName('secure')}`;
    const ca = ['--ca-file', reg.caFile!];
    const push = await lading(['push', 'artifact', `${base}:1.0.0`, '--path', demoApp, '--creds', creds, ...ca, '-o', 'json']);
    expect(push.code, push.stderr).toBe(0);
    expect((await lading(['tag', 'artifact', `${base}:1.0.0`, 'latest', '--creds', creds, ...ca])).code).toBe(0);
    const list = await lading(['list', 'artifacts', base, '--creds', creds, ...ca, '-o', 'json']);
    expect((JSON.parse(list.stdout) as Array<{ tag: string }>).map((a) => a.tag)).toEqual(['latest', '1.0.0']);
    expect((await lading(['inspect', 'artifact', `${base}:latest`, '--creds', creds, ...ca])).stdout).toContain('- Namespace/demo-app');
    const out = join(tempDir(), 'out');
    expect((await lading(['pull', 'artifact', `${base}:latest`, '-o', out, '--creds', creds, ...ca])).code).toBe(0);
    expect(readTree(out)).toEqual(readTree(demoApp));
  });

  it('fails with exit 1 and never prints the password: wrong credentials, and an untrusted certificate', async () => {
    const url = `oci://${reg.host}/${repoName('secure')}:1.0.0`;
    const wrong = await lading(['push', 'artifact', url, '--path', demoApp, '--creds', `${reg.username}:not-the-password-xyz`, '--ca-file', reg.caFile!]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/401|unauthori[sz]ed|credentials/i);
    expect(wrong.stderr + wrong.stdout).not.toContain('not-the-password-xyz');
    const untrusted = await lading(['pull', 'artifact', url, '-o', join(tempDir(), 'x'), '--creds', creds]);
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toMatch(/certificate|TLS/i);
    expect(untrusted.stderr + untrusted.stdout).not.toContain(reg.password!);
  });
});
