// Timing of whole processes for the start-up benchmarks (bench/startup.ts, bench/verify.ts): each
// command run in turn, interleaved, so that a change in the machine's load hits them all alike.
import { execFile } from 'node:child_process';
import { loadavg } from 'node:os';

/** How many timed rounds (BENCH_RUNS, default 21). */
export const RUNS = Number(process.env['BENCH_RUNS'] ?? 21);

/** A command to time: file, arguments, environment. */
export type Timed = readonly [file: string, args: string[], env: NodeJS.ProcessEnv];

/** Wall time of one run of `cmd` in ms; a failing run fails the benchmark with its stderr. */
export function timeProcess(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const started = process.hrtime.bigint();
  return new Promise((resolvePromise, reject) => {
    execFile(cmd, args, { env, maxBuffer: 16 * 1024 * 1024 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${String(stderr)}`));
      else resolvePromise(Number(process.hrtime.bigint() - started) / 1e6);
    });
  });
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export function loadLine(): string {
  return `load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`;
}

/**
 * Runs each command once (warm-up: file cache, registry, the binaries), then RUNS rounds with
 * one run of each, in turn. Returns each command's median in ms.
 */
export async function interleavedMedians<T extends { [name: string]: Timed }>(commands: T): Promise<{ [P in keyof T]: number }> {
  const entries = Object.entries(commands);
  for (const [, [file, args, env]] of entries) await timeProcess(file, args, env);
  const times = entries.map((): number[] => []);
  for (let i = 0; i < RUNS; i++) {
    for (const [n, [, [file, args, env]]] of entries.entries()) times[n]?.push(await timeProcess(file, args, env));
  }
  return Object.fromEntries(entries.map(([name], n) => [name, median(times[n] ?? [])])) as { [P in keyof T]: number };
}
