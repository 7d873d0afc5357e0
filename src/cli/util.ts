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
  return program.command(name).description(verbDescriptions[name] ?? description);
}

/** Descriptions of verbs shared by several modules, so --help does not depend on load order. */
const verbDescriptions: Record<string, string> = {
  push: 'Push configuration to a registry (push artifact)',
  pull: 'Pull configuration from a registry (pull artifact)',
  tag: 'Tag configuration in a registry (tag artifact)',
  list: 'List configuration in a registry (list artifacts)',
  inspect: 'Inspect an artifact in a registry or an inventory in a cluster (inspect artifact|inventory)',
  diff: 'Compare an artifact with local files, or an inventory with a cluster (diff artifact|inventory)',
  build: 'Build manifests like kustomize (build DIR), or an artifact tarball (build artifact)',
  apply: 'Apply objects to a Kubernetes cluster as an inventory (apply inventory)',
  delete: 'Delete an inventory and its objects from a cluster (delete inventory)',
  get: 'List inventories in a cluster (get inventories)',
  controller: 'Run or install the in-cluster controller (controller run|install)',
};

/** Adds an "Examples:" block to a command's --help. */
export function examples(cmd: Command, lines: string[]): Command {
  return cmd.addHelpText('after', '\nExamples:\n' + lines.map((l) => `  ${l}`).join('\n') + '\n');
}

/** Exit status a command sets without an error message (e.g. `diff` reporting differences). */
export class ExitStatus extends Error {
  constructor(readonly status: number) {
    super(`exit ${status}`);
  }
}
