// Helpers of the controller-runtime tests: a small CRD of their own (widgets.test.lading.dev,
// with a status subresource) so they depend on no Flux CRD, a namespace per test, a toy
// reconciler, and a log that tests can read.
import { randomBytes } from 'node:crypto';
import type { KubeClient, KubeObject } from '../../src/kube/index.js';
import type { KindInfo, Logger } from '../../src/controller/runtime/types.js';
import { createLogger } from '../../src/controller/runtime/log.js';
import { kubectl } from '../kube/helpers.js';
import { waitFor } from '../env/process.js';

export const Widget: KindInfo = { group: 'test.lading.dev', version: 'v1', kind: 'Widget', plural: 'widgets', namespaced: true };
/** A second kind, watched by the Widget reconciler in the `watches` tests (a source with status.artifact). */
export const Gadget: KindInfo = { group: 'test.lading.dev', version: 'v1', kind: 'Gadget', plural: 'gadgets', namespaced: true };

function crdOf(kind: KindInfo) {
  const c = structuredClone(crd);
  c.metadata.name = `${kind.plural}.${kind.group}`;
  c.spec.names = { plural: kind.plural, singular: kind.kind.toLowerCase(), kind: kind.kind, listKind: `${kind.kind}List` };
  return c;
}

const crd = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'widgets.test.lading.dev' },
  spec: {
    group: 'test.lading.dev',
    scope: 'Namespaced',
    names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        subresources: { status: {} },
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
              status: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
            },
          },
        },
      },
    ],
  },
};

/** Installs the Widget and Gadget CRDs (idempotent) and waits until they are served. */
export async function installWidgetCrd(kubeconfig: string): Promise<void> {
  await kubectl(kubeconfig, ['apply', '--server-side', '--force-conflicts', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [crd, crdOf(Gadget)] }) });
  await kubectl(kubeconfig, ['wait', '--for=condition=Established', '--timeout=60s', 'crd/widgets.test.lading.dev', 'crd/gadgets.test.lading.dev']);
  // Established can come a moment before the resource is served by discovery-backed clients.
  await waitFor(async () => ((await kubectl(kubeconfig, ['get', 'widgets.test.lading.dev,gadgets.test.lading.dev', '-A'], { allowFailure: true })).code === 0 ? true : undefined), {
    timeoutMs: 30_000,
    what: 'widgets and gadgets to be served',
  });
}

/** A fresh namespace for one test. */
export async function createNamespace(kubeconfig: string, prefix: string): Promise<string> {
  const ns = `${prefix}-${randomBytes(3).toString('hex')}`;
  await kubectl(kubeconfig, ['create', 'namespace', ns]);
  return ns;
}

export function widget(namespace: string, name: string, spec: Record<string, unknown> = {}, extra: { labels?: Record<string, string>; annotations?: Record<string, string>; finalizers?: string[] } = {}): KubeObject {
  return {
    apiVersion: 'test.lading.dev/v1',
    kind: 'Widget',
    metadata: { name, namespace, ...extra },
    spec,
  };
}

export async function createWidget(client: KubeClient, obj: KubeObject): Promise<KubeObject> {
  const ns = (obj['metadata'] as { namespace: string }).namespace;
  return client.request({ method: 'POST', path: `/apis/test.lading.dev/v1/namespaces/${ns}/widgets`, body: obj });
}

export async function getWidget(client: KubeClient, namespace: string, name: string): Promise<KubeObject> {
  return client.request({ path: `/apis/test.lading.dev/v1/namespaces/${namespace}/widgets/${name}` });
}

export async function mergePatchWidget(client: KubeClient, namespace: string, name: string, patch: unknown, opts: { status?: boolean } = {}): Promise<KubeObject> {
  return client.request({
    method: 'PATCH',
    path: `/apis/test.lading.dev/v1/namespaces/${namespace}/widgets/${name}${opts.status ? '/status' : ''}`,
    contentType: 'application/merge-patch+json',
    body: patch,
  });
}

export async function deleteWidget(client: KubeClient, namespace: string, name: string): Promise<void> {
  await client.request({ method: 'DELETE', path: `/apis/test.lading.dev/v1/namespaces/${namespace}/widgets/${name}` });
}

/** A logger whose lines (JSON) the test can read. */
export function capturedLogger(): { log: Logger; lines: () => Array<Record<string, unknown>> } {
  const out: string[] = [];
  const log = createLogger({ level: 'debug', stream: { write: (s: string) => out.push(s) } });
  return { log, lines: () => out.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

/** Polls `check` until it returns a value (not undefined), or fails after `timeoutMs` naming `what`. */
export async function eventually<T>(what: string, check: () => T | undefined | Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
