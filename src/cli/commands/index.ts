import type { CommandModule } from '../util.js';

/** A command module and the top-level verbs it adds, so a run loads only what it needs. */
export interface CommandModuleEntry {
  /** Its file in this folder, without `.ts`; scripts/build-cli.mjs bundles each module apart. */
  name: string;
  verbs: readonly string[];
  load: () => Promise<CommandModule>;
}

/**
 * Every command module, in the order their commands appear in --help. Each domain owns one file
 * in this folder. Modules are imported only when a command they add is run (or for --help):
 * start-up time is most of a short command's wall time.
 */
export const commandModules: readonly CommandModuleEntry[] = [
  { name: 'registry', verbs: ['login', 'logout', 'copy', 'cp', 'digest', 'ls', 'manifest'], load: async () => (await import('./registry.js')).registryCommands },
  {
    name: 'sign',
    verbs: ['generate-key-pair', 'sign', 'verify', 'attest', 'verify-attestation', 'tree'],
    load: async () => (await import('./sign.js')).registerSignCommands,
  },
  { name: 'artifact', verbs: ['push', 'pull', 'tag', 'list', 'inspect', 'diff', 'build'], load: async () => (await import('./artifact.js')).artifactCommands },
  { name: 'kube', verbs: ['apply', 'diff', 'delete', 'get', 'inspect'], load: async () => (await import('./kube.js')).kubeCommands },
  { name: 'build', verbs: ['build'], load: async () => (await import('./build.js')).buildCommands },
];

/** The verb a command line runs (its first argument that is not a flag), when a module adds it. */
export function knownVerb(argv: readonly string[]): string | undefined {
  const first = argv.find((a) => !a.startsWith('-'));
  return first !== undefined && first !== 'help' && commandModules.some((m) => m.verbs.includes(first)) ? first : undefined;
}

/**
 * The entries a command line needs: those adding its verb, or all of them (help, unknown verbs);
 * none for `--version`. The bundled CLI's launcher makes the same choice to pick a bundle.
 */
export function commandModulesFor(argv: readonly string[]): readonly CommandModuleEntry[] {
  if (argv.every((a) => a.startsWith('-')) && argv.includes('--version')) return [];
  const verb = knownVerb(argv);
  return verb === undefined ? commandModules : commandModules.filter((m) => m.verbs.includes(verb));
}

/** The modules a command line needs (see commandModulesFor). */
export async function loadCommandModules(argv: readonly string[]): Promise<CommandModule[]> {
  return Promise.all(commandModulesFor(argv).map((m) => m.load()));
}
