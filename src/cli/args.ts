// Checks of the command line that hold for every command, applied by program.ts before any action
// runs: an unknown command name and an empty value are usage errors (exit 2).
import type { Command } from 'commander';
import { UsageError } from '../errors.js';

/**
 * The first command name of `argv` that `program` does not have (`lading nope`, `lading push
 * nope`), checked before commander sees `--help`, which would otherwise print the parent's help.
 * `help NAME…` is checked the same way. Scanning stops at a command that takes arguments.
 */
export function unknownCommand(program: Command, argv: readonly string[]): string | undefined {
  let command = program;
  const path: string[] = [];
  for (const arg of argv) {
    if (arg.startsWith('-')) continue;
    if (command.commands.length === 0 || command.registeredArguments.length > 0) return undefined;
    if (arg === 'help' && command === program && path.length === 0) continue;
    const sub = command.commands.find((c) => c.name() === arg || c.aliases().includes(arg));
    path.push(arg);
    // A command with a default subcommand (`build DIR` is `build kustomization DIR`) hands it
    // the names it does not know.
    // (commander keeps its name in a private field, null when there is none.)
    if (sub === undefined && typeof (command as unknown as { _defaultCommandName?: string | null })._defaultCommandName === 'string') return undefined;
    if (sub === undefined) return path.join(' ');
    command = sub;
  }
  return undefined;
}

/**
 * Refuses an empty option or argument value (`-o ''`, `--key ''`, `build ''`): an empty path
 * would mean the current directory to the file system, and no flag of lading takes an empty
 * string on purpose.
 */
export function refuseEmptyValues(command: Command): void {
  for (const option of command.options) {
    const value: unknown = command.getOptionValue(option.attributeName());
    if (value === '' || (Array.isArray(value) && value.includes(''))) throw new UsageError(`${option.long ?? option.short ?? option.flags} must not be empty`);
  }
  command.registeredArguments.forEach((argument, i) => {
    const value: unknown = command.processedArgs[i];
    if (value === '' || (Array.isArray(value) && value.includes(''))) throw new UsageError(`the ${argument.name()} argument must not be empty`);
  });
}
