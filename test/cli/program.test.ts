// The program as a whole: which command modules a command line loads, and the checks every
// command gets (unknown commands, empty values, invalid references are usage errors: exit 2).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandModules, commandModulesFor } from '../../src/cli/commands/index.js';
import { version } from '../../src/cli/program.js';
import { generateKeyPair } from '../../src/sign/index.js';
import { tempDir } from '../oci/helpers.js';
import { runCaptured } from './captured-io.js';

// A key pair (cosign.key, cosign.pub) in the working directory, so that commands get as far as
// their references.
const cwd = tempDir('lading-program-');
const lading = (argv: string[]) => runCaptured(argv, { env: { HOME: cwd.path, DOCKER_CONFIG: cwd.path, LADING_PASSWORD: '' }, cwd: cwd.path });

beforeAll(async () => {
  await generateKeyPair({ dir: cwd.path, password: '' });
});

afterAll(() => cwd.remove());

describe('the program', () => {
  it('loads the modules of the verb, all of them for help and unknown verbs, none for --version', () => {
    expect(commandModulesFor(['verify', '--key', 'k.pub', 'ref']).map((m) => m.name)).toEqual(['sign']);
    expect(commandModulesFor(['diff', 'artifact']).map((m) => m.name)).toEqual(['artifact', 'kube']);
    expect(commandModulesFor(['help', 'verify'])).toBe(commandModules);
    expect(commandModulesFor(['nope'])).toBe(commandModules);
    expect(commandModulesFor(['--version'])).toEqual([]);
  });

  it('prints the version of package.json', async () => {
    const r = await lading(['--version']);
    expect(r).toEqual({ code: 0, stdout: `${version()}\n`, stderr: '' });
    expect(version()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('says a command is unknown (exit 2), with --help too, at any level', async () => {
    for (const [argv, name] of [
      [['nope'], 'nope'],
      [['nope', '--help'], 'nope'],
      [['--help', 'nope'], 'nope'],
      [['help', 'nope'], 'nope'],
      [['push', 'nope', '--help'], 'push nope'],
      [['inspect', 'nope', '-h'], 'inspect nope'],
      [['pull', 'nope'], 'pull nope'],
    ] as const) {
      const r = await lading([...argv]);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stdout, argv.join(' ')).toBe('');
      expect(r.stderr, argv.join(' ')).toContain(`unknown command '${name}'`);
    }
  });

  it('hands a name it does not know to a default subcommand (build DIR is build kustomization DIR)', async () => {
    const r = await lading(['build', 'no-such-dir']);
    expect(r.stderr).not.toContain('unknown command');
    expect(r.stderr).toContain('no-such-dir');
  });

  it('still prints the help of known commands with exit 0', async () => {
    for (const argv of [['--help'], ['help', 'verify'], ['verify', '--help'], ['push', '--help'], ['push', 'artifact', '--help'], ['build', '--help']]) {
      const r = await lading(argv);
      expect(r.code, argv.join(' ')).toBe(0);
      expect(r.stdout, argv.join(' ')).toMatch(/^Usage: lading/);
    }
  });

  it('refuses empty option and argument values with exit 2, naming them, before anything runs', async () => {
    for (const [argv, name] of [
      [['pull', 'artifact', 'oci://localhost:1/a:1', '-o', ''], '--output'],
      [['pull', 'artifact', 'oci://localhost:1/a:1', '--output='], '--output'],
      [['push', 'artifact', 'oci://localhost:1/a:1', '-k', ''], '--kustomize'],
      [['push', 'artifact', 'oci://localhost:1/a:1', '-f', ''], '--path'],
      [['verify', '--key', '', 'localhost:1/a:1'], '--key'],
      [['sign', '--key', 'cosign.key', '-a', 'a=b', '-a', '', 'localhost:1/a:1'], '--annotations'],
      [['verify', '--key', 'cosign.pub', '--ca-file', '', 'localhost:1/a:1'], '--ca-file'],
      [['get', 'inventories', '--kubeconfig', ''], '--kubeconfig'],
      [['apply', 'inventory', 'x', '-f', ''], '--filename'],
      [['build', 'kustomization', ''], 'the path argument'],
      [['digest', ''], 'the ref argument'],
      [['generate-key-pair', '--output-key-prefix', ''], '--output-key-prefix'],
    ] as const) {
      const r = await lading([...argv]);
      expect(r.code, `${argv.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr, argv.join(' ')).toContain(`${name}`);
      expect(r.stderr, argv.join(' ')).toContain('must not be empty');
    }
  });

  it('takes an invalid reference on the command line as a usage error (exit 2)', async () => {
    for (const argv of [
      ['verify', '--key', 'cosign.pub', 'Bad//Ref'],
      ['sign', '--key', 'cosign.key', 'oci://localhost:5000/UPPER:1'],
      ['attest', '--key', 'cosign.key', '--predicate', 'cosign.pub', 'localhost:5000/a:b:c'],
      ['verify-attestation', '--key', 'cosign.pub', 'localhost:5000/app@sha256:nothex'],
      ['tree', 'localhost:5000/app@sha256:nothex'],
      ['digest', 'localhost:5000/a b'],
      ['copy', 'localhost:5000/a:1', 'localhost:5000/B'],
      ['pull', 'artifact', 'oci://localhost:5000/a::1', '-o', 'out'],
      ['inspect', 'artifact', 'oci://localhost:5000/Bad'],
      ['list', 'artifacts', 'oci://127.0.0.1:35123'],
    ]) {
      const r = await lading(argv);
      expect(r.code, `${argv.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr, argv.join(' ')).toContain('invalid reference');
    }
    // A tag typed on the command line too (the registry is never asked: nothing listens there).
    const tag = await lading(['tag', 'artifact', 'oci://127.0.0.1:1/app:1', 'bad!tag']);
    expect(tag.code, tag.stderr).toBe(2);
    expect(tag.stderr).toContain('invalid tag "bad!tag"');
  });
});
