import type { KubeObject } from './types.js';
import { isPlainObject } from './yaml.js';

/** One container image reference found in a manifest. */
export interface ImageUse {
  image: string;
  kind: string;
  namespace?: string;
  name: string;
  container: string;
}

const CONTAINER_LISTS = ['initContainers', 'containers', 'ephemeralContainers'] as const;

/**
 * Paths (from the object root) where pod specs live in the workload kinds and in custom
 * resources that embed pod templates at the usual places.
 */
const POD_SPEC_PATHS: readonly (readonly string[])[] = [
  ['spec'], // Pod
  ['spec', 'template', 'spec'], // Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, RC, Argo Rollout, ...
  ['spec', 'jobTemplate', 'spec', 'template', 'spec'], // CronJob
  ['template', 'spec'], // PodTemplate
  ['spec', 'workloadTemplate', 'spec'],
];

function at(obj: unknown, path: readonly string[]): unknown {
  let cur = obj;
  for (const p of path) {
    if (!isPlainObject(cur)) return undefined;
    cur = cur[p];
  }
  return cur;
}

/** Finds pod specs: at the common paths, plus any `template.spec` / `podTemplate.spec` below `spec`. */
function podSpecs(obj: KubeObject): Record<string, unknown>[] {
  const found: Record<string, unknown>[] = [];
  const seen = new Set<unknown>();
  const add = (v: unknown) => {
    if (isPlainObject(v) && !seen.has(v) && CONTAINER_LISTS.some((k) => Array.isArray(v[k]))) {
      seen.add(v);
      found.push(v);
    }
  };
  for (const p of POD_SPEC_PATHS) add(at(obj, p));
  // Custom resources: pod templates nested under spec (e.g. spec.*.template.spec, spec.*.podTemplate.spec).
  const walk = (v: unknown, depth: number) => {
    if (depth > 8) return;
    if (Array.isArray(v)) {
      for (const x of v) walk(x, depth + 1);
      return;
    }
    if (!isPlainObject(v)) return;
    for (const [k, child] of Object.entries(v)) {
      if ((k === 'template' || k === 'podTemplate' || k === 'podTemplateSpec') && isPlainObject(child)) add(child['spec']);
      if (CONTAINER_LISTS.includes(k as (typeof CONTAINER_LISTS)[number])) continue;
      walk(child, depth + 1);
    }
  };
  walk(obj['spec'], 0);
  return found;
}

/**
 * Lists every container image referenced by the objects, in object order and then init,
 * regular and ephemeral containers in their order.
 */
export function listImages(resources: readonly KubeObject[]): ImageUse[] {
  const result: ImageUse[] = [];
  for (const obj of resources) {
    const kind = typeof obj['kind'] === 'string' ? obj['kind'] : '';
    const meta = isPlainObject(obj['metadata']) ? obj['metadata'] : {};
    const name = typeof meta['name'] === 'string' ? meta['name'] : '';
    const namespace = typeof meta['namespace'] === 'string' ? meta['namespace'] : undefined;
    for (const spec of podSpecs(obj)) {
      for (const list of CONTAINER_LISTS) {
        const containers = spec[list];
        if (!Array.isArray(containers)) continue;
        for (const c of containers) {
          if (!isPlainObject(c) || typeof c['image'] !== 'string' || c['image'] === '') continue;
          const use: ImageUse = { image: c['image'], kind, name, container: typeof c['name'] === 'string' ? c['name'] : '' };
          if (namespace !== undefined) use.namespace = namespace;
          result.push(use);
        }
      }
    }
  }
  return result;
}

/** Calls `fn` on every container of every pod spec in the object (for rewriting images). */
export function forEachContainer(obj: KubeObject, fn: (container: Record<string, unknown>) => void): void {
  for (const spec of podSpecs(obj)) {
    for (const list of CONTAINER_LISTS) {
      const containers = spec[list];
      if (!Array.isArray(containers)) continue;
      for (const c of containers) if (isPlainObject(c)) fn(c);
    }
  }
}
