import type { CommandModule } from '../util.js';

/** A command module and the top-level verbs it adds, so a run loads only what it needs. */
export interface CommandModuleEntry {
  /** Its file in this folder, without `.ts`. */
  name: string;
  verbs: readonly string[];
  load: () => Promise<CommandModule>;
}

/**
 * Every command module, in the order their commands appear in --help. Each domain owns one file
 * in this folder. A module is imported when a command it adds is run (or for --help), so a
 * command loads its own domain's library and not the others' (the Kubernetes client and the
 * kustomize engine are not small).
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
  { name: 'controller', verbs: ['controller'], load: async () => (await import('./controller.js')).controllerCommands },
];

/**
 * The entries a command line needs: those adding its verb (its first argument that is not a
 * flag), or all of them (help, unknown verbs); none for `--version`.
 */
export function commandModulesFor(argv: readonly string[]): readonly CommandModuleEntry[] {
  if (argv.every((a) => a.startsWith('-')) && argv.includes('--version')) return [];
  const first = argv.find((a) => !a.startsWith('-'));
  const wanted = commandModules.filter((m) => first !== undefined && m.verbs.includes(first));
  return wanted.length > 0 ? wanted : commandModules;
}

/** The modules a command line needs (see commandModulesFor). */
export async function loadCommandModules(argv: readonly string[]): Promise<CommandModule[]> {
  return Promise.all(commandModulesFor(argv).map((m) => m.load()));
}
