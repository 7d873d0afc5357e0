// The seed tutorial end to end, with lading alone: a local registry and a Kubernetes control
// plane (kwok nodes) are started here and stopped at the end. Each step prints the command it
// runs, as a user would type it, and its output. Any failing step ends the demo with exit 1.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { startRegistry, type RunningRegistry } from '../test/env/registry.js';
import { startCluster, type RunningCluster } from '../test/env/cluster.js';
import { ensureTools } from '../test/env/tools.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(repo, 'dist', 'bin', 'lading.js');
const work = mkdtempSync(join(tmpdir(), 'lading-demo-'));
const env: NodeJS.ProcessEnv = { ...process.env, LADING_PASSWORD: 'demo-password', DOCKER_CONFIG: join(work, 'docker') };

function step(title: string): void {
  process.stdout.write(`\n## ${title}\n`);
}

/** Runs `lading ARGS`; `expect` is the exit status the tutorial expects (diff exits 1 on drift). */
function lading(args: string[], expect = 0): void {
  const shown = args.map((a) => (a.includes(work) ? a.replace(work, '.') : a)).join(' ');
  process.stdout.write(`$ lading ${shown}\n`);
  const r = spawnSync(process.execPath, [cli, ...args], { env, cwd: work, stdio: 'inherit' });
  if (r.status !== expect) {
    throw new Error(`lading ${shown} exited with ${r.status}, expected ${expect}`);
  }
}

let registry: RunningRegistry | undefined;
let cluster: RunningCluster | undefined;
try {
  step('Start a local registry and a Kubernetes control plane');
  registry = await startRegistry();
  process.stdout.write(`registry: ${registry.url}\n`);
  // The control plane alone: the registry is Debian's docker-registry.
  await ensureTools({ modules: ['kube'] });
  cluster = await startCluster({ log: (l) => process.stdout.write(`${l}\n`) });
  env['KUBECONFIG'] = cluster.kubeconfig;
  process.stdout.write(`KUBECONFIG=${cluster.kubeconfig}\n`);

  cpSync(join(repo, 'examples', 'demo-app'), join(work, 'demo-app'), { recursive: true });
  cpSync(join(repo, 'examples', 'patches'), join(work, 'patches'), { recursive: true });
  const image = `${registry.host}/demo-app`;
  const source = 'https://github.com/stefanprodan/kustomizer';

  step('Publish and sign the app config');
  lading(['generate-key-pair']);
  lading(['push', 'artifact', `oci://${image}:1.0.0`, '-k', join(work, 'demo-app'), '--source', source, '--revision', '1.0.0']);
  lading(['sign', `${image}:1.0.0`, '--key', 'cosign.key']);
  lading(['tag', 'artifact', `oci://${image}:1.0.0`, 'latest']);

  step('Verify and inspect the app config');
  lading(['verify', `${image}:1.0.0`, '--key', 'cosign.pub']);
  lading(['list', 'artifacts', `oci://${image}`]);
  lading(['inspect', 'artifact', `oci://${image}:1.0.0`]);
  lading(['inspect', 'artifact', `oci://${image}:1.0.0`, '--container-images']);
  lading(['pull', 'artifact', `oci://${image}:1.0.0`, '--output', join(work, 'pulled'), '--verify', '--key', 'cosign.pub']);

  step('Install the app');
  lading(['apply', 'inventory', 'demo-app', '--wait', '--prune', '--artifact', `oci://${image}:1.0.0`, '--source', image, '--revision', '1.0.0']);
  lading(['get', 'inventories', '-n', 'default']);
  lading(['inspect', 'inventory', 'demo-app', '-n', 'default']);

  step('Publish an update: redis 6.2.1 as 1.0.1');
  const kustomization = join(work, 'demo-app', 'kustomization.yaml');
  const doc = parseDocument(readFileSync(kustomization, 'utf8'));
  doc.setIn(['images', 1, 'newTag'], '6.2.1');
  writeFileSync(kustomization, doc.toString());
  lading(['push', 'artifact', `oci://${image}:1.0.1`, '-k', join(work, 'demo-app'), '--source', source, '--revision', '1.0.1']);
  lading(['sign', `${image}:1.0.1`, '--key', 'cosign.key']);
  lading(['tag', 'artifact', `oci://${image}:1.0.1`, 'latest']);

  step('Upgrade the app');
  lading(['verify', `${image}:latest`, '--key', 'cosign.pub']);
  lading(['diff', 'inventory', 'demo-app', '--prune', '--artifact', `oci://${image}:latest`], 1);
  lading(['apply', 'inventory', 'demo-app', '--wait', '--prune', '--artifact', `oci://${image}:latest`, '--source', image, '--revision', '1.0.1']);

  step('Patch upstream configs');
  lading(['apply', 'inventory', 'demo-app', '--wait', '--prune', '--artifact', `oci://${image}:1.0.1`, '--source', image, '--revision', '1.0.1', '--patch', join(work, 'patches', 'safe-to-evict.yaml')]);

  step('Uninstall the app');
  lading(['delete', 'inventory', 'demo-app', '--wait']);
  process.stdout.write('\ndemo complete\n');
} catch (err) {
  process.stderr.write(`\ndemo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
} finally {
  await cluster?.stop();
  await registry?.stop();
  rmSync(work, { recursive: true, force: true });
}
