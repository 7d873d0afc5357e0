// postBuild substitution: the envsubst grammar against Flux's own (through `flux build
// kustomization --dry-run`), its limits, variable names, strict mode, and substituteFrom
// ConfigMaps and Secrets read from the real API server.
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KustomizationSpec } from '../../src/controller/api.js';
import { buildKustomization, envsubst, FluxBuildError, loadVariables, substitute } from '../../src/controller/kustomize/build.js';
import type { KubeClient } from '../../src/kube/index.js';
import { formatManifests, parseManifests, type KubeObject } from '../../src/manifests/index.js';
import { run } from '../env/process.js';
import { toolPath } from '../env/tools.js';
import { clusterKubeconfig, connect, kubectl } from '../kube/helpers.js';

const work = mkdtempSync(join(tmpdir(), 'lading-substitute-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const baseSpec = (postBuild: KustomizationSpec['postBuild']): KustomizationSpec => ({
  interval: '10m',
  prune: true,
  path: './',
  sourceRef: { kind: 'OCIRepository', name: 'app' },
  ...(postBuild ? { postBuild } : {}),
});

let counter = 0;
/** An artifact holding one file, `objects.yaml`. */
function artifact(yaml: string): string {
  const dir = join(work, `artifact-${++counter}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'objects.yaml'), yaml);
  return dir;
}

async function flux(yaml: string, spec: KustomizationSpec): Promise<{ ok: true; objects: KubeObject[] } | { ok: false; error: string }> {
  const dir = artifact(yaml);
  const ks = join(work, `ks-${counter}.yaml`);
  writeFileSync(ks, formatManifests([{ apiVersion: 'kustomize.toolkit.fluxcd.io/v1', kind: 'Kustomization', metadata: { name: 'app', namespace: 'apps' }, spec }]));
  const r = await run(toolPath('flux'), ['build', 'kustomization', 'app', '-n', 'apps', '--path', dir, '--kustomization-file', ks, '--dry-run', '--strict-substitute'], {
    allowFailure: true,
    env: { ...process.env, KUBECONFIG: join(work, 'no-kubeconfig') },
  });
  if (r.code !== 0) return { ok: false, error: r.stderr };
  const objects = parseManifests(r.stdout, 'flux output');
  for (const o of objects) delete (o['metadata'] as Record<string, unknown>)['labels'];
  return { ok: true, objects };
}

async function lading(yaml: string, spec: KustomizationSpec, client?: KubeClient, namespace = 'apps'): Promise<{ ok: true; objects: KubeObject[]; checksum: string; yaml: string } | { ok: false; error: FluxBuildError }> {
  try {
    const r = await buildKustomization({ dir: artifact(yaml), path: './', spec, namespace, name: 'app', ...(client ? { client } : {}) });
    return { ok: true, ...r };
  } catch (err) {
    if (err instanceof FluxBuildError) return { ok: false, error: err };
    throw err;
  }
}

const configMap = (data: Record<string, string>) =>
  ['apiVersion: v1', 'kind: ConfigMap', 'metadata:', '  name: grammar', 'data:', ...Object.entries(data).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`), ''].join('\n');

const VARS = {
  S: 'Hello World',
  P: 'a/b.tar.gz/c.tar.gz',
  E: '',
  U: 'ÄBC déf',
  N: '007',
  SLASH: 'x/y/z',
};

describe('the envsubst grammar is Flux’s', () => {
  // Every expression in one object: Flux's output and ours must be the same.
  const expressions: Record<string, string> = {
    bare: '${S}',
    adjacent: '${S}${P}',
    text: 'pre ${S} post',
    'dollar-escape': '$${S}',
    'dollar-escape-3': '$$${S}',
    'dollar-escape-4': '$$$${S}',
    'lone-dollar': '$ $S $',
    'dollar-brace-text': 'cost: $5 {x}',
    'default-assign': '${UNSET:=d1}',
    'default-minus': '${UNSET:-d2}',
    'default-empty': '${E:=d3}',
    'default-set': '${S:=unused}',
    'default-equals': '${UNSET=d4}',
    'default-nested': '${UNSET:=${S}}',
    'default-nested-default': '${UNSET:=${UNSET2:=deep}}',
    'default-with-spaces': '${UNSET:=a b c}',
    'default-with-colon': '${UNSET:=http://host:80/p}',
    'default-empty-arg': '${UNSET:=}',
    'default-plus': '${S:+alt}',
    'default-question': '${S:?msg}',
    length: '${#S}',
    'length-unicode': '${#U}',
    'upper-first': '${S^}',
    upper: '${S^^}',
    'upper-unicode': '${U^^}',
    'lower-first': '${S,}',
    lower: '${S,,}',
    'lower-unicode': '${U,,}',
    offset: '${S:6}',
    'offset-length': '${S:0:5}',
    'offset-negative': '${S: -5}',
    'offset-negative-length': '${S:1:-1}',
    'offset-beyond': '${S:100}',
    'offset-length-beyond': '${S:3:100}',
    'offset-not-number': '${S:x}',
    'offset-var': '${S:${N}}',
    'trim-shortest-prefix': '${P#*/}',
    'trim-longest-prefix': '${P##*/}',
    'trim-shortest-suffix': '${P%.*}',
    'trim-longest-suffix': '${P%%.*}',
    'trim-class': '${P#[a-b]}',
    'trim-question': '${P#?/}',
    'trim-no-match': '${P#zzz}',
    'replace-first': '${P/tar/TAR}',
    'replace-all': '${P//tar/TAR}',
    'replace-prefix': '${P/#a/A}',
    'replace-prefix-no-match': '${P/#b/B}',
    'replace-suffix': '${P/%gz/GZ}',
    'replace-delete-first': '${P/./}',
    'replace-delete-all': '${P//./}',
    'replace-escaped-slash': '${SLASH//\\//:}',
    'replace-with-var': '${P//tar/${S}}',
    'leading-zero-number': '${N}',
    'escapes-in-default': '${UNSET:=$$x}',
    'escaped-backslash-in-replace': '${SLASH/\\\\/-}',
    'many-escapes': '$$$$$$$${S}$$',
    'colon-ascii-word': '${S:abc}',
    unicode: '${U}',
  };

  it('evaluates every form as Flux does', async () => {
    const spec = baseSpec({ substitute: VARS });
    const yaml = configMap(expressions);
    const [f, l] = [await flux(yaml, spec), await lading(yaml, spec)];
    if (!f.ok) throw new Error(f.error);
    if (!l.ok) throw l.error;
    expect(formatManifests(l.objects)).toBe(formatManifests(f.objects));
  });

  // (${S:é}: Go steps back the width of the character after the colon, in bytes, and lands on the name)
  const invalid = ['${S', '${}', '${S:}', '${E-d}', '${S//x}', '${S%}', '${#}', '${S!}', '${S:=${}', '${S^x}', '${S:é}'];
  for (const expr of invalid) {
    it(`refuses ${expr} as Flux does`, async () => {
      const spec = baseSpec({ substitute: VARS });
      const yaml = configMap({ v: expr });
      const [f, l] = [await flux(yaml, spec), await lading(yaml, spec)];
      expect(f.ok, `flux accepted ${expr}`).toBe(false);
      expect(l.ok, `lading accepted ${expr}`).toBe(false);
      if (!f.ok && !l.ok) {
        const goMessage = /variable substitution failed: (.*)$/m.exec(f.error)?.[1]?.trim();
        expect(goMessage).toBeTruthy();
        expect(l.error.code).toBe('SUBSTITUTE_FAILED');
        expect(l.error.message).toContain(goMessage);
      }
    });
  }

  it('fails as Flux does when a value breaks the YAML', async () => {
    const yaml = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken\ndata:\n  v: ${V}\n';
    for (const V of ['a: b', '[unclosed', '*noanchor']) {
      const spec = baseSpec({ substitute: { V } });
      const [f, l] = [await flux(yaml, spec), await lading(yaml, spec)];
      expect(f.ok, V).toBe(false);
      expect(l.ok, V).toBe(false);
      if (!l.ok) {
        expect(l.error.code).toBe('SUBSTITUTE_FAILED');
        expect(l.error.message).toContain('ConfigMap broken');
        expect(l.error.message).not.toContain(V);
      }
    }
  });

  it('reads the substituted text back as sigs.k8s.io/yaml does (go-yaml v2 booleans, octal, timestamps, keys)', async () => {
    const yaml = [
      'apiVersion: v1',
      'kind: ConfigMap',
      'metadata:',
      '  name: types',
      'spec:',
      '  b1: ${YES}',
      '  b2: ${OFF}',
      '  octal: ${OCT}',
      '  hex: ${HEX}',
      '  big: ${BIG}',
      '  float: ${FLOAT}',
      '  date: ${DATE}',
      '  ${KEY}: key-from-variable',
      '  empty: ${EMPTY}',
      '  list: ${LIST}',
      '  map: ${MAP}',
      '',
    ].join('\n');
    const spec = baseSpec({ substitute: { YES: 'yes', OFF: 'Off', OCT: '0777', HEX: '0x1F', BIG: '9007199254740993', FLOAT: '1.50', DATE: '2024-01-02', KEY: 'on', EMPTY: '', LIST: '[a, 1, true]', MAP: '{x: y}' } });
    const [f, l] = [await flux(yaml, spec), await lading(yaml, spec)];
    if (!f.ok) throw new Error(f.error);
    if (!l.ok) throw l.error;
    expect(formatManifests(l.objects)).toBe(formatManifests(f.objects));
    expect((l.objects[0]?.['spec'] as Record<string, unknown>)['b1']).toBe(true);
    expect((l.objects[0]?.['spec'] as Record<string, unknown>)['big']).toBe(9007199254740992);
  });
});

describe('envsubst limits and edge cases', () => {
  const vars = new Map(Object.entries(VARS));
  const look = (n: string) => vars.get(n);

  it('names the unset variable in strict mode, and reads it as empty otherwise', () => {
    expect(() => envsubst('a ${MISSING} b', look)).toThrow(/"MISSING"/);
    expect(envsubst('a ${MISSING} b', (n) => vars.get(n) ?? '')).toBe('a  b');
    // Arguments are evaluated first: a missing variable inside a default is an error even when unused.
    expect(() => envsubst('${S:=${MISSING}}', look)).toThrow(/"MISSING"/);
    // String functions need a value; default-giving forms do not.
    expect(() => envsubst('${#MISSING}', look)).toThrow(/"MISSING"/);
    expect(envsubst('${MISSING:-x}${MISSING:=y}', look)).toBe('xy');
  });

  it('bounds the size of the expansion', () => {
    const big = new Map([['B', 'x'.repeat(1024 * 1024)]]);
    expect(() => envsubst('${B}'.repeat(100), (n) => big.get(n), { maxChars: 10 * 1024 * 1024 })).toThrow(/exceeds/);
    // through substitute(): 70 references to a 1 MiB value pass the 64 Mi bound
    const obj = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'huge' }, data: { v: '${B}'.repeat(70) } };
    let caught: unknown;
    try {
      substitute([obj], big);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(FluxBuildError);
    expect((caught as FluxBuildError).code).toBe('SUBSTITUTE_FAILED');
    expect((caught as FluxBuildError).message).toMatch(/ConfigMap huge.*exceeds/);
    expect((caught as FluxBuildError).message.length).toBeLessThan(1000);
  });

  it('bounds a replacement before building it', () => {
    const big = new Map([['B', 'x'.repeat(1_000_000)], ['E', '']]);
    const look2 = (n: string) => big.get(n);
    // an empty pattern matches between every character: 1e6 × 1e6 characters would be built
    expect(() => envsubst('${B//${E}/${B}}', look2)).toThrow(/exceeds the limit/);
    expect(() => envsubst('${B//x/${B}}', look2)).toThrow(/exceeds the limit/);
    expect(envsubst('${B//x/y}', look2)).toBe('y'.repeat(1_000_000));
  });

  it('bounds nesting and pattern matching', () => {
    expect(() => envsubst('${A:='.repeat(200) + '}'.repeat(200), () => undefined)).toThrow(/nested more than/);
    const long = new Map([['L', 'ab'.repeat(20_000)]]);
    expect(() => envsubst('${L##*a*a*a*c}', (n) => long.get(n), { maxMatchSteps: 1_000_000 })).toThrow(/too many steps/);
  });

  it('stays linear on a text of many escapes', () => {
    const text = '$$'.repeat(300_000);
    expect(envsubst(text, look)).toBe('$'.repeat(300_000));
  });

  it('expands a text of many expressions without a deep stack', () => {
    const text = '${S}-'.repeat(50_000);
    expect(envsubst(text, look)).toBe('Hello World-'.repeat(50_000));
  });

  it('checks variable names as Flux does', () => {
    const obj = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a' }, data: { v: '${A}' } };
    for (const bad of ['1A', 'A-B', 'A.B', 'Ä', '']) {
      expect(() => substitute([obj], { [bad]: 'x' }), bad).toThrow(FluxBuildError);
    }
    expect(substitute([obj], { _a1: 'x', A: 'yy' })[0]?.['data']).toEqual({ v: 'yy' });
  });

  it('leaves objects opted out by label or annotation untouched, the same object', () => {
    const objs = [
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', annotations: { 'kustomize.toolkit.fluxcd.io/substitute': 'disabled' } }, data: { v: '${NOPE}' } },
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'b', labels: { 'kustomize.toolkit.fluxcd.io/substitute': 'disabled' } }, data: { v: '${NOPE}' } },
    ];
    const out = substitute(objs, { X: '1' });
    expect(out[0]).toBe(objs[0]);
    expect(out[1]).toBe(objs[1]);
  });

  it('runs nothing without variables unless the strategy is Always', () => {
    const obj = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a' }, data: { v: '${X:=d}', w: '${MISSING}' } };
    expect(substitute([obj], {})[0]).toBe(obj);
    expect(() => substitute([obj], {}, { always: true })).toThrow(/"MISSING"/);
  });
});

describe('substituteFrom against the API server', () => {
  let kubeconfig: string;
  let client: KubeClient;
  const ns = `lading-substitute-${process.pid}`;
  const secretValue = 'top: secret: value';

  beforeAll(async () => {
    kubeconfig = clusterKubeconfig();
    client = await connect(kubeconfig);
    await kubectl(kubeconfig, ['create', 'namespace', ns]);
    await kubectl(kubeconfig, ['-n', ns, 'apply', '-f', '-'], {
      input: formatManifests([
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'vars-cm', labels: { 'lading-test': 'substitute' } }, data: { A: 'from-cm', B: 'from-cm', MULTI: 'one\ntwo\n' } },
        { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'vars-secret', labels: { 'lading-test': 'substitute' } }, stringData: { B: 'from-secret', C: 'from-secret', BAD: secretValue } },
      ]),
    });
  });
  afterAll(async () => {
    await client?.close();
    if (kubeconfig) await kubectl(kubeconfig, ['delete', 'namespace', ns, '--wait=false'], { allowFailure: true });
  });

  const objects = [
    'apiVersion: v1',
    'kind: ConfigMap',
    'metadata:',
    '  name: out',
    'data:',
    '  a: ${A}',
    '  b: ${B}',
    '  c: ${C}',
    '  multi: ${MULTI}',
    '  opt: ${OPT:=none}',
    '',
  ].join('\n');

  it('merges ConfigMap then Secret (decoded) in list order, inline substitute on top, newlines removed — as Flux with the same variables inline', async () => {
    const postBuild: KustomizationSpec['postBuild'] = {
      substitute: { C: 'inline' },
      substituteFrom: [
        { kind: 'ConfigMap', name: 'vars-cm' },
        { kind: 'Secret', name: 'vars-secret' },
        { kind: 'ConfigMap', name: 'does-not-exist', optional: true },
      ],
    };
    const vars = await loadVariables({ spec: baseSpec(postBuild), namespace: ns, client });
    expect(Object.fromEntries(vars)).toEqual({ A: 'from-cm', B: 'from-secret', C: 'inline', MULTI: 'onetwo', BAD: secretValue });
    const l = await lading(objects, baseSpec(postBuild), client, ns);
    if (!l.ok) throw l.error;
    expect(l.objects[0]?.['data']).toEqual({ a: 'from-cm', b: 'from-secret', c: 'inline', multi: 'onetwo', opt: 'none' });
    // Flux's dry run cannot read the cluster: give it the merged variables inline.
    const f = await flux(objects, baseSpec({ substitute: Object.fromEntries([...vars].filter(([k]) => k !== 'BAD')) }));
    if (!f.ok) throw new Error(f.error);
    expect(formatManifests(l.objects)).toBe(formatManifests(f.objects));
    expect(l.checksum).toBe('sha256:' + createHash('sha256').update(l.yaml).digest('hex'));
  });

  it('fails on a missing ConfigMap or Secret that is not optional, naming it', async () => {
    for (const kind of ['ConfigMap', 'Secret'] as const) {
      const l = await lading(objects, baseSpec({ substituteFrom: [{ kind, name: 'absent' }] }), client, ns);
      expect(l.ok).toBe(false);
      if (!l.ok) {
        expect(l.error.code).toBe('VARIABLES_FAILED');
        expect(l.error.message).toContain(`'${kind}/absent'`);
      }
    }
  });

  it('never puts a Secret value in an error', async () => {
    const yaml = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: leak\ndata:\n  v: ${BAD}\n';
    const l = await lading(yaml, baseSpec({ substituteFrom: [{ kind: 'Secret', name: 'vars-secret' }] }), client, ns);
    expect(l.ok).toBe(false);
    if (!l.ok) {
      expect(l.error.code).toBe('SUBSTITUTE_FAILED');
      expect(l.error.message).toContain('ConfigMap leak');
      expect(l.error.message).not.toContain('secret: value');
      expect(String(l.error.cause ?? '')).not.toContain('secret: value');
    }
  });

  it('does not read the variables when every object opts out', async () => {
    const yaml = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: off\n  annotations:\n    kustomize.toolkit.fluxcd.io/substitute: disabled\ndata:\n  v: ${X}\n';
    const l = await lading(yaml, baseSpec({ substituteFrom: [{ kind: 'Secret', name: 'absent' }] }), client, ns);
    if (!l.ok) throw l.error;
    expect(l.objects[0]?.['data']).toEqual({ v: '${X}' });
  });
});
