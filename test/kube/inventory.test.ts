import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { KubeError, applySetId, decodeInventory, encodeInventory, entryId, fromInventoryEntries, groupKindsAnnotation, parseEntryId, toInventoryEntries, type Inventory, type ObjectRef } from '../../src/kube/index.js';

const inv: Inventory = {
  name: 'demo-app',
  namespace: 'default',
  entries: [
    { group: '', version: 'v1', kind: 'Namespace', namespace: '', name: 'demo-app' },
    { group: '', version: 'v1', kind: 'ConfigMap', namespace: 'demo-app', name: 'redis-config-bd2fcfgt6k' },
    { group: 'apps', version: 'v1', kind: 'Deployment', namespace: 'demo-app', name: 'cache' },
    { group: 'autoscaling', version: 'v2', kind: 'HorizontalPodAutoscaler', namespace: 'other', name: 'backend' },
  ],
  source: 'oci://127.0.0.1:5000/demo-app',
  revision: '1.0.0',
  artifacts: ['oci://127.0.0.1:5000/demo-app@sha256:' + 'a'.repeat(64)],
  lastAppliedAt: '2026-11-25T21:00:00Z',
};

describe('inventory encoding', () => {
  it('writes entry ids as <namespace>_<name>_<group>_<kind> and reads them back', () => {
    expect(inv.entries.map(entryId)).toEqual(['_demo-app__Namespace', 'demo-app_redis-config-bd2fcfgt6k__ConfigMap', 'demo-app_cache_apps_Deployment', 'other_backend_autoscaling_HorizontalPodAutoscaler']);
    expect(parseEntryId('demo-app_cache_apps_Deployment', 'v1')).toEqual({ namespace: 'demo-app', name: 'cache', group: 'apps', kind: 'Deployment', version: 'v1' });
    expect(() => parseEntryId('nonsense', 'v1')).toThrow(/invalid inventory entry "nonsense"/);
  });

  const rbac = 'rbac.authorization.k8s.io';
  it.each<[string, ObjectRef, string]>([
    ['an RBAC name with a colon', { group: rbac, version: 'v1', kind: 'ClusterRole', namespace: '', name: 'system:aggregate-to-view' }, '_system__aggregate-to-view_rbac.authorization.k8s.io_ClusterRole'],
    ['an RBAC name with colons at both ends', { group: rbac, version: 'v1', kind: 'RoleBinding', namespace: 'ns', name: ':a::b:' }, 'ns___a____b___rbac.authorization.k8s.io_RoleBinding'],
    ['an RBAC name with an underscore', { group: rbac, version: 'v1', kind: 'Role', namespace: 'ns', name: 'read_only' }, 'ns_read_only_rbac.authorization.k8s.io_Role'],
    ['a colon outside RBAC, kept as it is', { group: 'example.com', version: 'v1', kind: 'Widget', namespace: 'ns', name: 'a:b' }, 'ns_a:b_example.com_Widget'],
  ])('writes and reads %s as cli-utils does', (_what, ref, id) => {
    expect(entryId(ref)).toBe(id);
    expect(parseEntryId(id, ref.version)).toEqual(ref);
  });

  it.each(['nonsense', '_name_apps', 'ns_name_apps_', 'ns__apps_Deployment', 'ns-name-group-kind'])('refuses the entry id %j', (id) => {
    expect(() => parseEntryId(id, 'v1')).toThrow(KubeError);
  });

  it('converts to and from Flux status.inventory entries, naming a damaged entry', () => {
    expect(toInventoryEntries(inv.entries)).toEqual([
      { id: '_demo-app__Namespace', v: 'v1' },
      { id: 'demo-app_redis-config-bd2fcfgt6k__ConfigMap', v: 'v1' },
      { id: 'demo-app_cache_apps_Deployment', v: 'v1' },
      { id: 'other_backend_autoscaling_HorizontalPodAutoscaler', v: 'v2' },
    ]);
    expect(fromInventoryEntries(toInventoryEntries(inv.entries), 'x')).toEqual(inv.entries);
    expect(fromInventoryEntries(undefined, 'x')).toEqual([]);
    expect(() => fromInventoryEntries({ id: 'a' }, 'Kustomization ns/app')).toThrow(/Kustomization ns\/app: the inventory entries are not a list/);
    expect(() => fromInventoryEntries([{ id: 'ns_a__ConfigMap', v: 'v1' }, { id: 'ns_a__ConfigMap' }], 'Kustomization ns/app')).toThrow(/Kustomization ns\/app: entry 1 is not \{id, v\}/);
    expect(() => fromInventoryEntries([{ id: 'broken', v: 'v1' }], 'Kustomization ns/app')).toThrow(/Kustomization ns\/app: entry 0: invalid inventory entry "broken"/);
  });

  it('round-trips through its ConfigMap', () => {
    const cm = encodeInventory(inv);
    expect(decodeInventory(JSON.parse(JSON.stringify(cm)))).toEqual(inv);
  });

  it('is a kubectl ApplySet parent (KEP-3659 labels and annotations)', () => {
    const cm = encodeInventory(inv) as { metadata: { labels: Record<string, string>; annotations: Record<string, string> } };
    // kubectl: applyset-<base64url(sha256("<name>.<namespace>.<kind>.<group>"))>-v1, no padding.
    const expected = `applyset-${createHash('sha256').update('demo-app.default.ConfigMap.').digest('base64').replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')}-v1`;
    expect(applySetId(inv)).toBe(expected);
    expect(cm.metadata.labels['applyset.kubernetes.io/id']).toBe(expected);
    expect(cm.metadata.annotations['applyset.kubernetes.io/tooling']).toBe('lading/v0.1.0');
    expect(cm.metadata.annotations['applyset.kubernetes.io/contains-group-kinds']).toBe('ConfigMap,Deployment.apps,HorizontalPodAutoscaler.autoscaling,Namespace');
    expect(cm.metadata.annotations['applyset.kubernetes.io/additional-namespaces']).toBe('demo-app,other');
    expect(groupKindsAnnotation([])).toBe('');
  });

  it('names the inventory when its data is damaged', () => {
    const cm = encodeInventory(inv) as { data: Record<string, string> };
    cm.data['inventory'] = '{not json';
    expect(() => decodeInventory(cm as never)).toThrow(/inventory default\/demo-app: data.inventory is not valid JSON/);
    expect(() => decodeInventory({ metadata: { name: 'x', namespace: 'y' }, data: {} })).toThrow(/inventory y\/x: ConfigMap has no data.inventory/);
    cm.data['inventory'] = JSON.stringify({ entries: [{ id: 'a_b', v: 'v1' }] });
    expect(() => decodeInventory(cm as never)).toThrow(/inventory default\/demo-app: invalid inventory entry "a_b"/);
  });
});
