import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { applySetId, decodeInventory, encodeInventory, entryId, groupKindsAnnotation, parseEntryId, type Inventory } from '../../src/kube/index.js';

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
