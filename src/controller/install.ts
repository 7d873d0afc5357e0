// What a cluster needs to run lading's controller: its CRDs, a namespace, a service account,
// RBAC, a Deployment and a Service for the artifacts and the metrics. `lading controller install`
// prints or applies these objects.
//
// Layout and names follow Flux's source-controller and kustomize-controller manifests where a
// user or a tool may depend on them: the flags, the ports (http 9090 for artifacts, http-prom
// 8080 for metrics, healthz 9440), RUNTIME_NAMESPACE from the downward API, the advertised
// storage address `<service>.<namespace>.svc.cluster.local.`, emptyDirs for /data and /tmp.
//
// Rights. The controller's own work needs little, and its ClusterRole grants only that (see
// controllerRules). Applying what a Kustomization builds is another matter: the build may hold
// any kind of object in any namespace, so whatever applies it needs the rights to create,
// update and delete them all. Flux binds kustomize-controller to cluster-admin for this
// (flux2 manifests/rbac/reconciler.yaml, ClusterRoleBinding `cluster-reconciler`). lading does
// the same by default (`applyRights: 'cluster-admin'`), so that Kustomizations written for Flux
// work unchanged. With `applyRights: 'impersonation'` no such binding is made: the controller
// can then only apply as the service account a Kustomization names in `spec.serviceAccountName`
// (it holds `impersonate` on service accounts), and a Kustomization without one fails for lack
// of rights; this is the least-privilege setup for clusters where every Kustomization names a
// service account whose rights the cluster admin chose.
import { LadingError } from '../errors.js';
import type { KubeObject } from '../kube/index.js';
import { KustomizeGroup, SourceGroup } from './api.js';
import { crds, InstallLabels } from './crds.js';

export interface InstallOptions {
  /** Namespace of the controller (default `lading-system`; Flux's own controllers live in `flux-system`). */
  namespace?: string;
  /** Container image of lading, e.g. `ghcr.io/lading-dev/lading:v0.1.0` (required). */
  image: string;
  /** Name of the service account, Deployment, Service and RBAC objects (default `lading-controller`). */
  name?: string;
  /** See the comment at the top of this file (default `cluster-admin`, as Flux). */
  applyRights?: 'cluster-admin' | 'impersonation';
  /** `--watch-all-namespaces` (default true); false: only the controller's namespace. */
  watchAllNamespaces?: boolean;
  /** `--log-level` (default info). */
  logLevel?: 'debug' | 'info' | 'error';
  /** More arguments after the ones this function writes. */
  extraArgs?: string[];
  /** Container resources (default requests 100m CPU / 64Mi, limits 1 CPU / 1Gi, as Flux). */
  resources?: { requests?: { cpu?: string; memory?: string }; limits?: { cpu?: string; memory?: string } };
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  /** Leave the CRDs out (they are applied another way). */
  withoutCrds?: boolean;
}

export const DefaultInstall = {
  namespace: 'lading-system',
  name: 'lading-controller',
} as const;

/** Container ports, named as Flux names them. */
export const InstallPorts = { http: 9090, httpProm: 8080, healthz: 9440 } as const;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** An install option that cannot be written into the manifests. */
export class InstallOptionError extends LadingError<'INSTALL_OPTION'> {
  constructor(message: string) {
    super('INSTALL_OPTION', message);
  }
}

function check(opts: InstallOptions): Required<Pick<InstallOptions, 'namespace' | 'name'>> {
  const namespace = opts.namespace ?? DefaultInstall.namespace;
  const name = opts.name ?? DefaultInstall.name;
  if (namespace.length > 63 || !DNS_LABEL.test(namespace)) {
    throw new InstallOptionError(`install: namespace '${namespace}' is not a valid namespace name (lower-case letters, digits and '-', at most 63)`);
  }
  // The Service name is a DNS label, and the Deployment's pods add a suffix to it.
  if (name.length > 47 || !DNS_LABEL.test(name)) {
    throw new InstallOptionError(`install: name '${name}' is not a valid object name here (lower-case letters, digits and '-', at most 47)`);
  }
  if (typeof opts.image !== 'string' || opts.image === '' || /\s/.test(opts.image) || opts.image.length > 1024) {
    throw new InstallOptionError(`install: the image reference '${String(opts.image)}' is empty or holds white space`);
  }
  for (const a of opts.extraArgs ?? []) {
    if (typeof a !== 'string' || !a.startsWith('--')) throw new InstallOptionError(`install: extra argument '${String(a)}' is not a --flag`);
  }
  return { namespace, name };
}

/**
 * What lading's controller itself needs, whatever it applies:
 * - its two kinds, with their status and finalizers: every verb (it reconciles them, writes
 *   their status, adds and removes its finalizer);
 * - Flux's GitRepository, Bucket and ExternalArtifact: read, to use their artifacts as sources
 *   of a Kustomization;
 * - Secrets, ConfigMaps, ServiceAccounts: read (registry credentials, cosign keys, certificates,
 *   postBuild.substituteFrom, a service account's imagePullSecrets);
 * - events: create and patch (both event APIs);
 * - service accounts: impersonate (spec.serviceAccountName of a Kustomization).
 * Leases for leader election are granted in its own namespace only (leaderElectionRules).
 */
export function controllerRules(): Array<Record<string, unknown>> {
  const all = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];
  const read = ['get', 'list', 'watch'];
  return [
    { apiGroups: [SourceGroup], resources: ['ocirepositories', 'ocirepositories/status', 'ocirepositories/finalizers'], verbs: all },
    { apiGroups: [KustomizeGroup], resources: ['kustomizations', 'kustomizations/status', 'kustomizations/finalizers'], verbs: all },
    { apiGroups: [SourceGroup], resources: ['gitrepositories', 'buckets', 'externalartifacts'], verbs: read },
    { apiGroups: [SourceGroup], resources: ['gitrepositories/status', 'buckets/status', 'externalartifacts/status'], verbs: ['get'] },
    { apiGroups: [''], resources: ['secrets', 'configmaps', 'serviceaccounts'], verbs: read },
    { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
    { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
    { apiGroups: [''], resources: ['serviceaccounts'], verbs: ['impersonate'] },
  ];
}

export function leaderElectionRules(): Array<Record<string, unknown>> {
  return [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'] }];
}

/** The Deployment's arguments after `lading`: Flux's flag names. */
export function controllerArgs(opts: { namespace?: string; name?: string; watchAllNamespaces?: boolean; logLevel?: string; extraArgs?: string[] } = {}): string[] {
  const name = opts.name ?? DefaultInstall.name;
  return [
    'controller',
    'run',
    `--storage-path=/data`,
    `--storage-addr=:${InstallPorts.http}`,
    // The Service's cluster DNS name, fully qualified, as Flux advertises its own.
    `--storage-adv-addr=${name}.$(RUNTIME_NAMESPACE).svc.cluster.local.`,
    `--metrics-addr=:${InstallPorts.httpProm}`,
    `--health-addr=:${InstallPorts.healthz}`,
    (opts.watchAllNamespaces ?? true) ? '--watch-all-namespaces' : '--watch-all-namespaces=false',
    `--log-level=${opts.logLevel ?? 'info'}`,
    '--enable-leader-election',
    ...(opts.extraArgs ?? []),
  ];
}

function parseMemoryMiB(q: string): number | undefined {
  const m = /^([0-9]+)(Mi|Gi|M|G)?$/.exec(q);
  if (!m) return undefined;
  const n = Number(m[1]);
  switch (m[2]) {
    case 'Gi':
      return n * 1024;
    case 'G':
      return Math.floor((n * 1e9) / 2 ** 20);
    case 'M':
      return Math.floor((n * 1e6) / 2 ** 20);
    case 'Mi':
      return n;
    default:
      return Math.floor(n / 2 ** 20);
  }
}

/** Everything to apply, in apply order (CRDs and the namespace first). */
export function installManifests(opts: InstallOptions): KubeObject[] {
  const { namespace, name } = check(opts);
  const labels = { ...InstallLabels, 'app.kubernetes.io/instance': name, 'app.kubernetes.io/part-of': 'lading' };
  const selector = { app: name };
  const meta = (n: string, namespaced: boolean): Record<string, unknown> => ({ name: n, ...(namespaced ? { namespace } : {}), labels: { ...labels } });
  const subject = [{ kind: 'ServiceAccount', name, namespace }];
  const resources = {
    requests: { cpu: '100m', memory: '64Mi', ...opts.resources?.requests },
    limits: { cpu: '1000m', memory: '1Gi', ...opts.resources?.limits },
  };
  // Node's heap is kept under the memory limit, leaving room for buffers and the rest of the process.
  const limitMiB = parseMemoryMiB(resources.limits.memory);
  const env: Array<Record<string, unknown>> = [
    { name: 'RUNTIME_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    { name: 'HOME', value: '/tmp' },
    { name: 'TMPDIR', value: '/tmp' },
  ];
  if (limitMiB !== undefined && limitMiB >= 128) env.push({ name: 'NODE_OPTIONS', value: `--max-old-space-size=${Math.floor(limitMiB * 0.75)}` });

  const objects: KubeObject[] = [];
  if (!opts.withoutCrds) objects.push(...crds());
  objects.push(
    { apiVersion: 'v1', kind: 'Namespace', metadata: meta(namespace, false) },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(name, true) },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: meta(name, false), rules: controllerRules() },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: meta(name, false),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
      subjects: subject,
    },
  );
  if ((opts.applyRights ?? 'cluster-admin') === 'cluster-admin') {
    objects.push({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: meta(`${name}-apply`, false),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
      subjects: subject,
    });
  }
  objects.push(
    // Who may use the two kinds: aggregated into the built-in edit/admin and view roles, as Flux's are.
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { ...meta(`${name}-edit`, false), labels: { ...labels, 'rbac.authorization.k8s.io/aggregate-to-admin': 'true', 'rbac.authorization.k8s.io/aggregate-to-edit': 'true' } },
      rules: [
        { apiGroups: [SourceGroup], resources: ['ocirepositories'], verbs: ['create', 'delete', 'deletecollection', 'patch', 'update'] },
        { apiGroups: [KustomizeGroup], resources: ['kustomizations'], verbs: ['create', 'delete', 'deletecollection', 'patch', 'update'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { ...meta(`${name}-view`, false), labels: { ...labels, 'rbac.authorization.k8s.io/aggregate-to-admin': 'true', 'rbac.authorization.k8s.io/aggregate-to-edit': 'true', 'rbac.authorization.k8s.io/aggregate-to-view': 'true' } },
      rules: [
        { apiGroups: [SourceGroup], resources: ['ocirepositories', 'ocirepositories/status'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: [KustomizeGroup], resources: ['kustomizations', 'kustomizations/status'], verbs: ['get', 'list', 'watch'] },
      ],
    },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: meta(`${name}-leader-election`, true), rules: leaderElectionRules() },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: meta(`${name}-leader-election`, true),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: `${name}-leader-election` },
      subjects: subject,
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(name, true),
      spec: {
        type: 'ClusterIP',
        selector,
        ports: [
          { name: 'http', port: 80, protocol: 'TCP', targetPort: 'http' },
          { name: 'http-prom', port: InstallPorts.httpProm, protocol: 'TCP', targetPort: 'http-prom' },
        ],
      },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: meta(name, true),
      spec: {
        replicas: 1,
        // The artifacts are in an emptyDir: a new pod starts empty and rebuilds them; one pod at a time.
        strategy: { type: 'Recreate' },
        selector: { matchLabels: selector },
        template: {
          metadata: {
            labels: { ...labels, ...selector },
            annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(InstallPorts.httpProm) },
          },
          spec: {
            serviceAccountName: name,
            terminationGracePeriodSeconds: 60,
            securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } },
            containers: [
              {
                name: 'manager',
                image: opts.image,
                imagePullPolicy: opts.imagePullPolicy ?? 'IfNotPresent',
                command: ['lading'],
                args: controllerArgs({ name, ...pick(opts) }),
                env,
                ports: [
                  { name: 'http', containerPort: InstallPorts.http, protocol: 'TCP' },
                  { name: 'http-prom', containerPort: InstallPorts.httpProm, protocol: 'TCP' },
                  { name: 'healthz', containerPort: InstallPorts.healthz, protocol: 'TCP' },
                ],
                livenessProbe: { httpGet: { path: '/healthz', port: 'healthz' } },
                readinessProbe: { httpGet: { path: '/readyz', port: 'healthz' } },
                resources,
                securityContext: {
                  allowPrivilegeEscalation: false,
                  readOnlyRootFilesystem: true,
                  runAsNonRoot: true,
                  capabilities: { drop: ['ALL'] },
                  seccompProfile: { type: 'RuntimeDefault' },
                },
                volumeMounts: [
                  { name: 'data', mountPath: '/data' },
                  { name: 'tmp', mountPath: '/tmp' },
                ],
              },
            ],
            volumes: [
              { name: 'data', emptyDir: {} },
              { name: 'tmp', emptyDir: {} },
            ],
          },
        },
      },
    },
  );
  return objects;
}

function pick(opts: InstallOptions): { watchAllNamespaces?: boolean; logLevel?: string; extraArgs?: string[] } {
  return {
    ...(opts.watchAllNamespaces !== undefined ? { watchAllNamespaces: opts.watchAllNamespaces } : {}),
    ...(opts.logLevel !== undefined ? { logLevel: opts.logLevel } : {}),
    ...(opts.extraArgs !== undefined ? { extraArgs: opts.extraArgs } : {}),
  };
}
