// Bad input fails with a clear error naming the file and field, as kustomize fails too.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { build, ManifestError, parseManifests } from '../../src/manifests/index.js';
import { kustomizeBuild, requireOracle } from './oracle.js';

const root = mkdtempSync(path.join(tmpdir(), 'lading-manifest-errors-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const CM = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: v\n';

interface ErrorCase {
  name: string;
  files: Record<string, string>;
  code: string;
  /** Every fragment must appear in lading's message. */
  message: Array<string | RegExp>;
  /** kustomize fails on this input too (false when kustomize would reach the network, or supports it). */
  kustomizeFails: boolean;
}

const cases: ErrorCase[] = [
  { name: 'missing-resource', files: { 'kustomization.yaml': 'resources:\n- missing.yaml\n' }, code: 'NOT_FOUND', message: ['kustomization.yaml', 'resources', 'missing.yaml'], kustomizeFails: true },
  { name: 'malformed-yaml', files: { 'kustomization.yaml': 'resources:\n- bad.yaml\n', 'bad.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n data: [\n' }, code: 'INVALID_YAML', message: [/bad\.yaml:\d+:\d+/], kustomizeFails: true },
  { name: 'malformed-kustomization', files: { 'kustomization.yaml': 'resources:\n  - a.yaml\n bad: [\n', 'a.yaml': CM }, code: 'INVALID_YAML', message: [/kustomization\.yaml:\d+/], kustomizeFails: true },
  { name: 'base-cycle', files: { 'kustomization.yaml': 'resources:\n- a\n', 'a/kustomization.yaml': 'resources:\n- ../b\n', 'b/kustomization.yaml': 'resources:\n- ../a\n' }, code: 'CYCLE', message: ['cycle detected', 'resources'], kustomizeFails: true },
  { name: 'self-cycle', files: { 'kustomization.yaml': 'resources:\n- .\n' }, code: 'CYCLE', message: ['cycle detected'], kustomizeFails: true },
  { name: 'duplicate-id', files: { 'kustomization.yaml': 'resources:\n- a.yaml\n- b.yaml\n', 'a.yaml': CM, 'b.yaml': CM }, code: 'DUPLICATE_ID', message: ['already registered id', 'ConfigMap', 'b.yaml'], kustomizeFails: true },
  { name: 'remote-resource', files: { 'kustomization.yaml': 'resources:\n- https://github.com/example/repo//deploy?ref=v1\n' }, code: 'UNSUPPORTED', message: ['kustomization.yaml', 'resources', 'remote resource'], kustomizeFails: false },
  { name: 'helm-charts', files: { 'kustomization.yaml': 'helmCharts:\n- name: redis\n  repo: https://charts.example.com\n' }, code: 'UNSUPPORTED', message: ['kustomization.yaml', 'helmCharts'], kustomizeFails: false },
  { name: 'var-without-object', files: { 'kustomization.yaml': 'resources:\n- a.yaml\nvars:\n- name: X\n  objref:\n    kind: ConfigMap\n    name: missing\n    apiVersion: v1\n', 'a.yaml': CM }, code: 'NO_MATCH', message: ['kustomization.yaml', 'vars[0]', "var 'X' cannot be mapped"], kustomizeFails: true },
  { name: 'var-field-missing', files: { 'kustomization.yaml': 'resources:\n- a.yaml\nvars:\n- name: X\n  objref:\n    kind: ConfigMap\n    name: a\n    apiVersion: v1\n  fieldref:\n    fieldPath: data.nothere\n', 'a.yaml': CM }, code: 'NO_MATCH', message: ['vars[0]', "var 'X'", 'data.nothere', 'not found'], kustomizeFails: true },
  { name: 'var-defined-twice', files: { 'kustomization.yaml': 'resources:\n- a\n- b\n', 'a/kustomization.yaml': 'resources:\n- cm.yaml\nvars:\n- name: X\n  objref:\n    kind: ConfigMap\n    name: a\n    apiVersion: v1\n', 'a/cm.yaml': CM, 'b/kustomization.yaml': 'namePrefix: b-\nresources:\n- cm.yaml\nvars:\n- name: X\n  objref:\n    kind: ConfigMap\n    name: a\n    apiVersion: v1\n', 'b/cm.yaml': CM }, code: 'CONFLICT', message: ["var 'X' already encountered", 'b/kustomization.yaml'], kustomizeFails: true },
  { name: 'unknown-nested-field', files: { 'kustomization.yaml': 'resources:\n- a.yaml\nlabels:\n- pairs:\n    a: b\n  includeVolumeClaimTemplates: true\n', 'a.yaml': CM }, code: 'INVALID_KUSTOMIZATION', message: ['kustomization.yaml', 'unknown field "labels[0].includeVolumeClaimTemplates"'], kustomizeFails: true },
  { name: 'unknown-generator-field', files: { 'kustomization.yaml': 'configMapGenerator:\n- name: c\n  literal:\n  - a=b\n' }, code: 'INVALID_KUSTOMIZATION', message: ['unknown field "configMapGenerator[0].literal"'], kustomizeFails: true },
  { name: 'wrong-api-version', files: { 'kustomization.yaml': 'apiVersion: kustomize.config.k8s.io/v1\nkind: Kustomization\nresources:\n- a.yaml\n', 'a.yaml': CM }, code: 'INVALID_KUSTOMIZATION', message: ['kustomization.yaml', 'apiVersion for Kustomization should be kustomize.config.k8s.io/v1beta1'], kustomizeFails: true },
  { name: 'empty-patches-strategic-merge', files: { 'kustomization.yaml': 'resources:\n- a.yaml\npatchesStrategicMerge:\n- empty.yaml\n- comments.yaml\n', 'a.yaml': CM, 'empty.yaml': '', 'comments.yaml': '# nothing here\n' }, code: 'INVALID_KUSTOMIZATION', message: ['patchesStrategicMerge', 'patch appears to be empty', 'empty.yaml'], kustomizeFails: true },
  { name: 'rolebinding-blank-subject-namespace', files: { 'kustomization.yaml': 'resources:\n- rb.yaml\n', 'rb.yaml': 'apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: rb\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: r\nsubjects:\n- kind: ServiceAccount\n  name: sa\n  namespace:\n' }, code: 'INVALID_KUSTOMIZATION', message: ['rb.yaml', 'namespace is blank', 'RoleBinding'], kustomizeFails: true },
  { name: 'replacement-index-past-end', files: { 'kustomization.yaml': 'resources:\n- a.yaml\nreplacements:\n- source:\n    kind: ConfigMap\n    fieldPath: data.k\n  targets:\n  - select:\n      kind: ConfigMap\n    fieldPaths:\n    - data.list.3\n    options:\n      create: true\n', 'a.yaml': CM }, code: 'NO_MATCH', message: ['replacements[0]', 'data.list.3', 'index 3 specified but only 0 elements found'], kustomizeFails: true },
  { name: 'namespace-fieldspec-not-scalar', files: { 'kustomization.yaml': 'resources:\n- crb.yaml\ntransformers:\n- ns.yaml\n', 'ns.yaml': 'apiVersion: builtin\nkind: NamespaceTransformer\nmetadata:\n  name: ns\n  namespace: test\nfieldSpecs:\n- path: subjects\n  kind: ClusterRoleBinding\n', 'crb.yaml': 'apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: crb\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: view\nsubjects:\n- kind: ServiceAccount\n  name: default\n  namespace: other\n' }, code: 'INVALID_KUSTOMIZATION', message: ['namespace field specs must target scalar nodes', 'subjects', 'ClusterRoleBinding'], kustomizeFails: true },
  { name: 'json6902-path-and-op', files: { 'kustomization.yaml': 'resources:\n- a.yaml\ntransformers:\n- p.yaml\n', 'a.yaml': CM, 'p.json': '[]', 'p.yaml': 'apiVersion: builtin\nkind: PatchJson6902Transformer\nmetadata:\n  name: p\ntarget:\n  kind: ConfigMap\n  name: a\npath: p.json\njsonOp: \'[{"op": "add", "path": "/data/x", "value": "y"}]\'\n' }, code: 'INVALID_KUSTOMIZATION', message: ['p.yaml', 'must specify a file path or jsonOp, not both'], kustomizeFails: true },
  { name: 'crds-missing-file', files: { 'kustomization.yaml': 'crds:\n- defs.json\n' }, code: 'NOT_FOUND', message: ['kustomization.yaml', 'crds[0]', 'defs.json'], kustomizeFails: true },
  { name: 'crds-not-definitions', files: { 'kustomization.yaml': 'crds:\n- defs.json\n', 'defs.json': '[1, 2]' }, code: 'INVALID_KUSTOMIZATION', message: ['crds[0]', 'defs.json', 'OpenAPI definitions'], kustomizeFails: true },
  { name: 'build-metadata-managed-by', files: { 'kustomization.yaml': 'resources:\n- a.yaml\nbuildMetadata: [managedByLabel]\n', 'a.yaml': CM }, code: 'UNSUPPORTED', message: ['kustomization.yaml', 'buildMetadata', 'managedByLabel'], kustomizeFails: false },
  { name: 'krm-function', files: { 'kustomization.yaml': 'resources:\n- a.yaml\ntransformers:\n- fn.yaml\n', 'a.yaml': CM, 'fn.yaml': 'apiVersion: example.com/v1\nkind: MyFn\nmetadata:\n  name: fn\n  annotations:\n    config.kubernetes.io/function: |\n      container:\n        image: example.com/fn:v1\n' }, code: 'UNSUPPORTED', message: ['fn.yaml', 'KRM function'], kustomizeFails: false },
  { name: 'unknown-field', files: { 'kustomization.yaml': 'resources:\n- a.yaml\nnamePrefx: x-\n', 'a.yaml': CM }, code: 'INVALID_KUSTOMIZATION', message: ['kustomization.yaml', 'namePrefx'], kustomizeFails: true },
  { name: 'file-outside-root', files: { 'app/kustomization.yaml': 'resources:\n- ../a.yaml\n', 'a.yaml': CM }, code: 'INVALID_KUSTOMIZATION', message: ['security', 'a.yaml'], kustomizeFails: true },
  { name: 'merge-without-base', files: { 'kustomization.yaml': 'configMapGenerator:\n- name: c\n  behavior: merge\n  literals:\n  - a=b\n' }, code: 'NO_MATCH', message: ['configMapGenerator[0]', 'cannot merge or replace'], kustomizeFails: true },
  { name: 'patch-without-match', files: { 'kustomization.yaml': 'resources:\n- a.yaml\npatches:\n- patch: |-\n    apiVersion: v1\n    kind: ConfigMap\n    metadata:\n      name: nothere\n    data:\n      x: y\n', 'a.yaml': CM }, code: 'NO_MATCH', message: ['patches[0]', 'nothere'], kustomizeFails: true },
  { name: 'json-patch-without-target', files: { 'kustomization.yaml': 'resources:\n- a.yaml\npatches:\n- patch: |-\n    - op: add\n      path: /data/x\n      value: y\n', 'a.yaml': CM }, code: 'INVALID_KUSTOMIZATION', message: ['patches[0]', 'target'], kustomizeFails: true },
  { name: 'replicas-no-match', files: { 'kustomization.yaml': 'resources:\n- a.yaml\nreplicas:\n- name: web\n  count: 2\n', 'a.yaml': CM }, code: 'NO_MATCH', message: ['replicas', 'web'], kustomizeFails: true },
  { name: 'component-as-resource', files: { 'kustomization.yaml': 'resources:\n- comp\n', 'comp/kustomization.yaml': 'apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n' }, code: 'INVALID_KUSTOMIZATION', message: ['Component'], kustomizeFails: true },
  { name: 'missing-generator-file', files: { 'kustomization.yaml': 'configMapGenerator:\n- name: c\n  files:\n  - nothere.conf\n' }, code: 'NOT_FOUND', message: ['configMapGenerator[0]', 'nothere.conf'], kustomizeFails: true },
  { name: 'component-root-wrong-api-version', files: { 'kustomization.yaml': 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Component\nresources:\n- a.yaml\n', 'a.yaml': CM }, code: 'INVALID_KUSTOMIZATION', message: ['kustomization.yaml', 'apiVersion for Component should be kustomize.config.k8s.io/v1alpha1'], kustomizeFails: true },
  { name: 'component-root-component-as-resource', files: { 'kustomization.yaml': 'kind: Component\nresources:\n- comp\n', 'comp/kustomization.yaml': 'kind: Component\n' }, code: 'INVALID_KUSTOMIZATION', message: ['kustomization.yaml', "expected kind != 'Component'"], kustomizeFails: true },
  { name: 'component-root-kustomization-as-component', files: { 'kustomization.yaml': 'kind: Component\ncomponents:\n- base\n', 'base/kustomization.yaml': 'resources: []\n' }, code: 'INVALID_KUSTOMIZATION', message: ['kustomization.yaml', "expected kind 'Component'"], kustomizeFails: true },
  { name: 'invalid-image-tag-type', files: { 'kustomization.yaml': 'resources:\n- a.yaml\nimages:\n- name: nginx\n  newTag: 1.0\n', 'a.yaml': CM }, code: 'INVALID_KUSTOMIZATION', message: ['images[0].newTag'], kustomizeFails: true },
];

describe('build errors name the file and field and fail like kustomize', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const dir = path.join(root, c.name);
      for (const [rel, content] of Object.entries(c.files)) {
        mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
        writeFileSync(path.join(dir, rel), content);
      }
      const target = c.name === 'file-outside-root' ? path.join(dir, 'app') : dir;
      const err = await build(target).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ManifestError);
      const e = err as ManifestError;
      expect(e.code).toBe(c.code);
      for (const m of c.message) {
        if (typeof m === 'string') expect(e.message).toContain(m);
        else expect(e.message).toMatch(m);
      }
      if (c.kustomizeFails) {
        requireOracle();
        const oracle = kustomizeBuild(target);
        expect(oracle.ok, 'kustomize build should fail on this input too').toBe(false);
      }
    });
  }
});

describe('parseManifests', () => {
  it('names the source and line of malformed YAML', () => {
    expect(() => parseManifests('apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\nkind: [\n', 'upload.yaml')).toThrow(/upload\.yaml:[67]:\d+: invalid YAML/);
  });

  it('rejects a document that is not an object, naming its line', () => {
    expect(() => parseManifests('apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\n- just\n- a list\n', 'x.yaml')).toThrow(/x\.yaml:5/);
  });

  it('stops alias expansion bombs', () => {
    const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 12; i++) lines.push(`a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(', ')}]`);
    let err: unknown;
    try {
      parseManifests(lines.join('\n'), 'bomb.yaml');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ManifestError);
    expect((err as ManifestError).code).toBe('TOO_LARGE');
  });

  it('skips empty documents and keeps the rest in order', () => {
    const objs = parseManifests('---\n# comment\n---\nkind: A\n---\n\n---\nkind: B\n', 'm.yaml');
    expect(objs.map((o) => o['kind'])).toEqual(['A', 'B']);
  });
});
