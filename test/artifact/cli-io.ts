import { runCaptured, type CliRun } from '../cli/captured-io.js';

export type CliResult = CliRun;

/** Runs the lading CLI in-process with captured streams. */
export function lading(args: string[], opts: { stdin?: string | Buffer; cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return runCaptured(args, {
    ...(opts.stdin !== undefined ? { stdin: opts.stdin } : {}),
    // An empty docker config: tests never read the developer's credentials.
    env: { ...process.env, DOCKER_CONFIG: '/nonexistent-lading-test', ...opts.env },
    cwd: opts.cwd ?? process.cwd(),
  });
}
