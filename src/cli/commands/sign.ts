import { Option, type Command } from 'commander';
import { resolve } from 'node:path';
import { UsageError } from '../../errors.js';
import { attest, generateKeyPair, parseAnnotations, sign, tree, verify, verifyAttestation } from '../../sign/index.js';
import { parseOutputFormat, renderData, renderTable, type CliIO } from '../output.js';
import { addRegistryFlags, registryOptionsFrom } from '../registry-options.js';
import { examples, type CommandModule } from '../util.js';

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** `--key`: required, resolved against the working directory. */
function keyPath(io: CliIO, key: unknown): string {
  if (typeof key !== 'string' || key === '') throw new UsageError('--key is required');
  return resolve(io.cwd, key);
}

/** `-a k=v` pairs as annotations; a malformed pair is a usage error. */
function annotationsFrom(opts: Record<string, unknown>): Record<string, string> | undefined {
  try {
    return parseAnnotations(opts['annotations'] as string[] | undefined);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** cosign prints its checks to stderr, then the verified claims to stdout. */
function printChecks(io: CliIO, reference: string, checks: string[]): void {
  io.stderr.write(`\nVerification for ${reference} --\nThe following checks were performed on each of these signatures:\n${checks.map((c) => `  - ${c}\n`).join('')}`);
}

/** Reads a line from a TTY without echo; Ctrl-C aborts. */
function readHidden(io: CliIO, question: string): Promise<string> {
  const stdin = io.stdin as NodeJS.ReadStream;
  return new Promise((resolvePromise, reject) => {
    io.stderr.write(question);
    let answer = '';
    const wasRaw = stdin.isRaw;
    stdin.setRawMode?.(true);
    stdin.resume();
    const onData = (chunk: Buffer | string) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') {
          done();
          io.stderr.write('\n');
          resolvePromise(answer);
          return;
        }
        if (ch === '\u0003') {
          done();
          io.stderr.write('\n');
          reject(new UsageError('password prompt interrupted'));
          return;
        }
        if (ch === '\u007f' || ch === '\b') answer = answer.slice(0, -1);
        else answer += ch;
      }
    };
    const done = () => {
      stdin.off('data', onData);
      stdin.setRawMode?.(wasRaw ?? false);
      stdin.pause();
    };
    stdin.on('data', onData);
  });
}

/** The password prompt cosign shows, when stdin is a terminal. */
function passwordPrompt(io: CliIO): ((req: { confirm: boolean }) => Promise<string>) | undefined {
  if (!(io.stdin as NodeJS.ReadStream).isTTY) return undefined;
  return async ({ confirm }) => {
    const first = await readHidden(io, 'Enter password for private key: ');
    if (!confirm) return first;
    const second = await readHidden(io, 'Enter password for private key again: ');
    if (first !== second) throw new UsageError('passwords do not match');
    return first;
  };
}

function passwordOptions(io: CliIO): { env: NodeJS.ProcessEnv; prompt?: (req: { confirm: boolean }) => Promise<string> } {
  const prompt = passwordPrompt(io);
  return prompt ? { env: io.env, prompt } : { env: io.env };
}

function formatOption(): Option {
  return new Option('--format <format>', 'where to store it: classic (the sha256-<digest>.sig/.att tags) or bundle (a Sigstore bundle as an OCI 1.1 referrer)').choices(['classic', 'bundle']).default('classic');
}

/** Tolerated for drop-in use of cosign command lines; lading never uses a transparency log. */
function compatFlags(cmd: Command): Command {
  return cmd
    .addOption(new Option('--insecure-ignore-tlog [bool]', 'accepted for cosign compatibility; lading verifies offline and never consults a transparency log').hideHelp())
    .addOption(new Option('--tlog-upload [bool]', 'accepted for cosign compatibility; lading never uploads to a transparency log').hideHelp())
    .addOption(new Option('--use-signing-config [bool]', 'accepted for cosign compatibility').hideHelp())
    .addOption(new Option('--new-bundle-format [bool]', 'cosign spelling of --format bundle').hideHelp())
    .addOption(new Option('-y, --yes', 'accepted for cosign compatibility (lading never asks for confirmation)').hideHelp());
}

function formatFrom(opts: Record<string, unknown>): 'classic' | 'bundle' {
  const nbf = opts['newBundleFormat'];
  if (nbf === true || nbf === 'true') return 'bundle';
  return opts['format'] === 'bundle' ? 'bundle' : 'classic';
}

function addGenerateKeyPair(program: Command, io: CliIO): void {
  const gen = program
    .command('generate-key-pair')
    .description('Generate a cosign-compatible key pair: <prefix>.key (encrypted, 0600) and <prefix>.pub')
    .option('--output-key-prefix <prefix>', 'name of the key files', 'cosign')
    .option('--force', 'overwrite existing key files')
    .action(async (opts: Record<string, unknown>) => {
      const result = await generateKeyPair({ dir: io.cwd, outputKeyPrefix: String(opts['outputKeyPrefix']), force: opts['force'] === true, ...passwordOptions(io) });
      io.stderr.write(`Private key written to ${result.privateKeyPath}\nPublic key written to ${result.publicKeyPath}\n`);
    });
  examples(gen, [
    'lading generate-key-pair',
    'LADING_PASSWORD=secret lading generate-key-pair --output-key-prefix release',
    '# the password comes from LADING_PASSWORD, else COSIGN_PASSWORD, else a prompt (empty allowed)',
  ]);
}

function addSign(program: Command, io: CliIO): void {
  const signCmd = compatFlags(
    addRegistryFlags(
      program
        .command('sign')
        .description('Sign the digest an image or artifact reference resolves to (cosign-compatible)')
        .argument('<reference>', 'image or artifact, e.g. localhost:5000/app:1.0.0 or oci://host/repo@sha256:…')
        .requiredOption('--key <path>', 'private key (cosign.key)')
        .option('-a, --annotations <key=value>', 'annotation to sign with the payload (repeatable)', collect)
        .addOption(formatOption())
        .option('--recursive', 'if the reference is an index, also sign each manifest it lists'),
    ),
  ).action(async (reference: string, opts: Record<string, unknown>) => {
    const annotations = annotationsFrom(opts);
    const result = await sign(reference.replace(/^oci:\/\//, ''), {
      key: keyPath(io, opts['key']),
      format: formatFrom(opts),
      recursive: opts['recursive'] === true,
      registry: registryOptionsFrom(opts, io),
      onProgress: (m) => io.stderr.write(`${m}\n`),
      ...(annotations ? { annotations } : {}),
      ...passwordOptions(io),
    });
    for (const s of result.signatures) {
      io.stderr.write(`${s.created ? 'Signed' : 'Already signed with this key:'} ${s.digest} (${s.format}) → ${s.location}\n`);
    }
  });
  examples(signCmd, [
    'lading sign --key cosign.key localhost:5000/app-config:1.0.0',
    'lading sign --key cosign.key -a env=prod oci://ghcr.io/org/app-config:1.0.0',
    'lading sign --key cosign.key --format bundle localhost:5000/app:1.0.0   # cosign v3 bundle, OCI 1.1 referrer',
  ]);
}

function addVerify(program: Command, io: CliIO): void {
  const verifyCmd = compatFlags(
    addRegistryFlags(
      program
        .command('verify')
        .description('Verify the signatures on an image or artifact with a public key (cosign v2/v3, classic and bundle)')
        .argument('<reference>', 'image or artifact reference')
        .requiredOption('--key <path>', 'public key (cosign.pub)')
        .option('-a, --annotations <key=value>', 'annotation every accepted signature must carry (repeatable)', collect)
        .option('-o, --output <format>', 'json (cosign), yaml or table', 'json'),
    ),
  ).action(async (reference: string, opts: Record<string, unknown>) => {
    const output = parseOutputFormat(String(opts['output']), ['json', 'yaml', 'table']);
    const annotations = annotationsFrom(opts);
    const result = await verify(reference.replace(/^oci:\/\//, ''), {
      key: keyPath(io, opts['key']),
      registry: registryOptionsFrom(opts, io),
      ...(annotations ? { annotations } : {}),
    });
    printChecks(io, result.reference, result.checks);
    const payloads = result.signatures.map((s) => s.payload);
    // json: one line, as cosign prints it.
    if (output === 'json') io.stdout.write(`${JSON.stringify(payloads)}\n`);
    else
      io.stdout.write(
        await renderData(output, payloads, () =>
          renderTable(
            ['FORMAT', 'DIGEST', 'SOURCE'],
            result.signatures.map((s) => [s.format, s.payload.critical.image['docker-manifest-digest'], s.source]),
          ),
        ),
      );
  });
  examples(verifyCmd, [
    'lading verify --key cosign.pub localhost:5000/app-config:1.0.0',
    'lading verify --key cosign.pub -a env=prod oci://ghcr.io/org/app-config:1.0.0 | jq .',
  ]);
}

function addAttest(program: Command, io: CliIO): void {
  const attestCmd = compatFlags(
    addRegistryFlags(
      program
        .command('attest')
        .description('Attach a signed in-toto attestation (DSSE) about an image digest (cosign-compatible)')
        .argument('<reference>', 'image or artifact reference')
        .requiredOption('--key <path>', 'private key (cosign.key)')
        .requiredOption('--predicate <path>', 'the predicate file (SBOM, provenance, VEX, any JSON)')
        .option('--type <type>', 'spdx|spdxjson|cyclonedx|slsaprovenance|slsaprovenance02|slsaprovenance1|link|vuln|openvex|custom or a URI', 'custom')
        .addOption(formatOption())
        .option('--replace', 'classic format: replace existing attestations of the same predicate type'),
    ),
  ).action(async (reference: string, opts: Record<string, unknown>) => {
    const result = await attest(reference.replace(/^oci:\/\//, ''), {
      key: keyPath(io, opts['key']),
      predicate: resolve(io.cwd, String(opts['predicate'])),
      type: String(opts['type']),
      format: formatFrom(opts),
      replace: opts['replace'] === true,
      registry: registryOptionsFrom(opts, io),
      onProgress: (m) => io.stderr.write(`${m}\n`),
      ...passwordOptions(io),
    });
    io.stderr.write(`Attested ${result.digest} with ${result.predicateType} (${result.format}) → ${result.location}\n`);
  });
  examples(attestCmd, [
    'lading attest --key cosign.key --type cyclonedx --predicate sbom.cdx.json localhost:5000/app:1.0.0',
    'lading attest --key cosign.key --type slsaprovenance1 --predicate provenance.json --format bundle localhost:5000/app:1.0.0',
  ]);
}

function addVerifyAttestation(program: Command, io: CliIO): void {
  const verifyAttCmd = compatFlags(
    addRegistryFlags(
      program
        .command('verify-attestation')
        .description('Verify the attestations on an image with a public key and print them')
        .argument('<reference>', 'image or artifact reference')
        .requiredOption('--key <path>', 'public key (cosign.pub)')
        .option('--type <type>', 'only attestations of this predicate type (alias or URI; custom is https://cosign.sigstore.dev/attestation/v1), as cosign', 'custom')
        .option('-a, --annotations <key=value>', 'annotation the attested subject must carry (repeatable)', collect)
        .option('-o, --output <format>', 'text (one DSSE envelope per line, as cosign), json (statements), yaml or table', 'text'),
    ),
  ).action(async (reference: string, opts: Record<string, unknown>) => {
    const outputFlag = String(opts['output']);
    const output = outputFlag === 'text' ? 'text' : parseOutputFormat(outputFlag, ['json', 'yaml', 'table']);
    const annotations = annotationsFrom(opts);
    const result = await verifyAttestation(reference.replace(/^oci:\/\//, ''), {
      key: keyPath(io, opts['key']),
      registry: registryOptionsFrom(opts, io),
      ...(typeof opts['type'] === 'string' ? { type: opts['type'] } : {}),
      ...(annotations ? { annotations } : {}),
    });
    printChecks(io, result.reference, result.checks);
    if (output === 'text') {
      for (const a of result.attestations) io.stdout.write(`${JSON.stringify(a.envelope)}\n`);
      return;
    }
    const data = result.attestations.map((a) => ({ predicateType: a.predicateType, format: a.format, source: a.source, statement: a.statement }));
    io.stdout.write(await renderData(output, data, () => renderTable(['PREDICATE TYPE', 'FORMAT', 'SOURCE'], data.map((a) => [a.predicateType, a.format, a.source]))));
  });
  examples(verifyAttCmd, [
    'lading verify-attestation --key cosign.pub --type cyclonedx localhost:5000/app:1.0.0',
    'lading verify-attestation --key cosign.pub localhost:5000/app:1.0.0 | jq -r .payload | base64 -d | jq .predicate',
    'lading verify-attestation --key cosign.pub --type spdxjson -o json localhost:5000/app:1.0.0',
  ]);
}

function addTree(program: Command, io: CliIO): void {
  const treeCmd = addRegistryFlags(
    program
      .command('tree')
      .description('Show the signatures, attestations, SBOMs and other referrers attached to an image')
      .argument('<reference>', 'image or artifact reference')
      .option('-o, --output <format>', 'table (a tree, as cosign), json or yaml', 'table'),
  ).action(async (reference: string, opts: Record<string, unknown>) => {
    const output = parseOutputFormat(String(opts['output']));
    const result = await tree(reference.replace(/^oci:\/\//, ''), { registry: registryOptionsFrom(opts, io) });
    io.stdout.write(await renderData(output, result, () => renderTree(result)));
  });
  examples(treeCmd, ['lading tree localhost:5000/app:1.0.0', 'lading tree -o json oci://ghcr.io/org/app-config:1.0.0']);
}

export const registerSignCommands: CommandModule = (program, io) => {
  addGenerateKeyPair(program, io);
  addSign(program, io);
  addVerify(program, io);
  addAttest(program, io);
  addVerifyAttestation(program, io);
  addTree(program, io);
};

type TreeData = Awaited<ReturnType<typeof tree>>;

function renderLayers(layers: Array<{ digest: string }>): string {
  return layers.map((l, i) => `${i === layers.length - 1 ? '   └──' : '   ├──'} 🍒 ${l.digest}\n`).join('');
}

/** cosign tree's rendering. */
function renderTree(result: TreeData): string {
  let out = `📦 Supply Chain Security Related artifacts for an image: ${result.reference}\n`;
  if (result.attachments.length === 0 && result.referrers.length === 0) {
    return `${out}No Supply Chain Security Related Artifacts found for image ${result.reference},\n start creating one with simply running$ lading sign <img>\n`;
  }
  const titles = { signatures: '🔐 Signatures for an image tag', attestations: '💾 Attestations for an image tag', sboms: '📦 SBOMs for an image tag' };
  for (const a of result.attachments) out += `└── ${titles[a.kind]}: ${a.tag}\n${renderLayers(a.layers)}`;
  for (const r of result.referrers) {
    out += `└── 🔗 ${r.artifactType} artifacts via OCI referrer: ${r.reference}\n`;
    out += r.error ? `   └── ✗ ${r.error}\n` : renderLayers(r.layers);
  }
  return out;
}
