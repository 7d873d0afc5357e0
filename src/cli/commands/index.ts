import type { CommandModule } from '../util.js';

/** A command module and the top-level verbs it adds, so a run loads only what it needs. */
export interface CommandModuleEntry {
  verbs: readonly string[];
  load: () => Promise<CommandModule>;
}

/**
 * Every command module, in the order their commands appear in --help. Each domain owns one file
 * in this folder. Modules are imported only when a command they add is run (or for --help):
 * start-up time is most of a short command's wall time.
 */
export const commandModules: readonly CommandModuleEntry[] = [
  { verbs: ['login', 'logout', 'copy', 'cp', 'digest', 'ls', 'manifest'], load: async () => (await import('./registry.js')).registryCommands },
  {
    verbs: ['generate-key-pair', 'sign', 'verify', 'attest', 'verify-attestation', 'tree'],
    load: async () => (await import('./sign.js')).registerSignCommands,
  },
  { verbs: ['push', 'pull', 'tag', 'list', 'inspect', 'diff', 'build'], load: async () => (await import('./artifact.js')).artifactCommands },
  { verbs: ['apply', 'diff', 'delete', 'get', 'inspect'], load: async () => (await import('./kube.js')).kubeCommands },
  { verbs: ['build'], load: async () => (await import('./build.js')).buildCommands },
];

/** The modules a command line needs: those adding its verb, or all of them (help, unknown verbs). */
export async function loadCommandModules(argv: readonly string[]): Promise<CommandModule[]> {
  const first = argv.find((a) => !a.startsWith('-'));
  if (first === undefined && argv.includes('--version')) return [];
  const wanted = commandModules.filter((m) => first !== undefined && first !== 'help' && m.verbs.includes(first));
  return Promise.all((wanted.length > 0 ? wanted : commandModules).map((m) => m.load()));
}
