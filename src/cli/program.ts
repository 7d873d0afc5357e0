import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { LadingError, UsageError, describeError } from '../errors.js';
import { redactCredentials } from '../redact.js';
import { refuseEmptyValues, unknownCommand } from './args.js';
import { loadCommandModules } from './commands/index.js';
import type { CliIO } from './output.js';
import { ExitStatus, type CommandModule } from './util.js';

export { ExitStatus };

/** The package's version (src/cli and dist/cli are both two levels below package.json). */
export function version(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/** The program with the commands of `modules`. */
export function buildProgram(io: CliIO, modules: readonly CommandModule[]): Command {
  const output = { writeOut: (s: string) => io.stdout.write(s), writeErr: (s: string) => io.stderr.write(s) };
  const program = new Command('lading')
    .description('Ship Kubernetes applications through OCI registries: build, package, sign, verify, apply.')
    .version(version(), '--version', 'print the version')
    .showSuggestionAfterError(true)
    .configureOutput(output)
    .exitOverride()
    .hook('preAction', (_program, action) => refuseEmptyValues(action));
  for (const mod of modules) mod(program, io);
  // Every command exits through run() rather than process.exit.
  const override = (cmd: Command) => {
    cmd.exitOverride();
    cmd.configureOutput(output);
    cmd.commands.forEach(override);
  };
  program.commands.forEach(override);
  return program;
}

/** Error codes of the library for a malformed input value (a reference, a tag, an option). */
const INVALID_INPUT_CODES: ReadonlySet<string> = new Set(['INVALID_REFERENCE', 'INVALID_ARGUMENT', 'INVALID_OPTION']);

/**
 * Whether `err` is about a value given on the command line (`argv`), which its message quotes: a
 * reference or tag typed there that does not parse is a usage error, while one read from a
 * manifest or a registry is a failure.
 */
function isInvalidArgument(err: unknown, argv: readonly string[]): boolean {
  const quoted = argv.filter((a) => a !== '').flatMap((a) => [a, a.replace(/^oci:\/\//, '')].map((v) => `"${redactCredentials(v)}"`));
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof LadingError && INVALID_INPUT_CODES.has(e.code) && quoted.some((q) => e.message.includes(q))) return true;
  }
  return false;
}

/** Writes why the command failed to stderr and returns its exit code: 2 for usage, else 1. */
function reportFailure(err: unknown, argv: readonly string[], io: CliIO): number {
  if (err instanceof ExitStatus) return err.status;
  io.stderr.write(`✗ ${describeError(err)}\n`);
  if (err instanceof UsageError || isInvalidArgument(err, argv)) return 2;
  if (!(err instanceof LadingError) && io.env['LADING_DEBUG']) io.stderr.write(`${(err as Error)?.stack ?? ''}\n`);
  return 1;
}

/** Runs the CLI with the given arguments (without node and script), returns the exit code. */
export async function run(argv: string[], io: CliIO): Promise<number> {
  try {
    const program = buildProgram(io, await loadCommandModules(argv));
    const unknown = unknownCommand(program, argv);
    if (unknown !== undefined) throw new UsageError(`unknown command '${unknown}' (see lading --help)`);
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    return reportFailure(err, argv, io);
  }
}
