// Shared helpers for the OCI tests: temp dirs, random images, prerequisites.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { expect } from 'vitest';
import { MediaTypes, descriptorFor, pushManifest, sha256Digest, type Descriptor, type ImageIndex, type ImageManifest, type Storage } from '../../src/oci/index.js';

export function tempDir(prefix = 'lading-oci-'): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** Fails with an installation hint when a binary is missing. */
export function requireBinary(path: string, pkg: string): string {
  if (!existsSync(path)) throw new Error(`${path} is missing: install it with \`sudo apt-get install -y ${pkg}\` (or run \`npm run setup\`)`);
  return path;
}

export interface TestImage {
  manifest: ImageManifest;
  descriptor: Descriptor;
  config: Descriptor;
  layers: Descriptor[];
  layerBytes: Buffer[];
}

/** Pushes a random image (config + layers) into `store`, tagged `tag` when given. */
export async function pushRandomImage(
  store: Storage,
  opts: { tag?: string; layers?: number; layerSize?: number; docker?: boolean; platform?: string } = {},
): Promise<TestImage> {
  const docker = opts.docker === true;
  // Real gzip streams, so tools that sniff compression (skopeo) keep the layers as they are.
  const layerBytes = Array.from({ length: opts.layers ?? 2 }, () => gzipSync(randomBytes(opts.layerSize ?? 4096), { level: 1 }));
  const layers = layerBytes.map((b) => descriptorFor(docker ? MediaTypes.dockerLayerGzip : MediaTypes.ociLayerGzip, b));
  const [os, architecture] = (opts.platform ?? 'linux/amd64').split('/') as [string, string];
  const configBytes = Buffer.from(JSON.stringify({ architecture, os, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) }, config: {}, nonce: randomBytes(8).toString('hex') }));
  const config = descriptorFor(docker ? MediaTypes.dockerConfig : MediaTypes.ociConfig, configBytes);
  await store.push(config, configBytes);
  for (const [i, l] of layers.entries()) await store.push(l, layerBytes[i] as Buffer);
  const manifest: ImageManifest = { schemaVersion: 2, mediaType: docker ? MediaTypes.dockerManifest : MediaTypes.ociManifest, config, layers };
  const descriptor = await pushManifest(store, manifest, opts.tag !== undefined ? { tag: opts.tag } : {});
  return { manifest, descriptor, config, layers, layerBytes };
}

/** Pushes a two-platform index of random images. */
export async function pushRandomIndex(store: Storage, tag?: string): Promise<{ index: ImageIndex; descriptor: Descriptor; images: TestImage[] }> {
  const images = [await pushRandomImage(store, { platform: 'linux/amd64' }), await pushRandomImage(store, { platform: 'linux/arm64' })];
  const index: ImageIndex = {
    schemaVersion: 2,
    mediaType: MediaTypes.ociIndex,
    manifests: images.map((img, i) => ({ ...img.descriptor, platform: { os: 'linux', architecture: i === 0 ? 'amd64' : 'arm64' } })),
  };
  const descriptor = await pushManifest(store, index, tag !== undefined ? { tag } : {});
  return { index, descriptor, images };
}

/** Pushes a referrer (signature-like artifact) for `subject`. */
export async function pushReferrer(store: Storage, subject: Descriptor, artifactType = 'application/vnd.example.signature'): Promise<Descriptor> {
  const empty = Buffer.from('{}');
  const emptyDesc = descriptorFor(MediaTypes.ociEmpty, empty);
  await store.push(emptyDesc, empty);
  const payload = randomBytes(64);
  const layer = descriptorFor('application/vnd.example.payload', payload);
  await store.push(layer, payload);
  return pushManifest(store, { schemaVersion: 2, mediaType: MediaTypes.ociManifest, artifactType, config: emptyDesc, layers: [layer], subject, annotations: { 'org.example.note': 'test' } });
}

/** Asserts that `p` rejects with an OciError of `code` whose message matches `message`. */
export async function expectOciError(p: Promise<unknown>, code: string, message?: RegExp): Promise<Error> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  expect(err, `expected an error with code ${code}`).toBeInstanceOf(Error);
  expect((err as { code?: string }).code, (err as Error).message).toBe(code);
  if (message) expect((err as Error).message).toMatch(message);
  return err as Error;
}

/** Compares content by digest (vitest's deep equality is slow on megabytes). */
export function expectSameBytes(actual: Uint8Array, expected: Uint8Array | undefined): void {
  expect(expected, 'expected bytes').toBeDefined();
  expect(sha256Digest(actual)).toBe(sha256Digest(expected as Uint8Array));
}
