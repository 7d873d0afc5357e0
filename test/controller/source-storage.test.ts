// Artifact storage and its HTTP server: Flux's archive normalisation, ignore rules, digest
// re-verification, garbage collection, the latest symlink, and a static server that refuses
// path escapes.
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { extract, type Header as Headers } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArtifactStorage, startArtifactServer, type ArtifactServer } from '../../src/controller/source/index.js';

const dirs: string[] = [];
function temp(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function tarHeaders(file: string): Promise<Array<{ header: Headers; body: Buffer }>> {
  const ex = extract();
  const out: Array<{ header: Headers; body: Buffer }> = [];
  const done = new Promise<void>((res, rej) => {
    ex.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c) => chunks.push(c as Buffer));
      stream.on('end', () => {
        out.push({ header, body: Buffer.concat(chunks) });
        next();
      });
    });
    ex.on('finish', () => res());
    ex.on('error', rej);
  });
  ex.end(gunzipSync(readFileSync(file)));
  await done;
  return out;
}

function tree(root: string, files: Record<string, string>): void {
  for (const [p, content] of Object.entries(files)) {
    mkdirSync(join(root, p, '..'), { recursive: true });
    writeFileSync(join(root, p), content);
  }
}

const target = (file: string) => ({ kind: 'OCIRepository', namespace: 'ns1', name: 'app', file });

describe('ArtifactStorage', () => {
  it('archives a directory with normalised headers, in walk order, without links or ignored files', async () => {
    const root = temp('lading-storage-');
    const src = temp('lading-src-');
    tree(src, {
      'b.yaml': 'b',
      'a/deploy.yaml': 'kind: Deployment',
      'a/run.sh': '#!/bin/sh',
      'logo.png': 'png',
      '.git/config': 'x',
      '.github/workflows/ci.yaml': 'ci',
      'z/.sops.yaml': 'sops',
    });
    chmodSync(join(src, 'a/run.sh'), 0o755);
    chmodSync(join(src, 'b.yaml'), 0o666);
    symlinkSync('/etc/passwd', join(src, 'passwd'));
    symlinkSync('b.yaml', join(src, 'link.yaml'));
    const storage = new ArtifactStorage({ root, advertisedAddress: 'source-controller.flux-system.svc.cluster.local.' });
    const stored = await storage.archive(target('sha256:abc.tar.gz'), src);
    expect(stored.path).toBe('ocirepository/ns1/app/sha256:abc.tar.gz');
    expect(stored.url).toBe('http://source-controller.flux-system.svc.cluster.local./ocirepository/ns1/app/sha256:abc.tar.gz');
    const bytes = readFileSync(join(root, stored.path));
    expect(stored.digest).toBe(`sha256:${createHash('sha256').update(bytes).digest('hex')}`);
    expect(stored.size).toBe(bytes.length);
    expect(lstatSync(join(root, stored.path)).mode & 0o777).toBe(0o600);
    const entries = await tarHeaders(join(root, stored.path));
    expect(entries.map((e) => e.header.name)).toEqual(['.', 'a', 'a/deploy.yaml', 'a/run.sh', 'b.yaml', 'z']);
    for (const { header } of entries) {
      expect(header.uid).toBe(0);
      expect(header.gid).toBe(0);
      expect(header.uname).toBe('');
      expect(header.gname).toBe('');
      expect(header.mtime?.getTime()).toBe(0);
      expect(['file', 'directory']).toContain(header.type);
    }
    const mode = (n: string) => entries.find((e) => e.header.name === n)!.header.mode;
    expect(mode('a')).toBe(0o750);
    expect(mode('a/run.sh')).toBe(0o700);
    expect(mode('b.yaml')).toBe(0o600);
    expect(entries.find((e) => e.header.name === 'a/deploy.yaml')!.body.toString()).toBe('kind: Deployment');
    // No temporary left beside it.
    expect(readdirSync(join(root, 'ocirepository/ns1/app'))).toEqual(['sha256:abc.tar.gz']);
    // The same content gives the same bytes.
    const again = await storage.archive(target('sha256:def.tar.gz'), src);
    expect(again.digest).toBe(stored.digest);
  });

  it('spec.ignore and .sourceignore replace the default exclusions (version control stays excluded)', async () => {
    const root = temp('lading-storage-');
    const src = temp('lading-src-');
    tree(src, { 'logo.png': 'png', '.git/HEAD': 'x', 'app/secret.env': 's', 'app/ok.yaml': 'ok', 'keep.yaml': 'k' });
    const storage = new ArtifactStorage({ root, advertisedAddress: 'localhost:9090' });
    const withSpec = await storage.archive(target('one.tar.gz'), src, { ignore: '*.env\n# comment\n' });
    expect((await tarHeaders(join(root, withSpec.path))).map((e) => e.header.name)).toEqual(['.', 'app', 'app/ok.yaml', 'keep.yaml', 'logo.png']);
    writeFileSync(join(src, 'app/.sourceignore'), 'ok.yaml\n');
    const withFile = await storage.archive(target('two.tar.gz'), src);
    expect((await tarHeaders(join(root, withFile.path))).map((e) => e.header.name)).toEqual(['.', 'app', 'app/.sourceignore', 'app/secret.env', 'keep.yaml', 'logo.png']);
    // spec.ignore comes after the files: it can re-include what a .sourceignore left out.
    const both = await storage.archive(target('three.tar.gz'), src, { ignore: '!app/ok.yaml\n' });
    expect((await tarHeaders(join(root, both.path))).map((e) => e.header.name)).toContain('app/ok.yaml');
  });

  it('copies a file as is, verifies digests and notices a corrupted file', async () => {
    const root = temp('lading-storage-');
    const src = temp('lading-src-');
    writeFileSync(join(src, 'layer.tgz'), 'compressed-bytes');
    const storage = new ArtifactStorage({ root, advertisedAddress: 'http://files.example:8080' });
    const stored = await storage.copy(target('sha256:1.tgz'), join(src, 'layer.tgz'));
    expect(stored.url).toBe('http://files.example:8080/ocirepository/ns1/app/sha256:1.tgz');
    expect(readFileSync(join(root, stored.path), 'utf8')).toBe('compressed-bytes');
    await storage.verify(stored);
    expect(await storage.exists(stored)).toBe(true);
    writeFileSync(join(root, stored.path), 'tampered');
    await expect(storage.verify(stored)).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    await expect(storage.verify({ path: stored.path })).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    await storage.removeFile(stored);
    expect(await storage.exists(stored)).toBe(false);
  });

  it('rewrites URL hosts to the advertised address and refuses paths outside the root', () => {
    const storage = new ArtifactStorage({ root: temp('lading-storage-'), advertisedAddress: 'new-host:9090' });
    expect(storage.setHostname('http://old-host/ocirepository/a/b/latest.tar.gz')).toBe('http://new-host:9090/ocirepository/a/b/latest.tar.gz');
    expect(storage.setHostname('::not a url')).toBe('');
    expect(() => storage.localPath('../etc/passwd')).toThrow(/invalid storage path/);
    expect(() => storage.localPath('ocirepository/../../x')).toThrow(/invalid storage path/);
    expect(() => storage.artifactPath({ kind: 'OCIRepository', namespace: '..', name: 'x', file: 'f' })).toThrow(/invalid namespace/);
    expect(() => storage.artifactPath({ kind: 'OCIRepository', namespace: 'a', name: 'x', file: 'a/b' })).toThrow(/invalid file name/);
  });

  it('garbage-collects by TTL, then by count, never the current file, symlinks or locks', async () => {
    const root = temp('lading-storage-');
    const storage = new ArtifactStorage({ root, advertisedAddress: 'localhost', retentionTtlMs: 60_000, retentionRecords: 2 });
    const dir = join(root, 'ocirepository/ns1/app');
    mkdirSync(dir, { recursive: true });
    const now = Date.now() / 1000;
    const files = ['f1.tar.gz', 'f2.tar.gz', 'f3.tar.gz', 'f4.tar.gz', 'f5.tar.gz'];
    // f1 oldest (2 min), f2 (90 s): both past the TTL; f3, f4, f5 recent (f5 newest). f1 is current.
    const ages = [120, 90, 30, 20, 10];
    files.forEach((f, i) => {
      writeFileSync(join(dir, f), f);
      utimesSync(join(dir, f), now - ages[i]!, now - ages[i]!);
    });
    writeFileSync(join(dir, 'f2.tar.gz.lock'), '');
    writeFileSync(join(dir, 'other.lock'), '');
    utimesSync(join(dir, 'other.lock'), now - 500, now - 500);
    symlinkSync(join(dir, 'f5.tar.gz'), join(dir, 'latest.tar.gz'));
    const removed = await storage.gc({ path: 'ocirepository/ns1/app/f1.tar.gz' });
    // TTL removes f2; then the count: f1 (current), f3, f4, f5 → keep 2: f3, f4 go (oldest first).
    expect(removed.sort()).toEqual(['ocirepository/ns1/app/f2.tar.gz', 'ocirepository/ns1/app/f3.tar.gz', 'ocirepository/ns1/app/f4.tar.gz']);
    expect(readdirSync(dir).sort()).toEqual(['f1.tar.gz', 'f5.tar.gz', 'latest.tar.gz', 'other.lock']);
    // Once another file is current, the old one goes by its age; then nothing more.
    expect(await storage.gc({ path: 'ocirepository/ns1/app/f5.tar.gz' })).toEqual(['ocirepository/ns1/app/f1.tar.gz']);
    expect(await storage.gc({ path: 'ocirepository/ns1/app/f5.tar.gz' })).toEqual([]);
  });

  it('points latest.tar.gz at the newest artifact and removes an object on deletion', async () => {
    const root = temp('lading-storage-');
    const src = temp('lading-src-');
    tree(src, { 'a.yaml': 'a' });
    const storage = new ArtifactStorage({ root, advertisedAddress: 'localhost:9090' });
    const one = await storage.archive(target('one.tar.gz'), src);
    expect(await storage.setLatest(one)).toBe('http://localhost:9090/ocirepository/ns1/app/latest.tar.gz');
    const two = await storage.archive(target('two.tar.gz'), src);
    await storage.setLatest(two);
    expect(readlinkSync(join(root, 'ocirepository/ns1/app/latest.tar.gz'))).toBe(join(root, two.path));
    expect(readdirSync(join(root, 'ocirepository/ns1/app')).sort()).toEqual(['latest.tar.gz', 'one.tar.gz', 'two.tar.gz']);
    expect(await storage.remove('OCIRepository', 'ns1', 'app')).toBe(true);
    expect(existsSync(join(root, 'ocirepository/ns1/app'))).toBe(false);
    expect(await storage.remove('OCIRepository', 'ns1', 'app')).toBe(false);
  });

  it('leaves no temporary when archiving fails', async () => {
    const root = temp('lading-storage-');
    const storage = new ArtifactStorage({ root, advertisedAddress: 'localhost' });
    await expect(storage.archive(target('x.tar.gz'), join(root, 'missing'))).rejects.toMatchObject({ code: 'INVALID_PATH' });
    const src = temp('lading-src-');
    tree(src, { 'a.yaml': 'a' });
    const aborted = new AbortController();
    aborted.abort();
    await expect(storage.archive(target('y.tar.gz'), src, { signal: aborted.signal })).rejects.toThrow();
    const dir = join(root, 'ocirepository/ns1/app');
    expect(existsSync(dir) ? readdirSync(dir) : []).toEqual([]);
  });
});

function get(url: string, method = 'GET', rawPath?: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  const u = new URL(url);
  return new Promise((res, rej) => {
    const req = request({ host: u.hostname, port: u.port, method, path: rawPath ?? u.pathname }, (r) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => res({ status: r.statusCode ?? 0, headers: r.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', rej);
    req.end();
  });
}

describe('artifact server', () => {
  let root: string;
  let storage: ArtifactStorage;
  let server: ArtifactServer;
  let stored: { path: string; digest: string; size: number };

  beforeAll(async () => {
    root = temp('lading-storage-');
    const src = temp('lading-src-');
    tree(src, { 'deploy.yaml': 'kind: Deployment\n' });
    storage = new ArtifactStorage({ root, advertisedAddress: 'localhost' });
    stored = await storage.archive(target('sha256:0123.tar.gz'), src);
    await storage.setLatest(stored);
    // Planted by someone else: links out of the root must never be served.
    symlinkSync('/etc/passwd', join(root, 'passwd'));
    symlinkSync('/etc', join(root, 'ocirepository/ns1/etc'));
    server = await startArtifactServer({ storage, address: '127.0.0.1:0' });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('serves a stored file with its bytes and length, and the latest link', async () => {
    const r = await get(`${server.url}/${stored.path}`);
    expect(r.status).toBe(200);
    expect(Number(r.headers['content-length'])).toBe(stored.size);
    expect(`sha256:${createHash('sha256').update(r.body).digest('hex')}`).toBe(stored.digest);
    const latest = await get(`${server.url}/ocirepository/ns1/app/latest.tar.gz`);
    expect(latest.status).toBe(200);
    expect(latest.body.equals(r.body)).toBe(true);
    const head = await get(`${server.url}/${stored.path}`, 'HEAD');
    expect(head.status).toBe(200);
    expect(Number(head.headers['content-length'])).toBe(stored.size);
    expect(head.body.length).toBe(0);
  });

  it('answers 404 for missing files and directories, 200 on the root for probes, 405 for writes', async () => {
    expect((await get(`${server.url}/ocirepository/ns1/app/missing.tar.gz`)).status).toBe(404);
    const dir = await get(`${server.url}/ocirepository/ns1/app/`);
    expect(dir.status).toBe(404);
    expect(dir.body.toString()).not.toContain('latest.tar.gz');
    expect((await get(`${server.url}/ocirepository`)).status).toBe(404);
    const rootPage = await get(`${server.url}/`);
    expect(rootPage.status).toBe(200);
    expect(rootPage.body.length).toBe(0);
    expect((await get(`${server.url}/${stored.path}`, 'PUT')).status).toBe(405);
  });

  it('refuses path escapes: .., encoded slashes and links leading out of the root', async () => {
    const passwd = readFileSync('/etc/passwd');
    for (const raw of [
      '/passwd',
      '/ocirepository/ns1/etc/passwd',
      '/../../etc/passwd',
      '/ocirepository/../../../etc/passwd',
      '/ocirepository/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
      '/ocirepository%2f..%2f..%2fetc%2fpasswd',
      '/ocirepository/ns1/app/..%5c..%5cpasswd',
      '//etc/passwd',
      `/${encodeURIComponent('/etc/passwd')}`,
    ]) {
      const r = await get(server.url, 'GET', raw);
      expect(r.status, raw).toBe(404);
      expect(r.body.includes(passwd.subarray(0, 16)), raw).toBe(false);
    }
  });

  it('closes gracefully', async () => {
    const other = await startArtifactServer({ storage, address: '127.0.0.1:0' });
    expect((await get(`${other.url}/${stored.path}`)).status).toBe(200);
    await other.close();
    await expect(get(`${other.url}/${stored.path}`)).rejects.toThrow();
  });
});
