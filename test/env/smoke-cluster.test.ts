// Smoke tests of the shared test cluster (test/global-setup.ts) driven by the real kubectl: a
// Deployment rolls out on kwok nodes, scales to zero and is deleted; a Namespace with objects is
// finalized and disappears; a CRD is established and serves a custom resource.
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { run } from './process.js';

// kubectl from PATH (or $KUBECTL), wherever the machine keeps it.
const KUBECTL = process.env['KUBECTL'] ?? 'kubectl';
let kubeconfig = '';

function kubectl(args: string[], input?: string): Promise<string> {
  return run(KUBECTL, ['--kubeconfig', kubeconfig, ...args], { ...(input !== undefined ? { input } : {}), timeoutMs: 180_000 }).then((r) => r.stdout);
}

async function getJson<T>(args: string[]): Promise<T> {
  return JSON.parse(await kubectl(['get', ...args, '-o', 'json'])) as T;
}

/** Polls `kubectl get` until `done` holds (bounded by `attempts`; a bound, not a timing check). */
async function eventually<T>(what: string, read: () => Promise<T>, done: (v: T) => boolean, attempts = 300): Promise<T> {
  let last: T | undefined;
  for (let i = 0; i < attempts; i++) {
    last = await read();
    if (done(last)) return last;
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`${what}: condition not reached; last value: ${JSON.stringify(last)?.slice(0, 2000)}`);
}

function ns(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString('hex')}`;
}

const deployment = (namespace: string, name: string, replicas: number): string => `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  namespace: ${namespace}
spec:
  replicas: ${replicas}
  selector:
    matchLabels: { app: ${name} }
  template:
    metadata:
      labels: { app: ${name} }
    spec:
      containers:
        - name: web
          image: registry.example/podinfo:6.7.0
          ports: [{ containerPort: 9898 }]
`;

beforeAll(() => {
  kubeconfig = inject('kubeconfig');
  if (!kubeconfig) throw new Error('no kubeconfig provided: test/global-setup.ts did not start the test cluster');
  if (spawnSync(KUBECTL, ['version', '--client'], { stdio: 'ignore' }).status !== 0) {
    throw new Error(`${KUBECTL} does not run (not on PATH?): install kubectl 1.31–1.33 (e.g. \`apt-get install kubectl\` from the Kubernetes apt repository) or set KUBECTL`);
  }
});

describe('test cluster (kwok)', () => {
  it('has Ready kwok nodes', async () => {
    const nodes = await getJson<{ items: Array<{ metadata: { name: string }; status: { conditions: Array<{ type: string; status: string }> } }> }>(['nodes']);
    expect(nodes.items.length).toBeGreaterThanOrEqual(1);
    for (const n of nodes.items) expect(n.status.conditions.find((c) => c.type === 'Ready')?.status).toBe('True');
  });

  it('rolls out a 3-replica Deployment, scales it to 0 and deletes it', async () => {
    const namespace = ns('smoke-deploy');
    await kubectl(['create', 'namespace', namespace]);
    await kubectl(['apply', '-f', '-'], deployment(namespace, 'web', 3));
    await kubectl(['-n', namespace, 'wait', '--for=condition=Available', 'deployment/web', '--timeout=120s']);
    const ready = await eventually(
      'deployment web to have 3 ready replicas',
      () => getJson<{ status: { readyReplicas?: number; availableReplicas?: number } }>(['-n', namespace, 'deployment/web']),
      (d) => d.status.readyReplicas === 3,
    );
    expect(ready.status.availableReplicas).toBe(3);
    const pods = await getJson<{ items: Array<{ status: { phase: string }; spec: { nodeName?: string } }> }>(['-n', namespace, 'pods', '-l', 'app=web']);
    expect(pods.items).toHaveLength(3);
    for (const p of pods.items) {
      expect(p.status.phase).toBe('Running');
      expect(p.spec.nodeName).toMatch(/^kwok-node-/);
    }

    await kubectl(['-n', namespace, 'scale', 'deployment/web', '--replicas=0']);
    await eventually(
      'pods of web to be gone after scaling to 0',
      () => getJson<{ items: unknown[] }>(['-n', namespace, 'pods', '-l', 'app=web']),
      (l) => l.items.length === 0,
    );
    const scaled = await getJson<{ status: { replicas?: number } }>(['-n', namespace, 'deployment/web']);
    expect(scaled.status.replicas ?? 0).toBe(0);

    await kubectl(['-n', namespace, 'delete', 'deployment/web', '--wait=true', '--timeout=120s']);
    const after = await run(KUBECTL, ['--kubeconfig', kubeconfig, '-n', namespace, 'get', 'deployment/web'], { allowFailure: true });
    expect(after.code).not.toBe(0);
    expect(after.stderr).toMatch(/NotFound|not found/);
    await kubectl(['delete', 'namespace', namespace, '--wait=false']);
  });

  it('deletes a Namespace with objects in it and the Namespace disappears', async () => {
    const namespace = ns('smoke-ns');
    await kubectl(['create', 'namespace', namespace]);
    await kubectl(
      ['apply', '-f', '-'],
      `${deployment(namespace, 'api', 2)}
---
apiVersion: v1
kind: ConfigMap
metadata: { name: settings, namespace: ${namespace} }
data: { mode: smoke }
---
apiVersion: v1
kind: Service
metadata: { name: api, namespace: ${namespace} }
spec:
  selector: { app: api }
  ports: [{ port: 80, targetPort: 9898 }]
`,
    );
    await kubectl(['-n', namespace, 'wait', '--for=condition=Available', 'deployment/api', '--timeout=120s']);
    await kubectl(['delete', 'namespace', namespace, '--wait=true', '--timeout=180s']);
    const gone = await run(KUBECTL, ['--kubeconfig', kubeconfig, 'get', 'namespace', namespace], { allowFailure: true });
    expect(gone.code).not.toBe(0);
    expect(gone.stderr).toMatch(/NotFound|not found/);
  });

  it('establishes a CRD and stores a custom resource', async () => {
    const group = `smoke${randomBytes(3).toString('hex')}.lading.dev`;
    const crd = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.${group}
spec:
  group: ${group}
  scope: Namespaced
  names: { plural: widgets, singular: widget, kind: Widget, listKind: WidgetList }
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                size: { type: integer, minimum: 1 }
`;
    await kubectl(['apply', '-f', '-'], crd);
    await kubectl(['wait', '--for=condition=Established', `crd/widgets.${group}`, '--timeout=60s']);
    // Discovery can lag the Established condition by a moment; kubectl retries on a fresh cache.
    await eventually(
      'the widget resource to be served',
      () => run(KUBECTL, ['--kubeconfig', kubeconfig, 'apply', '-f', '-'], { allowFailure: true, input: `apiVersion: ${group}/v1\nkind: Widget\nmetadata: { name: w1, namespace: default }\nspec: { size: 3 }\n` }),
      (r) => r.code === 0,
      100,
    );
    const widget = await getJson<{ spec: { size: number }; metadata: { uid: string } }>([`widgets.${group}`, 'w1', '-n', 'default']);
    expect(widget.spec.size).toBe(3);
    expect(widget.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
    // Schema validation is real: a size below the minimum is rejected.
    const invalid = await run(KUBECTL, ['--kubeconfig', kubeconfig, 'apply', '-f', '-'], {
      allowFailure: true,
      input: `apiVersion: ${group}/v1\nkind: Widget\nmetadata: { name: w2, namespace: default }\nspec: { size: 0 }\n`,
    });
    expect(invalid.code).not.toBe(0);
    expect(invalid.stderr).toMatch(/spec.size/);
    await kubectl(['delete', `crd/widgets.${group}`, '--wait=true', '--timeout=60s']);
  });
});
