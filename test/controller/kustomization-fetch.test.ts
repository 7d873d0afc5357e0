// Fetching a source's artifact over HTTP as kustomize-controller does: retries, the digest
// checked before anything is extracted, limits, the SOURCE_CONTROLLER_LOCALHOST host override,
// hostile archives — against a real HTTP server of the test's own.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ArtifactFetchError, artifactUrl, fetchArtifact } from '../../src/controller/kustomize/index.js';
import { makeTarball } from '../artifact/archives.js';

interface Route {
  body?: Buffer;
  /** Statuses answered first, one per request, before the body. */
  failures?: number[];
  chunked?: boolean;
}

let server: Server;
let base: string;
let port: number;
const routes = new Map<string, Route>();
const hits = new Map<string, number>();
let root: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0] ?? '';
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const route = routes.get(path);
    const failure = route?.failures?.shift();
    if (!route || failure !== undefined) {
      res.writeHead(failure ?? 404).end();
      return;
    }
    const body = route.body ?? Buffer.alloc(0);
    if (route.chunked) {
      res.writeHead(200);
      res.write(body.subarray(0, body.length >> 1));
      res.end(body.subarray(body.length >> 1));
    } else {
      res.writeHead(200, { 'content-length': body.length }).end(body);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'ks-fetch-'));
  return () => rmSync(root, { recursive: true, force: true });
});

function digest(b: Buffer): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

async function serve(path: string, route: Route): Promise<string> {
  routes.set(path, route);
  hits.delete(path);
  return `${base}${path}`;
}

async function failure(p: Promise<unknown>): Promise<ArtifactFetchError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ArtifactFetchError);
  return err as ArtifactFetchError;
}

const good = () => makeTarball([{ name: 'deploy', type: 'directory' }, { name: 'deploy/cm.yaml', body: 'kind: ConfigMap\n' }]);

describe('fetchArtifact', () => {
  it('downloads, verifies and extracts; the scratch file is gone', async () => {
    const body = await good();
    const url = await serve('/a.tar.gz', { body });
    const dir = join(root, 'source');
    const r = await fetchArtifact({ url, digest: digest(body), dir });
    expect(r.bytes).toBe(body.length);
    expect(readFileSync(join(dir, 'deploy/cm.yaml'), 'utf8')).toBe('kind: ConfigMap\n');
    expect(readdirSync(root)).toEqual(['source']);
  });

  it('retries 5xx answers, then succeeds; gives up after --http-retry retries naming the attempts', async () => {
    const body = await good();
    const url = await serve('/flaky.tar.gz', { body, failures: [503, 502] });
    await fetchArtifact({ url, digest: digest(body), dir: join(root, 'ok'), retries: 2, retryBaseMs: 5 });
    expect(hits.get('/flaky.tar.gz')).toBe(3);

    const down = await serve('/down.tar.gz', { body, failures: [500, 500, 500, 500] });
    const err = await failure(fetchArtifact({ url: down, digest: digest(body), dir: join(root, 'down'), retries: 1, retryBaseMs: 5 }));
    expect(err.code).toBe('ARTIFACT_DOWNLOAD');
    expect(err.message).toBe(`failed to download archive from ${down} (status: 500) (after 2 attempts)`);
    expect(hits.get('/down.tar.gz')).toBe(2);
    expect(existsSync(join(root, 'down'))).toBe(false);
  });

  it('404 is ARTIFACT_NOT_FOUND at once (the caller requeues); the query of a signed URL stays out of the message', async () => {
    const err = await failure(fetchArtifact({ url: `${base}/missing.tar.gz?token=secret`, digest: `sha256:${'0'.repeat(64)}`, dir: join(root, 's'), retries: 3, retryBaseMs: 5 }));
    expect(err.code).toBe('ARTIFACT_NOT_FOUND');
    expect(err.message).not.toContain('secret');
    expect(hits.get('/missing.tar.gz')).toBe(1);
  });

  it('a digest mismatch extracts nothing; an empty or unknown digest is refused', async () => {
    const body = await good();
    const url = await serve('/tampered.tar.gz', { body });
    const err = await failure(fetchArtifact({ url, digest: `sha256:${'a'.repeat(64)}`, dir: join(root, 's') }));
    expect(err.code).toBe('ARTIFACT_DIGEST');
    expect(err.message).toContain(`computed digest ${digest(body)} doesn't match 'sha256:${'a'.repeat(64)}'`);
    expect(readdirSync(root)).toEqual([]);
    expect((await failure(fetchArtifact({ url, digest: undefined, dir: join(root, 's') }))).message).toBe('failed to verify artifact: empty digest');
    expect((await failure(fetchArtifact({ url, digest: 'md5:abcd', dir: join(root, 's') }))).code).toBe('ARTIFACT_DIGEST');
    const sha512 = `sha512:${createHash('sha512').update(body).digest('hex')}`;
    await fetchArtifact({ url, digest: sha512, dir: join(root, 's') });
    expect(existsSync(join(root, 's/deploy/cm.yaml'))).toBe(true);
  });

  it('bounds the download, declared or streamed', async () => {
    const body = await good();
    const url = await serve('/big.tar.gz', { body });
    expect((await failure(fetchArtifact({ url, digest: digest(body), dir: join(root, 's'), maxDownloadBytes: 10 }))).code).toBe('ARTIFACT_TOO_LARGE');
    const chunked = await serve('/chunked.tar.gz', { body, chunked: true });
    expect((await failure(fetchArtifact({ url: chunked, digest: digest(body), dir: join(root, 's'), maxDownloadBytes: 10 }))).code).toBe('ARTIFACT_TOO_LARGE');
    expect(readdirSync(root)).toEqual([]);
  });

  it('refuses an archive whose entries leave the target; nothing is written outside', async () => {
    const body = await makeTarball([
      { name: 'ok.yaml', body: 'a: 1\n' },
      { name: '../escaped.yaml', body: 'b: 2\n' },
    ]);
    const url = await serve('/evil.tar.gz', { body });
    const err = await failure(fetchArtifact({ url, digest: digest(body), dir: join(root, 'inner', 's') }));
    expect(err.code).toBe('ARTIFACT_EXTRACT');
    expect(existsSync(join(root, 'inner', 'escaped.yaml'))).toBe(false);
    expect(existsSync(join(root, 'escaped.yaml'))).toBe(false);
    const link = await makeTarball([{ name: 'l', type: 'symlink', linkname: '/etc' }]);
    const linkUrl = await serve('/link.tar.gz', { body: link });
    expect((await failure(fetchArtifact({ url: linkUrl, digest: digest(link), dir: join(root, 'l') }))).code).toBe('ARTIFACT_EXTRACT');
  });

  it('SOURCE_CONTROLLER_LOCALHOST replaces the host of the URL; only http(s) URLs without credentials', async () => {
    const body = await good();
    await serve('/ocirepository/ns/app/x.tar.gz', { body });
    await fetchArtifact({ url: 'http://source-controller.flux-system.svc.cluster.local./ocirepository/ns/app/x.tar.gz', hostOverride: `127.0.0.1:${port}`, digest: digest(body), dir: join(root, 's') });
    expect(existsSync(join(root, 's/deploy/cm.yaml'))).toBe(true);
    expect(artifactUrl('http://a.example:9090/p?x=1', 'localhost:8080').href).toBe('http://localhost:8080/p?x=1');
    expect(() => artifactUrl('file:///etc/passwd')).toThrow(/only http and https/);
    expect(() => artifactUrl('http://user:pw@host/x')).toThrow(/credentials in the URL are not accepted/);
    expect(() => artifactUrl('http://host/x', 'bad host/x')).toThrow(/invalid host override/);
  });
});
