// The registry commands through the CLI entry point (run(argv, io) with captured streams):
// login/logout with DOCKER_CONFIG in a temp dir against an htpasswd registry (the secret never
// printed), then copy, digest, ls and manifest.
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/cli/program.js';
import type { CliIO } from '../../src/cli/output.js';
import { StaticCredentials, openRepository } from '../../src/oci/index.js';
import { startRegistry, type RunningRegistry } from '../env/registry.js';
import { pushRandomImage, pushReferrer, tempDir, type TestImage } from './helpers.js';

let reg: RunningRegistry;
let img: TestImage;
const tmp = tempDir('lading-cli-');
const dockerConfig = join(tmp.path, 'docker');

beforeAll(async () => {
  reg = await startRegistry({ auth: true });
  const repo = openRepository(`${reg.host}/cli/src`, { credentials: new StaticCredentials({ [reg.host]: { username: reg.username!, password: reg.password! } }) });
  img = await pushRandomImage(repo, { tag: '1.0.0' });
});
afterAll(async () => {
  await reg?.stop();
  tmp.remove();
});

async function lading(args: string[], stdin = '', extraEnv: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = '';
  let stderr = '';
  out.on('data', (d: Buffer) => (stdout += d.toString()));
  err.on('data', (d: Buffer) => (stderr += d.toString()));
  const io: CliIO = { stdout: out, stderr: err, stdin: Readable.from([stdin]), env: { ...process.env, DOCKER_CONFIG: dockerConfig, HOME: tmp.path, ...extraEnv }, cwd: tmp.path };
  const code = await run(args, io);
  return { code, stdout, stderr };
}

describe('lading login / logout', () => {
  it('rejects a wrong password with a clear message, writes nothing, prints no secret', async () => {
    const secret = 'wrong-Pa55-word';
    const r = await lading(['login', reg.host, '-u', reg.username!, '--password-stdin'], `${secret}\n`);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`401 Unauthorized: the registry ${reg.host} rejected the credentials`));
    expect(r.stdout + r.stderr).not.toContain(secret);
    expect(() => statSync(join(dockerConfig, 'config.json'))).toThrow();
  });

  it('logs in with --password-stdin, writing config.json (0600) as docker does, and never prints the secret', async () => {
    const r = await lading(['login', reg.host, '-u', reg.username!, '--password-stdin'], `${reg.password}\n`);
    expect(r.stderr).toBe(`credentials for ${reg.host} saved in ${join(dockerConfig, 'config.json')}\n`);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('Login Succeeded\n');
    expect(r.stdout + r.stderr).not.toContain(reg.password!);
    const file = join(dockerConfig, 'config.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const config = JSON.parse(readFileSync(file, 'utf8')) as { auths: Record<string, { auth: string }> };
    expect(Buffer.from(config.auths[reg.host]!.auth, 'base64').toString()).toBe(`${reg.username}:${reg.password}`);
  });

  it('uses the saved credentials: ls, digest, manifest, copy', async () => {
    const ls = await lading(['ls', `${reg.host}/cli/src`]);
    expect(ls).toMatchObject({ code: 0, stdout: '1.0.0\n' });
    expect(JSON.parse((await lading(['ls', `${reg.host}/cli/src`, '-o', 'json'])).stdout)).toEqual(['1.0.0']);

    const digest = await lading(['digest', `${reg.host}/cli/src:1.0.0`]);
    expect(digest).toMatchObject({ code: 0, stdout: `${img.descriptor.digest}\n` });

    const manifest = await lading(['manifest', `oci://${reg.host}/cli/src:1.0.0`]);
    expect(manifest.code).toBe(0);
    expect(JSON.parse(manifest.stdout)).toEqual(img.manifest);
    const table = await lading(['manifest', `${reg.host}/cli/src@${img.descriptor.digest}`, '-o', 'table']);
    expect(table.stdout.split('\n')[0]).toMatch(/^ROLE\s+MEDIA TYPE\s+DIGEST\s+SIZE$/);

    const cp = await lading(['copy', `${reg.host}/cli/src:1.0.0`, `${reg.host}/cli/dst`, '-o', 'json']);
    expect(cp.code, cp.stderr).toBe(0);
    expect(JSON.parse(cp.stdout)).toMatchObject({ digest: img.descriptor.digest, destination: `${reg.host}/cli/dst@${img.descriptor.digest}` });
    expect(cp.stderr).toContain(`copying ${reg.host}/cli/src:1.0.0 to ${reg.host}/cli/dst:1.0.0`);
    expect((await lading(['ls', `${reg.host}/cli/dst`])).stdout).toBe('1.0.0\n');
    expect(cp.stdout + cp.stderr).not.toContain(reg.password!);

    // --referrers brings signatures along (the destination gets its own referrers index).
    const src = openRepository(`${reg.host}/cli/src`, { credentials: new StaticCredentials({ [reg.host]: { username: reg.username!, password: reg.password! } }) });
    const sig = await pushReferrer(src, img.descriptor);
    const withRefs = await lading(['copy', `${reg.host}/cli/src:1.0.0`, `${reg.host}/cli/signed:1.0.0`, '--referrers']);
    expect(withRefs.code, withRefs.stderr).toBe(0);
    expect(withRefs.stderr).toContain(`referrer ${sig.digest.slice(0, 19)}`);
    // tags in the registry's order (as crane prints them); Debian's registry 2.8 does not sort them
    const tags = (await lading(['ls', `${reg.host}/cli/signed`])).stdout.split('\n').filter(Boolean).sort();
    expect(tags).toEqual(['1.0.0', img.descriptor.digest.replace(':', '-')].sort());
  });

  it('bad input: usage errors and invalid references exit 2, missing tags exit 1 with the reference named', async () => {
    expect((await lading(['login', reg.host, '--password-stdin'], 'x')).code).toBe(2);
    expect((await lading(['copy', 'only-one-arg'])).code).toBe(2);
    const bad = await lading(['digest', `${reg.host}/Bad/Name:1`]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(`invalid reference "${reg.host}/Bad/Name:1": repository name must be lowercase`);
    for (const args of [['digest', 'oci://127.0.0.1:35123'], ['ls', 'localhost:5000'], ['manifest', 'registry.example.com:5000'], ['copy', `${reg.host}/cli/src:1.0.0`, '127.0.0.1:35123']]) {
      const hostOnly = await lading(args);
      // A registry without a repository is refused before any request (not looked up on Docker Hub).
      expect([hostOnly.code, hostOnly.stderr], args.join(' ')).toEqual([2, expect.stringMatching(/names a registry but no repository/)]);
    }
    expect((await lading(['copy', `${reg.host}/cli/src:1.0.0`, `${reg.host}/cli/x:@@`])).code).toBe(2);
    const missing = await lading(['digest', `${reg.host}/cli/src:9.9.9`]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`${reg.host}/cli/src:9.9.9: manifest unknown`);
    const out = await lading(['ls', `${reg.host}/cli/src`, '-o', 'xml']);
    expect(out.code).toBe(2);
  });

  it('logs out, after which the registry asks for a login', async () => {
    const r = await lading(['logout', reg.host]);
    expect(r).toMatchObject({ code: 0, stdout: `Removing login credentials for ${reg.host}\n` });
    const config = JSON.parse(readFileSync(join(dockerConfig, 'config.json'), 'utf8')) as { auths: Record<string, unknown> };
    expect(config.auths[reg.host]).toBeUndefined();
    const ls = await lading(['ls', `${reg.host}/cli/src`]);
    expect(ls.code).toBe(1);
    expect(ls.stderr).toContain(`requires authentication; run \`lading login ${reg.host}\``);
  });

  it('with a credsStore, login stores the secret through the docker-credential helper, not in config.json', async () => {
    const bin = join(tmp.path, 'bin');
    mkdirSync(bin, { recursive: true });
    const vault = join(tmp.path, 'vault.json');
    // A minimal helper speaking docker's protocol (store/get/erase over stdin/stdout).
    writeFileSync(
      join(bin, 'docker-credential-ladingvault'),
      `#!/bin/sh\ncase "$1" in\n  store) cat > ${JSON.stringify(vault)} ;;\n  get) read server; if [ -f ${JSON.stringify(vault)} ] && grep -q "\\"ServerURL\\":\\"$server\\"" ${JSON.stringify(vault)}; then cat ${JSON.stringify(vault)}; else echo "credentials not found in native keychain"; exit 1; fi ;;\n  erase) read server; rm -f ${JSON.stringify(vault)} ;;\nesac\n`,
    );
    chmodSync(join(bin, 'docker-credential-ladingvault'), 0o755);
    const configDir = join(tmp.path, 'docker-vault');
    mkdirSync(configDir);
    writeFileSync(join(configDir, 'config.json'), JSON.stringify({ credsStore: 'ladingvault' }));
    const env = { DOCKER_CONFIG: configDir, PATH: `${bin}:${process.env['PATH']}` };
    const r = await lading(['login', reg.host, '-u', reg.username!, '--password-stdin'], reg.password!, env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('saved with docker-credential-ladingvault');
    expect(readFileSync(join(configDir, 'config.json'), 'utf8')).not.toContain(Buffer.from(`${reg.username}:${reg.password}`).toString('base64'));
    expect(JSON.parse(readFileSync(vault, 'utf8'))).toEqual({ ServerURL: reg.host, Username: reg.username, Secret: reg.password });
    expect((await lading(['ls', `${reg.host}/cli/dst`], '', env)).stdout).toBe('1.0.0\n');
    expect((await lading(['logout', reg.host], '', env)).code).toBe(0);
    expect(existsSync(vault)).toBe(false);
  });

  it('--help shows examples', async () => {
    for (const cmd of ['login', 'logout', 'copy', 'digest', 'ls', 'manifest']) {
      const r = await lading([cmd, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('Examples:');
    }
  });
});

describe('registry flags', () => {
  let tls: RunningRegistry;
  beforeAll(async () => {
    tls = await startRegistry({ clientCerts: true });
    await pushRandomImage(
      openRepository(`${tls.host}/flags/app`, { caFile: tls.caFile!, certFile: tls.pki!.clientCertFile, keyFile: tls.pki!.clientKeyFile }),
      { tag: 'v1' },
    );
  });
  afterAll(() => tls?.stop());

  it('--ca-file, --cert-file and --key-file reach a mutual-TLS registry', async () => {
    const r = await lading(['ls', `${tls.host}/flags/app`, '--ca-file', tls.caFile!, '--cert-file', tls.pki!.clientCertFile, '--key-file', tls.pki!.clientKeyFile]);
    expect(r, r.stderr).toMatchObject({ code: 0, stdout: 'v1\n' });
  });

  it('without --ca-file the certificate is not trusted', async () => {
    const r = await lading(['ls', `${tls.host}/flags/app`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/TLS connection to .* failed: .*--ca-file/);
  });

  it('--cert-file without --key-file, and a bad --registry-timeout or --timeout, are usage errors', async () => {
    const t = await lading(['ls', `${tls.host}/flags/app`, '--timeout', '0s']);
    expect([t.code, t.stderr]).toEqual([2, expect.stringContaining('invalid --timeout "0s"')]);
    expect((await lading(['ls', `${tls.host}/flags/app`, '--cert-file', tls.pki!.clientCertFile])).code).toBe(2);
    const r = await lading(['ls', `${tls.host}/flags/app`, '--registry-timeout', 'soon']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('invalid --registry-timeout "soon"');
  });
});
