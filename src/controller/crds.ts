// lading's CustomResourceDefinitions for the Flux APIs it serves: OCIRepository
// (source.toolkit.fluxcd.io) and Kustomization (kustomize.toolkit.fluxcd.io).
//
// The schemas are written here, field by field, from the meaning of Flux's API types; they are
// built to accept exactly what Flux's own CRDs accept (the same names, shortNames, categories,
// printer columns, defaults, patterns and enums), so that a manifest written for Flux applies
// unchanged, and so that the controller also runs where Flux's own CRDs are installed
// (test/controller/crds.test.ts applies every example of Flux's API docs to both).
//
// Versions: v1 is served and stored. v1beta2 is served too, marked deprecated with the warning
// Flux gave, so that manifests written against it (the OCI RFC, the cosign blog post) still
// apply. Flux itself stopped serving v1beta2 in source-controller and kustomize-controller v1.8
// (Flux 2.8); its v1beta2 schema here is the one Flux last served (v1.7), which differs from v1
// in a few fields (listed at v1beta2Differences below). `conversion: None`, as Flux's CRDs do:
// the API server only rewrites apiVersion, so a field that exists in v1beta2 only (e.g.
// `validation`, `patchesStrategicMerge`) is not part of the v1 object the controller reads.
import type { KubeObject } from '../kube/index.js';
import { KustomizeGroup, KustomizeObjectAnnotations, SourceGroup } from './api.js';

/** An openAPI v3 schema node (the subset CRD structural schemas use). */
export interface Schema {
  type?: 'object' | 'array' | 'string' | 'integer' | 'boolean' | 'number';
  description?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  additionalProperties?: Schema;
  enum?: string[];
  pattern?: string;
  format?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  default?: unknown;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-validations'?: Array<{ rule: string; message: string }>;
}

// ---- schema helpers -------------------------------------------------------------------------

function str(description?: string, extra: Partial<Schema> = {}): Schema {
  return { type: 'string', ...(description !== undefined ? { description } : {}), ...extra };
}

function bool(description?: string, extra: Partial<Schema> = {}): Schema {
  return { type: 'boolean', ...(description !== undefined ? { description } : {}), ...extra };
}

function obj(properties: Record<string, Schema>, required: string[] = [], description?: string, extra: Partial<Schema> = {}): Schema {
  return {
    type: 'object',
    ...(description !== undefined ? { description } : {}),
    properties,
    ...(required.length > 0 ? { required } : {}),
    ...extra,
  };
}

function arr(items: Schema, description?: string): Schema {
  return { type: 'array', ...(description !== undefined ? { description } : {}), items };
}

function stringMap(description?: string): Schema {
  return { type: 'object', ...(description !== undefined ? { description } : {}), additionalProperties: { type: 'string' } };
}

function without(props: Record<string, Schema>, ...names: string[]): Record<string, Schema> {
  const out = { ...props };
  for (const n of names) delete out[n];
  return out;
}

/**
 * A Go duration as metav1.Duration is written in Flux's CRDs: one or more `<number><unit>`
 * groups, units ms, s, m, h (Flux's timeouts leave out h for OCIRepository).
 */
export const DURATION_PATTERN = '^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$';
const DURATION_NO_HOURS_PATTERN = '^([0-9]+(\\.[0-9]+)?(ms|s|m))+$';

function duration(description: string, extra: Partial<Schema> = {}): Schema {
  return str(description, { pattern: DURATION_PATTERN, ...extra });
}

function localRef(description: string): Schema {
  return obj({ name: str('Name of the referent (in the same namespace).') }, ['name'], description);
}

/** metav1.Condition, with the API server's own validation of its fields. */
const conditionSchema: Schema = obj(
  {
    type: str('Type of the condition, CamelCase or foo.example.com/CamelCase.', {
      maxLength: 316,
      pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$',
    }),
    status: str('True, False or Unknown.', { enum: ['True', 'False', 'Unknown'] }),
    observedGeneration: { type: 'integer', format: 'int64', minimum: 0, description: 'metadata.generation the condition was computed for.' },
    lastTransitionTime: str('When the status last changed.', { format: 'date-time' }),
    reason: str('Machine-readable CamelCase reason for the last transition.', {
      minLength: 1,
      maxLength: 1024,
      pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$',
    }),
    message: str('Human-readable details (may be empty).', { maxLength: 32768 }),
  },
  ['lastTransitionTime', 'message', 'reason', 'status', 'type'],
  'A condition of the object (metav1.Condition).',
);

const conditions: Schema = arr(conditionSchema, 'Conditions of the last reconciliation (Ready, Reconciling, Stalled and the kind\'s own).');

const observedGeneration: Schema = { type: 'integer', format: 'int64', description: 'The metadata.generation last reconciled; -1 before the first reconcile.' };

function readyColumns(): Array<Record<string, string>> {
  return [
    { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
    { name: 'Status', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].message' },
  ];
}

const ageColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

function topLevel(kind: string, spec: Schema, status: Schema): Schema {
  return obj(
    {
      apiVersion: str('Version of the schema this object is written in.'),
      kind: str('Kind of the object.'),
      metadata: { type: 'object' },
      spec,
      status: { ...status, default: { observedGeneration: -1 } },
    },
    [],
    `${kind} of the Flux API, reconciled by lading's controller.`,
  );
}

// ---- OCIRepository -----------------------------------------------------------------------------

const layerSelector: Schema = obj(
  {
    mediaType: str('Media type of the layer to use; the first layer of this type is taken. Without it the first layer is used.'),
    operation: str('extract (the default) unpacks the tar+gzip layer; copy stores the compressed layer as it is.', { enum: ['extract', 'copy'] }),
  },
  [],
  'Which layer of the artifact is the content, and what is done with it.',
);

function ociSpecProperties(): Record<string, Schema> {
  return {
    url: str('The repository, oci://<host>/<path> (no tag: the tag goes in ref).', { pattern: '^oci://.*$' }),
    ref: obj(
      {
        digest: str('A manifest digest (sha256:<hex>); wins over semver and tag.'),
        semver: str('A semver range; the highest matching tag is used. Wins over tag.'),
        semverFilter: str('A regular expression tags must match before the semver range is applied.'),
        tag: str('A tag (latest when ref is not given).'),
      },
      [],
      'What to pull: digest, else semver, else tag; the tag latest by default.',
    ),
    layerSelector,
    provider: str('How to get registry credentials: generic (secretRef, service account pull secrets) or the aws, azure, gcp token exchange.', {
      enum: ['generic', 'aws', 'azure', 'gcp'],
      default: 'generic',
    }),
    secretRef: localRef('A kubernetes.io/dockerconfigjson Secret with the registry credentials.'),
    verify: obj(
      {
        provider: str('cosign or notation.', { enum: ['cosign', 'notation'], default: 'cosign' }),
        secretRef: localRef('A Secret whose *.pub entries are the trusted public keys.'),
        matchOIDCIdentity: arr(
          obj(
            {
              issuer: str('Regular expression the OIDC issuer of the signing certificate must match.'),
              subject: str('Regular expression the identity of the signing certificate must match.'),
            },
            ['issuer', 'subject'],
          ),
          'Keyless signing: the artifact is verified when any one of these identities matches.',
        ),
        trustedRootSecretRef: localRef('A Secret with a Sigstore trusted_root.json, for a private Fulcio/Rekor.'),
      },
      ['provider'],
      'Signature verification before anything is fetched.',
    ),
    serviceAccountName: str('A service account whose imagePullSecrets are used for the registry.'),
    certSecretRef: localRef('A Secret with tls.crt/tls.key (client certificate) and/or ca.crt (registry CA); type Opaque or kubernetes.io/tls.'),
    proxySecretRef: localRef('A Secret with the proxy address, username and password.'),
    interval: duration('How often the registry is checked for a new revision (jittered).'),
    timeout: str('Time allowed for the remote operations of one reconcile.', { pattern: DURATION_NO_HOURS_PATTERN, default: '60s' }),
    ignore: str('Exclusion patterns (.gitignore syntax) replacing the default ones.'),
    insecure: bool('Talk plain HTTP to the registry.'),
    suspend: bool('Stop reconciling this object until set back to false.'),
  };
}

const artifact: Schema = obj(
  {
    path: str('Path of the artifact file relative to the storage root.'),
    url: str('HTTP address the controller serves the artifact at.'),
    revision: str('The source revision, e.g. <tag>@sha256:<manifest digest>.'),
    digest: str('Digest of the stored file, <algorithm>:<hex>.', { pattern: '^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$' }),
    lastUpdateTime: str('When the artifact was last written.', { format: 'date-time' }),
    size: { type: 'integer', format: 'int64', description: 'Size of the file in bytes.' },
    metadata: stringMap('Annotations of the OCI manifest.'),
  },
  ['digest', 'lastUpdateTime', 'path', 'revision', 'url'],
  'The artifact last stored.',
);

function ociStatusProperties(): Record<string, Schema> {
  return {
    observedGeneration,
    conditions,
    url: str('Address of the latest artifact.'),
    artifact,
    observedIgnore: str('The ignore patterns the artifact was built with.'),
    observedLayerSelector: { ...layerSelector, description: 'The layer selector the artifact was built with.' },
    lastHandledReconcileAt: str('The value of reconcile.fluxcd.io/requestedAt last acted on.'),
  };
}

function ociVersion(name: 'v1' | 'v1beta2'): Record<string, unknown> {
  let spec = obj(ociSpecProperties(), ['interval', 'url'], 'What to pull, how often, and how to verify it.');
  let status = obj(ociStatusProperties(), [], 'What the controller observed.');
  if (name === 'v1beta2') {
    // v1beta2 as Flux last served it: no keyless trusted root, and a deprecated checksum of the content config in status.
    const verify = spec.properties?.verify as Schema;
    spec = { ...spec, properties: { ...spec.properties, verify: { ...verify, properties: without(verify.properties ?? {}, 'trustedRootSecretRef') } } };
    status = { ...status, properties: { ...status.properties, contentConfigChecksum: str('Deprecated: a checksum of the ignore and layerSelector settings.') } };
  }
  return {
    name,
    served: true,
    storage: name === 'v1',
    ...(name === 'v1beta2' ? { deprecated: true, deprecationWarning: 'v1beta2 OCIRepository is deprecated, upgrade to v1' } : {}),
    schema: { openAPIV3Schema: topLevel('OCIRepository', spec, status) },
    subresources: { status: {} },
    additionalPrinterColumns: [{ name: 'URL', type: 'string', jsonPath: '.spec.url' }, ...readyColumns(), ageColumn],
  };
}

// ---- Kustomization -----------------------------------------------------------------------------

const selector: Schema = obj(
  {
    group: str('API group.'),
    version: str('API version.'),
    kind: str('Kind.'),
    namespace: str('Namespace.'),
    name: str('Name (a regular expression).'),
    annotationSelector: str('Annotation selector, label-selector syntax.'),
    labelSelector: str('Label selector.'),
  },
  [],
  'Selects objects of the build.',
);

function kustomizationSpecProperties(): Record<string, Schema> {
  return {
    sourceRef: obj(
      {
        apiVersion: str('API version of the source.'),
        kind: str('Kind of the source.', { enum: ['OCIRepository', 'GitRepository', 'Bucket', 'ExternalArtifact'] }),
        name: str('Name of the source.'),
        namespace: str('Namespace of the source (default: the Kustomization\'s).'),
      },
      ['kind', 'name'],
      'The source whose artifact holds the manifests.',
    ),
    path: str('Directory in the artifact to build (default: its root).'),
    interval: duration('How often the build is applied again (jittered).'),
    retryInterval: duration('How soon to retry after a failure (default: interval).'),
    timeout: duration('Time allowed for build, apply and health checks (default: interval - 30s, at least 30s).'),
    prune: bool('Delete the objects that left the build.'),
    deletionPolicy: str('What deleting the Kustomization does to its objects (MirrorPrune follows prune).', {
      enum: ['MirrorPrune', 'Delete', 'WaitForTermination', 'Orphan'],
    }),
    wait: bool('Wait for every applied object to become ready (replaces healthChecks).'),
    healthChecks: arr(
      obj({ apiVersion: str('API version.'), kind: str('Kind.'), name: str('Name.'), namespace: str('Namespace.') }, ['kind', 'name']),
      'Objects that must become ready after the apply.',
    ),
    healthCheckExprs: arr(
      obj(
        {
          apiVersion: str('API version of the kind.'),
          kind: str('Kind.'),
          current: str('CEL: true when the object is ready.'),
          inProgress: str('CEL: true while the object progresses.'),
          failed: str('CEL: true when the object failed.'),
        },
        ['apiVersion', 'current'],
      ),
      'CEL health rules for custom kinds.',
    ),
    dependsOn: arr(
      obj({ name: str('Name.'), namespace: str('Namespace (default: the Kustomization\'s).'), readyExpr: str('CEL readiness rule.') }, ['name']),
      'Kustomizations that must be ready first.',
    ),
    targetNamespace: str('Namespace set on every namespaced object of the build.', { minLength: 1, maxLength: 63 }),
    namePrefix: str('Prefix added to every name.', { minLength: 1, maxLength: 200 }),
    nameSuffix: str('Suffix added to every name.', { minLength: 1, maxLength: 200 }),
    patches: arr(obj({ patch: str('A strategic-merge or JSON 6902 patch (YAML or JSON).'), target: selector }, ['patch']), 'Patches applied to the build.'),
    images: arr(
      obj({ name: str('Image name to match.'), newName: str('Replacement name.'), newTag: str('Replacement tag.'), digest: str('Replacement digest.') }, ['name']),
      'Image overrides.',
    ),
    components: arr(str(), 'Kustomize components to include.'),
    ignoreMissingComponents: bool('Skip components that do not exist.'),
    commonMetadata: obj({ labels: stringMap('Labels.'), annotations: stringMap('Annotations.') }, [], 'Labels and annotations set on every object.'),
    buildMetadata: arr(str(undefined, { enum: ['originAnnotations', 'transformerAnnotations'] }), 'Kustomize build metadata to add.'),
    postBuild: obj(
      {
        substituteStrategy: str('WithVariables (default) or Always.', { enum: ['WithVariables', 'Always'] }),
        substitute: stringMap('Variables for ${var} substitution.'),
        substituteFrom: arr(
          obj(
            {
              kind: str('Secret or ConfigMap.', { enum: ['Secret', 'ConfigMap'] }),
              name: str('Name.', { minLength: 1, maxLength: 253 }),
              optional: bool('Go on when it does not exist.', { default: false }),
            },
            ['kind', 'name'],
          ),
          'ConfigMaps and Secrets whose entries are variables.',
        ),
      },
      [],
      'Variable substitution after the build.',
    ),
    decryption: obj(
      {
        provider: str('sops.', { enum: ['sops'] }),
        secretRef: localRef('Keys for decryption.'),
        serviceAccountName: str('Service account for KMS access.'),
      },
      ['provider'],
      'Decryption of secrets in the build (not supported by lading: refused with Stalled).',
    ),
    serviceAccountName: str('Service account the apply is made as (impersonation).'),
    kubeConfig: obj(
      {
        secretRef: obj({ name: str('Name.'), key: str('Key holding the kubeconfig.') }, ['name'], 'Secret with a kubeconfig.'),
        configMapRef: localRef('ConfigMap with provider settings.'),
      },
      [],
      'Apply to a remote cluster.',
      {
        'x-kubernetes-validations': [
          { rule: 'has(self.configMapRef) || has(self.secretRef)', message: 'exactly one of spec.kubeConfig.configMapRef or spec.kubeConfig.secretRef must be specified' },
          { rule: '!has(self.configMapRef) || !has(self.secretRef)', message: 'exactly one of spec.kubeConfig.configMapRef or spec.kubeConfig.secretRef must be specified' },
        ],
      },
    ),
    force: bool('Recreate objects whose immutable fields changed.', { default: false }),
    suspend: bool('Stop reconciling this object until set back to false.'),
    ignore: arr(obj({ paths: arr(str(), 'JSON pointers.'), target: selector }, ['paths']), 'Fields whose drift is ignored.'),
  };
}

function kustomizationStatusProperties(): Record<string, Schema> {
  return {
    observedGeneration,
    conditions,
    lastAppliedRevision: str('Revision of the source last applied.'),
    lastAppliedOriginRevision: str('Origin revision (org.opencontainers.image.revision) last applied.'),
    lastAttemptedRevision: str('Revision of the source last tried.'),
    lastHandledReconcileAt: str('The value of reconcile.fluxcd.io/requestedAt last acted on.'),
    inventory: obj(
      { entries: arr(obj({ id: str('<namespace>_<name>_<group>_<kind>'), v: str('API version.') }, ['id', 'v'])) },
      ['entries'],
      'Objects applied, for pruning.',
    ),
    history: arr(
      obj(
        {
          digest: str('Digest of the built manifests.'),
          firstReconciled: str('First reconcile of this build.', { format: 'date-time' }),
          lastReconciled: str('Last reconcile of this build.', { format: 'date-time' }),
          lastReconciledDuration: str('How long the last reconcile took.'),
          lastReconciledStatus: str('Outcome (a reason).'),
          totalReconciliations: { type: 'integer', format: 'int64', description: 'Reconciles of this build.' },
          metadata: stringMap('Revision and origin revision.'),
        },
        ['digest', 'firstReconciled', 'lastReconciled', 'lastReconciledDuration', 'lastReconciledStatus', 'totalReconciliations'],
      ),
      'The last reconciles, newest first.',
    ),
  };
}

/** What the v1beta2 Kustomization (as Flux last served it, v1.7) has instead of v1's fields. */
function kustomizationV1beta2(spec: Schema, status: Schema): { spec: Schema; status: Schema } {
  const p = without(
    spec.properties ?? {},
    'buildMetadata',
    'deletionPolicy',
    'healthCheckExprs',
    'ignore',
    'ignoreMissingComponents',
    'namePrefix',
    'nameSuffix',
  );
  const sourceRef = p.sourceRef as Schema;
  const sourceKind = sourceRef.properties?.kind as Schema;
  const dependsOn = p.dependsOn as Schema;
  const decryption = p.decryption as Schema;
  const postBuild = p.postBuild as Schema;
  const v1beta2Props: Record<string, Schema> = {
    ...p,
    sourceRef: { ...sourceRef, properties: { ...sourceRef.properties, kind: { ...sourceKind, enum: ['OCIRepository', 'GitRepository', 'Bucket'] } } },
    dependsOn: { ...dependsOn, items: { ...(dependsOn.items as Schema), properties: without((dependsOn.items as Schema).properties ?? {}, 'readyExpr') } },
    decryption: { ...decryption, properties: without(decryption.properties ?? {}, 'serviceAccountName') },
    postBuild: { ...postBuild, properties: without(postBuild.properties ?? {}, 'substituteStrategy') },
    validation: str('Deprecated, ignored: the apply is always validated by the server.', { enum: ['none', 'client', 'server'] }),
    patchesStrategicMerge: { type: 'array', description: 'Deprecated: use patches.', items: { 'x-kubernetes-preserve-unknown-fields': true } },
    patchesJson6902: arr(
      obj(
        {
          patch: arr(
            obj(
              {
                op: str('Operation.', { enum: ['test', 'remove', 'add', 'replace', 'move', 'copy'] }),
                path: str('JSON pointer.'),
                from: str('Source JSON pointer (move, copy).'),
                value: { 'x-kubernetes-preserve-unknown-fields': true, description: 'Value (add, replace, test).' },
              },
              ['op', 'path'],
            ),
          ),
          target: selector,
        },
        ['patch', 'target'],
      ),
      'Deprecated: use patches.',
    ),
  };
  return {
    spec: { ...spec, properties: v1beta2Props },
    // The status keeps v1's history and lastAppliedOriginRevision, which Flux v1.7's v1beta2 lacks:
    // the controller writes status with server-side apply at v1, and the API server converts the
    // merged object to the version of every manager that owns fields (kubectl's, for an object
    // applied as v1beta2); a v1 status field missing from the v1beta2 schema makes that write fail
    // ("failed to convert merged object at version …v1beta2: .status.history: field not declared in
    // schema"). Flux writes status with a merge patch and never meets it.
    status,
  };
}

function kustomizationVersion(name: 'v1' | 'v1beta2'): Record<string, unknown> {
  let spec = obj(kustomizationSpecProperties(), ['interval', 'prune', 'sourceRef'], 'What to build from which source, and how to apply it.');
  let status = obj(kustomizationStatusProperties(), [], 'What the controller observed.');
  if (name === 'v1beta2') ({ spec, status } = kustomizationV1beta2(spec, status));
  return {
    name,
    served: true,
    storage: name === 'v1',
    ...(name === 'v1beta2' ? { deprecated: true, deprecationWarning: 'v1beta2 Kustomization is deprecated, upgrade to v1' } : {}),
    schema: { openAPIV3Schema: topLevel('Kustomization', spec, status) },
    subresources: { status: {} },
    additionalPrinterColumns: [ageColumn, ...readyColumns()],
  };
}

// ---- the CRDs ----------------------------------------------------------------------------------

/** Labels lading puts on everything it installs. */
export const InstallLabels = {
  'app.kubernetes.io/name': 'lading',
  'app.kubernetes.io/component': 'controller',
} as const;

function crd(group: string, kind: string, plural: string, singular: string, shortName: string, category: string, versions: Array<Record<string, unknown>>): KubeObject {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${plural}.${group}`,
      labels: { ...InstallLabels },
      // A Kustomization that installs these CRDs must not substitute ${...} in their text.
      annotations: { [KustomizeObjectAnnotations.substitute]: 'disabled' },
    },
    spec: {
      group,
      names: { kind, listKind: `${kind}List`, plural, singular, shortNames: [shortName], categories: ['all', 'fluxcd', category] },
      scope: 'Namespaced',
      versions,
      conversion: { strategy: 'None' },
    },
  };
}

export function ociRepositoryCrd(): KubeObject {
  return crd(SourceGroup, 'OCIRepository', 'ocirepositories', 'ocirepository', 'ocirepo', 'fluxcd-sources', [ociVersion('v1'), ociVersion('v1beta2')]);
}

export function kustomizationCrd(): KubeObject {
  return crd(KustomizeGroup, 'Kustomization', 'kustomizations', 'kustomization', 'ks', 'fluxcd-appliers', [
    kustomizationVersion('v1'),
    kustomizationVersion('v1beta2'),
  ]);
}

/** The CRDs lading's controller serves (new objects on each call). */
export function crds(): KubeObject[] {
  return [ociRepositoryCrd(), kustomizationCrd()];
}
