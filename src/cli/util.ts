import type { Command } from 'commander';
import type { CliIO } from './output.js';

/** A command module adds its commands to the program; it gets the IO streams to write to. */
export type CommandModule = (program: Command, io: CliIO) => void;

/**
 * Returns the group command for a verb (`push`, `pull`, `inspect`, ...), creating it once, so
 * that several modules can add nouns (`push artifact`, `inspect inventory`) under the same verb.
 */
export function verb(program: Command, name: string, description: string): Command {
  const existing = program.commands.find((c) => c.name() === name);
  if (existing) return existing;
  return program.command(name).description(description);
}

/** Adds an "Examples:" block to a command's --help. */
export function examples(cmd: Command, lines: string[]): Command {
  return cmd.addHelpText('after', '\nExamples:\n' + lines.map((l) => `  ${l}`).join('\n') + '\n');
}
