// A registry for the build's code-cache warm-up (scripts/build-cli.mjs): one image signed by
// lading itself, with a classic `.sig` signature and a Sigstore bundle, served over plain http on
// loopback the way a registry without the referrers API serves them (the bundle is found through
// the sha256-<hex> referrers tag). `lading verify` against it runs every step of a real
// verification, so the sign bundle's code cache holds what that command compiles; a warm-up that
// stopped at the first request (nothing listening) left the response handling, digests,
// signature checks and output to be compiled at every run. It also lists tags and takes pushes
// (monolithic and streamed blob uploads, manifests by tag), so that `push artifact` then `pull
// artifact`, and `copy` into it, run whole for their bundles' caches.
// Uses the library as tsc wrote it (dist/), so it runs after tsc.
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * Starts the registry; writes the public key to `dir`/warm-up.pub. Returns the signed image's
 * reference, a reference to push to, the key's path and `close`.
 */
export async function startWarmUpRegistry(dist, dir) {
  const { MemoryStore, MediaTypes, descriptorFor, pushManifest } = await import(pathToFileURL(join(dist, 'oci', 'index.js')).href);
  const { sign } = await import(pathToFileURL(join(dist, 'sign', 'index.js')).href);
  const store = new MemoryStore('warm-up');
  const repository = 'lading/warm-up';
  /** Where `push artifact` goes (a store of its own). */
  const pushRepository = 'lading/warm-up-push';
  const pushStore = new MemoryStore('warm-up-push');
  /** Blob uploads in progress: upload id → the bytes received so far. */
  const uploads = new Map();
  // Every descriptor pushed, by store and digest: a registry serves blobs and manifests by digest alone.
  const pushed = new Map();
  for (const s of [store, pushStore]) {
    const push = s.push.bind(s);
    s.push = async (desc, content, opts) => {
      await push(desc, content, opts);
      pushed.set(`${s.location} ${desc.digest}`, { mediaType: desc.mediaType, digest: desc.digest, size: desc.size });
    };
  }

  /** Distribution's API over the store: /v2/, manifests, blobs; no referrers API (404). */
  async function serve(req, res) {
    const notFound = (code) => {
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code, message: code.toLowerCase().replace('_', ' ') }] }));
    };
    const url = new URL(req.url ?? '/', 'http://warm-up');
    if (req.method !== 'GET' && req.method !== 'HEAD') return receive(req, res, url, notFound);
    if (url.pathname === '/v2/') {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Docker-Distribution-API-Version': 'registry/2.0' });
      return res.end('{}');
    }
    const list = /^\/v2\/(.+)\/tags\/list$/.exec(url.pathname);
    if (list && (list[1] === repository || list[1] === pushRepository)) {
      const tags = await (list[1] === repository ? store : pushStore).listTags();
      const body = Buffer.from(JSON.stringify({ name: list[1], tags }));
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length });
      return res.end(req.method === 'HEAD' ? undefined : body);
    }
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(url.pathname);
    if (!m || (m[1] !== repository && m[1] !== pushRepository)) return notFound('NAME_UNKNOWN');
    const [, name, kind, ref] = m;
    const from = name === repository ? store : pushStore;
    const referrersTag = /^sha256-([a-f0-9]{64})$/.exec(ref);
    let desc;
    let bytes;
    if (kind === 'manifests' && referrersTag) {
      // The referrers tag schema: an index of the manifests whose subject is the digest.
      const manifests = await store.referrers({ mediaType: MediaTypes.ociManifest, digest: `sha256:${referrersTag[1]}`, size: 0 });
      if (manifests.length === 0) return notFound('MANIFEST_UNKNOWN');
      bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests }));
      desc = descriptorFor(MediaTypes.ociIndex, bytes);
    } else {
      desc = ref.startsWith('sha256:') ? pushed.get(`${from.location} ${ref}`) : await from.resolve(ref).catch(() => undefined);
      if (!desc) return notFound(kind === 'blobs' ? 'BLOB_UNKNOWN' : 'MANIFEST_UNKNOWN');
      bytes = await from.fetchBytes(desc);
    }
    res.writeHead(200, { 'Content-Type': kind === 'blobs' ? 'application/octet-stream' : desc.mediaType, 'Content-Length': bytes.length, 'Docker-Content-Digest': desc.digest });
    res.end(req.method === 'HEAD' ? undefined : bytes);
  }

  /** Uploads and manifest pushes to the push repository. */
  async function receive(req, res, url, notFound) {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = Buffer.concat(chunks);
    const prefix = `/v2/${pushRepository}/`;
    if (!url.pathname.startsWith(prefix)) return notFound('NAME_UNKNOWN');
    const rest = url.pathname.slice(prefix.length);
    if (req.method === 'POST' && rest === 'blobs/uploads/') {
      const id = randomUUID();
      uploads.set(id, []);
      res.writeHead(202, { Location: `${prefix}blobs/uploads/${id}`, 'Docker-Upload-UUID': id, 'Content-Length': 0 });
      return res.end();
    }
    const upload = /^blobs\/uploads\/([0-9a-f-]+)$/.exec(rest);
    if (upload && uploads.has(upload[1]) && (req.method === 'PATCH' || req.method === 'PUT')) {
      const parts = uploads.get(upload[1]);
      parts.push(body);
      if (req.method === 'PATCH') {
        res.writeHead(202, { Location: `${prefix}blobs/uploads/${upload[1]}`, 'Content-Length': 0 });
        return res.end();
      }
      uploads.delete(upload[1]);
      const bytes = Buffer.concat(parts);
      const desc = descriptorFor('application/octet-stream', bytes);
      if (desc.digest !== url.searchParams.get('digest')) return notFound('DIGEST_INVALID');
      await pushStore.push(desc, bytes);
      res.writeHead(201, { Location: `${prefix}blobs/${desc.digest}`, 'Docker-Content-Digest': desc.digest, 'Content-Length': 0 });
      return res.end();
    }
    const manifest = /^manifests\/([^/]+)$/.exec(rest);
    if (manifest && req.method === 'PUT') {
      const desc = descriptorFor(String(req.headers['content-type']), body);
      await pushStore.push(desc, body);
      if (!manifest[1].startsWith('sha256:')) await pushStore.tag(desc, manifest[1]);
      res.writeHead(201, { Location: `${prefix}manifests/${desc.digest}`, 'Docker-Content-Digest': desc.digest, 'Content-Length': 0 });
      return res.end();
    }
    return notFound('UNSUPPORTED');
  }

  const server = createServer((req, res) => {
    serve(req, res).catch((err) => {
      res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end(String(err));
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const reference = `127.0.0.1:${server.address().port}/${repository}:0`;

  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const keyPath = join(dir, 'warm-up.key.pem');
  const publicKeyPath = join(dir, 'warm-up.pub');
  writeFileSync(keyPath, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  writeFileSync(publicKeyPath, publicKey.export({ type: 'spki', format: 'pem' }));

  const config = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
  const configDesc = descriptorFor(MediaTypes.ociConfig, config);
  await store.push(configDesc, config);
  await pushManifest(store, { schemaVersion: 2, mediaType: MediaTypes.ociManifest, config: configDesc, layers: [] }, { tag: '0' });
  for (const format of ['classic', 'bundle']) await sign(reference, { storage: store, key: keyPath, format });

  const pushReference = `127.0.0.1:${server.address().port}/${pushRepository}:0`;
  return { reference, pushReference, publicKeyPath, close: () => new Promise((resolve) => server.close(resolve)) };
}
