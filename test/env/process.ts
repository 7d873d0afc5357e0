// Process helpers for the test environment: start real servers as plain processes, each in its
// own process group so that stopping one stops everything it forked, and stop them by pid.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';

export interface StartedProcess {
  name: string;
  pid: number;
  /** File that receives the process's stdout and stderr. */
  logFile: string;
  child: ChildProcess;
  /** Resolves with the exit code (or signal name) when the process ends. */
  exited: Promise<number | string>;
}

export interface SpawnLoggedOptions {
  name: string;
  command: string;
  args: string[];
  logFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/**
 * Starts `command` detached in a new process group with stdout/stderr appended to `logFile`.
 * The child is unref'd so a forgotten process never keeps node alive; stop it with stopProcess.
 */
export function spawnLogged(opts: SpawnLoggedOptions): StartedProcess {
  const fd = openSync(opts.logFile, 'a');
  const spawnOpts: SpawnOptions = {
    detached: true,
    stdio: ['ignore', fd, fd],
    env: opts.env ?? process.env,
  };
  if (opts.cwd !== undefined) spawnOpts.cwd = opts.cwd;
  let child: ChildProcess;
  try {
    child = spawn(opts.command, opts.args, spawnOpts);
  } finally {
    closeSync(fd);
  }
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
    child.once('error', (err) => resolve(`spawn error: ${err.message}`));
  });
  child.unref();
  if (child.pid === undefined) {
    throw new Error(`starting ${opts.name} (${opts.command}): the process did not start; see ${opts.logFile}`);
  }
  return { name: opts.name, pid: child.pid, logFile: opts.logFile, child, exited };
}

/** True while `pid` runs; a zombie (exited, not yet reaped) counts as gone. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // /proc/PID/stat: "pid (comm) STATE ..."; comm may contain spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc: trust kill(0)
  }
}

/** The command line of a running process, or undefined when it is gone (Linux /proc). */
export function commandLineOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return undefined;
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/**
 * Stops a process (and its process group) by pid: SIGTERM, then SIGKILL after `graceMs`.
 * Resolves once the process is gone.
 */
export async function stopProcess(pid: number, opts: { graceMs?: number } = {}): Promise<void> {
  const graceMs = opts.graceMs ?? 5_000;
  if (!isAlive(pid)) return;
  signalGroup(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(50);
  if (isAlive(pid)) {
    signalGroup(pid, 'SIGKILL');
    const killDeadline = Date.now() + 5_000;
    while (isAlive(pid) && Date.now() < killDeadline) await sleep(50);
  }
  // A zombie child still answers kill(0); reaping is node's job once 'exit' fires, so do not wait
  // forever on it.
}

/** Synchronous SIGKILL of process groups, for exit/signal handlers that cannot await. */
export function killGroupsNow(pids: number[]): void {
  for (const pid of pids) signalGroup(pid, 'SIGKILL');
}

/** A TCP port that was free on `host` a moment ago (the kernel picks it). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', (err) => reject(new Error(`finding a free port on ${host}: ${err.message}`)));
    server.listen({ port: 0, host, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Several distinct free ports at once (held open together so they differ). */
export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () =>
      new Promise<import('node:net').Server>((resolve, reject) => {
        const server = createServer();
        server.unref();
        server.once('error', (err) => reject(new Error(`finding a free port on ${host}: ${err.message}`)));
        server.listen({ port: 0, host, exclusive: true }, () => resolve(server));
      }),
    ),
  );
  const ports = servers.map((s) => {
    const address = s.address();
    return typeof address === 'object' && address !== null ? address.port : 0;
  });
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return ports;
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface WaitForOptions {
  /** What is being waited for, used in the timeout error. */
  what: string;
  timeoutMs: number;
  intervalMs?: number;
  signal?: AbortSignal;
  /** Fails the wait early, e.g. when the process being waited on has exited. */
  failIf?: () => string | undefined;
}

/**
 * Polls `check` until it returns a non-undefined value. Errors thrown by `check` count as "not
 * yet"; the last one is reported on timeout.
 */
export async function waitFor<T>(check: () => Promise<T | undefined>, opts: WaitForOptions): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  let lastError: unknown;
  for (;;) {
    const failure = opts.failIf?.();
    if (failure !== undefined) throw new Error(`waiting for ${opts.what}: ${failure}`);
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const detail = lastError instanceof Error ? `: last error: ${lastError.message}` : '';
      throw new Error(`waiting for ${opts.what}: not ready after ${opts.timeoutMs} ms${detail}`);
    }
    await sleep(opts.intervalMs ?? 100, opts.signal);
  }
}

/**
 * Resolves once something accepts connections on 127.0.0.1:`port`; fails early when `exited()`
 * says the process that should listen there has exited (with the end of its log file).
 */
export async function acceptingConnections(port: number, what: string, exited: () => string | undefined, logFile: string): Promise<void> {
  await waitFor(
    () =>
      new Promise<true | undefined>((resolve) => {
        const s = connect(port, '127.0.0.1', () => {
          s.destroy();
          resolve(true);
        });
        s.on('error', () => resolve(undefined));
      }),
    { what, timeoutMs: 10_000, failIf: () => (exited() !== undefined ? `it exited (${exited()}): ${tailFile(logFile)}` : undefined) },
  );
}

/** The last `lines` lines of a log file, for error messages. */
export function tailFile(file: string, lines = 20): string {
  try {
    const text = readFileSync(file, 'utf8');
    return text.split('\n').slice(-lines - 1).join('\n');
  } catch {
    return '';
  }
}

// ---------------------------------------------------------------------------------------------
// Environment records: every running environment (cluster, registry started by `npm run env`)
// writes a small JSON file naming its pids and temp data, so `npm run env -- down` can clean up a
// stray one even when the process that started it was killed.

export interface EnvironmentRecord {
  id: string;
  kind: string;
  /** pid of the node process that started it. */
  owner: number;
  startedAt: string;
  processes: Array<{ name: string; pid: number; command: string; logFile?: string }>;
  /** Temp directories to remove on teardown. */
  dataDirs: string[];
  /** Anything worth printing (kubeconfig path, server URL, registry URL). */
  info: Record<string, string>;
}

export function recordsDir(root: string): string {
  return join(root, 'run');
}

export function writeRecord(root: string, record: EnvironmentRecord): string {
  const dir = recordsDir(root);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${record.id}.json`);
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(record, null, 2) + '\n');
  renameSync(tmp, file);
  return file;
}

export function removeRecord(root: string, id: string): void {
  rmSync(join(recordsDir(root), `${id}.json`), { force: true });
}

export function readRecords(root: string): EnvironmentRecord[] {
  const dir = recordsDir(root);
  if (!existsSync(dir)) return [];
  const out: EnvironmentRecord[] = [];
  for (const name of readdirSync(dir)) {
    if (!name.endsWith('.json')) continue;
    try {
      out.push(JSON.parse(readFileSync(join(dir, name), 'utf8')) as EnvironmentRecord);
    } catch {
      // half-written or foreign file: ignore
    }
  }
  return out;
}

/** True when `pid` is alive and still runs `command` (guards against pid reuse). */
export function isOurProcess(pid: number, command: string): boolean {
  if (!isAlive(pid)) return false;
  const cmdline = commandLineOf(pid);
  return cmdline === undefined || cmdline.startsWith(command);
}

/** Stops every process of a record (checking the command line first) and removes its data. */
export async function tearDownRecord(root: string, record: EnvironmentRecord): Promise<void> {
  for (const p of [...record.processes].reverse()) {
    if (isOurProcess(p.pid, p.command)) await stopProcess(p.pid);
  }
  for (const dir of record.dataDirs) rmSync(dir, { recursive: true, force: true });
  removeRecord(root, record.id);
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  input?: string;
  /** Kill the command after this long (default 5 minutes); a bound, not an assertion. */
  timeoutMs?: number;
  /** Resolve with a non-zero code instead of throwing. */
  allowFailure?: boolean;
}

/**
 * Runs a command to completion and returns its output. By default a non-zero exit throws an
 * error quoting the command and its stderr (so test failures say what the tool said).
 */
export function run(command: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, {
      env: opts.env ?? process.env,
      ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (c: Buffer) => out.push(c));
    child.stderr?.on('data', (c: Buffer) => err.push(c));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 300_000);
    child.once('error', (e) => {
      clearTimeout(timer);
      const hint = (e as NodeJS.ErrnoException).code === 'ENOENT' ? ` (is ${command} installed and on PATH?)` : '';
      reject(new Error(`running ${command}: ${e.message}${hint}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const result = { code: code ?? -1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
      if (result.code !== 0 && opts.allowFailure !== true) {
        reject(
          new Error(
            `${command} ${args.join(' ')} exited ${code ?? signal}\n--- stderr ---\n${result.stderr.slice(-4000)}\n--- stdout ---\n${result.stdout.slice(-2000)}`,
          ),
        );
        return;
      }
      resolvePromise(result);
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

/** Current and peak resident memory of a process in bytes (Linux /proc VmRSS / VmHWM). */
export function memoryOf(pid: number): { rss: number; peak: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
    return { rss: kb('VmRSS'), peak: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

const cleanups = new Set<() => void>();
let cleanupHandlersInstalled = false;

/**
 * Runs `cleanup` when the process exits or gets SIGINT/SIGTERM/SIGHUP, so an interrupted test run
 * or benchmark leaves nothing behind. If nobody else handles the signal, the process then dies of it.
 */
export function cleanUpOnExit(cleanup: () => void): void {
  cleanups.add(cleanup);
  if (cleanupHandlersInstalled) return;
  cleanupHandlersInstalled = true;
  const all = (): void => {
    for (const c of cleanups) c();
  };
  process.on('exit', all);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const handler = (): void => {
      all();
      process.removeListener(sig, handler);
      // Others (e.g. the test runner) may handle the signal themselves; if nobody does, die of it.
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, handler);
  }
}
