// Property test against the reference: random kustomization trees (bases and overlays mixing
// prefixes, suffixes, namespaces, labels, generators with merge, images, replicas and patches)
// must build to exactly what `kustomize build` prints.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { build } from '../../src/manifests/index.js';
import { kustomizeBuild, requireOracle } from './oracle.js';

const root = mkdtempSync(path.join(tmpdir(), 'lading-random-kust-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const RESOURCES: Record<string, (app: string) => string> = {
  deployment: (app) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${app}
  creationTimestamp:
  annotations:
    prometheus.io/port: 9090
    ratio: 1.50
spec:
  selector:
    matchLabels:
      app: ${app}
  template:
    metadata:
      labels:
        app: ${app}
    spec:
      serviceAccountName: ${app}-sa
      containers:
      - name: main
        image: nginx:1.25
        envFrom:
        - configMapRef:
            name: ${app}-cfg
        env:
        - name: TOKEN
          valueFrom:
            secretKeyRef:
              name: ${app}-secret
              key: token
        volumeMounts:
        - name: data
          mountPath: /data
        resources:
      volumes:
      - name: data
        persistentVolumeClaim:
          claimName: ${app}-data
`,
  service: (app) => `apiVersion: v1
kind: Service
metadata:
  name: ${app}
spec:
  selector:
    app: ${app}
  ports:
  - port: 80
`,
  serviceaccount: (app) => `apiVersion: v1
kind: ServiceAccount
metadata:
  name: ${app}-sa
`,
  pvc: (app) => `apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: ${app}-data
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 1Gi
`,
  hpa: (app) => `apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: ${app}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: ${app}
  maxReplicas: 3
`,
  rolebinding: (app) => `apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: ${app}-rb
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: view
subjects:
- kind: ServiceAccount
  name: ${app}-sa
`,
};

const features = fc.record({
  prefix: fc.option(fc.constantFrom('a-', 'b-', 'pre-'), { nil: undefined }),
  suffix: fc.option(fc.constantFrom('-x', '-v2'), { nil: undefined }),
  namespace: fc.option(fc.constantFrom('ns1', 'ns2'), { nil: undefined }),
  label: fc.option(fc.constantFrom('blue', 'green'), { nil: undefined }),
  labelsNoSelector: fc.boolean(),
  annotation: fc.boolean(),
  image: fc.option(fc.constantFrom('1.26', '1.27'), { nil: undefined }),
  replicas: fc.option(fc.integer({ min: 1, max: 5 }), { nil: undefined }),
  patchKind: fc.option(fc.constantFrom('Deployment', 'Service', 'ConfigMap'), { nil: undefined }),
  untargetedPatch: fc.boolean(),
  json6902: fc.boolean(),
});

const base = fc.record({
  resources: fc.subarray(Object.keys(RESOURCES), { minLength: 1 }),
  secret: fc.boolean(),
  features,
});

const tree = fc.record({
  bases: fc.array(base, { minLength: 1, maxLength: 3 }),
  overlay: features,
  mergeConfig: fc.boolean(),
  twoLevels: fc.boolean(),
  component: fc.boolean(),
  replacement: fc.boolean(),
  /** The top is a `kind: Component` (kustomize builds a root Component like a kustomization). */
  rootComponent: fc.boolean(),
});

function kustomization(f: Record<string, unknown>, extra: string[], app: string | undefined): string {
  const lines: string[] = [];
  if (f['prefix']) lines.push(`namePrefix: ${String(f['prefix'])}`);
  if (f['suffix']) lines.push(`nameSuffix: ${String(f['suffix'])}`);
  if (f['namespace']) lines.push(`namespace: ${String(f['namespace'])}`);
  if (f['label']) lines.push(`commonLabels:\n  color: ${String(f['label'])}`);
  if (f['labelsNoSelector']) lines.push('labels:\n- pairs:\n    tier: web\n  includeTemplates: true');
  if (f['annotation']) lines.push('commonAnnotations:\n  owner: team');
  if (f['image']) lines.push(`images:\n- name: nginx\n  newTag: "${String(f['image'])}"`);
  if (f['replicas'] !== undefined && app) lines.push(`replicas:\n- name: ${app}\n  count: ${String(f['replicas'])}`);
  const patches: string[] = [];
  if (f['patchKind']) {
    patches.push(`- target:\n    kind: ${String(f['patchKind'])}\n  patch: |-\n    apiVersion: v1\n    kind: ${String(f['patchKind'])}\n    metadata:\n      name: any\n      labels:\n        gen: 2\n      annotations:\n        patched: "yes"\n        weight: 0.50`);
  }
  if (f['untargetedPatch'] && app) {
    // matched by id, so the values keep their types (labels) or their text (annotations)
    patches.push(`- patch: |-\n    apiVersion: apps/v1\n    kind: Deployment\n    metadata:\n      name: ${app}\n      labels:\n        gen: 3\n      annotations:\n        build: 10\n    spec:\n      template:\n        spec:\n          containers:\n          - name: main\n            image: nginx:1.28`);
  }
  if (f['json6902']) patches.push('- target:\n    kind: ServiceAccount\n  patch: |-\n    - op: add\n      path: /automountServiceAccountToken\n      value: false');
  if (patches.length > 0) lines.push(`patches:\n${patches.join('\n')}`);
  return [...lines, ...extra].join('\n') + '\n';
}

describe('random kustomization trees', () => {
  it('build exactly like kustomize build', async () => {
    requireOracle();
    const trees = fc.sample(tree, { numRuns: Number(process.env['LADING_RANDOM_TREES'] ?? 25), seed: Number(process.env['LADING_RANDOM_SEED'] ?? 2024) });
    let compared = 0;
    for (let t = 0; t < trees.length; t++) {
      const spec = trees[t] as (typeof trees)[number];
      const dir = path.join(root, `tree-${t}`);
      const baseDirs: string[] = [];
      spec.bases.forEach((b, i) => {
        const app = `app${i}`;
        const bdir = path.join(dir, `base${i}`);
        mkdirSync(bdir, { recursive: true });
        const files = b.resources.map((r) => `${r}.yaml`);
        for (const r of b.resources) writeFileSync(path.join(bdir, `${r}.yaml`), (RESOURCES[r] as (a: string) => string)(app));
        const extra = [`resources:\n${files.map((f) => `- ${f}`).join('\n')}`, `configMapGenerator:\n- name: ${app}-cfg\n  literals:\n  - LEVEL=info\n  - APP=${app}`];
        if (b.secret) extra.push(`secretGenerator:\n- name: ${app}-secret\n  literals:\n  - token=t${i}`);
        const hasDeployment = b.resources.includes('deployment');
        writeFileSync(path.join(bdir, 'kustomization.yaml'), kustomization(b.features as Record<string, unknown>, extra, hasDeployment ? app : undefined));
        baseDirs.push(`base${i}`);
      });
      let top = dir;
      let refs = baseDirs.map((b) => `- ${b}`);
      if (spec.twoLevels) {
        const mid = path.join(dir, 'mid');
        mkdirSync(mid, { recursive: true });
        writeFileSync(path.join(mid, 'kustomization.yaml'), `namePrefix: mid-\nresources:\n${baseDirs.map((b) => `- ../${b}`).join('\n')}\n`);
        refs = ['- mid'];
      }
      const extra = [`resources:\n${refs.join('\n')}`];
      if (spec.mergeConfig) extra.push('configMapGenerator:\n- name: app0-cfg\n  behavior: merge\n  literals:\n  - LEVEL=debug');
      if (spec.component) {
        mkdirSync(path.join(dir, 'comp'), { recursive: true });
        writeFileSync(
          path.join(dir, 'comp', 'kustomization.yaml'),
          'apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources:\n- extra.yaml\ncommonAnnotations:\n  component: "on"\nconfigMapGenerator:\n- name: comp-cfg\n  literals:\n  - c=1\n',
        );
        writeFileSync(path.join(dir, 'comp', 'extra.yaml'), 'apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: comp-sa\n');
        extra.push('components:\n- comp');
      }
      if (spec.replacement) {
        extra.push('replacements:\n- source:\n    kind: ConfigMap\n    name: app0-cfg\n    fieldPath: data.APP\n  targets:\n  - select:\n      kind: Service\n    fieldPaths:\n    - metadata.annotations.app\n    options:\n      create: true');
      }
      const overlayFeatures = { ...(spec.overlay as Record<string, unknown>), replicas: undefined };
      const rootKind = spec.rootComponent ? 'apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n' : '';
      writeFileSync(path.join(dir, 'kustomization.yaml'), rootKind + kustomization(overlayFeatures, extra, undefined));
      top = dir;
      const oracle = kustomizeBuild(top);
      let mine: string | Error;
      try {
        mine = (await build(top)).yaml;
      } catch (err) {
        mine = err as Error;
      }
      if (!oracle.ok) {
        // kustomize rejects some combinations (e.g. a patch with no target); so must lading.
        expect(mine, `tree-${t}: kustomize failed (${oracle.error.slice(0, 200)}) but lading built it`).toBeInstanceOf(Error);
        continue;
      }
      if (mine instanceof Error) throw new Error(`tree-${t}: lading failed where kustomize succeeded: ${mine.message}`);
      expect(mine, `tree-${t} (${JSON.stringify(spec)})`).toBe(oracle.yaml);
      compared++;
    }
    expect(compared).toBeGreaterThan(trees.length / 2);
  });
});
