import { resolve, sep } from 'node:path';
import { Option, type Command } from 'commander';
import { UsageError, describeError } from '../../errors.js';
// The library is loaded when a command runs, not when the CLI starts: every `lading` invocation
// parses all command modules, and start-up time is most of a small push or pull.
import type { ArtifactContent, MemoryFile, PullLimits } from '../../artifact/index.js';
import { DefaultIgnorePaths } from '../../artifact/constants.js';
import { parseOutputFormat, renderData, renderTable, type CliIO } from '../output.js';
import { addRegistryFlags, registryOptionsFrom } from '../registry-options.js';
import { ExitStatus, examples, verb, type CommandModule } from '../util.js';

type Opts = Record<string, unknown>;

const artifactLib = () => import('../../artifact/index.js');

/** Name of the file that holds stdin or a kustomize build inside the artifact. */
const generatedFileName = 'manifests.yaml';
/** Most bytes accepted on stdin for `--path -`. */
const maxStdinBytes = 64 * 1024 * 1024;

/**
 * A local path given on the command line, resolved against the working directory. An empty path
 * is a usage error: resolved, it would be the working directory itself (`-o '' --overwrite`
 * would replace its content).
 */
function localPath(io: CliIO, value: unknown, flag: string): string {
  if (typeof value !== 'string' || value.trim() === '') throw new UsageError(`${flag} needs a path, not an empty string`);
  return resolve(io.cwd, value);
}

/**
 * Runs an operation that SIGINT and SIGTERM abort (what it wrote so far is removed by the
 * library); the command then exits 130 or 143, as a process killed by the signal would. A second
 * signal exits at once.
 */
async function interruptible<T>(io: CliIO, operation: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let received: 'SIGINT' | 'SIGTERM' | undefined;
  const status = (sig: 'SIGINT' | 'SIGTERM') => (sig === 'SIGINT' ? 130 : 143);
  const onSignal = (sig: 'SIGINT' | 'SIGTERM') => {
    if (received !== undefined) process.exit(status(sig));
    received = sig;
    controller.abort(new Error(`interrupted by ${sig}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await operation(controller.signal);
  } catch (err) {
    if (received === undefined) throw err;
    io.stderr.write(`✗ ${describeError(err)}\n`);
    throw new ExitStatus(status(received));
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** `--ignore-paths a,b --ignore-paths c` → [a, b, c], as Flux's string-slice flags. */
function splitList(values: unknown): string[] | undefined {
  if (!Array.isArray(values)) return undefined;
  return values.flatMap((v: string) => v.split(',')).map((s) => s.trim()).filter((s) => s !== '');
}

function addIgnoreFlags(cmd: Command): Command {
  return cmd
    .option('--ignore-paths <patterns>', `paths to ignore in .gitignore format, comma-separated; replaces the defaults (${DefaultIgnorePaths.join(',')})`, collect)
    .option('--add-ignore-paths <patterns>', 'more paths to ignore in .gitignore format, added to --ignore-paths', collect)
    .option('--no-sourceignore', 'do not read .sourceignore files')
    .option('--resolve-symlinks', 'package the targets of symbolic links (by default links are left out, as Flux does)');
}

function ignoreOptions(opts: Opts): Omit<ArtifactContent, 'path' | 'files'> {
  const out: Omit<ArtifactContent, 'path' | 'files'> = {};
  const ignorePaths = splitList(opts['ignorePaths']);
  const addIgnorePaths = splitList(opts['addIgnorePaths']);
  if (ignorePaths) out.ignorePaths = ignorePaths;
  if (addIgnorePaths) out.addIgnorePaths = addIgnorePaths;
  if (opts['sourceignore'] === false) out.sourceIgnore = false;
  if (opts['resolveSymlinks'] === true) out.resolveSymlinks = true;
  return out;
}

/** `100MiB`, `2GB`, `1048576` → bytes. */
export function parseSize(value: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?$/i.exec(value.trim());
  if (!m) throw new UsageError(`invalid ${flag} "${value}": use a size like 200MiB, 1GiB or a number of bytes`);
  const unit = (m[2] ?? 'b').toLowerCase();
  const mult =
    unit === 'b' ? 1 : unit === 'kb' ? 1e3 : unit === 'mb' ? 1e6 : unit === 'gb' ? 1e9 : unit.startsWith('k') ? 1024 : unit.startsWith('m') ? 1024 ** 2 : 1024 ** 3;
  const bytes = Math.floor(Number(m[1]) * mult);
  if (bytes <= 0) throw new UsageError(`invalid ${flag} "${value}": must be positive`);
  return bytes;
}

/** `--sign --key cosign.key` (as cosign and the issue spell it); `--sign=cosign.key` also works. */
function signOptions(opts: Opts, io: CliIO): { signKey?: string; signPassword?: string } {
  const key = keyFor(opts, 'sign', 'cosign.key');
  if (key === undefined) return {};
  const password = io.env['LADING_PASSWORD'] ?? io.env['COSIGN_PASSWORD'];
  return { signKey: localPath(io, key, '--key'), ...(password !== undefined ? { signPassword: password } : {}) };
}

/** The key for `--sign`/`--verify`: `--verify --key K`, or `--verify=K`; `--key` alone is a usage error. */
function keyFor(opts: Opts, flag: 'sign' | 'verify', example: string): string | undefined {
  const value = opts[flag];
  const key = opts['key'];
  if (value === undefined) {
    if (typeof key === 'string') throw new UsageError(`--key is used with --${flag}: add --${flag}`);
    return undefined;
  }
  if (typeof value === 'string') return value;
  if (typeof key !== 'string') throw new UsageError(`--${flag} needs a key: --${flag} --key ${example}`);
  return key;
}

function addPullLimitFlags(cmd: Command): Command {
  return cmd
    .option('--verify [cosign.pub]', 'verify the artifact\'s cosign signature with the public key given by --key first, then read it by the verified digest')
    .option('--key <cosign.pub>', 'cosign public key for --verify')
    .option('--layer-media-type <type>', 'extract the layer with this media type (default: the Flux content layer, else the first tarball layer)')
    .option('--max-size <size>', 'most uncompressed content to accept, e.g. 500MiB', '100MiB');
}

function pullLimits(opts: Opts, io: CliIO): PullLimits & { verifyKey?: string } {
  const out: PullLimits & { verifyKey?: string } = {};
  const verifyKey = keyFor(opts, 'verify', 'cosign.pub');
  if (verifyKey !== undefined) out.verifyKey = localPath(io, verifyKey, '--key');
  if (typeof opts['layerMediaType'] === 'string') out.layerMediaType = opts['layerMediaType'];
  if (typeof opts['maxSize'] === 'string') out.maxBytes = parseSize(opts['maxSize'], '--max-size');
  return out;
}

function parseAnnotations(values: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const a of values) {
    const eq = a.indexOf('=');
    if (eq <= 0) throw new UsageError(`invalid annotation "${a}": use the format key=value`);
    out[a.slice(0, eq)] = a.slice(eq + 1);
  }
  return out;
}

async function readStdin(io: CliIO): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of io.stdin as AsyncIterable<Buffer | string>) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    total += b.length;
    if (total > maxStdinBytes) throw new UsageError(`--path -: more than ${maxStdinBytes} bytes on stdin`);
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}

/**
 * What to package, from `--path DIR|FILE|-` or `-k DIR [--patch FILE]`. A kustomize build or
 * stdin becomes one file, `manifests.yaml`, in the artifact.
 */
async function contentFrom(opts: Opts, io: CliIO, command: string): Promise<{ content: ArtifactContent; built?: string[] }> {
  const path = opts['path'];
  const kustomize = opts['kustomize'];
  const patches = (opts['patch'] as string[] | undefined) ?? [];
  if (typeof path === 'string' && typeof kustomize === 'string') throw new UsageError(`${command}: give either --path or --kustomize, not both`);
  if (patches.length > 0 && typeof kustomize !== 'string') throw new UsageError(`${command}: --patch goes with --kustomize`);
  const ignore = ignoreOptions(opts);
  if (typeof kustomize === 'string') {
    io.stderr.write('building manifests...\n');
    const { build } = await import('../../manifests/index.js');
    const { resourceId } = await artifactLib();
    const result = await build(localPath(io, kustomize, '--kustomize'), { patches: patches.map((p) => localPath(io, p, '--patch')) });
    const built = result.resources.map((r) => {
      const meta = (r['metadata'] ?? {}) as Record<string, unknown>;
      return resourceId({
        kind: String(r['kind'] ?? ''),
        name: String(meta['name'] ?? ''),
        ...(typeof meta['namespace'] === 'string' ? { namespace: meta['namespace'] } : {}),
      });
    });
    for (const id of built) io.stderr.write(`${id}\n`);
    const files: MemoryFile[] = [{ path: generatedFileName, content: result.yaml }];
    return { content: { ...ignore, files }, built };
  }
  if (typeof path !== 'string' || path === '') throw new UsageError(`${command}: --path (a directory, a file, or - for stdin) or --kustomize is required`);
  if (path === '-') {
    const data = await readStdin(io);
    return { content: { ...ignore, files: [{ path: generatedFileName, content: data }] } };
  }
  return { content: { ...ignore, path: localPath(io, path, '--path') } };
}

function progress(io: CliIO, quiet: boolean) {
  return {
    action: (msg: string) => {
      if (!quiet) io.stderr.write(`► ${msg}\n`);
    },
    success: (msg: string) => {
      if (!quiet) io.stderr.write(`✔ ${msg}\n`);
    },
  };
}

export const artifactCommands: CommandModule = (program: Command, io: CliIO) => {
  // push artifact ---------------------------------------------------------------------------
  const push = verb(program, 'push', 'Push configuration to a registry')
    .command('artifact')
    .description('Package a directory, a file, stdin or a kustomize build as a Flux-compatible OCI artifact and push it')
    .argument('<url>', 'artifact address: oci://registry/repository:tag')
    .option('-f, --path <path>', 'directory or file to package, or - to read manifests from stdin')
    .option('-k, --kustomize <dir>', 'build this kustomization and package the result')
    .option('--patch <file>', 'kustomization file with patches applied on top of --kustomize (repeatable)', collect)
    .option('--source <url>', 'the source address, e.g. the Git URL (org.opencontainers.image.source)')
    .option('--revision <rev>', "the source revision, e.g. '<branch|tag>@sha1:<commit>' (org.opencontainers.image.revision)")
    .option('-a, --annotation <key=value>', 'extra OCI annotation (repeatable)', collect)
    .addOption(new Option('--annotations <key=value>', 'alias of --annotation, as flux spells it').hideHelp().argParser(collect))
    .option('--reproducible', "set the created time to 1970-01-01T00:00:00Z so the same content always gives the same digest")
    .option('--sign [cosign.key]', 'sign the pushed digest with the cosign private key given by --key (password from LADING_PASSWORD or COSIGN_PASSWORD)')
    .option('--key <cosign.key>', 'cosign private key for --sign')
    .option('-o, --output <format>', 'print the result as json or yaml ({url, repository, tag, digest})');
  addIgnoreFlags(push);
  addRegistryFlags(push);
  examples(push, [
    'lading push artifact oci://ghcr.io/org/config/app:$(git rev-parse --short HEAD) \\',
    '    --path ./deploy --source "$(git config --get remote.origin.url)" \\',
    '    --revision "$(git branch --show-current)@sha1:$(git rev-parse HEAD)"',
    'lading push artifact oci://localhost:5000/demo-app:1.0.0 -k ./demo-app --reproducible --sign --key cosign.key',
    'kubectl kustomize ./overlay | lading push artifact oci://localhost:5000/app:latest --path -',
    'lading push artifact oci://localhost:5000/app:v1 --path ./deploy -o json | jq -r \'.repository + "@" + .digest\'',
  ]);
  push.action(async (url: string, opts: Opts) => {
    const format = opts['output'] === undefined ? undefined : parseOutputFormat(opts['output'] as string, ['json', 'yaml']);
    const p = progress(io, format !== undefined);
    const { content } = await contentFrom(opts, io, 'push artifact');
    const annotations = parseAnnotations([...((opts['annotation'] as string[]) ?? []), ...((opts['annotations'] as string[]) ?? [])]);
    const options = {
      url,
      ...content,
      annotations,
      ...(typeof opts['source'] === 'string' ? { source: opts['source'] } : {}),
      ...(typeof opts['revision'] === 'string' ? { revision: opts['revision'] } : {}),
      ...(opts['reproducible'] === true ? { reproducible: true } : {}),
      ...signOptions(opts, io),
      registry: registryOptionsFrom(opts, io),
      onProgress: (m: string) => p.action(m),
    };
    // The module of the verb alone: the library's index loads every verb (~30 ms more).
    const { pushArtifact } = await import('../../artifact/push.js');
    const result = await interruptible(io, (signal) => pushArtifact({ ...options, signal }));
    if (format) {
      const data = { url: result.url, repository: result.repository, tag: result.tag, digest: result.digest };
      io.stdout.write(await renderData(format, data, () => ''));
      return;
    }
    p.success(`artifact successfully pushed to ${result.repository}@${result.digest}`);
  });

  // pull artifact ---------------------------------------------------------------------------
  const pull = verb(program, 'pull', 'Pull configuration from a registry')
    .command('artifact')
    .description('Pull an artifact and extract its content into a directory (safely: nothing is written if anything is wrong)')
    .argument('<url>', 'artifact address: oci://registry/repository:tag or @sha256:...')
    .requiredOption('-o, --output <dir>', 'directory to extract into (created; must be empty unless --overwrite)')
    .option('--overwrite', 'replace the content of a non-empty output directory');
  addPullLimitFlags(pull);
  addRegistryFlags(pull);
  examples(pull, [
    'lading pull artifact oci://ghcr.io/org/config/app:v1.0.0 --output ./manifests',
    'lading pull artifact oci://localhost:5000/app@sha256:<digest> -o ./app --overwrite --max-size 500MiB',
    'lading pull artifact oci://localhost:5000/demo-app:1.0.0 -o ./demo-app --verify --key cosign.pub',
  ]);
  pull.action(async (url: string, opts: Opts) => {
    const output = localPath(io, opts['output'], '--output');
    const overwrite = opts['overwrite'] === true;
    if (overwrite && (output === io.cwd || io.cwd.startsWith(output.endsWith(sep) ? output : output + sep))) {
      throw new UsageError(`--overwrite would replace ${output}, which holds the current directory: give another --output`);
    }
    const limits = pullLimits(opts, io);
    const registry = registryOptionsFrom(opts, io);
    const p = progress(io, false);
    p.action(`pulling artifact from ${url}`);
    const { pullArtifact } = await import('../../artifact/pull.js');
    const result = await interruptible(io, (signal) =>
      pullArtifact({ url, output, ...(overwrite ? { overwrite: true } : {}), ...limits, registry, signal }),
    );
    if (result.source) p.success(`source ${result.source}`);
    if (result.revision) p.success(`revision ${result.revision}`);
    p.success(`digest ${result.digest}`);
    p.success(`artifact content extracted to ${opts['output'] as string} (${result.files} file(s), ${result.bytes} bytes)`);
  });

  // tag artifact ----------------------------------------------------------------------------
  const tag = verb(program, 'tag', 'Tag configuration in a registry')
    .command('artifact')
    .description('Add tags to an artifact in its repository')
    .argument('<url>', 'artifact address: oci://registry/repository:tag or @sha256:...')
    .argument('[tags...]', 'new tags (same as --tag)')
    .option('-t, --tag <tag>', 'new tag (repeatable)', collect);
  addRegistryFlags(tag);
  examples(tag, ['lading tag artifact oci://ghcr.io/org/config/app:1.0.0 --tag latest --tag stable', 'lading tag artifact oci://localhost:5000/demo-app:1.0.0 latest']);
  tag.action(async (url: string, positional: string[], opts: Opts) => {
    const tags = [...positional, ...((opts['tag'] as string[]) ?? [])];
    if (tags.length === 0) throw new UsageError('tag artifact: give at least one tag (--tag T or as an argument)');
    const p = progress(io, false);
    p.action(`tagging artifact ${url}`);
    const result = await (await artifactLib()).tagArtifact({ url, tags, registry: registryOptionsFrom(opts, io) });
    for (const t of result.tagged) p.success(`artifact tagged as ${t}`);
  });

  // list artifacts --------------------------------------------------------------------------
  const list = verb(program, 'list', 'List configuration in a registry')
    .command('artifacts')
    .alias('artifact')
    .description('List the artifacts (tags) of a repository with their digest, source and revision')
    .argument('<repository>', 'repository address: oci://registry/repository')
    .option('--filter-semver <range>', 'only tags that are versions in this semver range, e.g. ">=1.0.0"')
    .option('--filter-regex <regex>', 'only tags matching this regular expression')
    .option('--all', 'also list cosign (.sig, .att, .sbom) and sha256-* tags')
    .option('-o, --output <format>', 'output format: table|json|yaml', 'table');
  addRegistryFlags(list);
  examples(list, ['lading list artifacts oci://ghcr.io/org/config/app', 'lading list artifacts oci://localhost:5000/demo-app --filter-semver ">=1.0.0" -o json']);
  list.action(async (url: string, opts: Opts) => {
    const format = parseOutputFormat(opts['output'] as string);
    const items = await (await artifactLib()).listArtifacts({
      url,
      ...(typeof opts['filterSemver'] === 'string' ? { semver: opts['filterSemver'] } : {}),
      ...(typeof opts['filterRegex'] === 'string' ? { regex: opts['filterRegex'] } : {}),
      ...(opts['all'] === true ? { includeHidden: true } : {}),
      registry: registryOptionsFrom(opts, io),
    });
    io.stdout.write(
      await renderData(format, items, () =>
        renderTable(
          ['ARTIFACT', 'DIGEST', 'SOURCE', 'REVISION'],
          items.map((i) => [i.url, i.digest, i.source ?? '', i.revision ?? '']),
        ),
      ),
    );
  });

  // inspect artifact ------------------------------------------------------------------------
  const inspect = verb(program, 'inspect', 'Inspect configuration in a registry')
    .command('artifact')
    .description('Show an artifact: digest, annotations, the Kubernetes objects inside and their container images')
    .argument('<url>', 'artifact address: oci://registry/repository:tag or @sha256:...')
    .option('--container-images', 'print only the container images, one per line')
    .option('-o, --output <format>', 'output format: table|json|yaml', 'table');
  addPullLimitFlags(inspect);
  addRegistryFlags(inspect);
  examples(inspect, [
    'lading inspect artifact oci://ghcr.io/org/config/app:1.0.0',
    'lading inspect artifact oci://localhost:5000/demo-app:1.0.0 --container-images | xargs -n1 echo',
    'lading inspect artifact oci://localhost:5000/demo-app:1.0.0 -o json',
  ]);
  inspect.action(async (url: string, opts: Opts) => {
    const format = parseOutputFormat(opts['output'] as string);
    const { inspectArtifact, resourceId: id } = await artifactLib();
    const result = await inspectArtifact({ url, ...pullLimits(opts, io), registry: registryOptionsFrom(opts, io) });
    for (const w of result.warnings) io.stderr.write(`warning: ${w}\n`);
    if (opts['containerImages'] === true) {
      io.stdout.write(await renderData(format, result.images, () => result.images.map((i) => `${i}\n`).join('')));
      return;
    }
    io.stdout.write(
      await renderData(format, result, () => {
        const lines = [`Artifact: ${result.url}`];
        if (result.created !== undefined) lines.push(`CreatedAt: ${result.created}`);
        if (result.source !== undefined) lines.push(`Source: ${result.source}`);
        if (result.revision !== undefined) lines.push(`Revision: ${result.revision}`);
        const known = new Set(['org.opencontainers.image.created', 'org.opencontainers.image.source', 'org.opencontainers.image.revision']);
        const extra = Object.entries(result.annotations).filter(([k]) => !known.has(k));
        if (extra.length > 0) {
          lines.push('Annotations:');
          for (const [k, v] of extra.sort(([a], [b]) => a.localeCompare(b))) lines.push(`  ${k}: ${v}`);
        }
        lines.push('Resources:');
        for (const r of result.resources) {
          lines.push(`- ${id(r)}`);
          for (const image of r.images) lines.push(`  - ${image}`);
        }
        return lines.join('\n') + '\n';
      }),
    );
  });

  // diff artifact ---------------------------------------------------------------------------
  const diff = verb(program, 'diff', 'Compare configuration')
    .command('artifact')
    .description('Compare an artifact with local files, file by file; exit status 1 when they differ')
    .argument('<url>', 'artifact address: oci://registry/repository:tag or @sha256:...')
    .requiredOption('-f, --path <path>', 'local directory or file to compare with')
    .option('-o, --output <format>', 'output format: table (unified diff)|json|yaml', 'table');
  addIgnoreFlags(diff);
  addPullLimitFlags(diff);
  addRegistryFlags(diff);
  examples(diff, ['lading diff artifact oci://ghcr.io/org/config/app:1.0.0 --path ./deploy', 'lading diff artifact oci://localhost:5000/app:latest -f ./deploy -o json']);
  diff.action(async (url: string, opts: Opts) => {
    const format = parseOutputFormat(opts['output'] as string);
    const result = await (await artifactLib()).diffArtifact({
      url,
      path: localPath(io, opts['path'], '--path'),
      ...ignoreOptions(opts),
      ...pullLimits(opts, io),
      registry: registryOptionsFrom(opts, io),
    });
    io.stdout.write(
      await renderData(format, result, () =>
        result.changes
          .map((c) => (c.binary ? `Binary files a/${c.path} and b/${c.path} differ\n` : (c.patch ?? '')))
          .join(''),
      ),
    );
    if (!result.identical) {
      io.stderr.write(`✗ ${result.changes.length} file(s) differ from ${result.url}\n`);
      throw new ExitStatus(1);
    }
    if (format === 'table') io.stderr.write(`✔ no changes: the local files match ${result.url}\n`);
  });

  // build artifact --------------------------------------------------------------------------
  const buildCmd = verb(program, 'build', 'Build configuration')
    .command('artifact')
    .description('Write the artifact tarball (the layer push would upload) to a local file')
    .option('-f, --path <path>', 'directory or file to package, or - to read manifests from stdin')
    .option('-k, --kustomize <dir>', 'build this kustomization and package the result')
    .option('--patch <file>', 'kustomization file with patches applied on top of --kustomize (repeatable)', collect)
    .option('-o, --output <file>', 'where to write the tarball', 'artifact.tgz');
  addIgnoreFlags(buildCmd);
  examples(buildCmd, ['lading build artifact --path ./deploy -o artifact.tgz', 'kubectl kustomize ./overlay | lading build artifact --path - -o app.tgz']);
  buildCmd.action(async (opts: Opts) => {
    const p = progress(io, false);
    const { content } = await contentFrom(opts, io, 'build artifact');
    p.action(`building artifact from ${typeof opts['path'] === 'string' ? opts['path'] : (opts['kustomize'] as string)}`);
    const output = localPath(io, opts['output'], '--output');
    const result = await (await artifactLib()).buildArtifact({ ...content, output });
    p.success(`artifact created at ${opts['output'] as string} (${result.files} file(s), ${result.size} bytes, ${result.digest})`);
  });
};
