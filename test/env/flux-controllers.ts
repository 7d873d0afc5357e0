// Flux's own source-controller and kustomize-controller (v1.9.5, built from test/tools/fluxctl)
// run as local processes against a test cluster, as Flux's own tests run them against envtest,
// so lading's controller can be tested beside Flux's and compared with it. Also a git server
// (`git http-backend` behind a small HTTP server on loopback) for GitRepository sources.
//
// Flux's CRDs carry the same names as lading's: install them (the default) only on a private
// cluster from startCluster(), not on the shared cluster of the test run.
import { spawn } from 'node:child_process';
import { createHash, timingSafeEqual } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, normalize, sep } from 'node:path';
import { fluxModuleDir } from './flux-modules.js';
import { cleanUpOnExit, freePorts, killGroupsNow, run, spawnLogged, stopProcess, tailFile, waitFor, type StartedProcess } from './process.js';
import { toolPath } from './tools.js';

export type FluxControllerName = 'source' | 'kustomize';

/** The controller versions built in test/tools/fluxctl (what flux CLI v2.9.5 installs). */
export const FLUX_CONTROLLER_VERSION = 'v1.9.5';

const binaries: Record<FluxControllerName, 'source-controller' | 'kustomize-controller'> = {
  source: 'source-controller',
  kustomize: 'kustomize-controller',
};

export interface StartFluxControllersOptions {
  /** Kubeconfig of the cluster the controllers reconcile (passed as KUBECONFIG). */
  kubeconfig: string;
  /** The controllers' RUNTIME_NAMESPACE, created when missing (default `flux-system`). */
  namespace?: string;
  /** source-controller's `--storage-path`; default a temporary directory removed by stop(). */
  storageDir?: string;
  /** Which controllers to run (default both). */
  which?: readonly FluxControllerName[];
  /**
   * Install Flux's CRDs (every source kind and Kustomization, from the modules'
   * config/crd/bases) before starting (default true). They have the names of lading's CRDs:
   * use a private cluster. A CRD of the same name applied by another field manager is a conflict
   * (an error), never overwritten.
   */
  installCrds?: boolean;
  /** Extra flags per controller, e.g. `{ kustomize: ['--concurrent=10'] }`. */
  args?: Partial<Record<FluxControllerName, readonly string[]>>;
  /** Extra environment for both controllers (e.g. SOURCE_CONTROLLER_LOCALHOST). */
  env?: NodeJS.ProcessEnv;
  /** `--log-level` (default `debug`). */
  logLevel?: 'debug' | 'info' | 'error';
  /** Time allowed for each controller to become ready (default 120 s). */
  readyTimeoutMs?: number;
  signal?: AbortSignal;
}

export interface RunningFluxController {
  name: FluxControllerName;
  pid: number;
  logFile: string;
  /** `http://127.0.0.1:PORT`: /healthz and /readyz. */
  healthUrl: string;
  /** `http://127.0.0.1:PORT/metrics`. */
  metricsUrl: string;
}

export interface RunningFluxControllers {
  /** `http://127.0.0.1:PORT`, source-controller's artifact server (undefined when it is not run). */
  sourceStorageUrl: string | undefined;
  storageDir: string;
  /** Log file of each controller that runs (JSON lines, removed by stop()). */
  logs: Partial<Record<FluxControllerName, string>>;
  controllers: RunningFluxController[];
  /** The log of one controller so far ('' when it does not run). */
  readLog(which: FluxControllerName): string;
  /** SIGTERM (then SIGKILL) each controller by pid; removes the logs and a storage dir made here. */
  stop(): Promise<void>;
}

/** Flux's CRD files for the given controllers, from the modules in the Go module cache. */
export function fluxCrdFiles(which: readonly FluxControllerName[] = ['source', 'kustomize']): string[] {
  return which.flatMap((name) => {
    const dir = join(fluxModuleDir(binaries[name], FLUX_CONTROLLER_VERSION), 'config', 'crd', 'bases');
    return readdirSync(dir)
      .filter((f) => f.endsWith('.yaml'))
      .sort()
      .map((f) => join(dir, f));
  });
}

function kubectlCommand(): string {
  return process.env['KUBECTL'] ?? 'kubectl';
}

/**
 * Server-side applies Flux's CRDs (all source kinds and Kustomization; kustomize-controller
 * watches every source kind, so both sets are needed even for one controller) and waits until
 * they are Established.
 */
export async function installFluxCrds(kubeconfig: string): Promise<string[]> {
  const files = fluxCrdFiles();
  const names = files.map((f) => {
    const m = /^\s{2}name:\s*(\S+)\s*$/m.exec(readFileSync(f, 'utf8'));
    if (!m?.[1]) throw new Error(`installing Flux's CRDs: no metadata.name in ${f}`);
    return m[1];
  });
  const base = ['--kubeconfig', kubeconfig];
  // Server-side: the CRDs are too large for the last-applied annotation of a client-side apply.
  await run(kubectlCommand(), [...base, 'apply', '--server-side', '--field-manager=lading-testenv-flux-crds', ...files.flatMap((f) => ['-f', f])], { timeoutMs: 120_000 });
  await run(kubectlCommand(), [...base, 'wait', '--for=condition=Established', '--timeout=60s', ...names.map((n) => `crd/${n}`)], { timeoutMs: 90_000 });
  return names;
}

// Controllers of this process, killed synchronously on exit and on SIGINT/SIGTERM/SIGHUP.
const live = new Map<number, string[]>();

function cleanupAllNow(): void {
  killGroupsNow([...live.keys()]);
  for (const dirs of live.values()) for (const d of dirs) rmSync(d, { recursive: true, force: true });
  live.clear();
}

async function httpStatus(url: string): Promise<number> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
  await res.body?.cancel();
  return res.status;
}

/**
 * Installs Flux's CRDs (unless `installCrds: false`), then starts the chosen controllers on free
 * loopback ports without leader election, watching all namespaces, and waits until each answers
 * /readyz (and source-controller's artifact server answers). On failure everything started is
 * stopped and the error quotes the controller's last log lines.
 */
export async function startFluxControllers(opts: StartFluxControllersOptions): Promise<RunningFluxControllers> {
  const which: FluxControllerName[] = [...new Set<FluxControllerName>(opts.which ?? ['source', 'kustomize'])];
  const namespace = opts.namespace ?? 'flux-system';
  const readyTimeoutMs = opts.readyTimeoutMs ?? 120_000;
  const commands = Object.fromEntries(which.map((w) => [w, toolPath(binaries[w])])) as Partial<Record<FluxControllerName, string>>;

  if (opts.installCrds !== false) await installFluxCrds(opts.kubeconfig);
  await run(kubectlCommand(), ['--kubeconfig', opts.kubeconfig, 'apply', '--server-side', '--field-manager=lading-testenv-flux', '-f', '-'], {
    input: JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } }),
  });

  const workDir = mkdtempSync(join(tmpdir(), 'lading-flux-'));
  // A storage dir made here is inside workDir (removed by stop()); a given one is left as it is.
  const storageDir = opts.storageDir ?? join(workDir, 'storage');
  mkdirSync(storageDir, { recursive: true });
  const cleanupDirs = [workDir];
  cleanUpOnExit(cleanupAllNow);

  const started: Array<{ proc: StartedProcess; info: RunningFluxController }> = [];
  const stop = async (): Promise<void> => {
    // kustomize-controller first: it reads source-controller's artifacts.
    for (const { proc } of [...started].reverse()) {
      await stopProcess(proc.pid);
      live.delete(proc.pid);
    }
    for (const d of cleanupDirs) rmSync(d, { recursive: true, force: true });
  };

  let sourceStorageUrl: string | undefined;
  try {
    for (const name of (['source', 'kustomize'] as const).filter((w) => which.includes(w))) {
      const command = commands[name];
      if (command === undefined) continue;
      const [healthPort, metricsPort, storagePort] = (await freePorts(3)) as [number, number, number];
      const logFile = join(workDir, `${binaries[name]}.log`);
      const tmp = join(workDir, `tmp-${name}`);
      mkdirSync(tmp);
      const args = [
        `--health-addr=127.0.0.1:${healthPort}`,
        `--metrics-addr=127.0.0.1:${metricsPort}`,
        '--enable-leader-election=false',
        '--watch-all-namespaces=true',
        `--log-level=${opts.logLevel ?? 'debug'}`,
        '--log-encoding=json',
      ];
      if (name === 'source') {
        sourceStorageUrl = `http://127.0.0.1:${storagePort}`;
        args.push(`--storage-path=${storageDir}`, `--storage-addr=127.0.0.1:${storagePort}`, `--storage-adv-addr=127.0.0.1:${storagePort}`);
      }
      args.push(...(opts.args?.[name] ?? []));
      const proc = spawnLogged({
        name: binaries[name],
        command,
        args,
        logFile,
        env: {
          ...process.env,
          KUBECONFIG: opts.kubeconfig,
          RUNTIME_NAMESPACE: namespace,
          // Temporary files (kustomize-controller's build dirs, source-controller's downloads)
          // stay inside workDir, removed by stop() even after a SIGKILL.
          TMPDIR: tmp,
          // No credentials of the user's own docker config.
          DOCKER_CONFIG: join(workDir, 'no-docker-config'),
          ...opts.env,
        },
      });
      live.set(proc.pid, cleanupDirs);
      const info: RunningFluxController = {
        name,
        pid: proc.pid,
        logFile,
        healthUrl: `http://127.0.0.1:${healthPort}`,
        metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
      };
      started.push({ proc, info });
      let exit: number | string | undefined;
      void proc.exited.then((c) => (exit = c));
      const failIf = (): string | undefined => (exit === undefined ? undefined : `${binaries[name]} exited (${exit}); last log lines:\n${tailFile(logFile, 30)}`);
      const signal = opts.signal !== undefined ? { signal: opts.signal } : {};
      await waitFor(async () => ((await httpStatus(`${info.healthUrl}/readyz`)) === 200 ? true : undefined), {
        what: `${binaries[name]} ${FLUX_CONTROLLER_VERSION} (${info.healthUrl}/readyz)`,
        timeoutMs: readyTimeoutMs,
        intervalMs: 200,
        failIf,
        ...signal,
      });
      if (name === 'source' && sourceStorageUrl !== undefined) {
        const url = sourceStorageUrl;
        // The artifact server starts with the manager; any HTTP answer means it listens.
        await waitFor(async () => ((await httpStatus(`${url}/`)) > 0 ? true : undefined), {
          what: `source-controller's artifact server on ${url}`,
          timeoutMs: readyTimeoutMs,
          intervalMs: 200,
          failIf,
          ...signal,
        });
      }
    }
  } catch (err) {
    const logs = started.map(({ info }) => `--- ${binaries[info.name]} ---\n${tailFile(info.logFile, 30)}`).join('\n');
    await stop();
    const message = err instanceof Error ? err.message : String(err);
    throw new Error(`starting Flux's controllers (${which.join(', ')}) against ${opts.kubeconfig}: ${message}${logs !== '' && !message.includes('last log lines') ? `\n${logs}` : ''}`, { cause: err });
  }

  const logs: Partial<Record<FluxControllerName, string>> = {};
  for (const { info } of started) logs[info.name] = info.logFile;
  return {
    sourceStorageUrl,
    storageDir,
    logs,
    controllers: started.map((s) => s.info),
    readLog(name: FluxControllerName): string {
      const file = logs[name];
      if (file === undefined) return '';
      try {
        return readFileSync(file, 'utf8');
      } catch {
        return '';
      }
    },
    stop,
  };
}

// ---------------------------------------------------------------------------------------------
// A git server over http for GitRepository sources.

export interface StartGitServerOptions {
  /** Require basic auth with these credentials (GitRepository `secretRef` username/password). */
  auth?: { username: string; password: string };
}

export interface GitServer {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** Directory holding the bare repositories (`<name>.git`). */
  root: string;
  /** `http://127.0.0.1:PORT/<name>.git`, the URL a GitRepository uses. */
  repoUrl(name: string): string;
  /**
   * Commits exactly `files` (path → content; the whole tree of the new commit) on `branch`
   * (default `main`) of the bare repository `<name>.git`, created when missing; returns the
   * commit's SHA-1. The repository's HEAD is the branch of its first commit.
   */
  commit(name: string, files: Record<string, string>, opts?: { branch?: string; message?: string; tag?: string }): Promise<string>;
  /** `METHOD /path?query STATUS` of each request served so far. */
  requests: string[];
  stop(): Promise<void>;
}

const GIT_IDENTITY = {
  GIT_AUTHOR_NAME: 'lading test',
  GIT_AUTHOR_EMAIL: 'test@lading.invalid',
  GIT_COMMITTER_NAME: 'lading test',
  GIT_COMMITTER_EMAIL: 'test@lading.invalid',
};

function gitEnv(home: string): NodeJS.ProcessEnv {
  // The user's own git configuration (hooks, templates, signing) must not apply.
  return { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: home, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', LANG: 'C', ...GIT_IDENTITY };
}

function checkRepoName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(name) || name.endsWith('.git')) {
    throw new Error(`git server: repository name ${JSON.stringify(name)} must be letters, digits, '.', '_', '-' (without .git)`);
  }
}

function safeRelative(path: string): string {
  const n = normalize(path);
  if (path === '' || isAbsolute(path) || n === '..' || n.startsWith(`..${sep}`) || n.split(sep).includes('.git')) {
    throw new Error(`git server: file path ${JSON.stringify(path)} must be relative, inside the repository and not under .git`);
  }
  return n;
}

function credentialsMatch(header: string | undefined, auth: { username: string; password: string }): boolean {
  if (header === undefined || !header.startsWith('Basic ')) return false;
  const given = createHash('sha256').update(Buffer.from(header.slice('Basic '.length), 'base64')).digest();
  const wanted = createHash('sha256').update(`${auth.username}:${auth.password}`).digest();
  return timingSafeEqual(given, wanted);
}

/**
 * Serves bare repositories over git's smart HTTP protocol (read-only: upload-pack) on a free
 * loopback port, with `git http-backend` run as a CGI program per request.
 */
export async function startGitServer(opts: StartGitServerOptions = {}): Promise<GitServer> {
  const base = mkdtempSync(join(tmpdir(), 'lading-git-'));
  const root = join(base, 'repos');
  const home = join(base, 'home');
  mkdirSync(root);
  mkdirSync(home);
  const requests: string[] = [];
  const env = gitEnv(home);

  const server = http.createServer((req, res) => {
    const fail = (status: number, message: string): void => {
      requests.push(`${req.method ?? '?'} ${req.url ?? ''} ${status}`);
      res.writeHead(status, { 'content-type': 'text/plain' }).end(`${message}\n`);
    };
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    let pathInfo: string;
    try {
      pathInfo = decodeURIComponent(url.pathname);
    } catch {
      fail(400, 'bad path');
      return;
    }
    if (pathInfo.split('/').includes('..') || pathInfo.includes('\0')) {
      fail(400, 'bad path');
      return;
    }
    if (opts.auth !== undefined && !credentialsMatch(req.headers.authorization, opts.auth)) {
      requests.push(`${req.method ?? '?'} ${req.url ?? ''} 401`);
      res.writeHead(401, { 'www-authenticate': 'Basic realm="lading-git"', 'content-type': 'text/plain' }).end('authentication required\n');
      return;
    }
    const cgiEnv: NodeJS.ProcessEnv = {
      ...env,
      GIT_PROJECT_ROOT: root,
      GIT_HTTP_EXPORT_ALL: '1',
      GATEWAY_INTERFACE: 'CGI/1.1',
      SERVER_PROTOCOL: 'HTTP/1.1',
      REQUEST_METHOD: req.method ?? 'GET',
      PATH_INFO: pathInfo,
      QUERY_STRING: url.search.replace(/^\?/, ''),
      CONTENT_TYPE: req.headers['content-type'] ?? '',
      REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
    };
    if (req.headers['content-length'] !== undefined) cgiEnv['CONTENT_LENGTH'] = req.headers['content-length'];
    if (typeof req.headers['content-encoding'] === 'string') cgiEnv['HTTP_CONTENT_ENCODING'] = req.headers['content-encoding'];
    if (typeof req.headers['git-protocol'] === 'string') cgiEnv['GIT_PROTOCOL'] = req.headers['git-protocol'];
    const child = spawn('git', ['http-backend'], { env: cgiEnv, stdio: ['pipe', 'pipe', 'pipe'] });
    let head = Buffer.alloc(0);
    let headersSent = false;
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr = (stderr + c.toString('utf8')).slice(-4000)));
    child.stdout.on('data', (chunk: Buffer) => {
      if (headersSent) {
        res.write(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const crlf = head.indexOf('\r\n\r\n');
      const lf = head.indexOf('\n\n');
      const end = crlf >= 0 && (lf < 0 || crlf < lf) ? { at: crlf, len: 4 } : lf >= 0 ? { at: lf, len: 2 } : undefined;
      if (end === undefined) {
        if (head.length > 64 * 1024) child.kill('SIGKILL');
        return;
      }
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of head.subarray(0, end.at).toString('latin1').split(/\r?\n/)) {
        const colon = line.indexOf(':');
        if (colon <= 0) continue;
        const key = line.slice(0, colon).trim();
        const value = line.slice(colon + 1).trim();
        if (key.toLowerCase() === 'status') status = Number(value.split(' ')[0]) || 500;
        else headers[key] = value;
      }
      requests.push(`${req.method ?? '?'} ${req.url ?? ''} ${status}`);
      res.writeHead(status, headers);
      headersSent = true;
      const rest = head.subarray(end.at + end.len);
      if (rest.length > 0) res.write(rest);
    });
    child.once('close', (code) => {
      if (!headersSent) fail(502, `git http-backend exited ${code}: ${stderr.trim()}`);
      else res.end();
    });
    child.once('error', (err) => {
      if (!headersSent) fail(500, `running git http-backend: ${err.message}`);
    });
    child.stdin.on('error', () => undefined); // the backend may exit before reading the whole body
    req.pipe(child.stdin);
    req.once('aborted', () => child.kill('SIGKILL'));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1' }, () => resolve());
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const cleanup = (): void => rmSync(base, { recursive: true, force: true });
  cleanUpOnExit(cleanup);

  const git = async (args: string[], extraEnv: NodeJS.ProcessEnv = {}, cwd?: string): Promise<string> =>
    (await run('git', args, { env: { ...env, ...extraEnv }, timeoutMs: 60_000, ...(cwd !== undefined ? { cwd } : {}) })).stdout.trim();

  return {
    url,
    root,
    requests,
    repoUrl: (name: string): string => {
      checkRepoName(name);
      return `${url}/${name}.git`;
    },
    async commit(name, files, commitOpts = {}): Promise<string> {
      checkRepoName(name);
      const branch = commitOpts.branch ?? 'main';
      const gitDir = join(root, `${name}.git`);
      let fresh = false;
      try {
        readdirSync(gitDir);
      } catch {
        await git(['init', '--quiet', '--bare', `--initial-branch=${branch}`, gitDir]);
        fresh = true;
      }
      const work = mkdtempSync(join(base, 'work-'));
      try {
        for (const [path, content] of Object.entries(files)) {
          const target = join(work, 'tree', safeRelative(path));
          mkdirSync(dirname(target), { recursive: true });
          writeFileSync(target, content);
        }
        mkdirSync(join(work, 'tree'), { recursive: true });
        const indexEnv = { GIT_INDEX_FILE: join(work, 'index') };
        await git(['--git-dir', gitDir, '--work-tree', join(work, 'tree'), 'add', '--all', '.'], indexEnv, join(work, 'tree'));
        const tree = await git(['--git-dir', gitDir, 'write-tree'], indexEnv);
        const parent = fresh ? '' : await git(['--git-dir', gitDir, 'rev-parse', '--verify', '--quiet', `refs/heads/${branch}`]).catch(() => '');
        const sha = await git(['--git-dir', gitDir, 'commit-tree', tree, ...(parent !== '' ? ['-p', parent] : []), '-m', commitOpts.message ?? `commit on ${branch}`]);
        await git(['--git-dir', gitDir, 'update-ref', `refs/heads/${branch}`, sha]);
        if (commitOpts.tag !== undefined) await git(['--git-dir', gitDir, 'tag', '--force', commitOpts.tag, sha]);
        // http-backend serves refs from info/refs only for the dumb protocol; keep it current anyway.
        await git(['--git-dir', gitDir, 'update-server-info']);
        return sha;
      } finally {
        rmSync(work, { recursive: true, force: true });
      }
    },
    async stop(): Promise<void> {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      cleanup();
    },
  };
}
