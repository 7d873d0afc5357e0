// A harness for the Kustomization reconciler against the real API server, without the runtime:
// an artifact server of the test's own serving
// tar.gz files as source-controller's storage does, a Map-backed cache refreshed from the API
// before each reconcile, status written with server-side apply under the reconciler's status
// manager, finalizers patched, events captured.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Finalizer, Kinds, type Kustomization } from '../../src/controller/api.js';
import type { CacheReader, EventSpec, KindInfo, Logger, ObjectKey, ReconcileContext, ReconcileOutcome, Reconciler } from '../../src/controller/runtime/types.js';
import type { KubeClient, KubeObject } from '../../src/kube/index.js';


/** Serves tar.gz artifacts from memory at /<path>, as source-controller's storage server does. */
export class ArtifactServer {
  private readonly files = new Map<string, Buffer>();
  private server: Server | undefined;
  url = '';
  requests = 0;
  /** Answer this status for every request instead (a broken storage). */
  failWith: number | undefined;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      this.requests++;
      const body = this.files.get(decodeURIComponent((req.url ?? '').split('?')[0] ?? ''));
      if (this.failWith !== undefined) {
        res.writeHead(this.failWith).end();
        return;
      }
      if (!body) {
        res.writeHead(404).end('not found');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/x-gzip', 'content-length': body.length }).end(body);
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** Packs `dir` as tar.gz and serves it at /<path>; returns the artifact fields. */
  add(path: string, dir: string): { url: string; digest: string; size: number } {
    const out = join(mkdtempSync(join(tmpdir(), 'ks-art-')), 'a.tar.gz');
    execFileSync('tar', ['-C', dir, '-czf', out, '.']);
    const body = readFileSync(out);
    rmSync(dirname(out), { recursive: true, force: true });
    return this.put(path, body);
  }

  put(path: string, body: Buffer): { url: string; digest: string; size: number } {
    const p = `/${path}`;
    this.files.set(p, body);
    return { url: `${this.url}${p}`, digest: `sha256:${createHash('sha256').update(body).digest('hex')}`, size: body.length };
  }
}

/** Writes files (path → content) under a new temp dir. */
export function writeTree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'ks-src-'));
  for (const [p, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    writeFileSync(join(dir, p), content);
  }
  return dir;
}

const silent: Logger = {
  debug() {},
  info() {},
  error() {},
  with() {
    return silent;
  },
};

function path(kind: KindInfo, ns: string, name?: string, sub?: string): string {
  return `/apis/${kind.group}/${kind.version}/namespaces/${encodeURIComponent(ns)}/${kind.plural}${name ? `/${encodeURIComponent(name)}` : ''}${sub ? `/${sub}` : ''}`;
}

/** Drives one reconciler as the runtime would, against the real API server. */
export class Harness {
  readonly events: Array<EventSpec & { object: string }> = [];
  readonly outcomes: ReconcileOutcome[] = [];
  /** Every status written mid-reconcile (patchStatus), in order. */
  readonly patches: Array<{ object: string; status: Record<string, unknown> }> = [];
  private readonly store = new Map<string, KubeObject>();

  constructor(
    readonly client: KubeClient,
    readonly reconciler: Reconciler<Kustomization & KubeObject>,
  ) {}

  private cache(): CacheReader {
    return {
      get: <T extends KubeObject>(kind: KindInfo, key: ObjectKey) => this.store.get(`${kind.kind}/${key.namespace}/${key.name}`) as T | undefined,
      list: <T extends KubeObject>(kind: KindInfo, namespace?: string) =>
        [...this.store.entries()].filter(([k]) => k.startsWith(`${kind.kind}/${namespace ? `${namespace}/` : ''}`)).map(([, v]) => v as T),
    };
  }

  /** Refreshes the cache with the OCIRepositories and Kustomizations of these namespaces. */
  async refresh(namespaces: string[]): Promise<void> {
    this.store.clear();
    for (const ns of namespaces) {
      for (const kind of [Kinds.OCIRepository, Kinds.Kustomization]) {
        const list = await this.client.request<{ items: KubeObject[] }>({ path: path(kind, ns), what: 'listing' });
        for (const item of list.items) {
          const meta = item['metadata'] as { name: string };
          this.store.set(`${kind.kind}/${ns}/${meta.name}`, { apiVersion: `${kind.group}/${kind.version}`, kind: kind.kind, ...item });
        }
      }
    }
  }

  async writeStatus(ns: string, name: string, status: Record<string, unknown>): Promise<void> {
    const k = Kinds.Kustomization;
    await this.client.request({
      method: 'PATCH',
      path: path(k, ns, name, 'status'),
      query: { fieldManager: this.reconciler.statusManager, force: true },
      body: { apiVersion: `${k.group}/${k.version}`, kind: k.kind, metadata: { name, namespace: ns }, status },
      contentType: 'application/apply-patch+yaml',
      what: `writing status of ${ns}/${name}`,
    });
  }

  async get(ns: string, name: string): Promise<Kustomization | undefined> {
    try {
      return await this.client.request<Kustomization>({ path: path(Kinds.Kustomization, ns, name), what: 'reading' });
    } catch {
      return undefined;
    }
  }

  /** One reconcile (repeated after the reconcile that adds the finalizer, which asks for a requeue). */
  async reconcile(ns: string, name: string, opts: { namespaces?: string[] } = {}): Promise<ReconcileOutcome> {
    for (let i = 0; i < 3; i++) {
      await this.refresh(opts.namespaces ?? [ns]);
      const obj = await this.get(ns, name);
      if (!obj) throw new Error(`Kustomization ${ns}/${name} not found`);
      const ctx: ReconcileContext = {
        client: this.client,
        cache: this.cache(),
        signal: new AbortController().signal,
        log: silent,
        now: () => new Date(),
        patchStatus: (status) => {
          this.patches.push({ object: `${ns}/${name}`, status: structuredClone(status) });
          return this.writeStatus(ns, name, status);
        },
        event: (e) => this.events.push({ ...e, object: `${ns}/${name}` }),
      };
      const outcome = await this.reconciler.reconcile(obj as Kustomization & KubeObject, ctx);
      this.outcomes.push(outcome);
      if (outcome.status && !obj.metadata.deletionTimestamp) await this.writeStatus(ns, name, outcome.status);
      if (outcome.finalizer) {
        const current = (await this.get(ns, name))?.metadata.finalizers ?? [];
        const next = outcome.finalizer === 'add' ? [...new Set([...current, Finalizer])] : current.filter((f) => f !== Finalizer);
        await this.client.request({
          method: 'PATCH',
          path: path(Kinds.Kustomization, ns, name),
          body: { metadata: { finalizers: next.length > 0 ? next : null } },
          contentType: 'application/merge-patch+json',
          what: 'patching finalizers',
        });
      }
      if (outcome.finalizer !== 'add') return outcome;
    }
    throw new Error('the reconciler kept asking for an immediate requeue');
  }

  eventsOf(ns: string, name: string): Array<EventSpec & { object: string }> {
    return this.events.filter((e) => e.object === `${ns}/${name}`);
  }
}

/** Creates an OCIRepository and writes its status.artifact as source-controller would. */
export async function createSource(client: KubeClient, ns: string, name: string, artifact?: { url: string; digest: string; size?: number; revision: string; metadata?: Record<string, string> }): Promise<void> {
  const k = Kinds.OCIRepository;
  await client.request({
    method: 'PATCH',
    path: path(k, ns, name),
    query: { fieldManager: 'test', force: true },
    body: { apiVersion: `${k.group}/${k.version}`, kind: k.kind, metadata: { name, namespace: ns }, spec: { url: 'oci://registry.invalid/app', interval: '10m' } },
    contentType: 'application/apply-patch+yaml',
    what: 'creating OCIRepository',
  });
  if (artifact) await setArtifact(client, ns, name, artifact);
}

export async function setArtifact(client: KubeClient, ns: string, name: string, a: { url: string; digest: string; size?: number; revision: string; metadata?: Record<string, string> }): Promise<void> {
  const k = Kinds.OCIRepository;
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  await client.request({
    method: 'PATCH',
    path: path(k, ns, name, 'status'),
    query: { fieldManager: 'source-controller', force: true },
    body: {
      apiVersion: `${k.group}/${k.version}`,
      kind: k.kind,
      metadata: { name, namespace: ns },
      status: {
        observedGeneration: 1,
        conditions: [{ type: 'Ready', status: 'True', reason: 'Succeeded', message: `stored artifact for digest '${a.revision}'`, lastTransitionTime: now, observedGeneration: 1 }],
        artifact: { path: `ocirepository/${ns}/${name}/x.tar.gz`, url: a.url, revision: a.revision, digest: a.digest, lastUpdateTime: now, ...(a.size !== undefined ? { size: a.size } : {}), ...(a.metadata ? { metadata: a.metadata } : {}) },
      },
    },
    contentType: 'application/apply-patch+yaml',
    what: 'writing OCIRepository status',
  });
}

/** Creates (or updates) a Kustomization with server-side apply. */
export async function applyKustomization(client: KubeClient, ns: string, name: string, spec: Record<string, unknown>): Promise<void> {
  const k = Kinds.Kustomization;
  await client.request({
    method: 'PATCH',
    path: path(k, ns, name),
    query: { fieldManager: 'test', force: true },
    body: { apiVersion: `${k.group}/${k.version}`, kind: k.kind, metadata: { name, namespace: ns }, spec },
    contentType: 'application/apply-patch+yaml',
    what: 'applying Kustomization',
  });
}

export async function deleteKustomization(client: KubeClient, ns: string, name: string): Promise<void> {
  await client.request({ method: 'DELETE', path: path(Kinds.Kustomization, ns, name), what: 'deleting Kustomization' });
}

export function configMap(ns: string, name: string, data: Record<string, string>, extra: { labels?: Record<string, string>; annotations?: Record<string, string> } = {}): string {
  const meta = [`  name: ${name}`, `  namespace: ${ns}`];
  if (extra.labels) meta.push('  labels:', ...Object.entries(extra.labels).map(([k, v]) => `    ${k}: "${v}"`));
  if (extra.annotations) meta.push('  annotations:', ...Object.entries(extra.annotations).map(([k, v]) => `    ${k}: "${v}"`));
  return ['apiVersion: v1', 'kind: ConfigMap', 'metadata:', ...meta, 'data:', ...Object.entries(data).map(([k, v]) => `  ${k}: "${v}"`), ''].join('\n');
}
