import type { listImages as ListImages, parseManifests as ParseManifests } from '../manifests/index.js';
import { describeError } from '../errors.js';
import type { ArchiveFile } from './extract.js';

/** A Kubernetes object found in an artifact, with the container images its pods use. */
export interface ArtifactResource {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
  /** The file it was read from. */
  file: string;
  /** Container images (init, regular, ephemeral), in order, without duplicates. */
  images: string[];
}

/**
 * Apply order, as Flux and kustomizer sort objects: cluster-wide definitions and namespaces
 * first, then what workloads depend on, then workloads, then what refers to them.
 */
const kindOrder = [
  'CustomResourceDefinition',
  'Namespace',
  'ResourceQuota',
  'StorageClass',
  'RuntimeClass',
  'PriorityClass',
  'IngressClass',
  'ServiceAccount',
  'PodSecurityPolicy',
  'Role',
  'ClusterRole',
  'RoleBinding',
  'ClusterRoleBinding',
  'ConfigMap',
  'Secret',
  'Endpoints',
  'Service',
  'LimitRange',
  'PersistentVolume',
  'PersistentVolumeClaim',
  'Pod',
  'ReplicationController',
  'ReplicaSet',
  'Deployment',
  'HorizontalPodAutoscaler',
  'StatefulSet',
  'DaemonSet',
  'Job',
  'CronJob',
  'PodDisruptionBudget',
  'Ingress',
  'APIService',
  'ValidatingWebhookConfiguration',
  'MutatingWebhookConfiguration',
];
const webhookKinds = new Set(['ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration']);

function rank(kind: string): number {
  if (webhookKinds.has(kind)) return kindOrder.length + 1; // after every other kind, custom resources included
  const i = kindOrder.indexOf(kind);
  return i >= 0 ? i : kindOrder.length;
}

/** Whether a file in an artifact holds Kubernetes manifests (by extension). */
export function isManifestFile(path: string): boolean {
  return /\.(ya?ml|json)$/i.test(path);
}

/** Objects that configure a build rather than describe the cluster (kustomize files, builtin transformer configs). */
function isBuildConfig(apiVersion: string): boolean {
  return apiVersion.startsWith('kustomize.config.k8s.io/') || apiVersion === 'builtin' || apiVersion.startsWith('config.kubernetes.io/');
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/**
 * Finds the Kubernetes objects in an artifact's YAML/JSON files, sorted in apply order
 * (then namespace, then name). Files that do not parse are reported in `warnings`.
 */
export async function artifactResources(files: readonly ArchiveFile[]): Promise<{ resources: ArtifactResource[]; warnings: string[] }> {
  // The YAML reader is loaded only when objects are listed (inspect), not for push or pull.
  const { listImages, parseManifests } = (await import('../manifests/index.js')) as { listImages: typeof ListImages; parseManifests: typeof ParseManifests };
  const resources: ArtifactResource[] = [];
  const warnings: string[] = [];
  for (const f of files) {
    if (!isManifestFile(f.path)) continue;
    let objects: Record<string, unknown>[];
    try {
      objects = parseManifests(f.content.toString('utf8'), f.path);
    } catch (err) {
      warnings.push(`skipping ${f.path}: ${describeError(err)}`);
      continue;
    }
    for (const obj of objects) {
      const apiVersion = str(obj['apiVersion']);
      const kind = str(obj['kind']);
      const meta = obj['metadata'];
      const name = meta && typeof meta === 'object' ? str((meta as Record<string, unknown>)['name']) : undefined;
      if (!apiVersion || !kind || !name || isBuildConfig(apiVersion)) continue;
      const namespace = str((meta as Record<string, unknown>)['namespace']);
      const images = [...new Set(listImages([obj]).map((u) => u.image))];
      resources.push({ apiVersion, kind, ...(namespace ? { namespace } : {}), name, file: f.path, images });
    }
  }
  resources.sort(
    (a, b) =>
      rank(a.kind) - rank(b.kind) ||
      (rank(a.kind) === kindOrder.length ? a.kind.localeCompare(b.kind) : 0) ||
      (a.namespace ?? '').localeCompare(b.namespace ?? '') ||
      a.name.localeCompare(b.name),
  );
  return { resources, warnings };
}

/** `Kind/namespace/name`, or `Kind/name` for cluster-scoped objects. */
export function resourceId(r: Pick<ArtifactResource, 'kind' | 'namespace' | 'name'>): string {
  return r.namespace ? `${r.kind}/${r.namespace}/${r.name}` : `${r.kind}/${r.name}`;
}
