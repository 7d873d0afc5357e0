import { describe, expect, it } from 'vitest';
import { inventoryOwner, maskSecrets, renderObjectDiff } from '../../src/kube/index.js';
import { hasDrifted, takeoverPatch, needsTakeover } from '../../src/kube/plan.js';

const deployment = (image: string, generation: number): Record<string, unknown> => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: {
    name: 'cache',
    namespace: 'demo-app',
    generation,
    managedFields: [{ manager: 'lading', operation: 'Apply', time: '2026-01-01T00:00:00Z', fieldsType: 'FieldsV1', fieldsV1: {} }],
  },
  spec: { replicas: 1, template: { spec: { containers: [{ name: 'redis', image, imagePullPolicy: 'IfNotPresent' }] } } },
});

describe('diff rendering', () => {
  it('prints unified hunks without file headers, managedFields left out', () => {
    const out = renderObjectDiff(deployment('redis:6.2.0', 1), deployment('redis:6.2.1', 2));
    expect(out).toMatch(/^@@ -\d+,\d+ \+\d+,\d+ @@\n/);
    expect(out).toContain('-  generation: 1\n+  generation: 2\n');
    expect(out).toContain('-        image: redis:6.2.0\n+        image: redis:6.2.1\n');
    expect(out).not.toContain('managedFields');
    expect(out).not.toMatch(/^(---|\+\+\+) /m);
    expect(renderObjectDiff(deployment('a', 1), deployment('a', 1))).toBe('');
  });

  it('masks Secret values and marks which keys change', () => {
    const secret = (data: Record<string, string>): Record<string, unknown> => ({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 's', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"data":{"password":"c2VjcmV0"}}' } },
      data,
    });
    const before = secret({ password: 'c2VjcmV0', user: 'YWRtaW4=', old: 'eA==' });
    const after = secret({ password: 'bmV3c2VjcmV0', user: 'YWRtaW4=', added: 'eQ==' });
    const masked = maskSecrets(before, after);
    expect(masked.before?.['data']).toEqual({ password: '*** (before)', user: '***', old: '***' });
    expect(masked.after?.['data']).toEqual({ password: '*** (after)', user: '***', added: '***' });
    const out = renderObjectDiff(before, after);
    for (const value of ['c2VjcmV0', 'bmV3c2VjcmV0', 'YWRtaW4=', 'eA==', 'eQ==']) expect(out).not.toContain(value);
    expect(out).toContain('-  password: "*** (before)"');
    expect(out).toContain('+  password: "*** (after)"');
    // The inputs are not modified.
    expect((before['data'] as Record<string, string>)['password']).toBe('c2VjcmV0');
  });
});

describe('drift', () => {
  it('ignores resourceVersion and managedFields timestamps, sees everything else', () => {
    const live = deployment('a', 1);
    const same = deployment('a', 1);
    (same['metadata'] as Record<string, unknown>)['resourceVersion'] = '99';
    ((same['metadata'] as { managedFields: Array<Record<string, unknown>> }).managedFields[0] as Record<string, unknown>)['time'] = '2027-01-01T00:00:00Z';
    expect(hasDrifted(live, same)).toBe(false);
    expect(hasDrifted(live, deployment('b', 2))).toBe(true);
    const owned = deployment('a', 1);
    (owned['metadata'] as { managedFields: unknown[] }).managedFields.push({ manager: 'other', operation: 'Apply', fieldsType: 'FieldsV1', fieldsV1: {} });
    expect(hasDrifted(live, owned)).toBe(true);
  });
});

describe('taking over from kubectl client-side apply', () => {
  it('moves kubectl fields to lading and drops last-applied-configuration', () => {
    const live = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: 'c',
        resourceVersion: '42',
        annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}', keep: 'x' },
        managedFields: [
          {
            manager: 'kubectl-client-side-apply',
            operation: 'Update',
            apiVersion: 'v1',
            time: 't',
            fieldsType: 'FieldsV1',
            fieldsV1: { 'f:data': { 'f:a': {} }, 'f:metadata': { 'f:annotations': { '.': {}, 'f:kubectl.kubernetes.io/last-applied-configuration': {}, 'f:keep': {} } } },
          },
          { manager: 'kube-controller-manager', operation: 'Update', apiVersion: 'v1', fieldsType: 'FieldsV1', fieldsV1: { 'f:data': { 'f:z': {} } } },
        ],
      },
      data: { a: '1', z: '2' },
    };
    const owner = inventoryOwner({ name: 'demo', namespace: 'default' });
    expect(needsTakeover(live, owner)).toBe(true);
    const ops = takeoverPatch(live, owner) as Array<{ op: string; path: string; value?: unknown }>;
    expect(ops[0]).toEqual({ op: 'test', path: '/metadata/resourceVersion', value: '42' });
    const managed = ops[1]?.value as Array<Record<string, unknown>>;
    expect(managed.map((m) => `${m['manager']}/${m['operation']}`)).toEqual(['kube-controller-manager/Update', 'lading/Apply']);
    expect(managed[1]?.['fieldsV1']).toEqual({ 'f:data': { 'f:a': {} }, 'f:metadata': { 'f:annotations': { '.': {}, 'f:keep': {} } } });
    expect(ops[2]).toEqual({ op: 'remove', path: '/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration' });
    expect(needsTakeover({ metadata: { managedFields: [{ manager: 'lading', operation: 'Apply' }] } }, owner)).toBe(false);
  });
});
