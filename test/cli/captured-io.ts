// The CLI run in-process with its streams captured: what `lading` would print, for tests of every
// domain's commands.
import { PassThrough, Readable } from 'node:stream';
import type { CliIO } from '../../src/cli/output.js';
import { run } from '../../src/cli/program.js';

export interface CapturedIO {
  io: CliIO;
  stdout: () => string;
  stderr: () => string;
}

export interface CapturedIOOptions {
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** What the command reads on stdin (nothing by default). */
  stdin?: NodeJS.ReadableStream | string | Buffer;
}

/** A CliIO whose stdout and stderr are kept (decoded once, whole). */
export function capturedIO(opts: CapturedIOOptions): CapturedIO {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (c: Buffer) => out.push(c));
  stderr.on('data', (c: Buffer) => err.push(c));
  const stdin = opts.stdin === undefined || typeof opts.stdin === 'string' || Buffer.isBuffer(opts.stdin) ? Readable.from(opts.stdin === undefined ? [] : [Buffer.from(opts.stdin)]) : opts.stdin;
  return {
    io: { stdout, stderr, stdin, env: opts.env, cwd: opts.cwd },
    stdout: () => Buffer.concat(out).toString('utf8'),
    stderr: () => Buffer.concat(err).toString('utf8'),
  };
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `lading argv` in-process (src/cli/program.ts's run) with captured streams. */
export async function runCaptured(argv: string[], opts: CapturedIOOptions): Promise<CliRun> {
  const captured = capturedIO(opts);
  const code = await run(argv, captured.io);
  return { code, stdout: captured.stdout(), stderr: captured.stderr() };
}
