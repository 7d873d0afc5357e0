// Benchmark: building a large overlay (about 2,000 objects over 20 bases, with generators,
// patches and name prefixes), `lading build` vs `kustomize build` (kustomize v5.5.0 built from
// test/tools/kustomize, the kustomize kubectl 1.32 embeds), whole processes (Node start-up
// included), alternating in the same run. Prints wall times, the ratio and peak RSS.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { toolPath } from '../test/env/tools.js';

const BASES = 20;
const APPS_PER_BASE = 24; // each app: Deployment, Service, ConfigMap, ServiceAccount

function writeFile(p: string, text: string): void {
  mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(p, text);
}

/** Writes the overlay and its bases; returns the overlay directory. */
export function generateOverlay(root: string): string {
  for (let b = 0; b < BASES; b++) {
    const dir = path.join(root, 'bases', `base-${b}`);
    const files: string[] = [];
    for (let a = 0; a < APPS_PER_BASE; a++) {
      const name = `app-${a}`;
      files.push(`${name}.yaml`);
      writeFile(
        path.join(dir, `${name}.yaml`),
        `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  labels:
    app: ${name}
spec:
  replicas: 2
  selector:
    matchLabels:
      app: ${name}
  template:
    metadata:
      labels:
        app: ${name}
      annotations:
        prometheus.io/scrape: "true"
    spec:
      serviceAccountName: ${name}
      containers:
      - name: main
        image: registry.example.com/team-${b}/${name}:1.0.${a}
        args: ["--port=8080", "--log-level=info", "--feature-gates=A=true,B=false"]
        ports:
        - containerPort: 8080
          name: http
        envFrom:
        - configMapRef:
            name: ${name}-env
        - configMapRef:
            name: shared-config
        env:
        - name: POD_NAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        resources:
          requests:
            cpu: 100m
            memory: 64Mi
        volumeMounts:
        - name: config
          mountPath: /etc/app
      volumes:
      - name: config
        configMap:
          name: ${name}-env
---
apiVersion: v1
kind: Service
metadata:
  name: ${name}
spec:
  selector:
    app: ${name}
  ports:
  - name: http
    port: 80
    targetPort: http
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: ${name}-env
data:
  APP_NAME: ${name}
  BASE: "${b}"
  DESCRIPTION: "application ${a} of base ${b}, with a description long enough to need folding at eighty columns"
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: ${name}
`,
      );
    }
    writeFile(
      path.join(dir, 'kustomization.yaml'),
      `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namePrefix: b${b}-
commonLabels:
  base: base-${b}
resources:
${files.map((f) => `- ${f}`).join('\n')}
configMapGenerator:
- name: shared-config
  literals:
  - BASE_ID=${b}
  - REGION=eu-west-${b % 3}
- name: files-${b}
  files:
  - settings.ini
patches:
- target:
    kind: Deployment
  patch: |-
    - op: add
      path: /spec/template/spec/containers/0/env/-
      value:
        name: BASE
        value: "${b}"
`,
    );
    writeFile(path.join(dir, 'settings.ini'), `[base]\nid = ${b}\nname = base-${b}\n`);
  }
  const overlay = path.join(root, 'overlay');
  writeFile(
    path.join(overlay, 'kustomization.yaml'),
    `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: production
namePrefix: prod-
commonAnnotations:
  team: platform
labels:
- pairs:
    env: production
  includeSelectors: false
resources:
${Array.from({ length: BASES }, (_, b) => `- ../bases/base-${b}`).join('\n')}
images:
- name: registry.example.com/team-1/app-1
  newTag: 2.0.0
patches:
- target:
    kind: Deployment
  patch: |-
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: all
    spec:
      replicas: 3
      template:
        spec:
          containers:
          - name: main
            resources:
              limits:
                memory: 128Mi
- target:
    kind: Service
    name: ".*-app-1"
  patch: |-
    - op: replace
      path: /spec/ports/0/port
      value: 8080
configMapGenerator:
- name: prod-settings
  literals:
  - ENV=production
`,
  );
  return overlay;
}

interface Sample {
  ms: number;
  /** User + system CPU seconds. */
  cpu: number;
  maxRssKiB: number;
  stdout: string;
}

function timed(cmd: string, args: string[]): Sample {
  const start = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%M %U %S', cmd, ...args], { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  const [rss = 'NaN', user = 'NaN', sys = 'NaN'] = (lines[lines.length - 1] ?? '').split(' ');
  return { ms, cpu: Number(user) + Number(sys), maxRssKiB: Number(rss), stdout: r.stdout };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

export default async function bench(): Promise<void> {
  const here = path.dirname(fileURLToPath(import.meta.url));
  // the CLI as installed: package.json's bin
  const cli = path.resolve(here, '../dist/bin/lading.js');
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first (npm run bench does)`);
  if (!existsSync('/usr/bin/time')) throw new Error('/usr/bin/time is missing (peak RSS): apt-get install -y time');
  const root = mkdtempSync(path.join(tmpdir(), 'lading-bench-build-'));
  try {
    const overlay = generateOverlay(root);
    const kustomize = toolPath('kustomize');
    // Warm the file cache and check that both print the same build.
    const k0 = timed(kustomize, ['build', overlay]);
    const l0 = timed(process.execPath, [cli, 'build', overlay]);
    const objects = (k0.stdout.match(/^kind: /gm) ?? []).length;
    const same = k0.stdout === l0.stdout;
    const runs = Number(process.env['LADING_BENCH_RUNS'] ?? 3);
    const lading: Sample[] = [];
    const oracle: Sample[] = [];
    for (let i = 0; i < runs; i++) {
      oracle.push(timed(kustomize, ['build', overlay]));
      lading.push(timed(process.execPath, [cli, 'build', overlay]));
    }
    const lm = median(lading.map((s) => s.ms));
    const km = median(oracle.map((s) => s.ms));
    const lc = median(lading.map((s) => s.cpu));
    const kc = median(oracle.map((s) => s.cpu));
    const lr = Math.max(...lading.map((s) => s.maxRssKiB));
    const kr = Math.max(...oracle.map((s) => s.maxRssKiB));
    process.stdout.write(
      [
        `overlay: ${BASES} bases, ${objects} objects (${readFileSync(path.join(overlay, 'kustomization.yaml'), 'utf8').split('\n').length} line overlay), outputs identical: ${same ? 'yes' : 'NO'}`,
        `lading build:      median ${lm.toFixed(0)} ms wall, ${lc.toFixed(2)} s CPU over ${runs} runs, peak RSS ${(lr / 1024).toFixed(0)} MiB`,
        `kustomize build:   median ${km.toFixed(0)} ms wall, ${kc.toFixed(2)} s CPU over ${runs} runs, peak RSS ${(kr / 1024).toFixed(0)} MiB`,
        `ratio lading/kustomize: ${(lm / km).toFixed(2)}x wall time (goal <= 1.0x), ${(lc / kc).toFixed(2)}x CPU, ${(lr / kr).toFixed(2)}x peak RSS`,
        '',
      ].join('\n'),
    );
    if (!same) throw new Error('lading and kustomize build printed different builds of the benchmark overlay');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
