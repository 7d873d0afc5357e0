import { PassThrough, Readable } from 'node:stream';
import { run } from '../../src/cli/program.js';
import type { CliIO } from '../../src/cli/output.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the lading CLI in-process with captured streams. */
export async function lading(args: string[], opts: { stdin?: string | Buffer; cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  const io: CliIO = {
    stdout,
    stderr,
    stdin: Readable.from(opts.stdin === undefined ? [] : [Buffer.from(opts.stdin)]),
    // An empty docker config: tests never read the developer's credentials.
    env: { ...process.env, DOCKER_CONFIG: '/nonexistent-lading-test', ...opts.env },
    cwd: opts.cwd ?? process.cwd(),
  };
  const code = await run(args, io);
  return { code, stdout: out, stderr: err };
}
