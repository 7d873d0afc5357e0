// Fixed-seed generator of Deployments, Services and schema-less custom resources with one random
// strategic merge patch each, exercising the directives. Used by random.test.ts and by
// bench/manifests-patch.ts.
type Obj = Record<string, unknown>;

/** mulberry32: small, fast, deterministic. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Gen {
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

/** Service ports merge on two keys (port, protocol): kyaml's most intricate list merge. */
function serviceCase(g: Gen, name: string): { resource: Obj; patch: Obj } {
  const port = (p: number, prefix: string): Obj => {
    const o: Obj = { port: p };
    if (g.chance(0.6)) o['protocol'] = g.pick(['TCP', 'UDP']);
    if (g.chance(0.6)) o['name'] = `${prefix}${p}`;
    if (g.chance(0.3)) o['targetPort'] = p + 8000;
    return o;
  };
  const resource: Obj = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name },
    spec: { selector: { app: name }, ports: g.subset([53, 80, 443, 8080], 0.6).map((p) => port(p, 's')) },
  };
  const ports: Obj[] = g.subset([53, 80, 443, 9090], 0.5).map((p) => {
    const o = port(p, 'p');
    if (g.chance(0.15)) o['$patch'] = 'delete';
    return o;
  });
  if (g.chance(0.15) && ports.length > 0) ports.push({ ...(ports[0] as Obj), name: 'dup' });
  const patch: Obj = { apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { ports } };
  if (g.chance(0.2)) (patch['spec'] as Obj)['type'] = 'NodePort';
  return { resource, patch };
}

export function makeCase(g: Gen, index: number): { resource: Obj; patch: Obj } {
  const name = `r${index}`;
  if (g.chance(0.12)) return serviceCase(g, name);
  const crd = g.chance(0.15);
  const apiVersion = crd ? 'example.com/v1' : 'apps/v1';
  const kind = crd ? 'Widget' : 'Deployment';
  const podSpec: Obj = {
    containers: g.subset(CONTAINER_NAMES, 0.6).map((n) => targetContainer(g, n)),
  };
  if (g.chance(0.4)) podSpec['initContainers'] = [targetContainer(g, 'init')];
  if (g.chance(0.5)) podSpec['volumes'] = g.subset(VOLUMES).map((v) => ({ name: v, emptyDir: {} }));
  if (g.chance(0.2)) {
    podSpec['topologySpreadConstraints'] = g.subset(['zone', 'host']).map((k) => ({
      topologyKey: k,
      whenUnsatisfiable: g.pick(['DoNotSchedule', 'ScheduleAnyway']),
      maxSkew: 1,
    }));
  }
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
  if (g.chance(0.15)) {
    pPod['topologySpreadConstraints'] = g.subset(['zone', 'host']).map((k) => {
      const c: Obj = { topologyKey: k, maxSkew: 2 };
      if (g.chance(0.6)) c['whenUnsatisfiable'] = g.pick(['DoNotSchedule', 'ScheduleAnyway']);
      return c;
    });
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

