import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import {
  copy,
  fetchManifest,
  isOciError,
  login,
  logout,
  openRepository,
  parseReference,
  type CopyProgressEvent,
  type Reference,
  type RemoteRepository,
} from '../../oci/index.js';
import { parseOutputFormat, renderData, renderTable, type CliIO } from '../output.js';
import { addRegistryFlags, registryOptionsFrom } from '../registry-options.js';
import { examples, type CommandModule } from '../util.js';

async function readStdin(io: CliIO): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of io.stdin as AsyncIterable<Buffer | string>) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    total += b.length;
    if (total > 64 * 1024) throw new UsageError('--password-stdin: more than 64 KiB on stdin');
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

function shortDigest(d: string): string {
  return d.slice(0, 19);
}

function progressPrinter(io: CliIO): (e: CopyProgressEvent) => void {
  return (e) => {
    const verb = { skipped: 'exists ', mounted: 'mounted', copied: 'copied ', referrer: 'referrer' }[e.kind];
    io.stderr.write(`${verb} ${shortDigest(e.descriptor.digest)} ${e.descriptor.mediaType} (${e.descriptor.size} bytes)\n`);
  };
}

/** A reference given on the command line: an invalid one is a usage error (exit 2). */
function referenceArg(arg: string): Reference {
  try {
    return parseReference(arg);
  } catch (err) {
    if (isOciError(err, 'INVALID_REFERENCE')) throw new UsageError(err.message);
    throw err;
  }
}

async function withRepository<T>(ref: string, opts: Record<string, unknown>, io: CliIO, fn: (repo: RemoteRepository) => Promise<T>): Promise<T> {
  const repo = openRepository(referenceArg(ref), registryOptionsFrom(opts, io));
  try {
    return await fn(repo);
  } finally {
    repo.close();
  }
}

export const registryCommands: CommandModule = (program: Command, io: CliIO) => {
  const loginCmd = program
    .command('login')
    .description('Log in to a registry; saves the credentials where `docker login` does ($DOCKER_CONFIG/config.json or a credential helper)')
    .argument('<registry>', 'registry host, e.g. ghcr.io or localhost:5000')
    .option('-u, --username <name>', 'user name')
    .option('-p, --password <password>', 'password or token (prefer --password-stdin)')
    .option('--password-stdin', 'read the password or token from stdin')
    .option('--no-verify', 'save without checking the credentials against the registry');
  addRegistryFlags(loginCmd);
  examples(loginCmd, ['echo "$GHCR_TOKEN" | lading login ghcr.io -u "$GITHUB_USER" --password-stdin', 'lading login localhost:5000 -u admin --password-stdin < password.txt']);
  loginCmd.action(async (registry: string, opts: Record<string, unknown>) => {
    const username = opts['username'];
    if (typeof username !== 'string' || username === '') throw new UsageError('login: --username is required');
    let password: string;
    if (opts['passwordStdin'] === true) {
      if (typeof opts['password'] === 'string') throw new UsageError('login: --password and --password-stdin are mutually exclusive');
      password = await readStdin(io);
    } else if (typeof opts['password'] === 'string') {
      io.stderr.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
      password = opts['password'];
    } else {
      throw new UsageError('login: give the password with --password-stdin (or --password)');
    }
    if (password === '') throw new UsageError('login: the password is empty');
    const result = await login(registry, { username, password, env: io.env, registry: registryOptionsFrom({ ...opts, creds: undefined }, io), verify: opts['verify'] !== false });
    io.stderr.write(`credentials for ${result.registry} saved ${result.helper ? `with docker-credential-${result.helper}` : `in ${result.path}`}\n`);
    io.stdout.write('Login Succeeded\n');
  });

  const logoutCmd = program
    .command('logout')
    .description('Remove saved credentials for a registry')
    .argument('<registry>', 'registry host');
  examples(logoutCmd, ['lading logout ghcr.io']);
  logoutCmd.action(async (registry: string) => {
    const result = await logout(registry, { env: io.env });
    if (result.removed) io.stdout.write(`Removing login credentials for ${result.registry}\n`);
    else io.stderr.write(`Not logged in to ${result.registry}\n`);
  });

  const copyCmd = program
    .command('copy')
    .alias('cp')
    .description('Copy an image, index or artifact between registries or repositories, with every manifest and blob it references')
    .argument('<src>', 'source reference, e.g. ghcr.io/org/app:1.0.0 or oci://host/app@sha256:...')
    .argument('<dst>', 'destination reference (tag optional: defaults to the source tag)')
    .option('--referrers', 'also copy referrers (signatures, attestations, SBOMs) of every copied manifest')
    .option('-j, --concurrency <n>', 'blobs transferred at the same time', '4')
    .option('-o, --output <format>', 'output format: table|json|yaml', 'table');
  addRegistryFlags(copyCmd, { timeout: '30m' });
  examples(copyCmd, ['lading copy ghcr.io/org/app:1.0.0 localhost:5000/app', 'lading copy oci://localhost:5000/app:1.0.0 oci://registry.example/team/app:stable --referrers']);
  copyCmd.action(async (srcArg: string, dstArg: string, opts: Record<string, unknown>) => {
    const format = parseOutputFormat(opts['output'] as string | undefined);
    const concurrency = Number(opts['concurrency']);
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new UsageError(`invalid --concurrency "${String(opts['concurrency'])}": a positive integer`);
    const srcRef = referenceArg(srcArg);
    const dstRef = referenceArg(dstArg);
    const regOpts = registryOptionsFrom(opts, io);
    const src = openRepository(srcRef, regOpts);
    const dst = openRepository(dstRef, regOpts);
    try {
      const dstTag = dstRef.digest ?? dstRef.tag ?? srcRef.tag;
      if (dstRef.digest && srcRef.digest && dstRef.digest !== srcRef.digest) throw new UsageError(`copy: destination digest ${dstRef.digest} differs from the source's`);
      io.stderr.write(`copying ${srcRef.toString()} to ${dstRef.name}${dstTag && !dstTag.includes(':') ? `:${dstTag}` : ''}\n`);
      const desc = await copy(src, srcRef.reference, dst, dstTag && !dstTag.includes(':') ? dstTag : undefined, {
        concurrency,
        referrers: opts['referrers'] === true,
        onProgress: progressPrinter(io),
      });
      const result = { source: srcRef.toString(), destination: `${dstRef.name}@${desc.digest}`, digest: desc.digest, mediaType: desc.mediaType, size: desc.size };
      io.stdout.write(await renderData(format, result, () => `${result.destination}\n`));
    } finally {
      src.close();
      dst.close();
    }
  });

  const digestCmd = program
    .command('digest')
    .description('Print the digest of the manifest a reference names')
    .argument('<ref>', 'reference, e.g. localhost:5000/app:1.0.0')
    .option('-o, --output <format>', 'output format: table|json|yaml', 'table');
  addRegistryFlags(digestCmd);
  examples(digestCmd, ['lading digest ghcr.io/org/app:1.0.0', 'lading digest localhost:5000/app:latest -o json']);
  digestCmd.action(async (ref: string, opts: Record<string, unknown>) => {
    const format = parseOutputFormat(opts['output'] as string | undefined);
    await withRepository(ref, opts, io, async (repo) => {
      const desc = await repo.resolve(repo.ref.reference);
      io.stdout.write(await renderData(format, { reference: repo.ref.toString(), ...desc }, () => `${desc.digest}\n`));
    });
  });

  const lsCmd = program
    .command('ls')
    .description('List the tags of a repository')
    .argument('<repository>', 'repository, e.g. localhost:5000/app')
    .option('--full-ref', 'print each tag as a full reference')
    .option('-o, --output <format>', 'output format: table|json|yaml', 'table');
  addRegistryFlags(lsCmd);
  examples(lsCmd, ['lading ls ghcr.io/org/app', 'lading ls localhost:5000/app -o json']);
  lsCmd.action(async (repoArg: string, opts: Record<string, unknown>) => {
    const format = parseOutputFormat(opts['output'] as string | undefined);
    const ref = referenceArg(repoArg);
    if (ref.tag !== undefined || ref.digest !== undefined) throw new UsageError(`ls: give a repository without a tag or digest (got ${repoArg})`);
    await withRepository(repoArg, opts, io, async (repo) => {
      const tags = await repo.listTags();
      const items = opts['fullRef'] === true ? tags.map((t) => `${ref.name}:${t}`) : tags;
      io.stdout.write(await renderData(format, items, () => items.map((t) => `${t}\n`).join('')));
    });
  });

  const manifestCmd = program
    .command('manifest')
    .description('Print the manifest a reference names (raw bytes by default, as the registry stores them)')
    .argument('<ref>', 'reference, e.g. localhost:5000/app:1.0.0')
    .option('-o, --output <format>', 'output format: raw|json|yaml|table (table: a descriptor summary)', 'raw');
  addRegistryFlags(manifestCmd);
  examples(manifestCmd, ['lading manifest ghcr.io/org/app:1.0.0', 'lading manifest localhost:5000/app@sha256:... -o yaml']);
  manifestCmd.action(async (ref: string, opts: Record<string, unknown>) => {
    const raw = opts['output'] === 'raw' || opts['output'] === undefined;
    const format = raw ? 'json' : parseOutputFormat(opts['output'] as string);
    await withRepository(ref, opts, io, async (repo) => {
      const { descriptor, manifest, bytes } = await fetchManifest(repo, repo.ref.reference);
      if (raw) {
        // Exactly the stored bytes, as crane prints them: `lading manifest REF | sha256sum` is the digest.
        io.stdout.write(bytes);
        return;
      }
      io.stdout.write(
        await renderData(format, manifest, () => {
          const children = 'manifests' in manifest ? manifest.manifests.map((d) => ['manifest', d.mediaType, d.digest, String(d.size)]) : [['config', manifest.config.mediaType, manifest.config.digest, String(manifest.config.size)], ...manifest.layers.map((d) => ['layer', d.mediaType, d.digest, String(d.size)])];
          return renderTable(['ROLE', 'MEDIA TYPE', 'DIGEST', 'SIZE'], [['manifest', descriptor.mediaType, descriptor.digest, String(descriptor.size)], ...children]);
        }),
      );
    });
  });
};
