// Benchmark: 2,000 resources, each with its own strategic merge patch (the random generator of
// test/manifests-patch), plus one JSON 6902 patch on all Deployments. Peer: `kubectl kustomize`
// on the kustomization. lading: a fresh Node process (start-up included) that reads the same
// files, classifies and applies the patches with src/manifests/patch (built into dist/) and
// prints the result as YAML — the patch work of a build, without the rest of the build engine.
// Both outputs are compared object by object before the times count. Wall time is the median
// of 3 runs; peak RSS comes from /usr/bin/time.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { Gen, makeCase, rng } from '../test/manifests-patch/generate.js';

const COUNT = Number(process.env['BENCH_PATCH_COUNT'] ?? 500);
const RUNS = 3;

const LADING_SCRIPT = `
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
const [dir, lib, yamlLib] = process.argv.slice(2);
const { parseAllDocuments, stringify } = await import(yamlLib);
const { applyKustomizeSmPatch, applyJson6902, classifyPatch } = await import(lib);
const k = parseAllDocuments(readFileSync(join(dir, 'kustomization.yaml'), 'utf8'))[0].toJS();
const resources = parseAllDocuments(readFileSync(join(dir, 'resources.yaml'), 'utf8')).map((d) => d.toJS());
const byId = new Map(resources.map((r, i) => [r.kind + '/' + r.metadata.name, i]));
for (const entry of k.patches) {
  const source = '[path: "' + entry.path + '"]';
  const patch = classifyPatch(readFileSync(join(dir, entry.path), 'utf8'), { source });
  if (patch.kind === 'json6902') {
    for (let i = 0; i < resources.length; i++) {
      if (resources[i] && resources[i].kind === entry.target.kind) resources[i] = applyJson6902(resources[i], patch.operations, { source });
    }
    continue;
  }
  for (const doc of patch.documents) {
    const i = byId.get(doc.kind + '/' + doc.metadata.name);
    const result = applyKustomizeSmPatch(resources[i], doc, { source });
    resources[i] = Object.keys(result).length === 0 ? undefined : result;
  }
}
process.stdout.write(resources.filter(Boolean).map((r) => stringify(r, { sortMapEntries: true })).join('---\\n'));
`;

function timed(cmd: string, args: string[], cwd: string): { ms: number; rssKiB: number; stdout: string } {
  const started = process.hrtime.bigint();
  const run = spawnSync('/usr/bin/time', ['-f', '%M', cmd, ...args], {
    cwd,
    encoding: 'utf8',
    maxBuffer: 1 << 30,
  });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (run.error !== undefined) throw run.error;
  if (run.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${run.stderr}`);
  const lines = run.stderr.trim().split('\n');
  return { ms, rssKiB: Number(lines[lines.length - 1]), stdout: run.stdout };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

function byName(yamlText: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const doc of parseAllDocuments(yamlText)) {
    const obj = doc.toJS() as { metadata: { name: string } };
    out.set(obj.metadata.name, stringify(obj, { sortMapEntries: true }));
  }
  return out;
}

export default async function bench(): Promise<void> {
  const lib = resolve(process.env['LADING_PATCH_LIB'] ?? 'dist/manifests/patch/index.js');
  const yamlLib = createRequire(import.meta.url).resolve('yaml');
  if (!existsSync(lib)) throw new Error(`${lib} is missing: run \`npm run build\` first (npm run bench does)`);
  const dir = mkdtempSync(join(tmpdir(), 'lading-bench-patch-'));
  try {
    const g = new Gen(rng(42));
    const cases = Array.from({ length: COUNT }, (_, i) => makeCase(g, i));
    writeFileSync(join(dir, 'resources.yaml'), cases.map((c) => stringify(c.resource)).join('---\n'));
    cases.forEach((c, i) => writeFileSync(join(dir, `p${i}.yaml`), stringify(c.patch)));
    writeFileSync(
      join(dir, 'json.yaml'),
      stringify([
        { op: 'add', path: '/metadata/annotations', value: { 'bench.example.com/patched': 'true' } },
        { op: 'replace', path: '/spec/replicas', value: 3 },
      ]),
    );
    writeFileSync(
      join(dir, 'kustomization.yaml'),
      `resources:\n- resources.yaml\npatches:\n${cases.map((_, i) => `- path: p${i}.yaml\n`).join('')}` +
        `- path: json.yaml\n  target:\n    kind: Deployment\n`,
    );
    const script = join(dir, 'lading-patch.mjs');
    writeFileSync(script, LADING_SCRIPT);

    const kubectl: Array<{ ms: number; rssKiB: number }> = [];
    const lading: Array<{ ms: number; rssKiB: number }> = [];
    let checked = false;
    for (let i = 0; i < RUNS; i++) {
      const peer = timed('kubectl', ['kustomize', dir], dir);
      const ours = timed(process.execPath, [script, dir, lib, yamlLib], dir);
      if (!checked) {
        const a = byName(peer.stdout);
        const b = byName(ours.stdout);
        let differ = 0;
        for (const [name, text] of a) if (b.get(name) !== text) differ++;
        if (differ > 0 || a.size !== b.size) {
          throw new Error(`outputs differ: ${differ} objects differ, ${a.size} vs ${b.size} objects`);
        }
        process.stdout.write(`outputs agree: ${a.size} objects\n`);
        checked = true;
      }
      kubectl.push(peer);
      lading.push(ours);
    }
    const k = median(kubectl.map((r) => r.ms));
    const l = median(lading.map((r) => r.ms));
    process.stdout.write(
      `patches: ${COUNT} strategic merge + 1 JSON 6902 on ${COUNT} resources, median of ${RUNS}\n` +
        `  kubectl kustomize  ${k.toFixed(0)} ms  peak RSS ${(Math.max(...kubectl.map((r) => r.rssKiB)) / 1024).toFixed(0)} MiB\n` +
        `  lading (node)      ${l.toFixed(0)} ms  peak RSS ${(Math.max(...lading.map((r) => r.rssKiB)) / 1024).toFixed(0)} MiB\n` +
        `  ratio lading/kubectl ${(l / k).toFixed(2)}x\n`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
