// Runs `lading controller run` (the built CLI, dist/bin/lading.js) as a local process against a
// test cluster, as Flux's own tests run their controllers against envtest: storage in a temp
// dir, the artifact server, probes and metrics on free loopback ports. Stopped by pid.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { acceptingConnections, freePorts, isAlive, spawnLogged, stopProcess, tailFile, type StartedProcess } from '../env/process.js';
import { repoRoot } from '../env/tools.js';

export interface LadingController {
  pid: number;
  process: StartedProcess;
  logFile: string;
  storageDir: string;
  /** `http://127.0.0.1:PORT`, the artifact server. */
  storageUrl: string;
  healthUrl: string;
  /** SIGTERM, then SIGKILL after the grace period. */
  stop(): Promise<void>;
  /** SIGKILL now (a crash). */
  kill(): Promise<void>;
  /** Log lines so far. */
  log(): string;
}

export const cliPath = resolve(repoRoot, 'dist/bin/lading.js');

export async function startLadingController(opts: {
  kubeconfig: string;
  /** Extra flags (`--concurrent=4`, `--watch-label-selector=…`). */
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** Reuse a storage directory (a restart after a crash). */
  storageDir?: string;
  runtimeNamespace?: string;
}): Promise<LadingController> {
  if (!existsSync(cliPath)) throw new Error(`${cliPath} is missing: run \`npm run build\` first (npm test does)`);
  const storageDir = opts.storageDir ?? mkdtempSync(join(tmpdir(), 'lading-controller-storage-'));
  const logDir = mkdtempSync(join(tmpdir(), 'lading-controller-log-'));
  const logFile = join(logDir, 'controller.log');
  const [storagePort, healthPort] = (await freePorts(2)) as [number, number];
  const args = [
    cliPath,
    'controller',
    'run',
    '--kubeconfig',
    opts.kubeconfig,
    `--storage-path=${storageDir}`,
    `--storage-addr=127.0.0.1:${storagePort}`,
    `--storage-adv-addr=127.0.0.1:${storagePort}`,
    `--health-addr=127.0.0.1:${healthPort}`,
    '--metrics-addr=0',
    '--log-level=debug',
    ...(opts.args ?? []),
  ];
  const proc = spawnLogged({
    name: 'lading controller',
    command: process.execPath,
    args,
    logFile,
    env: { ...process.env, RUNTIME_NAMESPACE: opts.runtimeNamespace ?? 'lading-system', ...opts.env },
  });
  let exited: string | undefined;
  void proc.exited.then((c) => (exited = String(c)));
  await acceptingConnections(healthPort, 'lading controller health endpoint', () => exited, logFile);
  const stopAll = async (kill: boolean): Promise<void> => {
    if (kill) {
      try {
        process.kill(-proc.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      while (isAlive(proc.pid)) await new Promise((r) => setTimeout(r, 50));
    } else {
      await stopProcess(proc.pid, { graceMs: 35_000 });
    }
  };
  return {
    pid: proc.pid,
    process: proc,
    logFile,
    storageDir,
    storageUrl: `http://127.0.0.1:${storagePort}`,
    healthUrl: `http://127.0.0.1:${healthPort}`,
    stop: async () => {
      await stopAll(false);
      if (!opts.storageDir) rmSync(storageDir, { recursive: true, force: true });
      rmSync(logDir, { recursive: true, force: true });
    },
    kill: () => stopAll(true),
    log: () => tailFile(logFile, 400),
  };
}
