// lading's Kustomization on a Bucket produced by Flux's own source-controller (v1.9.5): the
// bucket is served by a real S3 server (gofakes3, test/env/s3.ts) on loopback, on a private
// cluster that holds Flux's CRDs. lading fetches source-controller's artifact, applies it with
// Flux's labels, and follows a change of an object in the bucket.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type RunningCluster } from '../env/cluster.js';
import { installFluxCrds, startFluxControllers, type RunningFluxControllers } from '../env/flux-controllers.js';
import { startS3Server, type S3Server } from '../env/s3.js';
import { deferredSetup, kubectl } from '../kube/helpers.js';
import { startLadingController, type LadingController } from './controller-process.js';
import { applyObjects, cond, configMap, getObject, readyTrue, requestReconcile, waitObject, type FluxObject, type PlainObject } from './flux-interop-helpers.js';

const NameLabel = 'kustomize.toolkit.fluxcd.io/name';
const NamespaceLabel = 'kustomize.toolkit.fluxcd.io/namespace';

describe("lading's controller and Flux's source-controller on a Bucket", () => {
  const setup = deferredSetup();
  let cluster: RunningCluster;
  let kubeconfig: string;
  let s3: S3Server | undefined;
  let lading: LadingController | undefined;
  let flux: RunningFluxControllers | undefined;

  const logs = (): string =>
    [
      `--- lading controller ---\n${lading?.log().slice(-6000) ?? '(not running)'}`,
      `--- source-controller ---\n${flux?.readLog('source').slice(-4000) ?? '(not running)'}`,
      `--- s3server ---\n${s3?.log().slice(-2000) ?? '(not running)'}`,
    ].join('\n');
  const wait = (ns: string, resource: string, name: string, what: string, check: (o: FluxObject) => boolean): Promise<FluxObject> =>
    waitObject(kubeconfig, ns, resource, name, what, check, logs);
  const plain = (ns: string, resource: string, name: string): Promise<PlainObject | undefined> => getObject<PlainObject>(kubeconfig, ns, resource, name);

  beforeAll(() =>
    setup.run(async () => {
      cluster = await startCluster({ nodes: 1 });
      kubeconfig = cluster.kubeconfig;
      // Flux's own CRDs: lading's are never installed on this cluster.
      await installFluxCrds(kubeconfig);
      s3 = await startS3Server({ bucket: 'interop' });
    }),
  );

  afterAll(async () => {
    await lading?.stop();
    await flux?.stop();
    await s3?.stop();
    await cluster?.stop();
  });

  it("lading's Kustomization applies a Bucket that Flux's source-controller produces, and follows a changed object", async () => {
    setup.ready();
    const server = s3 as S3Server;
    const ns = 'interop-bucket';
    await kubectl(kubeconfig, ['create', 'namespace', ns]);
    await server.putObject('deploy/configmap.yaml', configMap('bucket-config', ns, { greeting: 'hello from s3' }));
    await server.putObject('README.md', 'not applied\n');
    // Only Flux's source-controller: nothing but lading reconciles Kustomizations.
    flux = await startFluxControllers({ kubeconfig, which: ['source'], installCrds: false, logLevel: 'info' });
    lading = await startLadingController({ kubeconfig });
    await applyObjects(kubeconfig, [
      {
        // The generic provider requires static credentials; gofakes3 accepts any.
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 's3-credentials', namespace: ns },
        stringData: { accesskey: 'interop-access', secretkey: 'interop-secret' },
      },
      {
        apiVersion: 'source.toolkit.fluxcd.io/v1',
        kind: 'Bucket',
        metadata: { name: 'app', namespace: ns },
        spec: { provider: 'generic', bucketName: server.bucket, endpoint: server.endpoint, insecure: true, interval: '10m', secretRef: { name: 's3-credentials' } },
      },
      {
        apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
        kind: 'Kustomization',
        metadata: { name: 'app', namespace: ns },
        spec: { sourceRef: { kind: 'Bucket', name: 'app' }, path: './deploy', prune: true, interval: '10m' },
      },
    ]);

    const source = await wait(ns, 'bucket', 'app', 'Ready (source-controller)', readyTrue);
    const first = source.status?.artifact?.revision ?? '';
    expect(first).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(source.status?.artifact?.url.startsWith(`${flux.sourceStorageUrl ?? '?'}/bucket/${ns}/app/`)).toBe(true);

    const ks = await wait(ns, 'kustomization', 'app', `Ready at ${first}`, (o) => readyTrue(o) && o.status?.lastAppliedRevision === first);
    expect(cond(ks, 'Ready')?.reason).toBe('ReconciliationSucceeded');
    expect(ks.status?.inventory?.entries.map((e) => e.id)).toEqual([`${ns}_bucket-config__ConfigMap`]);
    // The status was written by lading (its logs name the revision), not by a Flux controller.
    expect(lading.log()).toContain(first);
    const cm = await plain(ns, 'configmap', 'bucket-config');
    expect(cm?.data?.['greeting']).toBe('hello from s3');
    expect(cm?.metadata.labels?.[NameLabel]).toBe('app');
    expect(cm?.metadata.labels?.[NamespaceLabel]).toBe(ns);
    expect(cm?.metadata.managedFields?.some((f) => f.manager === 'kustomize-controller' && f.operation === 'Apply')).toBe(true);

    // The object changes in the bucket; requestedAt hurries source-controller.
    await server.putObject('deploy/configmap.yaml', configMap('bucket-config', ns, { greeting: 'hello again' }));
    await requestReconcile(kubeconfig, ns, 'bucket', 'app');
    const changed = await wait(ns, 'bucket', 'app', 'a new artifact', (o) => readyTrue(o) && (o.status?.artifact?.revision ?? first) !== first);
    const second = changed.status?.artifact?.revision ?? '';
    expect(second).toMatch(/^sha256:[0-9a-f]{64}$/);
    await wait(ns, 'kustomization', 'app', `Ready at ${second}`, (o) => readyTrue(o) && o.status?.lastAppliedRevision === second);
    const cm2 = await plain(ns, 'configmap', 'bucket-config');
    expect(cm2?.data?.['greeting']).toBe('hello again');
    expect(cm2?.metadata.uid).toBe(cm?.metadata.uid);
  }, 600_000);
});
