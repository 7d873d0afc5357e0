import { Command, CommanderError } from 'commander';
import type { CliIO } from './output.js';
import { knownVerb, loadCommandModules } from './commands/index.js';
import { reportFailure } from './report.js';
import { ExitStatus } from './util.js';
import type { CommandModule } from './util.js';

export { ExitStatus };


export const VERSION = '0.1.0';

/** The program with the commands of `modules`; with `verb`, those of that verb may be all it has. */
export function buildProgram(io: CliIO, modules: readonly CommandModule[], verb?: string): Command {
  const program = new Command('lading')
    .description('Ship Kubernetes applications through OCI registries: build, package, sign, verify, apply.')
    .version(VERSION, '--version', 'print the version')
    .showSuggestionAfterError(true)
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    })
    .exitOverride();
  for (const mod of modules) mod(program, io, verb);
  // Every command exits through run() rather than process.exit.
  const override = (cmd: Command) => {
    cmd.exitOverride();
    cmd.configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) });
    cmd.commands.forEach(override);
  };
  program.commands.forEach(override);
  return program;
}

/** Runs the CLI with the given arguments (without node and script), returns the exit code. */
export async function run(argv: string[], io: CliIO): Promise<number> {
  try {
    const program = buildProgram(io, await loadCommandModules(argv), knownVerb(argv));
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      if (err.exitCode === 0) return 0;
      return 2;
    }
    return reportFailure(err, io);
  }
}
