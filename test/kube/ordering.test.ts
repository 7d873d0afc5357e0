import { describe, expect, it } from 'vitest';
import { sortForApply, sortForDelete, stageOf, type ObjectRef } from '../../src/kube/index.js';

const ref = (kind: string, name: string, namespace = '', group = ''): ObjectRef => ({ group, version: 'v1', kind, namespace, name });

describe('apply order', () => {
  it('puts the tutorial objects in the order kustomizer prints them', () => {
    const input = [
      ref('HorizontalPodAutoscaler', 'frontend', 'demo-app', 'autoscaling'),
      ref('Deployment', 'frontend', 'demo-app', 'apps'),
      ref('Service', 'frontend', 'demo-app'),
      ref('HorizontalPodAutoscaler', 'backend', 'demo-app', 'autoscaling'),
      ref('Deployment', 'cache', 'demo-app', 'apps'),
      ref('Service', 'cache', 'demo-app'),
      ref('ConfigMap', 'redis-config-bd2fcfgt6k', 'demo-app'),
      ref('Deployment', 'backend', 'demo-app', 'apps'),
      ref('Service', 'backend', 'demo-app'),
      ref('Namespace', 'demo-app'),
    ];
    const sorted = sortForApply(input, (r) => r).map((r) => `${r.kind}/${r.name}`);
    expect(sorted).toEqual([
      'Namespace/demo-app',
      'ConfigMap/redis-config-bd2fcfgt6k',
      'Service/backend',
      'Service/cache',
      'Service/frontend',
      'Deployment/backend',
      'Deployment/cache',
      'Deployment/frontend',
      'HorizontalPodAutoscaler/backend',
      'HorizontalPodAutoscaler/frontend',
    ]);
    expect(sortForDelete(input, (r) => r).map((r) => `${r.kind}/${r.name}`)).toEqual([...sorted].reverse());
  });

  it('stages CRDs, Namespaces and ClusterRoles first, then *Class kinds, then the rest', () => {
    const table: Array<[ObjectRef, string]> = [
      [ref('CustomResourceDefinition', 'a', '', 'apiextensions.k8s.io'), 'cluster'],
      [ref('Namespace', 'a'), 'cluster'],
      [ref('ClusterRole', 'a', '', 'rbac.authorization.k8s.io'), 'cluster'],
      [ref('StorageClass', 'a', '', 'storage.k8s.io'), 'class'],
      [ref('IngressClass', 'a', '', 'networking.k8s.io'), 'class'],
      [ref('PriorityClass', 'a', '', 'scheduling.k8s.io'), 'class'],
      [ref('ClusterRoleBinding', 'a', '', 'rbac.authorization.k8s.io'), 'default'],
      [ref('Role', 'a', 'x', 'rbac.authorization.k8s.io'), 'default'],
      [ref('Widget', 'a', 'x', 'example.com'), 'default'],
    ];
    for (const [r, stage] of table) expect(stageOf(r), r.kind).toBe(stage);
    const sorted = sortForApply(
      [ref('Widget', 'w', 'x', 'example.com'), ref('StorageClass', 's', '', 'storage.k8s.io'), ref('ConfigMap', 'c', 'x'), ref('CustomResourceDefinition', 'widgets.example.com', '', 'apiextensions.k8s.io'), ref('Namespace', 'x')],
      (r) => r,
    ).map((r) => r.kind);
    expect(sorted).toEqual(['Namespace', 'CustomResourceDefinition', 'StorageClass', 'ConfigMap', 'Widget']);
  });

  it('orders within a kind by namespace, then name; webhooks last', () => {
    const sorted = sortForApply(
      [
        ref('ValidatingWebhookConfiguration', 'v', '', 'admissionregistration.k8s.io'),
        ref('ConfigMap', 'b', 'ns2'),
        ref('ConfigMap', 'a', 'ns2'),
        ref('ConfigMap', 'z', 'ns1'),
        ref('Widget', 'w', 'ns1', 'example.com'),
      ],
      (r) => r,
    ).map((r) => `${r.kind}/${r.namespace}/${r.name}`);
    expect(sorted).toEqual(['ConfigMap/ns1/z', 'ConfigMap/ns2/a', 'ConfigMap/ns2/b', 'Widget/ns1/w', 'ValidatingWebhookConfiguration//v']);
  });
});
