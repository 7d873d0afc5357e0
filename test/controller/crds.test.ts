// lading's CRDs against Flux's own, on real API servers: every OCIRepository and Kustomization
// example of Flux's API docs (read at test time from the Flux modules in the Go module cache),
// the seeds' v1beta2 manifests and a list of invalid objects are applied with server-side
// dry-run to the shared cluster, which holds lading's CRDs, and to a private cluster holding
// Flux's CRDs; both must accept the same objects and default them the same way, and refuse the
// same ones.
//
// Flux's CRDs: source-controller and kustomize-controller v1.9.5 for v1. Flux stopped serving
// v1beta2 in v1.8, so v1beta2 is compared with v1.7.3, the last release that served it (the
// private cluster holds v1.7.3's CRDs first, then v1.9.5's).
import { seed002Kustomization, seed002OCIRepository, seed004Manifests } from './fixtures/seed-manifests.js';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { crds } from '../../src/controller/crds.js';
import { KubeError, type KubeClient } from '../../src/kube/index.js';
import { startCluster, type RunningCluster } from '../env/cluster.js';
import { fluxModuleDir } from '../env/flux-modules.js';
import { waitFor } from '../env/process.js';
import { clusterKubeconfig, connect, deferredSetup, kubectl } from '../kube/helpers.js';
import { fluxDocExamples, type DocExample } from './fixtures/flux-docs/extract.js';

type Obj = Record<string, unknown>;

const FLUX_V1 = 'v1.9.5';
const FLUX_V1BETA2 = 'v1.7.3';
const crdFile = {
  oci: (version: string): string => join(fluxModuleDir('source-controller', version), 'config/crd/bases/source.toolkit.fluxcd.io_ocirepositories.yaml'),
  ks: (version: string): string => join(fluxModuleDir('kustomize-controller', version), 'config/crd/bases/kustomize.toolkit.fluxcd.io_kustomizations.yaml'),
};

const plural: Record<string, string> = { OCIRepository: 'ocirepositories', Kustomization: 'kustomizations' };

function objectPath(o: Obj, namespace: string): string {
  const meta = o['metadata'] as Obj;
  return `/apis/${String(o['apiVersion'])}/namespaces/${namespace}/${plural[String(o['kind'])] ?? 'unknown'}/${encodeURIComponent(String(meta['name']))}`;
}

function inNamespace(o: Obj, namespace: string): Obj {
  return { ...o, metadata: { ...(o['metadata'] as Obj), namespace } };
}

type DryRun = { accepted: true; spec: unknown; status: unknown } | { accepted: false; message: string; causes: string[] };

/** Server-side apply with dryRun=All and strict field validation. */
async function dryRun(client: KubeClient, o: Obj, namespace: string): Promise<DryRun> {
  const obj = inNamespace(o, namespace);
  try {
    const res = await client.request<Obj>({
      method: 'PATCH',
      path: objectPath(obj, namespace),
      query: { dryRun: 'All', fieldManager: 'lading-crds-test', force: true, fieldValidation: 'Strict' },
      contentType: 'application/apply-patch+yaml',
      body: obj,
    });
    return { accepted: true, spec: res['spec'], status: res['status'] };
  } catch (err) {
    // 400 and 422 for schema errors; SSA answers a value of the wrong type with 500 ("failed to create typed patch object").
    if (!(err instanceof KubeError) || err.status === undefined || ![400, 422, 500].includes(err.status)) throw err;
    const causes = (err.details?.causes ?? []).map((c) => `${c.field ?? ''}: ${c.reason ?? ''}`).sort();
    return { accepted: false, message: err.message, causes };
  }
}

async function applyObject(client: KubeClient, o: Obj, path: string): Promise<void> {
  await client.request({
    method: 'PATCH',
    path,
    query: { fieldManager: 'lading-crds-test', force: true },
    contentType: 'application/apply-patch+yaml',
    body: o,
  });
}

async function ensureNamespace(client: KubeClient, name: string): Promise<void> {
  await applyObject(client, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } }, `/api/v1/namespaces/${name}`);
}

/** Applies CRDs and waits until each is Established and serves exactly the versions it lists. */
async function installCrds(client: KubeClient, list: Obj[]): Promise<void> {
  for (const crd of list) {
    const name = String((crd['metadata'] as Obj)['name']);
    await applyObject(client, crd, `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`);
  }
  for (const crd of list) {
    const spec = crd['spec'] as { group: string; names: { plural: string }; versions: Array<{ name: string; served: boolean }> };
    const name = String((crd['metadata'] as Obj)['name']);
    await waitFor(
      async () => {
        const got = await client.request<{ status?: { conditions?: Array<{ type: string; status: string }> } }>({
          path: `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`,
        });
        if (!got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) return undefined;
        for (const v of ['v1', 'v1beta2']) {
          const served = spec.versions.some((x) => x.name === v && x.served);
          let listed = false;
          try {
            const list = await client.request<{ resources: Array<{ name: string }> }>({ path: `/apis/${spec.group}/${v}` });
            listed = list.resources.some((r) => r.name === spec.names.plural);
          } catch (err) {
            if (!(err instanceof KubeError) || err.status !== 404) throw err;
          }
          if (listed !== served) return undefined;
        }
        return true;
      },
      { what: `CRD ${name} established with its versions`, timeoutMs: 60_000 },
    );
  }
}

function fluxCrds(version: string): Obj[] {
  return [crdFile.oci(version), crdFile.ks(version)].map((f) => parse(readFileSync(f, 'utf8')) as Obj);
}

// ---- the objects compared ----------------------------------------------------------------------

const docs = {
  ociV1: () => fluxDocExamples('source-controller', FLUX_V1, 'docs/spec/v1/ocirepositories.md', 'source.toolkit.fluxcd.io/v1', 'OCIRepository'),
  ociV1beta2: () => fluxDocExamples('source-controller', FLUX_V1, 'docs/spec/v1beta2/ocirepositories.md', 'source.toolkit.fluxcd.io/v1beta2', 'OCIRepository'),
  ksV1: () => fluxDocExamples('kustomize-controller', FLUX_V1, 'docs/spec/v1/kustomizations.md', 'kustomize.toolkit.fluxcd.io/v1', 'Kustomization'),
  ksV1beta2: () => fluxDocExamples('kustomize-controller', FLUX_V1, 'docs/spec/v1beta2/kustomizations.md', 'kustomize.toolkit.fluxcd.io/v1beta2', 'Kustomization'),
};

// Seed 002 (the Flux OCI RFC), user story 2, verbatim but for the oci:// prefix the released API
// requires; seed 004 (verifying OCI artifacts with cosign), verbatim.
const seed002 = `${seed002OCIRepository('oci://ghcr.io/org/my-app-config', 'default')}---\n${seed002Kustomization('default')}`;
const seed004 = seed004Manifests('oci://ttl.sh/$GITHUB_USER/manifests/kyverno');

function seedObjects(): DocExample[] {
  const out: DocExample[] = [];
  for (const [name, text] of [['seed 002', seed002], ['seed 004', seed004]] as const) {
    text.split(/^---$/m).forEach((d, i) => out.push({ source: `${name}#${i + 1}`, object: parse(d) as Obj }));
  }
  return out;
}

function oci(version: string, spec: Obj, name = 'bad'): Obj {
  return { apiVersion: `source.toolkit.fluxcd.io/${version}`, kind: 'OCIRepository', metadata: { name }, spec };
}
function ks(version: string, spec: Obj, name = 'bad'): Obj {
  return { apiVersion: `kustomize.toolkit.fluxcd.io/${version}`, kind: 'Kustomization', metadata: { name }, spec };
}
const okOci = { interval: '5m', url: 'oci://ghcr.io/org/app' };
const okKs = { interval: '5m', prune: true, sourceRef: { kind: 'OCIRepository', name: 'app' } };

/** Objects both CRDs must refuse (per version). */
function invalid(version: 'v1' | 'v1beta2'): DocExample[] {
  const list: Array<[string, Obj]> = [
    ['interval in days', oci(version, { ...okOci, interval: '1d' })],
    ['interval without unit', oci(version, { ...okOci, interval: '10' })],
    ['interval with a space', oci(version, { ...okOci, interval: '5 m' })],
    ['timeout in hours', oci(version, { ...okOci, timeout: '1h' })],
    ['url without oci://', oci(version, { ...okOci, url: 'ghcr.io/org/app' })],
    ['url https://', oci(version, { ...okOci, url: 'https://ghcr.io/org/app' })],
    ['unknown provider', oci(version, { ...okOci, provider: 'docker' })],
    ['unknown layer operation', oci(version, { ...okOci, layerSelector: { operation: 'unpack' } })],
    ['unknown verify provider', oci(version, { ...okOci, verify: { provider: 'sigstore' } })],
    ['identity without subject', oci(version, { ...okOci, verify: { provider: 'cosign', matchOIDCIdentity: [{ issuer: '.*' }] } })],
    ['secretRef without name', oci(version, { ...okOci, secretRef: {} })],
    ['missing url', oci(version, { interval: '5m' })],
    ['missing interval', oci(version, { url: okOci.url })],
    ['interval as a number', oci(version, { ...okOci, interval: 300 })],
    ['insecure as a string', oci(version, { ...okOci, insecure: 'yes' })],
    ['unknown spec field', oci(version, { ...okOci, tag: 'v1' })],
    ['missing prune', ks(version, { interval: '5m', sourceRef: okKs.sourceRef })],
    ['missing sourceRef', ks(version, { interval: '5m', prune: true })],
    ['missing interval', ks(version, { prune: true, sourceRef: okKs.sourceRef })],
    ['sourceRef kind HelmRepository', ks(version, { ...okKs, sourceRef: { kind: 'HelmRepository', name: 'x' } })],
    ['sourceRef without name', ks(version, { ...okKs, sourceRef: { kind: 'OCIRepository' } })],
    ['retryInterval with a space', ks(version, { ...okKs, retryInterval: '1 m' })],
    ['timeout in days', ks(version, { ...okKs, timeout: '2d' })],
    ['targetNamespace of 64 characters', ks(version, { ...okKs, targetNamespace: 'a'.repeat(64) })],
    ['empty targetNamespace', ks(version, { ...okKs, targetNamespace: '' })],
    ['substituteFrom kind Pod', ks(version, { ...okKs, postBuild: { substituteFrom: [{ kind: 'Pod', name: 'x' }] } })],
    ['substituteFrom empty name', ks(version, { ...okKs, postBuild: { substituteFrom: [{ kind: 'Secret', name: '' }] } })],
    ['decryption provider age', ks(version, { ...okKs, decryption: { provider: 'age' } })],
    ['kubeConfig with both refs', ks(version, { ...okKs, kubeConfig: { secretRef: { name: 'a' }, configMapRef: { name: 'b' } } })],
    ['kubeConfig with neither ref', ks(version, { ...okKs, kubeConfig: {} })],
    ['healthCheck without name', ks(version, { ...okKs, healthChecks: [{ kind: 'Deployment' }] })],
    ['patch without patch', ks(version, { ...okKs, patches: [{ target: { kind: 'Deployment' } }] })],
    ['image without name', ks(version, { ...okKs, images: [{ newTag: 'v2' }] })],
    ['prune as a string', ks(version, { ...okKs, prune: 'true' })],
  ];
  if (version === 'v1') {
    list.push(
      ['deletionPolicy Never', ks(version, { ...okKs, deletionPolicy: 'Never' })],
      ['empty namePrefix', ks(version, { ...okKs, namePrefix: '' })],
      ['nameSuffix of 201 characters', ks(version, { ...okKs, nameSuffix: 'a'.repeat(201) })],
      ['buildMetadata unknown', ks(version, { ...okKs, buildMetadata: ['sourceAnnotations'] })],
      ['substituteStrategy unknown', ks(version, { ...okKs, postBuild: { substituteStrategy: 'Never' } })],
      ['healthCheckExpr without current', ks(version, { ...okKs, healthCheckExprs: [{ apiVersion: 'v1', kind: 'Pod' }] })],
      ['ignore rule without paths', ks(version, { ...okKs, ignore: [{ target: { kind: 'Secret' } }] })],
      ['validation (v1beta2 only)', ks(version, { ...okKs, validation: 'client' })],
      ['patchesStrategicMerge (v1beta2 only)', ks(version, { ...okKs, patchesStrategicMerge: [{ kind: 'Deployment' }] })],
    );
  } else {
    list.push(
      ['sourceRef kind ExternalArtifact (v1 only)', ks(version, { ...okKs, sourceRef: { kind: 'ExternalArtifact', name: 'x' } })],
      ['validation strict', ks(version, { ...okKs, validation: 'strict' })],
      ['patchesJson6902 without target', ks(version, { ...okKs, patchesJson6902: [{ patch: [{ op: 'remove', path: '/a' }] }] })],
      ['patchesJson6902 op merge', ks(version, { ...okKs, patchesJson6902: [{ patch: [{ op: 'merge', path: '/a' }], target: { kind: 'Deployment' } }] })],
      ['namePrefix (v1 only)', ks(version, { ...okKs, namePrefix: 'a-' })],
      ['deletionPolicy (v1 only)', ks(version, { ...okKs, deletionPolicy: 'Delete' })],
      ['trustedRootSecretRef (v1 only)', oci(version, { ...okOci, verify: { provider: 'cosign', trustedRootSecretRef: { name: 'x' } } })],
    );
  }
  return list.map(([what, object]) => ({ source: `invalid ${version}: ${what}`, object }));
}

/** Edge cases both must accept, with the defaults filled in the same way. */
function edgeCases(version: 'v1' | 'v1beta2'): DocExample[] {
  const list: Array<[string, Obj]> = [
    ['minimal OCIRepository', oci(version, okOci, 'min')],
    ['fractional and compound durations', oci(version, { ...okOci, interval: '1.5h30m10s100ms', timeout: '2m30s' }, 'durations')],
    ['verify without provider (defaulted)', oci(version, { ...okOci, verify: { secretRef: { name: 'k' } } }, 'verifydefault')],
    ['every OCIRepository field', oci(version, {
      ...okOci,
      ref: { digest: 'sha256:' + 'a'.repeat(64), semver: '>=1.0.0', semverFilter: '.*-rc.*', tag: 'v1' },
      layerSelector: { mediaType: 'application/vnd.cncf.flux.content.v1.tar+gzip', operation: 'copy' },
      provider: 'aws',
      secretRef: { name: 's' },
      verify: { provider: 'notation', secretRef: { name: 'k' }, matchOIDCIdentity: [{ issuer: '^https://token.actions.githubusercontent.com$', subject: '.*' }] },
      serviceAccountName: 'sa',
      certSecretRef: { name: 'c' },
      proxySecretRef: { name: 'p' },
      timeout: '30s',
      ignore: '/*\n!/deploy',
      insecure: true,
      suspend: false,
    }, 'everything')],
    ['minimal Kustomization', ks(version, okKs, 'min')],
    ['targetNamespace of 63 characters', ks(version, { ...okKs, targetNamespace: 'a'.repeat(63) }, 'ns63')],
    ['substituteFrom without optional (defaulted)', ks(version, { ...okKs, postBuild: { substitute: { a: 'b' }, substituteFrom: [{ kind: 'ConfigMap', name: 'vars' }] } }, 'subst')],
    ['kubeConfig with a secretRef', ks(version, { ...okKs, kubeConfig: { secretRef: { name: 'kc', key: 'value' } } }, 'kubeconfig')],
  ];
  if (version === 'v1beta2') {
    list.push([
      'deprecated v1beta2 fields',
      ks(version, {
        ...okKs,
        validation: 'client',
        patchesStrategicMerge: [{ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' }, spec: { replicas: 2 } }],
        patchesJson6902: [{ patch: [{ op: 'add', path: '/spec/replicas', value: 3 }], target: { kind: 'Deployment', name: 'x' } }],
      }, 'deprecated'),
    ]);
  } else {
    list.push(['deletionPolicy and name prefix', ks(version, { ...okKs, deletionPolicy: 'WaitForTermination', namePrefix: 'p-', nameSuffix: '-s' }, 'policy')]);
  }
  return list.map(([what, object]) => ({ source: `valid ${version}: ${what}`, object }));
}

/**
 * A doc example made a whole object: a placeholder name (`<repository-name>`) replaced, and the
 * required fields a fragment leaves out (interval, url; prune, sourceRef) filled in, so that the
 * fields it does show are checked.
 */
function completed(e: DocExample): DocExample {
  const o = structuredClone(e.object);
  const meta = (o['metadata'] ?? {}) as Obj;
  if (typeof meta['name'] !== 'string' || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(meta['name'])) meta['name'] = 'doc-example';
  o['metadata'] = meta;
  const spec = (o['spec'] ?? {}) as Obj;
  const required: Obj = o['kind'] === 'OCIRepository' ? okOci : okKs;
  for (const [k, v] of Object.entries(required)) if (spec[k] === undefined) spec[k] = v;
  o['spec'] = spec;
  return { source: `${e.source} (completed)`, object: o };
}

// ---- the runs ------------------------------------------------------------------------------------

interface Compared {
  source: string;
  lading: DryRun;
  flux: DryRun;
}

const NS = 'crds-compare';

async function compareAll(lading: KubeClient, flux: KubeClient, list: DocExample[]): Promise<Compared[]> {
  const out: Compared[] = [];
  for (const e of list) out.push({ source: e.source, lading: await dryRun(lading, e.object, NS), flux: await dryRun(flux, e.object, NS) });
  return out;
}

function differences(results: Compared[]): string[] {
  const diffs: string[] = [];
  for (const r of results) {
    if (r.lading.accepted !== r.flux.accepted) {
      diffs.push(`${r.source}: lading ${r.lading.accepted ? 'accepts' : `refuses (${r.lading.message})`}, Flux ${r.flux.accepted ? 'accepts' : `refuses (${r.flux.message})`}`);
    } else if (r.lading.accepted && r.flux.accepted) {
      if (!isDeepStrictEqual(r.lading.spec, r.flux.spec)) diffs.push(`${r.source}: spec differs: lading ${JSON.stringify(r.lading.spec)} Flux ${JSON.stringify(r.flux.spec)}`);
      if (!isDeepStrictEqual(r.lading.status, r.flux.status)) diffs.push(`${r.source}: status differs: lading ${JSON.stringify(r.lading.status)} Flux ${JSON.stringify(r.flux.status)}`);
    } else if (!r.lading.accepted && !r.flux.accepted && !isDeepStrictEqual(r.lading.causes, r.flux.causes)) {
      diffs.push(`${r.source}: refused for other reasons: lading ${JSON.stringify(r.lading.causes)} Flux ${JSON.stringify(r.flux.causes)}`);
    }
  }
  return diffs;
}

const strip = (o: unknown): unknown =>
  Array.isArray(o) ? o.map(strip) : o !== null && typeof o === 'object' ? Object.fromEntries(Object.entries(o).filter(([k]) => k !== 'description').map(([k, v]) => [k, strip(v)])) : o;

describe('lading CRDs (no cluster)', () => {
  const ours = Object.fromEntries(crds().map((c) => [String((c['metadata'] as Obj)['name']), c as Obj & { spec: Obj & { versions: Obj[] } }]));

  for (const [name, file] of [
    ['ocirepositories.source.toolkit.fluxcd.io', crdFile.oci],
    ['kustomizations.kustomize.toolkit.fluxcd.io', crdFile.ks],
  ] as const) {
    it(`${name}: the same schemas, printer columns, names and flags as Flux's (descriptions aside)`, () => {
      const mine = ours[name];
      expect(mine).toBeDefined();
      const v1Flux = parse(readFileSync(file(FLUX_V1), 'utf8')) as { metadata: Obj; spec: { names: Obj; scope: string; versions: Obj[] } };
      const v1beta2Flux = parse(readFileSync(file(FLUX_V1BETA2), 'utf8')) as { spec: { versions: Obj[] } };
      const spec = mine!.spec as { names: Obj; scope: string; versions: Obj[]; conversion: Obj };
      expect(spec.names).toEqual(v1Flux.spec.names);
      expect(spec.scope).toBe(v1Flux.spec.scope);
      expect(spec.conversion).toEqual({ strategy: 'None' });
      expect(((mine!['metadata'] as Obj)['annotations'] as Obj)['kustomize.toolkit.fluxcd.io/substitute']).toBe('disabled');
      expect(spec.versions.map((v) => [v['name'], v['served'], v['storage']])).toEqual([
        ['v1', true, true],
        ['v1beta2', true, false],
      ]);
      const byName = (list: Obj[], n: string): Obj => list.find((v) => v['name'] === n) as Obj;
      expect(strip(byName(spec.versions, 'v1'))).toEqual(strip(byName(v1Flux.spec.versions, 'v1')));
      // v1beta2 as Flux v1.7.3 served it, except that a Kustomization's v1beta2 status also
      // declares v1's history and lastAppliedOriginRevision (the controller's server-side apply
      // of status at v1 must convert to v1beta2 for managers that applied v1beta2: crds.ts).
      const fluxV1beta2 = structuredClone(byName(v1beta2Flux.spec.versions, 'v1beta2'));
      if (name.startsWith('kustomizations.')) {
        const statusOf = (v: Obj): Obj => ((((v['schema'] as Obj)['openAPIV3Schema'] as Obj)['properties'] as Obj)['status'] as Obj)['properties'] as Obj;
        const v1Status = statusOf(byName(v1Flux.spec.versions, 'v1'));
        for (const field of ['history', 'lastAppliedOriginRevision']) statusOf(fluxV1beta2)[field] = v1Status[field];
      }
      expect(strip(byName(spec.versions, 'v1beta2'))).toEqual(strip(fluxV1beta2));
    });
  }

  it('the doc pages hold the examples this suite compares (extraction did not silently find nothing)', () => {
    expect(docs.ociV1().examples.length).toBeGreaterThanOrEqual(10);
    expect(docs.ociV1beta2().examples.length).toBeGreaterThanOrEqual(10);
    expect(docs.ksV1().examples.length).toBeGreaterThanOrEqual(20);
    expect(docs.ksV1beta2().examples.length).toBeGreaterThanOrEqual(10);
  });
});

describe('lading CRDs and Flux CRDs on real API servers', () => {
  const setup = deferredSetup();
  let fluxCluster: RunningCluster | undefined;
  let ladingClient: KubeClient | undefined;
  let fluxClient: KubeClient | undefined;
  const results: Record<'v1' | 'v1beta2', { docs: Compared[]; completed: Compared[]; invalid: Compared[]; edge: Compared[]; seeds: Compared[] }> = {
    v1: { docs: [], completed: [], invalid: [], edge: [], seeds: [] },
    v1beta2: { docs: [], completed: [], invalid: [], edge: [], seeds: [] },
  };

  beforeAll(async () => {
    await setup.run(async () => {
      ladingClient = await connect(clusterKubeconfig());
      await installCrds(ladingClient, crds());
      await ensureNamespace(ladingClient, NS);
      fluxCluster = await startCluster({ nodes: 0 });
      fluxClient = await connect(fluxCluster.kubeconfig);
      await ensureNamespace(fluxClient, NS);
      // v1beta2 against the last Flux that served it.
      await installCrds(fluxClient, fluxCrds(FLUX_V1BETA2));
      const v1beta2Docs = [...docs.ociV1beta2().examples, ...docs.ksV1beta2().examples];
      results.v1beta2.docs = await compareAll(ladingClient, fluxClient, v1beta2Docs);
      results.v1beta2.completed = await compareAll(ladingClient, fluxClient, v1beta2Docs.map(completed));
      results.v1beta2.invalid = await compareAll(ladingClient, fluxClient, invalid('v1beta2'));
      results.v1beta2.edge = await compareAll(ladingClient, fluxClient, edgeCases('v1beta2'));
      results.v1beta2.seeds = await compareAll(ladingClient, fluxClient, seedObjects());
      // v1 against the current Flux (no v1beta2 any more).
      await installCrds(fluxClient, fluxCrds(FLUX_V1));
      const v1Docs = [...docs.ociV1().examples, ...docs.ksV1().examples];
      results.v1.docs = await compareAll(ladingClient, fluxClient, v1Docs);
      results.v1.completed = await compareAll(ladingClient, fluxClient, v1Docs.map(completed));
      results.v1.invalid = await compareAll(ladingClient, fluxClient, invalid('v1'));
      results.v1.edge = await compareAll(ladingClient, fluxClient, edgeCases('v1'));
    });
  });

  afterAll(async () => {
    await ladingClient?.close();
    await fluxClient?.close();
    await fluxCluster?.stop();
  });

  for (const version of ['v1', 'v1beta2'] as const) {
    it(`${version}: every example of Flux's API docs is accepted or refused by both alike, defaulted the same`, () => {
      setup.ready();
      const r = results[version].docs;
      expect(r.length).toBeGreaterThanOrEqual(25);
      expect(differences(r)).toEqual([]);
      // Many examples are fragments (a spec showing one field, a placeholder name); enough are whole.
      expect(r.filter((x) => x.lading.accepted).length).toBeGreaterThanOrEqual(5);
    });

    it(`${version}: every example of Flux's API docs, completed where it is a fragment, is accepted by both, defaulted the same`, () => {
      setup.ready();
      const r = results[version].completed;
      expect(r.length).toBe(results[version].docs.length);
      expect(differences(r)).toEqual([]);
      expect(r.filter((x) => !x.lading.accepted).map((x) => `${x.source}: ${(x.lading as { message: string }).message}`)).toEqual([]);
    });

    it(`${version}: invalid objects are refused by both, for the same fields`, () => {
      setup.ready();
      const r = results[version].invalid;
      expect(differences(r)).toEqual([]);
      expect(r.filter((x) => x.lading.accepted).map((x) => x.source)).toEqual([]);
    });

    it(`${version}: edge cases are accepted by both, defaulted the same`, () => {
      setup.ready();
      const r = results[version].edge;
      expect(differences(r)).toEqual([]);
      expect(r.filter((x) => !x.lading.accepted).map((x) => x.source)).toEqual([]);
      // The defaults, spelled out once.
      const min = r.find((x) => x.source.endsWith('minimal OCIRepository'))?.lading as { spec: Obj; status: Obj };
      expect(min.spec).toEqual({ ...okOci, provider: 'generic', timeout: '60s' });
      expect(min.status).toEqual({ observedGeneration: -1 });
      const verify = r.find((x) => x.source.endsWith('verify without provider (defaulted)'))?.lading as { spec: Obj };
      expect(verify.spec['verify']).toEqual({ provider: 'cosign', secretRef: { name: 'k' } });
      const k = r.find((x) => x.source.endsWith('minimal Kustomization'))?.lading as { spec: Obj; status: Obj };
      expect(k.spec).toEqual({ ...okKs, force: false });
      expect(k.status).toEqual({ observedGeneration: -1 });
    });
  }

  it("v1beta2: the seeds' manifests are accepted by both, defaulted the same", () => {
    setup.ready();
    const r = results.v1beta2.seeds;
    expect(r).toHaveLength(4);
    expect(differences(r)).toEqual([]);
    expect(r.filter((x) => !x.lading.accepted).map((x) => x.source)).toEqual([]);
  });

  it("the seeds' v1beta2 manifests are stored through lading's CRDs and read back as v1, with a deprecation warning", async () => {
    setup.ready();
    const client = ladingClient!;
    const ns = `crds-seeds-${randomBytes(3).toString('hex')}`;
    await ensureNamespace(client, ns);
    try {
      const applied = await kubectl(clusterKubeconfig(), ['apply', '--server-side', '--field-manager=lading-crds-test', '-f', '-'], {
        input: seedObjects().map(({ object }) => stringify(inNamespace(object, ns))).join('---\n'),
      });
      expect(applied.stderr).toContain('v1beta2 OCIRepository is deprecated, upgrade to v1');
      expect(applied.stderr).toContain('v1beta2 Kustomization is deprecated, upgrade to v1');
      for (const { object } of seedObjects()) {
        const o = inNamespace(object, ns);
        const v1 = { ...o, apiVersion: String(o['apiVersion']).replace('/v1beta2', '/v1') };
        const got = await client.request<Obj>({ path: objectPath(v1, ns) });
        expect(got['apiVersion']).toBe(v1['apiVersion']);
        const given = o['spec'] as Obj;
        const defaults: Obj =
          o['kind'] === 'OCIRepository'
            ? { provider: 'generic', timeout: '60s', verify: { ...(given['verify'] as Obj), provider: 'cosign' } }
            : { force: false };
        expect(got['spec']).toEqual({ ...given, ...defaults });
      }
    } finally {
      // A controller of another suite may have put its finalizer on these: drop it, then delete.
      for (const { object } of seedObjects()) {
        const o = inNamespace(object, ns);
        const path = objectPath({ ...o, apiVersion: String(o['apiVersion']).replace('/v1beta2', '/v1') }, ns);
        await client
          .request({ method: 'PATCH', path, contentType: 'application/merge-patch+json', body: { metadata: { finalizers: null } } })
          .catch(() => undefined);
      }
      await client.request({ method: 'DELETE', path: `/api/v1/namespaces/${ns}` }).catch(() => undefined);
    }
  });
});
