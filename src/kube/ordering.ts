// Apply order: the kind order kustomize (legacy sort) and Flux use, split into stages that are
// applied and waited for one after the other.
import { legacyOrderFirst, legacyOrderLast } from '../manifests/index.js';
import type { ObjectRef } from './objects.js';

// Kinds applied first and last, in kustomize's legacy order (shared with the build's output order).
const orderFirst: readonly string[] = legacyOrderFirst;
const orderLast: readonly string[] = legacyOrderLast;

const rank = new Map<string, number>([...orderFirst.map((k, i) => [k, i] as const), ...orderLast.map((k, i) => [k, 1000 + i] as const)]);

function kindRank(kind: string): number {
  return rank.get(kind) ?? orderFirst.length;
}

/**
 * Compares two objects in apply order: by kind rank, then (for kinds outside the table) by
 * apiVersion and kind, then by namespace, then by name.
 */
export function compareApplyOrder(a: ObjectRef, b: ObjectRef): number {
  const r = kindRank(a.kind) - kindRank(b.kind);
  if (r !== 0) return r;
  if (a.kind !== b.kind || a.group !== b.group) {
    const ga = `${a.group}/${a.version}/${a.kind}`;
    const gb = `${b.group}/${b.version}/${b.kind}`;
    if (ga !== gb) return ga < gb ? -1 : 1;
  }
  if (a.namespace !== b.namespace) return a.namespace < b.namespace ? -1 : 1;
  if (a.name !== b.name) return a.name < b.name ? -1 : 1;
  return 0;
}

export type Stage = 'cluster' | 'class' | 'default';

/**
 * The stage an object is applied in: CRDs, Namespaces and ClusterRoles first (and waited for,
 * so that what depends on them can be validated); then `*Class` kinds; then everything else.
 */
export function stageOf(ref: Pick<ObjectRef, 'group' | 'kind'>): Stage {
  if (ref.kind === 'CustomResourceDefinition' && ref.group === 'apiextensions.k8s.io') return 'cluster';
  if (ref.kind === 'Namespace' && ref.group === '') return 'cluster';
  if (ref.kind === 'ClusterRole' && ref.group === 'rbac.authorization.k8s.io') return 'cluster';
  if (ref.kind.endsWith('Class')) return 'class';
  return 'default';
}

export const stages: readonly Stage[] = ['cluster', 'class', 'default'];

/** Sorts in apply order: by stage, then compareApplyOrder. Returns a new array. */
export function sortForApply<T>(items: readonly T[], refOf: (item: T) => ObjectRef): T[] {
  return [...items].sort((x, y) => {
    const a = refOf(x);
    const b = refOf(y);
    const s = stages.indexOf(stageOf(a)) - stages.indexOf(stageOf(b));
    return s !== 0 ? s : compareApplyOrder(a, b);
  });
}

/** Sorts in delete order: the reverse of the apply order. */
export function sortForDelete<T>(items: readonly T[], refOf: (item: T) => ObjectRef): T[] {
  return sortForApply(items, refOf).reverse();
}
