import { resolve } from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
// The client and inventory reads only: the apply engine and the manifest inputs (the kustomize
// engine, the registry client) are imported by the commands that use them, so that `get` and
// `inspect` start without them (bench/apply.ts times `get inventories`).
import { KubeClient } from '../../kube/client.js';
import { KubeError } from '../../kube/errors.js';
import type { LoadedObjects } from '../../kube/input.js';
import { listInventories, readInventory, type Inventory } from '../../kube/inventory.js';
import { displayName, entryId } from '../../kube/objects.js';
import type { Change } from '../../kube/plan.js';
import { ExitStatus } from '../util.js';
import { parseOutputFormat, renderData, renderTable, type CliIO } from '../output.js';
import { addRegistryFlags, parseDuration, registryOptionsFrom } from '../registry-options.js';
import { examples, verb, type CommandModule } from '../util.js';

type Opts = Record<string, unknown>;

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function addKubeFlags(cmd: Command): Command {
  return cmd
    .option('--kubeconfig <path>', 'kubeconfig file, read alone (default: the files of $KUBECONFIG merged, then ~/.kube/config, then the in-cluster service account)')
    .option('--context <name>', 'kubeconfig context to use')
    .option('--cluster <name>', 'kubeconfig cluster to use instead of the context\'s')
    .option('--user <name>', 'kubeconfig user to use instead of the context\'s')
    .option('-n, --namespace <ns>', 'namespace of the inventory and default namespace of objects (default: the context namespace)');
}

async function connect(opts: Opts, io: CliIO): Promise<KubeClient> {
  return KubeClient.connect({
    env: io.env,
    cwd: io.cwd,
    execStderr: io.stderr,
    ...(typeof opts['kubeconfig'] === 'string' ? { kubeconfig: resolve(io.cwd, opts['kubeconfig']) } : {}),
    ...(typeof opts['context'] === 'string' ? { context: opts['context'] } : {}),
    ...(typeof opts['cluster'] === 'string' ? { cluster: opts['cluster'] } : {}),
    ...(typeof opts['user'] === 'string' ? { user: opts['user'] } : {}),
    ...(typeof opts['namespace'] === 'string' ? { namespace: opts['namespace'] } : {}),
  });
}

function addInputFlags(cmd: Command): Command {
  return cmd
    .option('-f, --filename <path>', 'YAML file or directory of YAML files (repeatable)', collect)
    .option('-k, --kustomize <dir>', 'kustomization directory to build')
    .option('--artifact <url>', 'OCI artifact with the manifests, oci://host/repo:tag or @digest')
    .option('--patch <file>', 'kustomization file with patches applied on top of the manifests (repeatable)', collect);
}

async function inputFrom(opts: Opts, io: CliIO, command: string): Promise<LoadedObjects> {
  const files = ((opts['filename'] as string[] | undefined) ?? []).map((f) => resolve(io.cwd, f));
  const kustomize = typeof opts['kustomize'] === 'string' ? resolve(io.cwd, opts['kustomize']) : undefined;
  const artifact = typeof opts['artifact'] === 'string' ? opts['artifact'] : undefined;
  const given = [files.length > 0, kustomize !== undefined, artifact !== undefined].filter(Boolean).length;
  if (given !== 1) throw new UsageError(`${command}: give exactly one of -f PATH, -k DIR or --artifact oci://…`);
  const patches = ((opts['patch'] as string[] | undefined) ?? []).map((p) => resolve(io.cwd, p));
  const { loadObjects } = await import('../../kube/input.js');
  return loadObjects({
    ...(files.length > 0 ? { files } : {}),
    ...(kustomize !== undefined ? { kustomize } : {}),
    ...(artifact !== undefined ? { artifact, registry: registryOptionsFrom(opts, io) } : {}),
    ...(patches.length > 0 ? { patches } : {}),
    onProgress: (line) => io.stderr.write(`${line}\n`),
  });
}

function changeLine(c: Change, dryRun = false): string {
  return `${c.id} ${c.action}${dryRun ? ' (dry run)' : ''}${c.action === 'skipped' && c.reason ? ` (${c.reason})` : ''}\n`;
}

function timeoutFrom(opts: Opts): number {
  return parseDuration(typeof opts['timeout'] === 'string' ? opts['timeout'] : '5m', '--timeout');
}

/** JSON/YAML view of an inventory. */
function inventoryView(inv: Inventory): Record<string, unknown> {
  return {
    name: inv.name,
    namespace: inv.namespace,
    source: inv.source ?? '',
    revision: inv.revision ?? '',
    lastAppliedAt: inv.lastAppliedAt ?? '',
    artifacts: inv.artifacts,
    entries: inv.entries.map((e) => ({ id: entryId(e), v: e.version, object: displayName(e) })),
  };
}

export const kubeCommands: CommandModule = (program, io) => {
  // apply inventory
  const apply = verb(program, 'apply', 'apply objects to a Kubernetes cluster')
    .command('inventory')
    .description('server-side apply a set of manifests as an inventory, prune what left it, wait for readiness')
    .argument('<name>', 'inventory name');
  addInputFlags(apply)
    .option('--prune', 'delete objects of the previous apply that are no longer in the set')
    .option('--wait', 'wait for the objects to become ready (and pruned ones to be gone)')
    .option('--timeout <duration>', 'how long to wait, e.g. 90s, 5m', '5m')
    .option('--force', 'delete and re-create objects whose immutable fields changed')
    .option('--source <source>', 'where the manifests come from, recorded in the inventory (default: the artifact repository)')
    .option('--revision <revision>', 'version of the manifests, recorded in the inventory (default: the artifact tag)')
    .option('--create-namespace', 'create the inventory namespace if it does not exist')
    .option('--dry-run', 'only print what would change (server-side dry run)');
  addKubeFlags(apply);
  addRegistryFlags(apply);
  examples(apply, [
    'lading apply inventory demo-app --wait --prune --artifact oci://ghcr.io/org/demo-app:1.0.0 --source ghcr.io/org/demo-app --revision 1.0.0',
    'lading apply inventory demo-app -k ./deploy --prune --patch ./patches/safe-to-evict.yaml',
    'lading apply inventory demo-app -f ./manifests/ -n apps --create-namespace --dry-run',
  ]);
  apply.action(async (name: string, opts: Opts) => {
    const timeoutMs = timeoutFrom(opts);
    const input = await inputFrom(opts, io, 'apply inventory');
    const client = await connect(opts, io);
    const dryRun = opts['dryRun'] === true;
    try {
      const { applyInventory } = await import('../../kube/apply.js');
      await applyInventory({
        client,
        name,
        objects: input.objects,
        ...(typeof opts['source'] === 'string' ? { source: opts['source'] } : input.artifactRepository ? { source: input.artifactRepository } : {}),
        ...(typeof opts['revision'] === 'string' ? { revision: opts['revision'] } : input.artifactTag ? { revision: input.artifactTag } : {}),
        artifacts: input.artifacts,
        prune: opts['prune'] === true,
        wait: opts['wait'] === true,
        timeoutMs,
        force: opts['force'] === true,
        createNamespace: opts['createNamespace'] === true,
        dryRun,
        onEvent: (e) => {
          if (e.type === 'applying') io.stderr.write(`applying ${e.count} manifest(s)...\n`);
          else if (e.type === 'change') io.stdout.write(changeLine(e.change, dryRun));
          else if (e.type === 'waiting') io.stderr.write('waiting for resources to become ready...\n');
          else if (e.type === 'ready') io.stderr.write('all resources are ready\n');
        },
      });
    } finally {
      client.close();
    }
  });

  // diff inventory
  const diff = verb(program, 'diff', 'compare with a cluster or registry')
    .command('inventory')
    .description('show what `apply inventory` would change (server-side dry run against the live objects); exits 1 when something would change')
    .argument('<name>', 'inventory name');
  addInputFlags(diff).option('--prune', 'also show the objects prune would delete');
  addKubeFlags(diff);
  addRegistryFlags(diff);
  examples(diff, [
    'lading diff inventory demo-app --prune --artifact oci://ghcr.io/org/demo-app:latest',
    'lading diff inventory demo-app -k ./deploy -n apps',
  ]);
  diff.action(async (name: string, opts: Opts) => {
    const input = await inputFrom(opts, io, 'diff inventory');
    const client = await connect(opts, io);
    let changed = false;
    try {
      const { diffInventory } = await import('../../kube/diff.js');
      const result = await diffInventory({ client, name, objects: input.objects, prune: opts['prune'] === true });
      for (const e of result.entries) {
        if (e.action === 'unchanged') continue;
        io.stdout.write(`► ${e.id} ${e.action}\n`);
        if (e.diff) io.stdout.write(e.diff);
      }
      changed = result.changed;
    } finally {
      client.close();
    }
    if (changed) throw new ExitStatus(1);
  });

  // delete inventory
  const del = verb(program, 'delete', 'delete from a cluster')
    .command('inventory')
    .description('delete the objects of an inventory in reverse order, wait for them to be gone, then the inventory')
    .argument('<name>', 'inventory name')
    .option('--wait', 'wait for the objects to be gone before removing the inventory (default)', true)
    .option('--no-wait', 'do not wait for the objects to be gone')
    .option('--timeout <duration>', 'how long to wait, e.g. 90s, 5m', '5m');
  addKubeFlags(del);
  examples(del, ['lading delete inventory demo-app', 'lading delete inventory demo-app -n apps --timeout 2m']);
  del.action(async (name: string, opts: Opts) => {
    const timeoutMs = timeoutFrom(opts);
    const client = await connect(opts, io);
    try {
      io.stderr.write('retrieving inventory...\n');
      const { deleteInventory } = await import('../../kube/delete.js');
      await deleteInventory({
        client,
        name,
        wait: opts['wait'] !== false,
        timeoutMs,
        onEvent: (e) => {
          if (e.type === 'deleting') io.stderr.write(`deleting ${e.count} manifest(s)...\n`);
          else if (e.type === 'change' || e.type === 'inventory-deleted') io.stdout.write(changeLine(e.change));
          else if (e.type === 'waiting') io.stderr.write('waiting for resources to be terminated...\n');
          else if (e.type === 'deleted') io.stderr.write('all resources have been deleted\n');
        },
      });
    } finally {
      client.close();
    }
  });

  // get inventories
  const get = verb(program, 'get', 'list objects')
    .command('inventories')
    .alias('inventory')
    .alias('inv')
    .description('list inventories')
    .option('-A, --all-namespaces', 'list inventories in all namespaces')
    .option('-o, --output <format>', 'table, json or yaml', 'table');
  addKubeFlags(get);
  examples(get, ['lading get inventories -n default', 'lading get inventories -A -o json']);
  get.action(async (opts: Opts) => {
    const format = parseOutputFormat(opts['output'] as string | undefined);
    const all = opts['allNamespaces'] === true;
    const client = await connect(opts, io);
    try {
      const list = await listInventories(client, { allNamespaces: all });
      io.stdout.write(
        await renderData(format, list.map(inventoryView), () =>
          renderTable(
            [...(all ? ['NAMESPACE'] : []), 'NAME', 'ENTRIES', 'SOURCE', 'REVISION', 'LAST APPLIED'],
            list.map((i) => [...(all ? [i.namespace] : []), i.name, String(i.entries.length), i.source ?? '', i.revision ?? '', i.lastAppliedAt ?? '']),
          ),
        ),
      );
    } finally {
      client.close();
    }
  });

  // inspect inventory
  const inspect = verb(program, 'inspect', 'show details')
    .command('inventory')
    .alias('inv')
    .description('show the source, revision, artifacts and entries of an inventory')
    .argument('<name>', 'inventory name')
    .option('-o, --output <format>', 'table, json or yaml', 'table');
  addKubeFlags(inspect);
  examples(inspect, ['lading inspect inventory demo-app -n default', 'lading inspect inv demo-app -o yaml']);
  inspect.action(async (name: string, opts: Opts) => {
    const format = parseOutputFormat(opts['output'] as string | undefined);
    const client = await connect(opts, io);
    try {
      const inv = await readInventory(client, name, client.namespace);
      if (!inv) throw new KubeError('NOT_FOUND', `inspecting inventory ${client.namespace}/${name}: inventory not found`);
      io.stdout.write(
        await renderData(format, inventoryView(inv), () => {
          const lines = [
            `Inventory: ${inv.namespace}/${inv.name}`,
            `LastAppliedAt: ${inv.lastAppliedAt ?? ''}`,
            `Source: ${inv.source ?? ''}`,
            `Revision: ${inv.revision ?? ''}`,
            'Artifacts:',
            ...inv.artifacts.map((a) => `- ${a}`),
            'Resources:',
            ...inv.entries.map((e) => `- ${displayName(e)}`),
          ];
          return lines.join('\n') + '\n';
        }),
      );
    } finally {
      client.close();
    }
  });
};
