// `npm run env -- build|up|down|status`: the test environment for humans. `up` starts a cluster
// and two registries (distribution 2.8 and 3) that keep running after the command returns and
// prints the environment (`eval "$(npm run -s env -- up)"` sets it in a shell); `down` stops
// every environment recorded in .cache/testenv/run (also strays left by killed test runs).
import { Command, InvalidArgumentError } from 'commander';
import { stringify } from 'yaml';
import { startCluster, type RunningCluster } from './cluster.js';
import { isAlive, isOurProcess, memoryOf, readRecords, removeRecord, tearDownRecord, writeRecord, type EnvironmentRecord } from './process.js';
import { startRegistry, type RunningRegistry } from './registry.js';
import { binDir, cacheRoot, ensureTools, modules, stateRoot, pinnedVersions, toolsStatus, type ModuleName } from './tools.js';

function log(line: string): void {
  process.stderr.write(`testenv: ${line}\n`);
}

async function build(opts: { modules?: ModuleName[] }): Promise<void> {
  const started = Date.now();
  await ensureTools({ log, ...(opts.modules ? { modules: opts.modules } : {}) });
  log(`reference tools ready in ${cacheRoot()} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

function exportsOf(record: EnvironmentRecord): string[] {
  return Object.entries(record.info)
    .filter(([k]) => /^[A-Z][A-Z0-9_]*$/.test(k))
    .map(([k, v]) => `export ${k}=${v}`);
}

async function up(opts: { nodes: number }): Promise<void> {
  const existing = readRecords(stateRoot()).find((r) => r.kind === 'env' && r.processes.some((p) => isOurProcess(p.pid, p.command)));
  if (existing) {
    log(`an environment is already up (started ${existing.startedAt}); \`npm run env -- down\` stops it`);
    process.stdout.write(exportsOf(existing).join('\n') + '\n');
    return;
  }
  // The control plane and distribution v3; distribution 2.8 is Debian's docker-registry.
  await ensureTools({ log, modules: ['kube', 'oci'] });
  const started = Date.now();
  let cluster: RunningCluster | undefined;
  const registries: RunningRegistry[] = [];
  try {
    cluster = await startCluster({ nodes: opts.nodes, detach: true, log: (l) => log(`cluster: ${l}`) });
    registries.push(await startRegistry({ flavor: 'distribution2', detach: true }));
    registries.push(await startRegistry({ flavor: 'distribution3', detach: true }));
  } catch (err) {
    for (const r of registries) await r.stop();
    await cluster?.stop();
    throw err;
  }
  const [reg2, reg3] = registries as [RunningRegistry, RunningRegistry];
  const record: EnvironmentRecord = {
    id: 'env-up',
    kind: 'env',
    owner: process.pid,
    startedAt: new Date().toISOString(),
    processes: [
      ...cluster.processes.map((p) => ({ ...p, command: toolsStatus().find((t) => t.tool === p.name)?.path ?? p.name })),
      ...registries.map((r) => ({ name: `registry (${r.flavor})`, pid: r.pid, command: r.flavor === 'distribution2' ? '/usr/bin/docker-registry' : `${binDir('oci')}/registry`, logFile: r.logFile })),
    ],
    dataDirs: [cluster.dataDir, ...registries.map((r) => r.dataDir)],
    info: {
      KUBECONFIG: cluster.kubeconfig,
      LADING_TEST_REGISTRY: reg2.host,
      LADING_TEST_REGISTRY_V3: reg3.host,
      server: cluster.server,
      registry: `${reg2.url} (distribution 2.8, plain http)`,
      'registry-v3': `${reg3.url} (distribution 3, plain http)`,
    },
  };
  writeRecord(stateRoot(), record);
  // The cluster's own record is folded into the env record.
  removeRecord(stateRoot(), cluster.recordId);
  log(`up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  printRecord(record, process.stderr);
  log('stop it with `npm run env -- down`; logs are in each process\'s logFile (see status -o yaml)');
  process.stdout.write(exportsOf(record).join('\n') + '\n');
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
}

function printRecord(record: EnvironmentRecord, out: NodeJS.WritableStream): void {
  out.write(`${record.id} (${record.kind}, started ${record.startedAt} by pid ${record.owner})\n`);
  let rss = 0;
  let peak = 0;
  for (const p of record.processes) {
    const running = isOurProcess(p.pid, p.command);
    const mem = running ? memoryOf(p.pid) : undefined;
    rss += mem?.rss ?? 0;
    peak += mem?.peak ?? 0;
    const memText = mem ? `rss ${mib(mem.rss)} (peak ${mib(mem.peak)})` : '';
    out.write(`  ${p.name.padEnd(28)} pid ${String(p.pid).padEnd(8)} ${(running ? 'running' : 'gone').padEnd(8)} ${memText}\n`);
  }
  if (rss > 0) out.write(`  ${'total'.padEnd(28)} ${''.padEnd(21)} rss ${mib(rss)} (sum of peaks ${mib(peak)})\n`);
  for (const [k, v] of Object.entries(record.info)) out.write(`  ${k}: ${v}\n`);
}

async function down(opts: { all?: boolean }): Promise<void> {
  const records = readRecords(stateRoot());
  if (records.length === 0) {
    log('nothing is running');
    return;
  }
  for (const record of records) {
    // A cluster owned by a live test run belongs to that run (it stops it itself).
    if (record.kind !== 'env' && record.owner !== process.pid && isAlive(record.owner) && opts.all !== true) {
      log(`leaving ${record.id} alone: its owner (pid ${record.owner}) is still running; --all stops it too`);
      continue;
    }
    await tearDownRecord(stateRoot(), record);
    log(`stopped ${record.id} (${record.processes.map((p) => `${p.name} ${p.pid}`).join(', ')}) and removed ${record.dataDirs.join(', ')}`);
  }
}

function status(opts: { output: string }): void {
  const records = readRecords(stateRoot()).map((r) => ({
    ...r,
    processes: r.processes.map((p) => {
      const running = isOurProcess(p.pid, p.command);
      return { ...p, running, ...(running ? { memory: memoryOf(p.pid) } : {}) };
    }),
  }));
  const data = { tools: { cache: cacheRoot(), pins: pinnedVersions(), built: toolsStatus().map((t) => ({ tool: t.tool, built: t.built, path: t.path })) }, environments: records };
  if (opts.output === 'json') {
    process.stdout.write(JSON.stringify(data, null, 2) + '\n');
    return;
  }
  if (opts.output === 'yaml') {
    process.stdout.write(stringify(data));
    return;
  }
  const out = process.stdout;
  out.write(`reference tools (${cacheRoot()}):\n`);
  for (const t of toolsStatus()) out.write(`  ${t.tool.padEnd(24)} ${t.built ? 'built' : 'missing (npm run env -- build)'}\n`);
  out.write('pinned modules:\n');
  for (const [m, v] of Object.entries(data.tools.pins)) out.write(`  ${m} ${v}\n`);
  if (records.length === 0) out.write('environments: none running (npm run env -- up)\n');
  for (const r of records) printRecord(r, out);
}

const program = new Command('npm run env --')
  .description('the lading test environment: reference tools built from test/tools, a Kubernetes control plane (kwok nodes) and registries on loopback')
  .showHelpAfterError()
  .addHelpText(
    'after',
    `
Examples:
  npm run env -- build                 build the pinned reference tools into .cache/testenv
  eval "$(npm run -s env -- up)"       start a cluster and registries, export KUBECONFIG etc.
  kubectl get nodes                    (after up) two kwok nodes, Ready
  npm run env -- status -o yaml        what runs, pids, logs, pinned versions
  npm run env -- down                  stop everything and remove its temp data
`,
  );
program
  .command('build')
  .description('build the reference tools (no-op when the cache matches the pins)')
  .option('--modules <names>', `only these modules of test/tools, comma-separated (${Object.keys(modules).join(', ')}; default: all)`, (v) => {
    const names = v.split(',').map((n) => n.trim());
    const unknown = names.filter((n) => !(n in modules));
    if (names.length === 0 || unknown.length > 0) throw new InvalidArgumentError(`unknown module ${unknown.join(', ')}: use ${Object.keys(modules).join(', ')}`);
    return names as ModuleName[];
  })
  .action(build);
program
  .command('up')
  .description('start a cluster (etcd, kube-apiserver, controller-manager, scheduler, kwok) and registries 2.8 and 3')
  .option('--nodes <n>', 'number of kwok nodes', (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > 50) throw new InvalidArgumentError('expected an integer from 1 to 50');
    return n;
  }, 2)
  .action(up);
program
  .command('down')
  .description('stop recorded environments by pid and remove their temp data: the one from `up` and strays of killed test runs')
  .option('--all', 'also stop clusters of test runs that are still running')
  .action(down);
program
  .command('status')
  .description('show the reference tools and the running environments')
  .option('-o, --output <format>', 'table|json|yaml', (v) => {
    if (!['table', 'json', 'yaml'].includes(v)) throw new InvalidArgumentError('expected table, json or yaml');
    return v;
  }, 'table')
  .action(status);
program.exitOverride((err) => {
  process.exit(err.exitCode === 0 ? 0 : 2);
});

// `npm run env -- status | head` closes the pipe early: not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

try {
  await program.parseAsync(process.argv);
} catch (err) {
  process.stderr.write(`testenv: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
