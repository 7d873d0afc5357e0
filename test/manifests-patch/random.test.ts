// Randomised differential test of strategic merge against kustomize: a fixed-seed generator
// writes a few hundred Deployments (and schema-less custom resources) with random containers,
// env, ports, mounts, volumes and finalizers, and one random strategic merge patch for each,
// using the directives ($patch: delete|replace|merge on maps, list elements and whole lists,
// null deletion, duplicate and key-less elements). One `kubectl kustomize` run builds them all;
// every built object must equal lading's result. Change SEEDS to explore other inputs.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { applyKustomizeSmPatch } from '../../src/manifests/patch/index.js';

type Obj = Record<string, unknown>;

const SEEDS = (process.env['PATCH_SEEDS'] ?? '1,2,3').split(',').map(Number);
const PER_SEED = 150;

/** mulberry32: small, fast, deterministic. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Gen {
  constructor(private readonly r: () => number) {}
  chance(p: number): boolean {
    return this.r() < p;
  }
  int(n: number): number {
    return Math.floor(this.r() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)] as T;
  }
  subset<T>(xs: readonly T[], p = 0.5): T[] {
    const out = xs.filter(() => this.chance(p));
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [out[i], out[j]] = [out[j] as T, out[i] as T];
    }
    return out;
  }
}

const CONTAINER_NAMES = ['app', 'sidecar', 'proxy', 'init', 'logger'];
const ENV_NAMES = ['A', 'B', 'C', 'D'];
const PORTS = [80, 443, 8080, 9090];
const MOUNTS = ['/etc/app', '/var/data', '/cache', '/tmp'];
const VOLUMES = ['config', 'data', 'cache', 'secrets'];
const FINALIZERS = ['f.example.com/one', 'f.example.com/two', 'f.example.com/three'];

function targetContainer(g: Gen, name: string): Obj {
  const c: Obj = { name, image: `example/${name}:${g.int(5)}` };
  if (g.chance(0.5)) c['args'] = g.subset(['--a', '--b', '--c']);
  if (g.chance(0.7)) c['env'] = g.subset(ENV_NAMES).map((n) => ({ name: n, value: String(g.int(9)) }));
  if (g.chance(0.6)) {
    c['ports'] = g.subset(PORTS).map((p) => {
      const port: Obj = { containerPort: p };
      if (g.chance(0.3)) port['protocol'] = g.pick(['TCP', 'UDP']);
      if (g.chance(0.5)) port['name'] = `p${p}`;
      return port;
    });
  }
  if (g.chance(0.5)) c['volumeMounts'] = g.subset(MOUNTS).map((m, i) => ({ name: `v${i}`, mountPath: m }));
  if (g.chance(0.4)) c['resources'] = { limits: { cpu: `${g.int(9) + 1}00m`, memory: '128Mi' } };
  return c;
}

function patchContainer(g: Gen, name: string | undefined): Obj {
  const c: Obj = {};
  if (name !== undefined) c['name'] = name;
  if (g.chance(0.1)) c['$patch'] = g.pick(['delete', 'replace', 'merge']);
  if (g.chance(0.5)) c['image'] = `example/${name ?? 'x'}:p${g.int(5)}`;
  if (g.chance(0.3)) c['args'] = g.chance(0.2) ? null : g.subset(['--x', '--y']);
  if (g.chance(0.5)) {
    const env: unknown[] = g.subset([...ENV_NAMES, 'E'], 0.4).map((n) => {
      const e: Obj = { name: n };
      const roll = g.int(10);
      if (roll === 0) e['$patch'] = 'delete';
      else if (roll === 1) e['value'] = null;
      else if (roll === 2) e['valueFrom'] = { fieldRef: { fieldPath: 'metadata.name' } };
      else e['value'] = `v${g.int(9)}`;
      return e;
    });
    if (g.chance(0.1)) env.unshift({ $patch: g.pick(['replace', 'delete', 'merge']) });
    c['env'] = env;
  }
  if (g.chance(0.4)) {
    c['ports'] = g.subset(PORTS, 0.4).map((p) => {
      const port: Obj = { containerPort: p };
      if (g.chance(0.3)) port['protocol'] = g.pick(['TCP', 'UDP']);
      if (g.chance(0.5)) port['name'] = `q${p}`;
      if (g.chance(0.1)) port['$patch'] = 'delete';
      return port;
    });
  }
  if (g.chance(0.3)) {
    c['volumeMounts'] = g.subset(MOUNTS, 0.4).map((m) => {
      const vm: Obj = { mountPath: m };
      if (g.chance(0.6)) vm['name'] = `w${g.int(3)}`;
      if (g.chance(0.3)) vm['readOnly'] = true;
      return vm;
    });
  }
  if (g.chance(0.3)) {
    const roll = g.int(4);
    c['resources'] =
      roll === 0 ? null : roll === 1 ? { $patch: 'replace', requests: { cpu: '1' } } : { limits: { memory: '1Gi', cpu: null } };
  }
  return c;
}

function makeCase(g: Gen, index: number): { resource: Obj; patch: Obj } {
  const name = `r${index}`;
  const crd = g.chance(0.15);
  const apiVersion = crd ? 'example.com/v1' : 'apps/v1';
  const kind = crd ? 'Widget' : 'Deployment';
  const podSpec: Obj = {
    containers: g.subset(CONTAINER_NAMES, 0.6).map((n) => targetContainer(g, n)),
  };
  if (g.chance(0.4)) podSpec['initContainers'] = [targetContainer(g, 'init')];
  if (g.chance(0.5)) podSpec['volumes'] = g.subset(VOLUMES).map((v) => ({ name: v, emptyDir: {} }));
  const metadata: Obj = { name, labels: { app: name } };
  if (g.chance(0.4)) metadata['finalizers'] = g.subset(FINALIZERS);
  const resource: Obj = {
    apiVersion,
    kind,
    metadata,
    spec: {
      replicas: g.int(4),
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1 } },
      template: { metadata: { labels: { app: name } }, spec: podSpec },
    },
  };

  const pSpec: Obj = {};
  const pPod: Obj = {};
  const patch: Obj = { apiVersion, kind, metadata: { name } };
  if (g.chance(0.6)) {
    const names = g.subset([...CONTAINER_NAMES, 'extra'], 0.4);
    const containers: unknown[] = names.map((n) => patchContainer(g, n));
    if (g.chance(0.1)) containers.push(patchContainer(g, undefined));
    if (g.chance(0.1) && names.length > 0) containers.push(patchContainer(g, names[0]));
    if (g.chance(0.1)) containers.unshift({ $patch: g.pick(['replace', 'delete', 'merge']) });
    pPod['containers'] = containers;
  }
  if (g.chance(0.2)) pPod['initContainers'] = [patchContainer(g, g.pick(['init', 'migrate']))];
  if (g.chance(0.3)) {
    pPod['volumes'] = g.subset([...VOLUMES, 'more'], 0.4).map((v) =>
      g.chance(0.2) ? { name: v, $patch: 'delete' } : { name: v, configMap: { name: `cm-${v}` } },
    );
  }
  if (Object.keys(pPod).length > 0) pSpec['template'] = { spec: pPod };
  if (g.chance(0.3)) {
    const roll = g.int(4);
    pSpec['strategy'] =
      roll === 0 ? null : roll === 1 ? { $patch: 'replace', type: 'Recreate' } : roll === 2 ? { $patch: 'delete' } : { type: 'Recreate', rollingUpdate: null };
  }
  if (g.chance(0.3)) pSpec['replicas'] = g.int(9);
  if (Object.keys(pSpec).length > 0) patch['spec'] = pSpec;
  if (g.chance(0.3)) (patch['metadata'] as Obj)['finalizers'] = g.subset(FINALIZERS);
  if (g.chance(0.2)) (patch['metadata'] as Obj)['labels'] = { app: null, tier: 'web' };
  if (g.chance(0.02)) patch['$patch'] = 'delete';
  return { resource, patch };
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('random strategic merge patches compared with kubectl kustomize', () => {
  for (const seed of SEEDS) {
    it(`seed ${seed}: ${PER_SEED} resources`, () => {
      const g = new Gen(rng(seed));
      const cases = Array.from({ length: PER_SEED }, (_, i) => makeCase(g, i));
      const dir = mkdtempSync(join(tmpdir(), 'lading-patch-random-'));
      dirs.push(dir);
      writeFileSync(join(dir, 'resources.yaml'), cases.map((c) => stringify(c.resource)).join('---\n'));
      cases.forEach((c, i) => writeFileSync(join(dir, `p${i}.yaml`), stringify(c.patch)));
      writeFileSync(
        join(dir, 'kustomization.yaml'),
        `resources:\n- resources.yaml\npatches:\n${cases.map((_, i) => `- path: p${i}.yaml\n`).join('')}`,
      );
      const run = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8', maxBuffer: 256 << 20 });
      if (run.error !== undefined) {
        throw new Error(`kubectl is needed for this test (install kubectl 1.32): ${run.error.message}`);
      }
      expect(run.status, run.stderr).toBe(0);
      const built = new Map<string, unknown>();
      for (const doc of parseAllDocuments(run.stdout)) {
        const obj = doc.toJS() as Obj;
        built.set((obj['metadata'] as Obj)['name'] as string, obj);
      }
      const mismatches: string[] = [];
      cases.forEach((c, i) => {
        const result = applyKustomizeSmPatch(c.resource, c.patch);
        const actual = Object.keys(result).length === 0 ? undefined : result;
        const expected = built.get(`r${i}`);
        if (JSON.stringify(sortKeys(actual)) !== JSON.stringify(sortKeys(expected))) {
          mismatches.push(
            `r${i}:\n--- resource\n${stringify(c.resource)}--- patch\n${stringify(c.patch)}--- kustomize\n${stringify(expected)}--- lading\n${stringify(actual)}`,
          );
        }
      });
      expect(mismatches.slice(0, 3).join('\n'), `${mismatches.length} of ${PER_SEED} differ`).toBe('');
    });
  }
});

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (typeof v === 'object' && v !== null) {
    const out: Obj = {};
    for (const k of Object.keys(v).sort()) out[k] = sortKeys((v as Obj)[k]);
    return out;
  }
  return v;
}
