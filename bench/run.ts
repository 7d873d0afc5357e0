// Runs every benchmark in order. Each module's default export runs lading and the peer tool on
// the same work in this run and prints the ratio. Benchmarks are never part of `npm test`.
const modules: string[] = [
  './copy.ts',
  './startup.ts',
  './verify.ts',
  './artifact.ts',
  './build.ts',
  './manifests-patch.ts',
  './apply.ts',
  './controller.ts',
];

const only = process.argv.slice(2);
let failed = 0;
for (const mod of modules) {
  const name = mod.replace(/^\.\//, '').replace(/\.ts$/, '');
  if (only.length > 0 && !only.includes(name)) continue;
  process.stdout.write(`\n=== bench ${name} ===\n`);
  try {
    const m = (await import(mod)) as { default: () => Promise<void> };
    await m.default();
  } catch (err) {
    failed++;
    process.stdout.write(`bench ${name} failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  }
}
process.exitCode = failed > 0 ? 1 : 0;
