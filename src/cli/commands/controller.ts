// `lading controller run`: the in-cluster controller (OCIRepository and Kustomization, as Flux's
// source-controller and kustomize-controller) as a process, with Flux's flag names. Parses the
// flags and calls runController; SIGTERM/SIGINT stop it gracefully (exit 0).
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import type { ControllerOptions } from '../../controller/run.js';
import { parseDuration } from '../../controller/runtime/duration.js';
import { parseLogEncoding, parseLogLevel } from '../../controller/runtime/log.js';
import { examples, verb, type CommandModule } from '../util.js';

type Opts = Record<string, unknown>;

/** Go's strconv.ParseBool, as Flux's boolean flags read `--flag=false`. */
function parseBool(flag: string) {
  return (value: string): boolean => {
    if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
    if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
    throw new UsageError(`${flag}: invalid boolean "${value}" (use true or false)`);
  };
}

/**
 * Flux's `--no-…` flags are plain booleans (`--no-remote-bases`, `--no-remote-bases=false`).
 * commander reads a `--no-x` option as the negation of `x` (true when absent, false when given
 * bare), so a given value is wrapped to tell it from that default.
 */
function flagValue(flag: string) {
  const parse = parseBool(flag);
  return (value: string): { given: boolean } => ({ given: parse(value) });
}

function negatedFlag(v: unknown): boolean | undefined {
  if (v === false) return true; // given bare
  if (typeof v === 'object' && v !== null && 'given' in v) return (v as { given: boolean }).given;
  return undefined;
}

function durationOf(opts: Opts, key: string, flag: string): number | undefined {
  const v = opts[key];
  if (typeof v !== 'string') return undefined;
  try {
    return parseDuration(v, flag);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function integerOf(opts: Opts, key: string, flag: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const v = opts[key];
  if (typeof v !== 'string') return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`${flag}: "${v}" is not an integer from ${min} to ${max}`);
  return n;
}

function stringOf(opts: Opts, key: string): string | undefined {
  const v = opts[key];
  return typeof v === 'string' ? v : undefined;
}

/** The options of runController from the flags (exported for tests). */
export function controllerOptionsFrom(opts: Opts, io: { env: NodeJS.ProcessEnv; cwd: string; stderr: NodeJS.WritableStream }): ControllerOptions {
  const logLevelText = stringOf(opts, 'logLevel') ?? 'info';
  const logLevel = parseLogLevel(logLevelText);
  if (!logLevel) throw new UsageError(`--log-level: "${logLevelText}" is not one of debug, info, error`);
  const logEncodingText = stringOf(opts, 'logEncoding') ?? 'json';
  const logEncoding = parseLogEncoding(logEncodingText);
  if (!logEncoding) throw new UsageError(`--log-encoding: "${logEncodingText}" is not one of json, console`);
  const minRetryDelayMs = durationOf(opts, 'minRetryDelay', '--min-retry-delay');
  const maxRetryDelayMs = durationOf(opts, 'maxRetryDelay', '--max-retry-delay');
  if ((minRetryDelayMs ?? 750) > (maxRetryDelayMs ?? 900_000)) throw new UsageError('--min-retry-delay must not be longer than --max-retry-delay');
  const storagePath = stringOf(opts, 'storagePath');
  const kubeconfig = stringOf(opts, 'kubeconfig');
  const context = stringOf(opts, 'context');
  const set = <K extends keyof ControllerOptions>(key: K, value: ControllerOptions[K] | undefined) => (value === undefined ? {} : { [key]: value });
  return {
    kube: {
      env: io.env,
      cwd: io.cwd,
      execStderr: io.stderr,
      ...(kubeconfig !== undefined ? { kubeconfig: resolve(io.cwd, kubeconfig) } : {}),
      ...(context !== undefined ? { context } : {}),
    },
    env: io.env,
    logLevel,
    logEncoding,
    ...set('storagePath', storagePath !== undefined ? resolve(io.cwd, storagePath) : undefined),
    ...set('storageAddr', stringOf(opts, 'storageAddr')),
    ...set('storageAdvAddr', stringOf(opts, 'storageAdvAddr')),
    ...set('artifactRetentionTtlMs', durationOf(opts, 'artifactRetentionTtl', '--artifact-retention-ttl')),
    ...set('artifactRetentionRecords', integerOf(opts, 'artifactRetentionRecords', '--artifact-retention-records', 1)),
    ...set('metricsAddr', stringOf(opts, 'metricsAddr')),
    ...set('healthAddr', stringOf(opts, 'healthAddr')),
    ...set('concurrent', integerOf(opts, 'concurrent', '--concurrent', 1, 1000)),
    ...set('requeueDependencyMs', durationOf(opts, 'requeueDependency', '--requeue-dependency')),
    ...set('watchAllNamespaces', typeof opts['watchAllNamespaces'] === 'boolean' ? opts['watchAllNamespaces'] : undefined),
    ...set('watchLabelSelector', stringOf(opts, 'watchLabelSelector')),
    ...set('enableLeaderElection', typeof opts['enableLeaderElection'] === 'boolean' ? opts['enableLeaderElection'] : undefined),
    ...set('leaseDurationMs', durationOf(opts, 'leaderElectionLeaseDuration', '--leader-election-lease-duration')),
    ...set('renewDeadlineMs', durationOf(opts, 'leaderElectionRenewDeadline', '--leader-election-renew-deadline')),
    ...set('retryPeriodMs', durationOf(opts, 'leaderElectionRetryPeriod', '--leader-election-retry-period')),
    ...set('minRetryDelayMs', minRetryDelayMs),
    ...set('maxRetryDelayMs', maxRetryDelayMs),
    ...set('intervalJitterPercentage', integerOf(opts, 'intervalJitterPercentage', '--interval-jitter-percentage', 0, 99)),
    ...set('gracefulShutdownTimeoutMs', durationOf(opts, 'gracefulShutdownTimeout', '--graceful-shutdown-timeout')),
    ...set('httpRetry', integerOf(opts, 'httpRetry', '--http-retry', 0, 100)),
    ...set('defaultServiceAccount', stringOf(opts, 'defaultServiceAccount')),
    ...set('noCrossNamespaceRefs', negatedFlag(opts['crossNamespaceRefs'])),
    ...set('noRemoteBases', negatedFlag(opts['remoteBases'])),
  };
}

function addControllerFlags(cmd: Command): Command {
  return cmd
    .option('--kubeconfig <path>', 'kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then the in-cluster service account)')
    .option('--context <name>', 'kubeconfig context to use')
    .option('--storage-path <path>', 'directory where artifacts are stored (default: $STORAGE_PATH, else /data)')
    .option('--storage-addr <address>', 'address the artifact server binds to (default: $STORAGE_ADDRESS, else :9090)')
    .option('--storage-adv-addr <address>', 'address advertised in artifact URLs (default: $STORAGE_ADV_ADDR, else derived from --storage-addr)')
    .option('--artifact-retention-ttl <duration>', 'age after which stale artifacts are garbage collected (default 1m0s)')
    .option('--artifact-retention-records <n>', 'artifacts kept per object after garbage collection (default 2)')
    .option('--metrics-addr <address>', 'address of the /metrics endpoint; 0 disables it (default: $METRICS_ADDR, else :8080)')
    .option('--health-addr <address>', 'address of the /healthz and /readyz probes; 0 disables them (default :9440)')
    .option('--concurrent <n>', 'concurrent reconciles per kind (default 4; Flux: source-controller 2, kustomize-controller 4)')
    .option('--requeue-dependency <duration>', 'interval at which a Kustomization whose dependencies are not ready is looked at again (default 30s)')
    .option('--watch-all-namespaces [bool]', 'watch every namespace; false watches only $RUNTIME_NAMESPACE (default true)', parseBool('--watch-all-namespaces'))
    .option('--watch-label-selector <selector>', 'reconcile only objects matching this label selector (sharding)')
    .option('--enable-leader-election [bool]', 'reconcile only while holding the lease lading-controller-leader-election (default false)', parseBool('--enable-leader-election'))
    .option('--leader-election-lease-duration <duration>', 'how long a lease is held without renewal (default 35s)')
    .option('--leader-election-renew-deadline <duration>', 'how long the leader tries to renew before giving up (default 30s)')
    .option('--leader-election-retry-period <duration>', 'interval between lease attempts (default 5s)')
    .option('--min-retry-delay <duration>', 'first delay of the per-object exponential backoff after a failure (default 750ms)')
    .option('--max-retry-delay <duration>', 'largest delay of the per-object exponential backoff (default 15m)')
    .option('--interval-jitter-percentage <n>', 'random spread added to each object\'s interval, in percent (default 5)')
    .option('--graceful-shutdown-timeout <duration>', 'how long in-flight reconciles may run on after SIGTERM before they are aborted (default 30s)')
    .option('--http-retry <n>', 'retries of an artifact download from a source (default 9)')
    .option('--default-service-account <name>', 'service account a Kustomization without serviceAccountName applies as (default: the controller\'s own rights)')
    .option('--no-cross-namespace-refs [bool]', 'refuse sourceRef and dependsOn in another namespace (default false)', flagValue('--no-cross-namespace-refs'))
    .option('--no-remote-bases [bool]', 'refuse remote kustomize bases (lading never fetches them; Flux\'s flag, default false)', flagValue('--no-remote-bases'))
    .option('--log-level <level>', 'debug, info or error (default info)')
    .option('--log-encoding <encoding>', 'json or console (default json)');
}

export const controllerCommands: CommandModule = (program, io) => {
  const runCmd = verb(program, 'controller', 'Run or install the in-cluster controller (controller run|install)')
    .command('run')
    .description('run the controller: reconcile OCIRepository and Kustomization objects (Flux APIs) until SIGTERM');
  addControllerFlags(runCmd);
  examples(runCmd, [
    'lading controller run --storage-path=/data --storage-adv-addr=lading-controller.flux-system.svc.cluster.local.',
    'lading controller run --kubeconfig ~/.kube/config --storage-path ./artifacts --storage-addr 127.0.0.1:9090 --log-encoding console',
    'lading controller run --watch-all-namespaces=false --enable-leader-election --concurrent 8',
    'lading controller run --watch-label-selector sharding.fluxcd.io/key=shard1 --metrics-addr 0',
  ]);
  const installCmd = verb(program, 'controller', 'Run or install the in-cluster controller (controller run|install)')
    .command('install')
    .description('print (or with --apply, apply) what a cluster needs to run the controller: CRDs, namespace, service account, RBAC, Deployment, Service')
    .option('--image <ref>', 'container image of lading for the Deployment (required unless --crds-only)')
    .option('--namespace <ns>', 'namespace of the controller (default lading-system)')
    .option('--apply-rights <mode>', 'cluster-admin (as Flux: any object a Kustomization holds can be applied) or impersonation (every Kustomization must name a serviceAccountName)')
    .option('--watch-all-namespaces [bool]', 'watch every namespace; false only the controller\'s own (default true)', parseBool('--watch-all-namespaces'))
    .option('--log-level <level>', 'the controller\'s --log-level (default info)')
    .option('--crds-only', 'only the CustomResourceDefinitions (OCIRepository, Kustomization)')
    .option('--without-crds', 'everything but the CustomResourceDefinitions (e.g. where Flux\'s own CRDs are installed)')
    .option('--apply', 'apply to the cluster (server-side apply, recorded as the inventory lading-controller) instead of printing')
    .option('--wait', 'with --apply: wait until the CRDs are established and the Deployment is Available')
    .option('--timeout <duration>', 'with --wait: how long to wait (default 5m)')
    .option('--kubeconfig <path>', 'kubeconfig file (with --apply)')
    .option('--context <name>', 'kubeconfig context to use (with --apply)')
    .option('-o, --output <format>', 'yaml or json when printing (default yaml)');
  examples(installCmd, [
    'lading controller install --image ghcr.io/example/lading:v0.1.0 > lading-controller.yaml',
    'lading controller install --crds-only | kubectl apply --server-side -f -',
    'lading controller install --image ghcr.io/example/lading:v0.1.0 --namespace flux-system --without-crds --apply --wait',
  ]);
  installCmd.action(async (opts: Opts) => {
    const { crds, installManifests } = await import('../../controller/index.js');
    const crdsOnly = opts['crdsOnly'] === true;
    const image = stringOf(opts, 'image');
    if (crdsOnly && opts['withoutCrds'] === true) throw new UsageError('--crds-only and --without-crds exclude each other');
    if (!crdsOnly && image === undefined) throw new UsageError('--image is required: the container image of lading the Deployment runs (lading publishes none yet; build one with lading on its PATH)');
    const rights = stringOf(opts, 'applyRights');
    if (rights !== undefined && rights !== 'cluster-admin' && rights !== 'impersonation') throw new UsageError(`--apply-rights: "${rights}" is not one of cluster-admin, impersonation`);
    const level = stringOf(opts, 'logLevel');
    if (level !== undefined && !parseLogLevel(level)) throw new UsageError(`--log-level: "${level}" is not one of debug, info, error`);
    const namespace = stringOf(opts, 'namespace');
    const objects = crdsOnly
      ? crds()
      : installManifests({
          image: image as string,
          ...(namespace !== undefined ? { namespace } : {}),
          ...(rights !== undefined ? { applyRights: rights } : {}),
          ...(typeof opts['watchAllNamespaces'] === 'boolean' ? { watchAllNamespaces: opts['watchAllNamespaces'] } : {}),
          ...(level !== undefined ? { logLevel: level as 'debug' | 'info' | 'error' } : {}),
          ...(opts['withoutCrds'] === true ? { withoutCrds: true } : {}),
        });
    if (opts['apply'] !== true) {
      const format = stringOf(opts, 'output') ?? 'yaml';
      if (format === 'json') io.stdout.write(`${JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }, null, 2)}\n`);
      else if (format === 'yaml') {
        const { formatManifests } = await import('../../manifests/index.js');
        io.stdout.write(formatManifests(objects));
      } else throw new UsageError(`-o: "${format}" is not one of yaml, json`);
      return;
    }
    const timeoutMs = durationOf(opts, 'timeout', '--timeout') ?? 5 * 60_000;
    const { KubeClient, applyInventory } = await import('../../kube/index.js');
    const kubeconfig = stringOf(opts, 'kubeconfig');
    const context = stringOf(opts, 'context');
    const client = await KubeClient.connect({
      env: io.env,
      cwd: io.cwd,
      execStderr: io.stderr,
      ...(kubeconfig !== undefined ? { kubeconfig: resolve(io.cwd, kubeconfig) } : {}),
      ...(context !== undefined ? { context } : {}),
    });
    try {
      await applyInventory({
        client,
        name: 'lading-controller',
        namespace: namespace ?? 'lading-system',
        objects,
        createNamespace: true,
        prune: true,
        wait: opts['wait'] === true,
        timeoutMs,
        onEvent: (e) => {
          if (e.type === 'applying') io.stderr.write(`applying ${e.count} object(s)...\n`);
          else if (e.type === 'change') io.stdout.write(`${e.change.id} ${e.change.action}\n`);
          else if (e.type === 'waiting') io.stderr.write('waiting for the controller to become ready...\n');
          else if (e.type === 'ready') io.stderr.write('the controller is ready\n');
        },
      });
    } finally {
      await client.close();
    }
  });
  runCmd.action(async (opts: Opts) => {
    const options = controllerOptionsFrom(opts, io);
    const { runController } = await import('../../controller/run.js');
    const { createLogger } = await import('../../controller/runtime/log.js');
    await runController({ ...options, log: createLogger({ level: options.logLevel ?? 'info', encoding: options.logEncoding ?? 'json', stream: io.stderr }) });
  });
};
