// Helpers of the interop tests between lading's controller and Flux's own controllers
// (flux-interop.test.ts): objects read with kubectl on a private cluster, waits that quote the
// last status and both controllers' logs on timeout, and artifacts pushed with the real flux CLI.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { run, waitFor } from '../env/process.js';
import { toolPath } from '../env/tools.js';
import { kubectl } from '../kube/helpers.js';

export interface Cond {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

export interface FluxObject {
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    generation: number;
    finalizers?: string[];
    labels?: Record<string, string>;
    deletionTimestamp?: string;
    managedFields?: Array<{ manager?: string; operation?: string; subresource?: string }>;
  };
  spec: Record<string, unknown>;
  status?: {
    observedGeneration?: number;
    conditions?: Cond[];
    artifact?: { path: string; url: string; revision: string; digest: string; metadata?: Record<string, string> };
    url?: string;
    lastAppliedRevision?: string;
    lastAppliedOriginRevision?: string;
    lastAttemptedRevision?: string;
    lastHandledReconcileAt?: string;
    inventory?: { entries: Array<{ id: string; v: string }> };
  };
}

export interface PlainObject {
  metadata: {
    name: string;
    namespace?: string;
    uid: string;
    labels?: Record<string, string>;
    managedFields?: Array<{ manager?: string; operation?: string }>;
  };
  data?: Record<string, string>;
}

export const cond = (o: FluxObject | undefined, type: string): Cond | undefined => o?.status?.conditions?.find((c) => c.type === type);

/** Ready=True for the current generation. */
export const readyTrue = (o: FluxObject): boolean => cond(o, 'Ready')?.status === 'True' && o.status?.observedGeneration === o.metadata.generation;

/** An object read with kubectl, or undefined when it does not exist. */
export async function getObject<T = FluxObject>(kubeconfig: string, ns: string, resource: string, name: string): Promise<T | undefined> {
  const r = await kubectl(kubeconfig, ['-n', ns, 'get', resource, name, '-o', 'json', '--show-managed-fields', '--ignore-not-found']);
  return r.stdout.trim() === '' ? undefined : (JSON.parse(r.stdout) as T);
}

/**
 * Polls until `check` holds for the object (a bound, not a timing assertion); on timeout the error
 * quotes the object's last status and what `logs()` returns (the controllers' logs).
 */
export async function waitObject(
  kubeconfig: string,
  ns: string,
  resource: string,
  name: string,
  what: string,
  check: (o: FluxObject) => boolean,
  logs: () => string,
  timeoutMs = 180_000,
): Promise<FluxObject> {
  let last: FluxObject | undefined;
  try {
    return await waitFor(
      async () => {
        last = await getObject(kubeconfig, ns, resource, name);
        return last !== undefined && check(last) ? last : undefined;
      },
      { what: `${resource} ${ns}/${name}: ${what}`, timeoutMs, intervalMs: 500 },
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}\nlast object: ${JSON.stringify(last === undefined ? null : { metadata: { finalizers: last.metadata.finalizers, deletionTimestamp: last.metadata.deletionTimestamp }, status: last.status }, null, 1)}\n${logs()}`);
  }
}

/** Polls until the object is gone (its finalizers handled). */
export async function waitGone(kubeconfig: string, ns: string, resource: string, name: string, logs: () => string, timeoutMs = 180_000): Promise<void> {
  let last: FluxObject | undefined;
  try {
    await waitFor(
      async () => {
        last = await getObject(kubeconfig, ns, resource, name);
        return last === undefined ? true : undefined;
      },
      { what: `${resource} ${ns}/${name} deleted`, timeoutMs, intervalMs: 500 },
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}\nlast object: ${JSON.stringify(last === undefined ? null : { metadata: { finalizers: last.metadata.finalizers, deletionTimestamp: last.metadata.deletionTimestamp }, status: last.status }, null, 1)}\n${logs()}`);
  }
}

/** Applies a list of objects (client-side, as a user's `kubectl apply` would). */
export async function applyObjects(kubeconfig: string, items: unknown[]): Promise<void> {
  await kubectl(kubeconfig, ['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items }) });
}

/** Sets `reconcile.fluxcd.io/requestedAt` on an object; returns the value set. */
export async function requestReconcile(kubeconfig: string, ns: string, resource: string, name: string): Promise<string> {
  const at = new Date().toISOString();
  await kubectl(kubeconfig, ['-n', ns, 'annotate', '--overwrite', `${resource}/${name}`, `reconcile.fluxcd.io/requestedAt=${at}`]);
  return at;
}

/**
 * Pushes `files` (path → content) with `flux push artifact` to `oci://<ref>` (an http registry)
 * and returns the manifest digest.
 */
export async function fluxPush(ref: string, files: Record<string, string>, workDir: string): Promise<string> {
  const dir = mkdtempSync(join(workDir, 'push-'));
  try {
    for (const [path, content] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), content);
    }
    const pushed = await run(
      toolPath('flux'),
      ['push', 'artifact', `oci://${ref}`, `--path=${dir}`, '--source=https://example.invalid/lading/interop', `--revision=main@sha1:${'c'.repeat(40)}`, '--insecure-registry', '--output', 'json'],
      { env: { ...process.env, DOCKER_CONFIG: join(workDir, 'docker') } },
    );
    const digest = (JSON.parse(pushed.stdout) as { digest: string }).digest;
    if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new Error(`flux push artifact ${ref}: unexpected digest ${digest}`);
    return digest;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A ConfigMap manifest. */
export function configMap(name: string, ns: string | undefined, data: Record<string, string>): string {
  const meta = ns === undefined ? `  name: ${name}\n` : `  name: ${name}\n  namespace: ${ns}\n`;
  return `apiVersion: v1\nkind: ConfigMap\nmetadata:\n${meta}data:\n${Object.entries(data).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}\n`).join('')}`;
}

/** A Deployment manifest of one replica (kwok runs its Pod). */
export function deployment(name: string, ns: string): string {
  return [
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata:',
    `  name: ${name}`,
    `  namespace: ${ns}`,
    'spec:',
    '  replicas: 1',
    '  selector:',
    '    matchLabels:',
    `      app: ${name}`,
    '  template:',
    '    metadata:',
    '      labels:',
    `        app: ${name}`,
    '    spec:',
    '      containers:',
    '        - name: web',
    '          image: registry.invalid/web:1.0',
    '',
  ].join('\n');
}
