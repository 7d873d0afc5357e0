// Digest pinning against a real registry (distribution, htpasswd auth), through the CLI.
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/cli/program.js';
import type { CliIO } from '../../src/cli/output.js';
import { capturedIO } from '../cli/captured-io.js';
import { build, listImages, pinImages, ManifestError } from '../../src/manifests/index.js';
import { descriptorFor, MediaTypes, openRepository, pushManifest, StaticCredentials, type RegistryOptions } from '../../src/oci/index.js';
import { startRegistry, type RunningRegistry } from '../env/registry.js';
import { demoAppDir } from '../fixtures.js';

function capture(cwd: string): { io: CliIO; out: () => string; err: () => string } {
  const c = capturedIO({ stdin: new PassThrough(), env: { ...process.env, DOCKER_CONFIG: path.join(cwd, 'no-docker-config') }, cwd });
  return { io: c.io, out: c.stdout, err: c.stderr };
}

async function pushImage(repoRef: string, opts: RegistryOptions, tag: string | undefined, seed: string) {
  const repo = openRepository(repoRef, opts);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', seed }));
  const layer = Buffer.from(`layer ${seed}`);
  const configDesc = descriptorFor(MediaTypes.ociConfig, config);
  const layerDesc = descriptorFor(MediaTypes.ociLayer, layer);
  await repo.push(configDesc, config);
  await repo.push(layerDesc, layer);
  return pushManifest(repo, { schemaVersion: 2, mediaType: MediaTypes.ociManifest, config: configDesc, layers: [layerDesc] }, tag === undefined ? {} : { tag });
}

let reg: RunningRegistry;
let work: string;
let opts: RegistryOptions;
let appDigest: string;
let indexDigest: string;
let platformDigests: string[];

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'lading-pin-'));
  reg = await startRegistry({ auth: true });
  opts = { credentials: new StaticCredentials({ [reg.host]: { username: reg.username!, password: reg.password! } }) };
  appDigest = (await pushImage(`${reg.host}/team/app`, opts, 'v1', 'app')).digest;
  // A multi-platform image: an index over two manifests.
  const amd = await pushImage(`${reg.host}/team/multi`, opts, undefined, 'amd64');
  const arm = await pushImage(`${reg.host}/team/multi`, opts, undefined, 'arm64');
  platformDigests = [amd.digest, arm.digest];
  const index = await pushManifest(openRepository(`${reg.host}/team/multi`, opts), {
    schemaVersion: 2,
    mediaType: MediaTypes.ociIndex,
    manifests: [
      { ...amd, platform: { architecture: 'amd64', os: 'linux' } },
      { ...arm, platform: { architecture: 'arm64', os: 'linux' } },
    ],
  } as never, { tag: 'v2' });
  indexDigest = index.digest;
  writeFileSync(path.join(work, 'kustomization.yaml'), 'resources:\n- workload.yaml\nimages:\n- name: app\n  newName: ' + reg.host + '/team/app\n  newTag: v1\n');
  writeFileSync(
    path.join(work, 'workload.yaml'),
    `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      initContainers:
      - name: init
        image: ${reg.host}/team/multi:v2
      containers:
      - name: app
        image: app
      - name: pinned
        image: ${reg.host}/team/app@sha256:${'a'.repeat(64)}
`,
  );
}, 120_000);

afterAll(async () => {
  await reg?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('lading build --pin-images', () => {
  it('resolves tags to digests (an index at the index digest) and writes a lock', async () => {
    const lock = path.join(work, 'images.lock.yaml');
    const c = capture(work);
    const code = await run(['build', '.', '--pin-images', '--creds', `${reg.username}:${reg.password}`, '--lock-output', lock], c.io);
    expect(c.err()).not.toContain(reg.password!);
    expect(code, c.err()).toBe(0);
    const out = c.out();
    expect(out).toContain(`image: ${reg.host}/team/app:v1@${appDigest}`);
    expect(out).toContain(`image: ${reg.host}/team/multi:v2@${indexDigest}`);
    for (const d of platformDigests) expect(out).not.toContain(d);
    expect(out).toContain(`image: ${reg.host}/team/app@sha256:${'a'.repeat(64)}`);
    const lockText = readFileSync(lock, 'utf8');
    expect(lockText).toContain('kind: Config');
    expect(lockText).toContain(`newImage: ${reg.host}/team/multi:v2@${indexDigest}`);
    expect(lockText).not.toContain(reg.password!);

    // The lock reproduces the build without the registry.
    await reg.stop();
    const again = capture(work);
    expect(await run(['build', '.', '--lock', lock], again.io), again.err()).toBe(0);
    expect(again.out()).toBe(out);
    reg = await startRegistry({ auth: true });
  });

  it('fails naming the image when the registry refuses the credentials, without printing them', async () => {
    const c = capture(work);
    const code = await run(['build', '.', '--pin-images', '--creds', `${reg.username}:wrong-secret-xyz`], c.io);
    expect(code).toBe(1);
    expect(c.err()).toMatch(/pinning image .*team\/(app|multi)/);
    expect(c.err()).not.toContain('wrong-secret-xyz');
    expect(c.out()).toBe('');
  });

  it('refuses a lock that lacks an image', async () => {
    const lock = path.join(work, 'partial.lock.yaml');
    writeFileSync(lock, `apiVersion: kbld.k14s.io/v1alpha1\nkind: Config\noverrides:\n- image: ${reg.host}/team/multi:v2\n  newImage: ${reg.host}/team/multi:v2@sha256:${'b'.repeat(64)}\n  preresolved: true\n`);
    const result = await build(work);
    await expect(pinImages(result.resources, { lock: { images: [] } })).rejects.toBeInstanceOf(ManifestError);
    const c = capture(work);
    expect(await run(['build', '.', '--lock', lock], c.io)).toBe(1);
    expect(c.err()).toContain('is not in the lock file');
  });

  it('--lock-output without pinning is a usage error', async () => {
    const c = capture(work);
    expect(await run(['build', '.', '--lock-output', path.join(work, 'x.yaml')], c.io)).toBe(2);
    expect(existsSync(path.join(work, 'x.yaml'))).toBe(false);
  });
});

describe('listImages', () => {
  it('finds images in workloads, init and ephemeral containers, jobs, pods and custom resources', () => {
    const pod = (images: string[]) => ({ containers: images.map((image, i) => ({ name: `c${i}`, image })) });
    const resources = [
      { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd', namespace: 'ns' }, spec: { template: { spec: { initContainers: [{ name: 'i', image: 'init:1' }], ...pod(['app:1']) } } } },
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { ...pod(['pod:1']), ephemeralContainers: [{ name: 'dbg', image: 'debug:1' }] } },
      { apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'cj' }, spec: { jobTemplate: { spec: { template: { spec: pod(['cron:1']) } } } } },
      { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'j' }, spec: { template: { spec: pod(['job:1']) } } },
      { apiVersion: 'v1', kind: 'PodTemplate', metadata: { name: 'pt' }, template: { spec: pod(['tmpl:1']) } },
      { apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', metadata: { name: 'r' }, spec: { template: { spec: pod(['rollout:1']) } } },
      { apiVersion: 'example.com/v1', kind: 'Runner', metadata: { name: 'x' }, spec: { workers: { podTemplate: { spec: pod(['worker:1']) } } } },
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm' }, data: { image: 'not-an-image' } },
    ];
    expect(listImages(resources).map((u) => `${u.kind}/${u.name}/${u.container}=${u.image}`)).toEqual([
      'Deployment/d/i=init:1',
      'Deployment/d/c0=app:1',
      'Pod/p/c0=pod:1',
      'Pod/p/dbg=debug:1',
      'CronJob/cj/c0=cron:1',
      'Job/j/c0=job:1',
      'PodTemplate/pt/c0=tmpl:1',
      'Rollout/r/c0=rollout:1',
      'Runner/x/c0=worker:1',
    ]);
    expect(listImages(resources)[0]?.namespace).toBe('ns');
  });

  it('lists the demo app images as the tutorial shows them', async () => {
    const demo = demoAppDir;
    const result = await build(demo);
    expect(listImages(result.resources).map((u) => `${u.kind}/${u.namespace}/${u.name} ${u.image}`)).toEqual([
      'Deployment/demo-app/backend ghcr.io/stefanprodan/podinfo:6.0.0',
      'Deployment/demo-app/cache public.ecr.aws/docker/library/redis:6.2.0',
      'Deployment/demo-app/frontend ghcr.io/stefanprodan/podinfo:6.0.0',
    ]);
  });
});
