// The public surface of src/manifests/patch beyond what the kustomize comparisons cover: inputs
// left untouched, error codes and details, classification, limits.
import { describe, expect, it } from 'vitest';
import {
  applyJson6902,
  applyKustomizeSmPatch,
  applyStrategicMergePatch,
  classifyPatch,
  isPatchDelete,
  parseJson6902,
  PatchError,
} from '../../src/manifests/patch/index.js';
import { ManifestError } from '../../src/manifests/errors.js';

const deployment = () => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'shop' },
  spec: {
    template: {
      spec: {
        containers: [
          { name: 'a', image: 'a:1', env: [{ name: 'X', value: '1' }] },
          { name: 'b', image: 'b:1' },
        ],
      },
    },
  },
});

function thrown(fn: () => unknown): PatchError {
  try {
    fn();
  } catch (err) {
    if (err instanceof PatchError) return err;
    throw err;
  }
  throw new Error('expected a PatchError');
}

describe('strategic merge', () => {
  it('leaves the target and the patch untouched', () => {
    const target = deployment();
    const patch = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web' },
      spec: { template: { spec: { containers: [{ name: 'b', $patch: 'delete' }, { name: 'c', image: 'c:1' }] } } },
    };
    const before = [structuredClone(target), structuredClone(patch)];
    const result = applyStrategicMergePatch(target, patch);
    expect([target, patch]).toStrictEqual(before);
    const containers = (result['spec'] as any).template.spec.containers as Array<{ name: string }>;
    expect(containers.map((c) => c.name)).toStrictEqual(['c', 'a']);
  });

  it('the bare merge takes the patch name; the kustomize form keeps the target name', () => {
    const patch = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'all', namespace: 'x' } };
    const bare = applyStrategicMergePatch(deployment(), patch);
    expect((bare['metadata'] as any).name).toBe('all');
    const full = applyKustomizeSmPatch(deployment(), patch, { targeted: true });
    expect(full['metadata']).toStrictEqual({ name: 'web', namespace: 'shop' });
    const renamed = applyKustomizeSmPatch(deployment(), patch, { targeted: true, allowNameChange: true });
    expect((renamed['metadata'] as any).name).toBe('all');
  });

  it('returns {} when the patch deletes the whole object', () => {
    const patch = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, $patch: 'delete' };
    expect(isPatchDelete(patch)).toBe(true);
    expect(isPatchDelete({ kind: 'Deployment' })).toBe(false);
    expect(applyStrategicMergePatch(deployment(), patch)).toStrictEqual({});
    expect(applyKustomizeSmPatch(deployment(), patch)).toStrictEqual({});
  });

  it('keeps a null the patch does not mention', () => {
    const target = { kind: 'ConfigMap', metadata: { name: 'c', creationTimestamp: null }, data: { a: '1' } };
    const result = applyStrategicMergePatch(target, { kind: 'ConfigMap', metadata: { name: 'c' }, data: { b: '2' } });
    expect(result).toStrictEqual({ kind: 'ConfigMap', metadata: { name: 'c', creationTimestamp: null }, data: { a: '1', b: '2' } });
  });

  it('appends new keys of an existing map in sorted order, as kyaml does', () => {
    const result = applyStrategicMergePatch({ kind: 'X', spec: { m: 1 } }, { kind: 'X', spec: { z: 1, a: 2 } });
    expect(Object.keys(result['spec'] as object)).toStrictEqual(['m', 'a', 'z']);
  });

  it('names the source and the field path in errors', () => {
    const err = thrown(() =>
      applyStrategicMergePatch(deployment(), { kind: 'Deployment', spec: { template: { spec: { containers: 'nope' } } } }, { source: 'p.yaml' }),
    );
    expect(err).toBeInstanceOf(ManifestError);
    expect(err.code).toBe('PATCH_FAILED');
    expect(err.details).toStrictEqual({ source: 'p.yaml', path: 'spec.template.spec.containers' });
    expect(err.message).toBe(
      'applying strategic merge patch from p.yaml at spec.template.spec.containers: wrong node kind: expected SequenceNode but got ScalarNode',
    );
  });
});

describe('JSON 6902', () => {
  it('sorts keys like kustomize and leaves the inputs untouched', () => {
    const target = deployment();
    const ops = [{ op: 'add', path: '/metadata/labels', value: { z: '1', a: '2' } }];
    const before = structuredClone(ops);
    const result = applyJson6902(target, ops);
    expect(target).toStrictEqual(deployment());
    expect(ops).toStrictEqual(before);
    expect(Object.keys(result)).toStrictEqual(['apiVersion', 'kind', 'metadata', 'spec']);
    expect(Object.keys(result['metadata'] as object)).toStrictEqual(['labels', 'name', 'namespace']);
    expect(Object.keys((result['metadata'] as any).labels)).toStrictEqual(['a', 'z']);
  });

  it('names the operation index, the path and the source in errors', () => {
    const err = thrown(() =>
      applyJson6902(
        deployment(),
        [
          { op: 'test', path: '/kind', value: 'Deployment' },
          { op: 'remove', path: '/spec/template/spec/containers/5' },
        ],
        { source: 'ops.yaml' },
      ),
    );
    expect(err.code).toBe('PATCH_FAILED');
    expect(err.details).toStrictEqual({ source: 'ops.yaml', op: 1, path: '/spec/template/spec/containers/5' });
    expect(err.message).toBe(
      "applying JSON 6902 patch from ops.yaml: operation 1 (remove /spec/template/spec/containers/5): error in remove for path: '/spec/template/spec/containers/5': Unable to access invalid index: 5: invalid index referenced",
    );
  });

  it('refuses copies that would blow the object up', () => {
    const ops = Array.from({ length: 30 }, () => ({ op: 'copy', from: '/spec', path: '/spec/template/spec/containers/-' }));
    const err = thrown(() => applyJson6902(deployment(), ops, { maxCopyBytes: 1 << 20 }));
    expect(err.message).toMatch(/copies add up to more than 1048576 bytes/);
  });

  it('rejects a non-list and names the source', () => {
    const err = thrown(() => parseJson6902('op: add\n', { source: 'x.yaml' }));
    expect(err.message).toBe('parsing JSON 6902 patch from x.yaml: expected a list of operations');
  });
});

describe('classifyPatch', () => {
  it('reads YAML and JSON operation lists as JSON 6902', () => {
    expect(classifyPatch('- op: remove\n  path: /spec\n')).toStrictEqual({
      kind: 'json6902',
      operations: [{ op: 'remove', path: '/spec' }],
    });
    expect(classifyPatch('[{"op":"add","path":"/a","value":1}]').kind).toBe('json6902');
  });

  it('reads objects with kind and name as strategic merge, expanding lists', () => {
    const text = 'kind: DeploymentList\nitems:\n- kind: Deployment\n  metadata: {name: a}\n---\nkind: Service\nmetadata: {name: b}\n';
    const c = classifyPatch(text);
    expect(c.kind).toBe('strategicMerge');
    expect(c.kind === 'strategicMerge' && c.documents.map((d) => (d['metadata'] as any).name)).toStrictEqual(['a', 'b']);
  });

  it('uses the parser it is given for strategic merge documents', () => {
    const seen: string[] = [];
    const text = 'kind: A\nmetadata: {name: a}\n';
    classifyPatch(text, {
      source: 'p.yaml',
      parse: (text, source) => {
        seen.push(`${source}:${text.length}`);
        return [{ kind: 'A', metadata: { name: 'a' } }];
      },
    });
    expect(seen).toStrictEqual([`p.yaml:${text.length}`]);
  });

  it('fails on empty text, on text that reads both ways and on text that reads neither way', () => {
    expect(thrown(() => classifyPatch('  \n', { source: 'e.yaml' })).message).toBe('patch e.yaml is empty');
    expect(thrown(() => classifyPatch('[]')).message).toBe('illegally qualifies as both an SM and JSON patch: [patch: "[]"]');
    expect(thrown(() => classifyPatch('kind: Deployment\n', { source: 'n.yaml' })).message).toMatch(
      /^unable to parse SM or JSON patch from n\.yaml \(missing metadata\.name in object; expected a list of operations\)$/,
    );
  });
});

describe('keys from user data', () => {
  it('treats __proto__ as an ordinary key', () => {
    const target = JSON.parse('{"kind":"ConfigMap","metadata":{"name":"c"},"data":{"__proto__":"a","x":"1"}}');
    const patch = JSON.parse('{"kind":"ConfigMap","metadata":{"name":"c"},"data":{"__proto__":"b","y":{"__proto__":"c"}}}');
    const merged = applyStrategicMergePatch(target, patch);
    expect(Object.getPrototypeOf(merged['data'])).toBe(Object.prototype);
    expect(Object.keys(merged['data'] as object)).toStrictEqual(['__proto__', 'x', 'y']);
    expect(JSON.stringify(merged['data'])).toBe('{"__proto__":"b","x":"1","y":{"__proto__":"c"}}');
    const patched = applyJson6902(target, [{ op: 'add', path: '/data/__proto__', value: { polluted: true } }]);
    expect(JSON.stringify(patched['data'])).toBe('{"__proto__":{"polluted":true},"x":"1"}');
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});

describe('a block scalar that ends the patch text without a line break', () => {
  // go-yaml (kustomize) gives such a value no final "\n"; the differential cases
  // (test/manifests/cases/*block-scalar*) check the same through lading build.
  it('has no final line break in a strategic merge patch', () => {
    const c = classifyPatch('apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  lit: |\n    one\n    two');
    expect(c).toEqual({ kind: 'strategicMerge', documents: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a' }, data: { lit: 'one\ntwo' } }] });
  });

  it('has no final line break in JSON 6902 operations, folded or kept', () => {
    expect(classifyPatch('- op: add\n  path: /data/x\n  value: >\n    one\n    two')).toEqual({ kind: 'json6902', operations: [{ op: 'add', path: '/data/x', value: 'one two' }] });
    expect(classifyPatch('- op: add\n  path: /data/x\n  value: |+\n    one\n\n    two')).toEqual({ kind: 'json6902', operations: [{ op: 'add', path: '/data/x', value: 'one\n\ntwo' }] });
  });

  it('keeps the line break when the text ends with one, or with an empty last line', () => {
    expect(classifyPatch('- op: add\n  path: /data/x\n  value: |\n    one\n')).toEqual({ kind: 'json6902', operations: [{ op: 'add', path: '/data/x', value: 'one\n' }] });
    expect(classifyPatch('- op: add\n  path: /data/x\n  value: |+\n    one\n\n    ')).toEqual({ kind: 'json6902', operations: [{ op: 'add', path: '/data/x', value: 'one\n\n' }] });
  });
});
