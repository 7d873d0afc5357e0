// The controller process (`lading controller run`): the API client (kubeconfig, or the pod's
// service account), the manager with the reconcilers, probes and metrics over plain HTTP, and a
// graceful shutdown on SIGTERM/SIGINT. What the reconcilers need beyond the runtime (artifact
// storage and its HTTP server) is made by `components`, so the process is the same whatever
// reconcilers it runs.
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { LadingError } from '../errors.js';
import { KubeClient, type ClientOptions } from '../kube/index.js';
import { leaseNameFor } from './runtime/lease.js';
import { createLogger, type LogEncoding } from './runtime/log.js';
import { Manager } from './runtime/manager.js';
import type { Logger, LogLevel, Reconciler } from './runtime/types.js';
import { defaultMaxRetryDelayMs, defaultMinRetryDelayMs } from './runtime/queue.js';

export interface ControllerOptions {
  /** The API client (default: one made from `kube`). */
  client?: KubeClient;
  /** How to find the cluster when no client is given (kubeconfig as kubectl finds it, then in-cluster). */
  kube?: ClientOptions;
  /** The log (default: JSON lines on stderr at `logLevel`). */
  log?: Logger;
  logLevel?: LogLevel;
  logEncoding?: LogEncoding;
  /** `--storage-path` (Flux's default /data, or $STORAGE_PATH). */
  storagePath?: string;
  /** `--storage-addr` (default :9090). */
  storageAddr?: string;
  /** `--storage-adv-addr` (default: from storageAddr, as Flux derives it). */
  storageAdvAddr?: string;
  /** `--artifact-retention-ttl` and `--artifact-retention-records`. */
  artifactRetentionTtlMs?: number;
  artifactRetentionRecords?: number;
  /** `--metrics-addr` (default :8080; "0" disables). */
  metricsAddr?: string;
  /** `--health-addr` (default :9440; "0" disables). */
  healthAddr?: string;
  /** `--concurrent`: workers per reconciler (default 4). */
  concurrent?: number;
  /** `--requeue-dependency` (default 30 s). */
  requeueDependencyMs?: number;
  /** `--watch-all-namespaces` (default true); false watches `runtimeNamespace` only. */
  watchAllNamespaces?: boolean;
  /** `--watch-label-selector`. */
  watchLabelSelector?: string;
  /** The controller's own namespace (default $RUNTIME_NAMESPACE, else the client's namespace). */
  runtimeNamespace?: string;
  /** `--enable-leader-election` (default false). */
  enableLeaderElection?: boolean;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  minRetryDelayMs?: number;
  maxRetryDelayMs?: number;
  /** `--interval-jitter-percentage` (default 5). */
  intervalJitterPercentage?: number;
  /** `--graceful-shutdown-timeout` (default 30 s, controller-runtime's). */
  gracefulShutdownTimeoutMs?: number;
  /** `--http-retry`: retries of an artifact download (default 9, kustomize-controller's). */
  httpRetry?: number;
  /** `--default-service-account`: the account Kustomizations without serviceAccountName apply as (default: the controller's own). */
  defaultServiceAccount?: string;
  /** `--no-cross-namespace-refs`: refuse a sourceRef or dependsOn in another namespace (default false). */
  noCrossNamespaceRefs?: boolean;
  /** `--no-remote-bases`: refuse kustomize remote bases (lading's build never fetches them; kept for Flux's flag). */
  noRemoteBases?: boolean;
  env?: NodeJS.ProcessEnv;
  /** Makes the reconcilers and what they need (default: OCIRepository and Kustomization). */
  components?: (deps: ComponentDeps) => Promise<ControllerComponents>;
}

/** What `components` gets: the client, the log and the options as resolved. */
export interface ComponentDeps {
  client: KubeClient;
  log: Logger;
  options: ResolvedControllerOptions;
}

export interface ControllerComponents {
  reconcilers: Array<{ reconciler: Reconciler<never>; reportingController: string }>;
  /** Closed after the manager has stopped (the artifact server). */
  closers?: Array<() => Promise<void>>;
  /** Whether the components are ready, for /readyz (the artifact server listening). */
  ready?: () => boolean;
}

export type ResolvedControllerOptions = Required<
  Pick<
    ControllerOptions,
    | 'storagePath'
    | 'storageAddr'
    | 'storageAdvAddr'
    | 'metricsAddr'
    | 'healthAddr'
    | 'concurrent'
    | 'requeueDependencyMs'
    | 'watchAllNamespaces'
    | 'runtimeNamespace'
    | 'enableLeaderElection'
    | 'minRetryDelayMs'
    | 'maxRetryDelayMs'
    | 'intervalJitterPercentage'
    | 'gracefulShutdownTimeoutMs'
    | 'artifactRetentionTtlMs'
    | 'artifactRetentionRecords'
    | 'httpRetry'
    | 'noCrossNamespaceRefs'
    | 'noRemoteBases'
  >
> & { watchLabelSelector: string | undefined; defaultServiceAccount: string | undefined };

export interface RunningController {
  manager: Manager;
  /** `http://host:port` of the probes and of /metrics, when served. */
  healthUrl: string | undefined;
  metricsUrl: string | undefined;
  /** Stops gracefully (see Manager.stop), then closes the servers and the client. */
  stop(): Promise<void>;
  /** Resolves when stopped; rejects when the controller stopped on a failure (leadership lost). */
  done: Promise<void>;
}

/** Splits `host:port`, `:port`, `[v6]:port` or `port`; port 0 picks a free one. */
export function parseListenAddress(address: string, flag: string): { host: string | undefined; port: number } {
  const a = address.trim();
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(a) ?? (/^(\d+)$/.test(a) ? ['', undefined, '', a] : null);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !Number.isInteger(port) || port > 65535) throw new LadingError('INVALID_OPTION', `${flag}: invalid address "${address}" (expected host:port or :port)`);
  const host = m[1] ?? m[2];
  return { host: host === '' || host === undefined ? undefined : host, port };
}

/** Whether an address flag turns its server off ("0", as controller-runtime reads --metrics-addr). */
function disabled(address: string): boolean {
  return address.trim() === '' || address.trim() === '0';
}

/** The address artifact URLs advertise when --storage-adv-addr is not given, as Flux derives it. */
export function advertisedStorageAddress(storageAddr: string, env: NodeJS.ProcessEnv): string {
  const { host, port } = parseListenAddress(storageAddr, '--storage-addr');
  let h = host ?? 'localhost';
  if (h === '0.0.0.0') h = env['HOSTNAME'] || hostname();
  return `${h.includes(':') ? `[${h}]` : h}:${port}`;
}

export function resolveControllerOptions(opts: ControllerOptions, clientNamespace: string): ResolvedControllerOptions {
  const env = opts.env ?? process.env;
  const storageAddr = opts.storageAddr ?? (env['STORAGE_ADDRESS'] || ':9090');
  return {
    storagePath: opts.storagePath ?? (env['STORAGE_PATH'] || '/data'),
    storageAddr,
    storageAdvAddr: opts.storageAdvAddr ?? (env['STORAGE_ADV_ADDR'] || advertisedStorageAddress(storageAddr, env)),
    metricsAddr: opts.metricsAddr ?? (env['METRICS_ADDR'] || ':8080'),
    healthAddr: opts.healthAddr ?? ':9440',
    concurrent: opts.concurrent ?? 4,
    requeueDependencyMs: opts.requeueDependencyMs ?? 30_000,
    watchAllNamespaces: opts.watchAllNamespaces ?? true,
    watchLabelSelector: opts.watchLabelSelector,
    runtimeNamespace: opts.runtimeNamespace ?? (env['RUNTIME_NAMESPACE'] || clientNamespace),
    enableLeaderElection: opts.enableLeaderElection ?? false,
    minRetryDelayMs: opts.minRetryDelayMs ?? defaultMinRetryDelayMs,
    maxRetryDelayMs: opts.maxRetryDelayMs ?? defaultMaxRetryDelayMs,
    intervalJitterPercentage: opts.intervalJitterPercentage ?? 5,
    gracefulShutdownTimeoutMs: opts.gracefulShutdownTimeoutMs ?? 30_000,
    artifactRetentionTtlMs: opts.artifactRetentionTtlMs ?? 60_000,
    artifactRetentionRecords: opts.artifactRetentionRecords ?? 2,
    httpRetry: opts.httpRetry ?? 9,
    defaultServiceAccount: opts.defaultServiceAccount,
    noCrossNamespaceRefs: opts.noCrossNamespaceRefs ?? false,
    noRemoteBases: opts.noRemoteBases ?? false,
  };
}

async function listen(server: Server, address: string, flag: string): Promise<string> {
  const { host, port } = parseListenAddress(address, flag);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new LadingError('LISTEN_FAILED', `${flag}: cannot listen on ${address}: ${err.message}`, { cause: err })));
    server.listen(port, host, () => resolve());
  });
  const a = server.address() as AddressInfo;
  const h = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  return `http://${h === '[::]' || h === '0.0.0.0' ? '127.0.0.1' : h}:${a.port}`;
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections?.();
  });
}

/** A minimal Prometheus text body until the metrics issue fills it. */
function metricsText(manager: Manager, names: string[]): string {
  const lines: string[] = [];
  const family = (name: string, type: string, help: string, values: Array<[string, number]>) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of values) lines.push(`${name}{${labels}} ${v}`);
  };
  const stats = names.map((n) => [n, manager.stats(n)] as const);
  family('controller_runtime_reconcile_total', 'counter', 'Total number of reconciliations per controller', stats.map(([n, s]) => [`controller="${n}"`, s?.reconciles ?? 0]));
  family('controller_runtime_reconcile_errors_total', 'counter', 'Total number of reconciliation errors per controller', stats.map(([n, s]) => [`controller="${n}"`, s?.errors ?? 0]));
  family('controller_runtime_active_workers', 'gauge', 'Number of currently used workers per controller', stats.map(([n, s]) => [`controller="${n}"`, s?.active ?? 0]));
  family('workqueue_depth', 'gauge', 'Current depth of workqueue', stats.map(([n, s]) => [`name="${n}"`, s?.queued ?? 0]));
  family('leader_election_master_status', 'gauge', 'Whether this process leads (1) or not (0)', [['name="lading-controller"', manager.isLeader ? 1 : 0]]);
  return lines.join('\n') + '\n';
}

/** Starts the controller; returns once it runs (servers listening, caches starting). */
export async function startController(opts: ControllerOptions = {}): Promise<RunningController> {
  const log = opts.log ?? createLogger({ level: opts.logLevel ?? 'info', encoding: opts.logEncoding ?? 'json' });
  const ownClient = opts.client === undefined;
  const client = opts.client ?? (await KubeClient.connect({ ...opts.kube, userAgent: 'lading-controller' }));
  const options = resolveControllerOptions(opts, client.namespace);
  const closers: Array<() => Promise<void>> = [];
  const closeAll = async () => {
    for (const close of closers.splice(0).reverse()) await close().catch((err: unknown) => log.error('closing failed', { error: err }));
  };
  if (ownClient) closers.push(() => client.close());
  try {
    const components = await (opts.components ?? defaultComponents)({ client, log, options });
    closers.push(...(components.closers ?? []));
    const manager = new Manager({
      client,
      log,
      concurrent: options.concurrent,
      minRetryDelayMs: options.minRetryDelayMs,
      maxRetryDelayMs: options.maxRetryDelayMs,
      gracefulShutdownTimeoutMs: options.gracefulShutdownTimeoutMs,
      ...(options.watchAllNamespaces ? {} : { namespace: options.runtimeNamespace }),
      ...(options.watchLabelSelector ? { labelSelector: options.watchLabelSelector } : {}),
      ...(options.enableLeaderElection
        ? {
            leaderElection: {
              namespace: options.runtimeNamespace,
              name: leaseNameFor(options.watchLabelSelector),
              identity: `${hostname()}_${randomUUID()}`,
              ...(opts.leaseDurationMs !== undefined ? { leaseDurationMs: opts.leaseDurationMs } : {}),
              ...(opts.renewDeadlineMs !== undefined ? { renewDeadlineMs: opts.renewDeadlineMs } : {}),
              ...(opts.retryPeriodMs !== undefined ? { retryPeriodMs: opts.retryPeriodMs } : {}),
            },
          }
        : {}),
    });
    for (const { reconciler, reportingController } of components.reconcilers) manager.register(reconciler as unknown as Reconciler, { reportingController });
    const names = components.reconcilers.map((c) => c.reconciler.name);

    let healthUrl: string | undefined;
    if (!disabled(options.healthAddr)) {
      const health = createServer((req, res) => {
        const path = (req.url ?? '/').split('?')[0];
        const ok = path === '/healthz' ? true : path === '/readyz' ? manager.ready && (components.ready?.() ?? true) : undefined;
        if (ok === undefined) res.writeHead(404).end('not found\n');
        else res.writeHead(ok ? 200 : 503, { 'Content-Type': 'text/plain' }).end(ok ? 'ok\n' : 'not ready\n');
      });
      healthUrl = await listen(health, options.healthAddr, '--health-addr');
      closers.push(() => closeServer(health));
    }
    let metricsUrl: string | undefined;
    if (!disabled(options.metricsAddr)) {
      const metrics = createServer((req, res) => {
        if ((req.url ?? '/').split('?')[0] !== '/metrics') return void res.writeHead(404).end('not found\n');
        res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' }).end(metricsText(manager, names));
      });
      metricsUrl = await listen(metrics, options.metricsAddr, '--metrics-addr');
      closers.push(() => closeServer(metrics));
    }

    manager.start();
    log.info('controller started', {
      reconcilers: names,
      namespace: options.watchAllNamespaces ? '' : options.runtimeNamespace,
      ...(options.watchLabelSelector ? { labelSelector: options.watchLabelSelector } : {}),
      concurrent: options.concurrent,
      leaderElection: options.enableLeaderElection,
      server: client.server,
    });
    let stopping: Promise<void> | undefined;
    const stop = () => {
      stopping ??= (async () => {
        log.info('stopping the controller');
        await manager.stop();
        await closeAll();
        log.info('controller stopped');
      })();
      return stopping;
    };
    // The manager may stop on its own (leadership lost): close everything then too.
    const done = manager.done.then(
      () => stop(),
      async (err: unknown) => {
        await stop();
        throw err;
      },
    );
    done.catch(() => undefined);
    return { manager, healthUrl, metricsUrl, stop, done };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

/**
 * Runs the controller until SIGTERM or SIGINT, then stops it gracefully; a second signal exits at
 * once (status 1), as controller-runtime's signal handler does. Rejects if it stopped on a failure.
 */
export async function runController(opts: ControllerOptions = {}): Promise<void> {
  const log = opts.log ?? createLogger({ level: opts.logLevel ?? 'info', encoding: opts.logEncoding ?? 'json' });
  let running: RunningController | undefined;
  let signalled = false;
  // Installed before starting, so a signal during start-up stops the controller once it runs.
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      log.error('second signal, exiting now', { signal });
      process.exit(1);
    }
    signalled = true;
    log.info('received signal, shutting down', { signal });
    void running?.stop();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    running = await startController({ ...opts, log });
    if (signalled) void running.stop();
    await running.done;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}

/**
 * The reconcilers lading runs: OCIRepository (source-controller's, with the artifact storage
 * and its HTTP server) and Kustomization (kustomize-controller's). Their events name the Flux
 * controller they stand in for.
 */
export async function defaultComponents(deps: ComponentDeps): Promise<ControllerComponents> {
  const { options, log } = deps;
  const { ArtifactStorage, startArtifactServer, createOCIRepositoryReconciler } = await import('./source/index.js');
  const { createKustomizationReconciler } = await import('./kustomize/index.js');
  const { cloudRegistryCredentials } = await import('../oci/index.js');
  const storage = new ArtifactStorage({
    root: options.storagePath,
    advertisedAddress: options.storageAdvAddr,
    retentionTtlMs: options.artifactRetentionTtlMs,
    retentionRecords: options.artifactRetentionRecords,
  });
  const server = await startArtifactServer({ storage, address: options.storageAddr });
  log.info('artifact server started', { url: server.url, storagePath: options.storagePath, advertisedAddress: options.storageAdvAddr });
  return {
    reconcilers: [
      {
        reconciler: createOCIRepositoryReconciler({
          storage,
          jitterPercent: options.intervalJitterPercentage,
          // provider: aws|azure|gcp — the token exchange of src/oci/cloud (cached per provider and host).
          cloudCredentials: (provider, host, o) => cloudRegistryCredentials(provider, host, { ...(o.signal ? { signal: o.signal } : {}), ...(o.env ? { env: o.env } : {}), ...(o.proxy ? { transport: { proxy: o.proxy } } : {}) }),
        }),
        reportingController: 'source-controller',
      },
      {
        reconciler: createKustomizationReconciler({
          requeueDependencyMs: options.requeueDependencyMs,
          jitterPercent: options.intervalJitterPercentage,
          httpRetry: options.httpRetry,
          noCrossNamespaceRefs: options.noCrossNamespaceRefs,
          noRemoteBases: options.noRemoteBases,
          ...(options.defaultServiceAccount !== undefined ? { defaultServiceAccount: options.defaultServiceAccount } : {}),
        }),
        reportingController: 'kustomize-controller',
      },
    ],
    closers: [() => server.close()],
  };
}
