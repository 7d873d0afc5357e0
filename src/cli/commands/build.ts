import { resolve } from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { build, formatManifests, pinImages, readImageLock, writeImageLock, type PinOptions } from '../../manifests/index.js';
import { parseOutputFormat, renderJSON, type CliIO } from '../output.js';
import { addRegistryFlags, registryOptionsFrom } from '../registry-options.js';
import { examples, verb, type CommandModule } from '../util.js';

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

async function runBuild(dir: string, opts: Record<string, unknown>, io: CliIO): Promise<void> {
  const format = parseOutputFormat(opts['output'] as string | undefined, ['yaml', 'json']);
  const patches = ((opts['patch'] as string[] | undefined) ?? []).map((p) => resolve(io.cwd, p));
  const lockFile = typeof opts['lock'] === 'string' ? resolve(io.cwd, opts['lock']) : undefined;
  const lockOutput = typeof opts['lockOutput'] === 'string' ? resolve(io.cwd, opts['lockOutput']) : undefined;
  const pin = opts['pinImages'] === true || lockFile !== undefined;
  if (lockOutput && !pin) throw new UsageError('--lock-output needs --pin-images (or --lock)');
  const boundaryOpt = opts['boundary'] as string | undefined;
  const result = await build(resolve(io.cwd, dir), { patches, ...(boundaryOpt !== undefined ? { boundary: resolve(io.cwd, boundaryOpt) } : {}) });
  for (const w of result.warnings) io.stderr.write(`${w}\n`);
  let yaml = result.yaml;
  if (pin) {
    const pinOpts: PinOptions = {
      onResolved: (e) => io.stderr.write(`► resolved ${e.image} to ${e.newImage.slice(e.newImage.lastIndexOf('@') + 1)}\n`),
    };
    if (lockFile) pinOpts.lock = await readImageLock(lockFile);
    else pinOpts.registry = registryOptionsFrom(opts, io);
    const pinned = await pinImages(result.resources, pinOpts);
    yaml = formatManifests(pinned.resources);
    if (lockOutput) {
      await writeImageLock(lockOutput, pinned.lock);
      io.stderr.write(`✔ wrote image lock ${lockOutput} (${pinned.lock.images.length} image(s))\n`);
    }
  }
  if (format === 'json') io.stdout.write(renderJSON({ apiVersion: 'v1', kind: 'List', items: result.resources }));
  else io.stdout.write(yaml);
}

export const buildCommands: CommandModule = (program, io) => {
  // `build` is a verb shared with `build artifact`; building manifests is its default subcommand,
  // so `lading build DIR` and `lading build kustomization DIR` are the same.
  const cmd: Command = verb(program, 'build', 'Build configuration')
    .command('kustomization', { isDefault: true })
    .description('build a kustomization (or a directory or file of YAML) and print the manifests, as `kubectl kustomize` does')
    .argument('<path>', 'kustomization directory, directory of YAML files (read recursively, as Flux does) or a YAML file')
    .option('--patch <file>', 'a kustomization file carrying patches to apply on top of the build (repeatable)', collect)
    .option('--pin-images', 'resolve every container image tag to its digest in the registry and print name:tag@sha256:...')
    .option('--lock <file>', 'pin images from this lock file without network access')
    .option('--lock-output <file>', 'write the image resolutions to this lock file (with --pin-images)')
    .option('--boundary <dir>', 'refuse every directory outside DIR (symlinks resolved), such as a base beside the tree: for trees you do not trust, e.g. a pulled artifact')
    .option('-o, --output <format>', 'output format: yaml or json', 'yaml');
  addRegistryFlags(cmd);
  examples(cmd, [
    'lading build ./deploy/overlays/production',
    'lading build ./demo-app --patch ./patches/safe-to-evict.yaml',
    'lading build ./demo-app --pin-images --lock-output images.lock.yaml > pinned.yaml',
    'lading build ./demo-app --lock images.lock.yaml     # reproducible, no network',
    'lading build ./manifests -o json',
    'lading build ./pulled/deploy --boundary ./pulled   # nothing outside the artifact is read',
  ]);
  cmd.action(async (dir: string, opts: Record<string, unknown>) => runBuild(dir, opts, io));
};
