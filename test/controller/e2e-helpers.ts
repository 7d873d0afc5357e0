// Shared helpers of the controller's end-to-end update and fault tests (e2e-updates.test.ts,
// e2e-faults.test.ts): `lading controller run` as a local process (controller-process.ts), Flux's
// objects read with kubectl, artifacts pushed with the real flux CLI, and a registry of our own
// that can be stopped and started again on the same port with the same data (the
// registry-down-then-back case).
import { startRegistry } from '../env/registry.js';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { run, waitFor } from '../env/process.js';
import { toolPath } from '../env/tools.js';
import { kubectl } from '../kube/helpers.js';
import type { LadingController } from './controller-process.js';

export const OCIRepositories = 'ocirepositories.source.toolkit.fluxcd.io';
export const Kustomizations = 'kustomizations.kustomize.toolkit.fluxcd.io';

export interface Cond {
  type: string;
  status: string;
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export interface FluxObject {
  metadata: { name: string; namespace: string; generation: number; finalizers?: string[]; annotations?: Record<string, string>; creationTimestamp?: string };
  spec: Record<string, unknown>;
  status?: {
    observedGeneration?: number;
    conditions?: Cond[];
    artifact?: { path: string; revision: string; digest: string; url: string; size?: number };
    url?: string;
    lastAppliedRevision?: string;
    lastAttemptedRevision?: string;
    lastHandledReconcileAt?: string;
    inventory?: { entries: Array<{ id: string; v: string }> };
  };
}

export interface KubeEvent {
  type: string;
  reason: string;
  message: string;
  count?: number;
  involvedObject: { kind: string; name: string; namespace: string; uid?: string };
  source?: { component?: string };
  reportingComponent?: string;
  firstTimestamp?: string;
  lastTimestamp?: string;
  eventTime?: string;
  metadata: { name: string; creationTimestamp: string; annotations?: Record<string, string> };
}

export interface PlainObject {
  metadata: {
    name: string;
    namespace?: string;
    uid: string;
    resourceVersion: string;
    creationTimestamp: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  data?: Record<string, string>;
}

export const cond = (o: FluxObject | undefined, type: string): Cond | undefined => o?.status?.conditions?.find((c) => c.type === type);

/** Ready=True for the current generation. */
export const readyTrue = (o: FluxObject): boolean => cond(o, 'Ready')?.status === 'True' && o.status?.observedGeneration === o.metadata.generation;


export function sha256File(file: string): string {
  return `sha256:${createHash('sha256').update(readFileSync(file)).digest('hex')}`;
}

/**
 * What one test suite works with: its cluster, its namespace, the controller process running
 * now (replaced when a test kills and restarts it).
 */
export class Suite {
  controller: LadingController | undefined;
  private seq = 0;

  constructor(
    public kubeconfig: string,
    public readonly ns: string,
  ) {}

  kubectl(args: string[], opts: { input?: string; allowFailure?: boolean } = {}): ReturnType<typeof kubectl> {
    return kubectl(this.kubeconfig, args, opts);
  }

  async apply(yaml: string): Promise<void> {
    await this.kubectl(['apply', '-f', '-'], { input: yaml });
  }

  async get(kind: string, name: string, ns = this.ns): Promise<FluxObject | undefined> {
    const r = await this.kubectl(['-n', ns, 'get', kind, name, '-o', 'json'], { allowFailure: true });
    return r.code === 0 ? (JSON.parse(r.stdout) as FluxObject) : undefined;
  }

  async getPlain(kind: string, name: string, ns = this.ns): Promise<PlainObject | undefined> {
    const r = await this.kubectl(['-n', ns, 'get', kind, name, '-o', 'json'], { allowFailure: true });
    if (r.code === 0) return JSON.parse(r.stdout) as PlainObject;
    if (!r.stderr.includes('NotFound')) throw new Error(`kubectl get ${kind} ${ns}/${name}: ${r.stderr}`);
    return undefined;
  }

  async list(kind: string, selector: string, ns = this.ns): Promise<PlainObject[]> {
    const r = await this.kubectl(['-n', ns, 'get', kind, '-l', selector, '-o', 'json']);
    return (JSON.parse(r.stdout) as { items: PlainObject[] }).items;
  }

  /** The controller's last log lines, for failure messages. */
  log(): string {
    return this.controller?.log() ?? '(no controller running)';
  }

  /** Waits until `check` holds for the object; on timeout, says what it last saw and what the controller logged. */
  async wait(kind: string, name: string, what: string, check: (o: FluxObject) => boolean, timeoutMs = 90_000): Promise<FluxObject> {
    let last: FluxObject | undefined;
    try {
      return await waitFor(
        async () => {
          last = await this.get(kind, name);
          return last && check(last) ? last : undefined;
        },
        { what: `${kind} ${this.ns}/${name}: ${what}`, timeoutMs, intervalMs: 500 },
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}\nlast status: ${JSON.stringify(last?.status, null, 1)}\ncontroller log:\n${this.log()}`);
    }
  }

  /** Sets `reconcile.fluxcd.io/requestedAt` to a fresh value and returns it. */
  async requestReconcile(kind: string, name: string): Promise<string> {
    const token = `${new Date().toISOString()}-${++this.seq}`;
    await this.kubectl(['-n', this.ns, 'annotate', '--overwrite', kind, name, `reconcile.fluxcd.io/requestedAt=${token}`]);
    return token;
  }

  /** Asks for a reconcile and waits until the controller says it handled that request. */
  async reconcileNow(kind: string, name: string, what = 'the reconcile request handled', extra: (o: FluxObject) => boolean = () => true, timeoutMs?: number): Promise<FluxObject> {
    const token = await this.requestReconcile(kind, name);
    return this.wait(kind, name, `${what} (requestedAt ${token})`, (o) => o.status?.lastHandledReconcileAt === token && extra(o), timeoutMs);
  }

  /** Events about one object (core/v1, as `kubectl events` shows them). */
  async events(kind: string, name: string): Promise<KubeEvent[]> {
    const r = await this.kubectl(['-n', this.ns, 'get', 'events', '--field-selector', `involvedObject.kind=${kind},involvedObject.name=${name}`, '-o', 'json']);
    return (JSON.parse(r.stdout) as { items: KubeEvent[] }).items;
  }

  async waitEvent(kind: string, name: string, what: string, match: (e: KubeEvent) => boolean, timeoutMs = 60_000): Promise<KubeEvent> {
    let seen: KubeEvent[] = [];
    try {
      return await waitFor(
        async () => {
          seen = await this.events(kind, name);
          return seen.find(match);
        },
        { what: `event on ${kind} ${this.ns}/${name}: ${what}`, timeoutMs, intervalMs: 500 },
      );
    } catch (err) {
      const list = seen.map((e) => `${e.type} ${e.reason}: ${e.message.slice(0, 300)}`).join('\n');
      throw new Error(`${(err as Error).message}\nevents seen:\n${list}\ncontroller log:\n${this.log()}`);
    }
  }

  /** The label selector of what a Kustomization of this namespace owns (Flux's owner labels). */
  ownedBy(ks: string): string {
    return `kustomize.toolkit.fluxcd.io/name=${ks},kustomize.toolkit.fluxcd.io/namespace=${this.ns}`;
  }
}

/** An OCIRepository of this suite's namespace. */
export function ociRepositoryYaml(ns: string, name: string, url: string, ref: string, extra = ''): string {
  return `apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata:
  name: ${name}
  namespace: ${ns}
spec:
  interval: 10m
  url: oci://${url}
  ref:
${ref
  .split('\n')
  .map((l) => `    ${l}`)
  .join('\n')}
${extra}`;
}

/** A Kustomization of this suite's namespace, applying into it (targetNamespace). */
export function kustomizationYaml(ns: string, name: string, source: string, extra = ''): string {
  return `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: ${name}
  namespace: ${ns}
spec:
  interval: 10m
  retryInterval: 5s
  targetNamespace: ${ns}
  sourceRef:
    kind: OCIRepository
    name: ${source}
  path: ./
  prune: true
${extra}`;
}

/** Writes `files` (relative path → content) into a fresh directory under `root`. */
export function writeTree(root: string, name: string, files: Record<string, string>): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  for (const [path, content] of Object.entries(files)) {
    const file = join(dir, path);
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, content);
  }
  return dir;
}

/** A ConfigMap manifest. */
export function configMap(name: string, data: Record<string, string>, labels: Record<string, string> = {}): string {
  const lines = [`apiVersion: v1`, `kind: ConfigMap`, `metadata:`, `  name: ${name}`];
  if (Object.keys(labels).length > 0) {
    lines.push('  labels:');
    for (const [k, v] of Object.entries(labels)) lines.push(`    ${k}: ${JSON.stringify(v)}`);
  }
  lines.push('data:');
  for (const [k, v] of Object.entries(data)) lines.push(`  ${k}: ${JSON.stringify(v)}`);
  return lines.join('\n') + '\n';
}

/**
 * `flux push artifact` (the real flux CLI) of `dir` to `oci://<ref>`; returns the manifest
 * digest it printed.
 */
export async function fluxPush(registry: { caFile: string }, ref: string, dir: string, home: string, revision = 'main@sha1:0000000000000000000000000000000000000000'): Promise<string> {
  const env = { ...process.env, SSL_CERT_FILE: registry.caFile, HOME: home, DOCKER_CONFIG: join(home, 'docker') };
  const push = await run(toolPath('flux'), ['push', 'artifact', `oci://${ref}`, `--path=${dir}`, '--source=https://github.com/lading/e2e', `--revision=${revision}`], { env });
  const m = /@(sha256:[0-9a-f]{64})/.exec(push.stdout + push.stderr);
  if (!m?.[1]) throw new Error(`flux push artifact oci://${ref}: no digest in its output:\n${push.stdout}\n${push.stderr}`);
  return m[1];
}

export interface RestartableRegistry {
  /** `127.0.0.1:PORT` (the same across restarts). */
  host: string;
  caFile: string;
  dataDir: string;
  logFile: string;
  /** Stops the registry process (connections refused until up()). */
  down(): Promise<void>;
  /** Starts it again on the same port with the same storage and certificate. */
  up(): Promise<void>;
  /** Stops it and removes its data. */
  stop(): Promise<void>;
}

/**
 * distribution v3 serving TLS with a CA made for it (test/env/registry.ts), whose down()/up()
 * make a registry that goes away and comes back on the same port with the same data.
 */
export async function startRestartableRegistry(): Promise<RestartableRegistry> {
  const r = await startRegistry({ flavor: 'distribution3', tls: true });
  if (!r.down || !r.up || !r.caFile) throw new Error('startRegistry: a distribution registry with TLS has down(), up() and a CA file');
  return { host: r.host, caFile: r.caFile, dataDir: r.dataDir, logFile: r.logFile, down: r.down, up: r.up, stop: r.stop };
}

/**
 * The end of a suite: its Kustomizations and OCIRepositories deleted while the controller runs
 * (pruning what they applied), the controller stopped, finalizers left by a failure stripped, the
 * namespace deleted.
 */
export async function cleanUpNamespace(s: Suite): Promise<void> {
  for (const kind of [Kustomizations, OCIRepositories]) {
    if (s.controller) await s.kubectl(['-n', s.ns, 'delete', kind, '--all', '--wait=true', '--timeout=60s'], { allowFailure: true });
  }
  await s.controller?.stop();
  s.controller = undefined;
  for (const kind of [Kustomizations, OCIRepositories]) {
    const r = await s.kubectl(['-n', s.ns, 'get', kind, '-o', 'name'], { allowFailure: true });
    for (const name of r.stdout.split('\n').filter((l) => l !== '')) {
      await s.kubectl(['-n', s.ns, 'patch', name, '--type', 'merge', '-p', '{"metadata":{"finalizers":null}}'], { allowFailure: true });
    }
  }
  await s.kubectl(['delete', 'namespace', s.ns, '--wait=false'], { allowFailure: true });
}

/**
 * Resolves as soon as an object of `kind` matching `selector` exists in `ns` (a `kubectl get -w`
 * prints it the moment the API server announces it); rejects after `timeoutMs`.
 */
export function firstObject(kubeconfig: string, ns: string, kind: string, selector: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('kubectl', ['--kubeconfig', kubeconfig, '-n', ns, 'get', kind, '-l', selector, '-w', '-o', 'name'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const done = (f: () => void) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      f();
    };
    const timer = setTimeout(() => done(() => reject(new Error(`no ${kind} matching ${selector} appeared in ${ns} within ${timeoutMs} ms; kubectl: ${err}`))), timeoutMs);
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString('utf8');
      const line = out.split('\n').find((l) => l.trim() !== '');
      if (line !== undefined && out.includes('\n')) done(() => resolve(line.trim()));
    });
    child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
    child.once('exit', (code) => {
      if (code !== null && code !== 0) done(() => reject(new Error(`kubectl get -w exited ${code}: ${err}`)));
    });
  });
}
