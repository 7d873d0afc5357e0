import type { CommandModule } from '../util.js';
import { registryCommands } from './registry.js';
import { registerSignCommands } from './sign.js';
import { artifactCommands } from './artifact.js';
import { kubeCommands } from './kube.js';
import { buildCommands } from './build.js';

/**
 * Every command module, in the order their commands appear in --help. Each domain owns one file
 * in this folder; add its import here.
 */
export const commandModules: CommandModule[] = [registryCommands, registerSignCommands, artifactCommands, kubeCommands, buildCommands];
