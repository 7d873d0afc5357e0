// `lading verify` as the CLI runs it, without commander: the commander command (commands/sign.ts)
// and the fast path (fast-verify.ts) both call verifyCommand, so they print the same thing.
// Also the helpers the other signing commands share. Nothing here imports commander.
import { resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { parseOutputFormat, renderData, renderTable, type CliIO } from './output.js';
import { registryOptionsFrom } from './registry-options.js';

// The signing library is loaded when a command runs, so that `lading verify` loads only what it
// uses (start-up time counts against cosign in bench/verify.ts).
export const loadSign = () => import('../sign/index.js');

/** What verifyCommand uses of the signing library (the fast path imports just these). */
export interface VerifyLibrary {
  verify: typeof import('../sign/verify.js').verify;
  parseAnnotations: typeof import('../sign/target.js').parseAnnotations;
}

/** `--key`: required, resolved against the working directory. */
export function keyPath(io: CliIO, key: unknown, flag = '--key'): string {
  if (typeof key !== 'string' || key === '') throw new UsageError(`${flag} is required`);
  return resolve(io.cwd, key);
}

/** `-a k=v` pairs as annotations; a malformed pair is a usage error. */
export function annotationsFrom(opts: Record<string, unknown>, parse: (pairs: string[] | undefined) => Record<string, string> | undefined): Record<string, string> | undefined {
  try {
    return parse(opts['annotations'] as string[] | undefined);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** cosign prints its checks to stderr, then the verified claims to stdout. */
export function printChecks(io: CliIO, reference: string, checks: string[]): void {
  // One write: each is a system call on a pipe.
  io.stderr.write(`\nVerification for ${reference} --\nThe following checks were performed on each of these signatures:\n${checks.map((c) => `  - ${c}\n`).join('')}`);
}

/**
 * `lading verify REFERENCE` with its parsed flags (commander's names: key, annotations, output and
 * the registry flags): verifies, prints the checks to stderr and the claims to stdout.
 */
export async function verifyCommand(io: CliIO, reference: string, opts: Record<string, unknown>, lib: VerifyLibrary): Promise<void> {
  const output = parseOutputFormat(String(opts['output'] ?? 'json'), ['json', 'yaml', 'table']);
  const annotations = annotationsFrom(opts, lib.parseAnnotations);
  const result = await lib.verify(reference.replace(/^oci:\/\//, ''), {
    key: keyPath(io, opts['key']),
    registry: registryOptionsFrom(opts, io),
    ...(annotations ? { annotations } : {}),
  });
  printChecks(io, result.reference, result.checks);
  const payloads = result.signatures.map((s) => s.payload);
  if (output === 'json') io.stdout.write(`${JSON.stringify(payloads)}\n`);
  else
    io.stdout.write(
      renderData(output, payloads, () =>
        renderTable(
          ['FORMAT', 'DIGEST', 'SOURCE'],
          result.signatures.map((s) => [s.format, s.payload.critical.image['docker-manifest-digest'], s.source]),
        ),
      ),
    );
}
