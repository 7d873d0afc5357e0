// Hostile build input: files that leave the kustomization through `../` or symlinks (chains,
// links to directories, links to devices), special files, oversized files and invalid UTF-8.
// Each is refused by lading with an error naming the file, and refused by kustomize too (the
// oracle), except where kustomize would block forever on the input (a FIFO), which is said so.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build, ManifestError } from '../../src/manifests/index.js';
import { MAX_YAML_BYTES } from '../../src/manifests/yaml.js';
import { kustomizeBuild } from './oracle.js';

const root = mkdtempSync(path.join(tmpdir(), 'lading-hostile-'));
const outside = path.join(root, 'outside');
const servers: Server[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  rmSync(root, { recursive: true, force: true });
});

const CM = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  k: v\n';
const SECRET = 'not-for-the-cluster-5b1f';

beforeAll(() => {
  // What an attacker wants: a host file, and a service account token as the controller mounts it.
  mkdirSync(path.join(outside, 'serviceaccount'), { recursive: true });
  writeFileSync(path.join(outside, 'secret.yaml'), `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stolen\ndata:\n  s: ${SECRET}\n`);
  writeFileSync(path.join(outside, 'secret.env'), `S=${SECRET}\n`);
  writeFileSync(path.join(outside, 'serviceaccount', 'token'), SECRET);
  mkdirSync(path.join(outside, 'base'), { recursive: true });
  writeFileSync(path.join(outside, 'base', 'kustomization.yaml'), 'resources:\n- cm.yaml\n');
  writeFileSync(path.join(outside, 'base', 'cm.yaml'), CM);
});

interface Case {
  name: string;
  files: Record<string, string | Buffer>;
  /** link path → target (relative targets are relative to the link's directory) */
  links?: Record<string, string>;
  code: string;
  /** Fragments of lading's message; `{dir}` is the case's directory. */
  message: string[];
  /** What kustomize's error contains, or 'blocks' when kustomize would wait forever on the input. */
  oracle: string | 'blocks';
}

const cases: Case[] = [
  {
    name: 'resource-dot-dot',
    files: { 'app/kustomization.yaml': 'resources:\n- ../outside.yaml\n', 'outside.yaml': CM },
    code: 'INVALID_KUSTOMIZATION',
    message: ['security', "file '{dir}/outside.yaml' is not in or below '{dir}/app'"],
    oracle: 'security; file',
  },
  {
    name: 'resource-symlink',
    files: { 'kustomization.yaml': 'resources:\n- cm.yaml\n' },
    links: { 'cm.yaml': '{outside}/secret.yaml' },
    code: 'INVALID_KUSTOMIZATION',
    message: ["security; file '{dir}/cm.yaml' is not in or below '{dir}'", "resolves to '{outside}/secret.yaml'"],
    oracle: 'security; file',
  },
  {
    name: 'resource-symlink-chain',
    files: { 'kustomization.yaml': 'resources:\n- l0.yaml\n' },
    // twelve links, each to the next, the last out of the tree
    links: Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`l${i}.yaml`, i === 11 ? '../outside/secret.yaml' : `l${i + 1}.yaml`])),
    code: 'INVALID_KUSTOMIZATION',
    message: ["security; file '{dir}/l0.yaml'", "resolves to '{outside}/secret.yaml'"],
    oracle: 'security; file',
  },
  {
    name: 'generator-file-through-linked-directory',
    files: { 'kustomization.yaml': 'configMapGenerator:\n- name: x\n  files:\n  - sa/token\n' },
    links: { sa: '{outside}/serviceaccount' },
    code: 'INVALID_KUSTOMIZATION',
    message: ['configMapGenerator[0].files', "security; file '{dir}/sa/token' is not in or below '{dir}'", "resolves to '{outside}/serviceaccount/token'"],
    oracle: 'security; file',
  },
  {
    name: 'generator-file-through-up-links',
    // a/b/c/up -> ../../.. (the tree's root, still inside) and a/b/c/esc -> up/.. (one above it)
    files: { 'kustomization.yaml': 'secretGenerator:\n- name: x\n  files:\n  - a/b/c/esc/outside/serviceaccount/token\n', 'a/b/c/.keep': '' },
    links: { 'a/b/c/up': '../../..', 'a/b/c/esc': 'up/..' },
    code: 'INVALID_KUSTOMIZATION',
    message: ['secretGenerator[0].files', "security; file '{dir}/a/b/c/esc/outside/serviceaccount/token'", "resolves to '{outside}/serviceaccount/token'"],
    oracle: 'security; file',
  },
  {
    name: 'generator-envs-symlink',
    files: { 'kustomization.yaml': 'configMapGenerator:\n- name: x\n  envs:\n  - app.env\n' },
    links: { 'app.env': '../outside/secret.env' },
    code: 'INVALID_KUSTOMIZATION',
    message: ['configMapGenerator[0].envs', "security; file '{dir}/app.env'"],
    oracle: 'security; file',
  },
  {
    name: 'generator-file-dot-dot',
    files: { 'kustomization.yaml': 'secretGenerator:\n- name: x\n  files:\n  - d/../../outside/secret.env\n', 'd/.keep': '' },
    code: 'INVALID_KUSTOMIZATION',
    message: ['secretGenerator[0].files', "security; file '{outside}/secret.env' is not in or below '{dir}'"],
    oracle: 'security; file',
  },
  {
    name: 'patch-symlink',
    files: { 'kustomization.yaml': 'resources:\n- cm.yaml\npatches:\n- path: p.yaml\n', 'cm.yaml': CM },
    links: { 'p.yaml': '{outside}/secret.yaml' },
    code: 'INVALID_KUSTOMIZATION',
    message: ['patches[0].path', "security; file '{dir}/p.yaml'"],
    oracle: 'security; file',
  },
  {
    name: 'component-file-symlink',
    files: { 'kustomization.yaml': 'components:\n- comp\n', 'comp/kustomization.yaml': 'kind: Component\nresources:\n- cm.yaml\n' },
    links: { 'comp/cm.yaml': '{outside}/secret.yaml' },
    code: 'INVALID_KUSTOMIZATION',
    message: ["security; file '{dir}/comp/cm.yaml' is not in or below '{dir}/comp'"],
    oracle: 'security; file',
  },
  {
    name: 'device-through-symlink',
    files: { 'kustomization.yaml': 'configMapGenerator:\n- name: x\n  files:\n  - zero\n' },
    links: { zero: '/dev/zero' },
    code: 'INVALID_KUSTOMIZATION',
    message: ["security; file '{dir}/zero'", "resolves to '/dev/zero'"],
    oracle: 'security; file',
  },
  {
    name: 'fifo-in-tree',
    files: { 'kustomization.yaml': 'configMapGenerator:\n- name: x\n  files:\n  - pipe\n' },
    code: 'INVALID_KUSTOMIZATION',
    message: ['configMapGenerator[0].files', '{dir}/pipe is a FIFO, not a regular file'],
    oracle: 'blocks',
  },
  {
    name: 'socket-in-tree',
    files: { 'kustomization.yaml': 'resources:\n- sock\n' },
    code: 'INVALID_KUSTOMIZATION',
    message: ['{dir}/sock is a socket, not a regular file'],
    oracle: 'no such device or address',
  },
  {
    name: 'resource-too-large',
    files: { 'kustomization.yaml': 'resources:\n- big.yaml\n' },
    code: 'TOO_LARGE',
    message: [`{dir}/big.yaml is larger than ${MAX_YAML_BYTES} bytes`],
    oracle: 'blocks',
  },
  {
    name: 'invalid-utf8-resource',
    files: { 'kustomization.yaml': 'resources:\n- bad.yaml\n', 'bad.yaml': Buffer.from('apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: "\xff\xfe"\n', 'latin1') },
    code: 'INVALID_YAML',
    message: ['{dir}/bad.yaml:6: invalid UTF-8 (byte 0xff'],
    oracle: 'invalid leading UTF-8 octet',
  },
  {
    name: 'invalid-utf8-kustomization',
    files: { 'kustomization.yaml': Buffer.from('resources: []\ncommonAnnotations:\n  a: "\xc3"\n', 'latin1') },
    code: 'INVALID_YAML',
    message: ['{dir}/kustomization.yaml:3: invalid UTF-8 (byte 0xc3'],
    oracle: 'UTF-8 octet',
  },
  {
    name: 'invalid-utf8-patch',
    files: { 'kustomization.yaml': 'resources:\n- cm.yaml\npatches:\n- path: p.yaml\n', 'cm.yaml': CM, 'p.yaml': Buffer.from('apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  x: "\xe2\x82"\n', 'latin1') },
    code: 'INVALID_YAML',
    message: ['{dir}/p.yaml:6: invalid UTF-8'],
    oracle: 'unable to parse SM or JSON patch',
  },
  {
    name: 'invalid-utf8-env-file',
    files: { 'kustomization.yaml': 'configMapGenerator:\n- name: x\n  envs:\n  - bad.env\n', 'bad.env': Buffer.from('A=ok\nB=\xff\n', 'latin1') },
    code: 'INVALID_YAML',
    message: ['configMapGenerator[0]: env file bad.env:2: invalid UTF-8'],
    oracle: 'invalid utf8',
  },
  {
    name: 'invalid-utf8-configurations',
    files: { 'kustomization.yaml': 'resources:\n- cm.yaml\nconfigurations:\n- conf.yaml\n', 'cm.yaml': CM, 'conf.yaml': Buffer.from('namePrefix:\n- path: metadata/name\n  kind: "\xff"\n', 'latin1') },
    code: 'INVALID_YAML',
    message: ['{dir}/conf.yaml:3: invalid UTF-8'],
    oracle: 'UTF-8 octet',
  },
];

function fill(text: string, dir: string): string {
  return text.replaceAll('{dir}', dir).replaceAll('{outside}', outside);
}

async function makeCase(c: Case): Promise<{ dir: string; target: string }> {
  const dir = path.join(root, c.name);
  for (const [rel, content] of Object.entries(c.files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), content);
  }
  for (const [rel, target] of Object.entries(c.links ?? {})) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    symlinkSync(fill(target, dir), path.join(dir, rel));
  }
  if (c.name === 'fifo-in-tree') execFileSync('mkfifo', [path.join(dir, 'pipe')]);
  if (c.name === 'resource-too-large') {
    writeFileSync(path.join(dir, 'big.yaml'), '');
    truncateSync(path.join(dir, 'big.yaml'), MAX_YAML_BYTES + 1); // sparse: nothing is written
  }
  if (c.name === 'socket-in-tree') {
    const server = createServer();
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(path.join(dir, 'sock'), resolve));
  }
  return { dir, target: c.name === 'resource-dot-dot' ? path.join(dir, 'app') : dir };
}

describe('hostile build input is refused, naming the file, as kustomize refuses it', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const { dir, target } = await makeCase(c);
      const err = await build(target).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, 'lading must refuse this input').toBeInstanceOf(ManifestError);
      const e = err as ManifestError;
      expect(e.code).toBe(c.code);
      for (const m of c.message) expect(e.message).toContain(fill(m, dir));
      expect(e.message).not.toContain(SECRET);
      if (c.oracle !== 'blocks') {
        const oracle = kustomizeBuild(target);
        expect(oracle.ok, 'kustomize build refuses it too').toBe(false);
        if (!oracle.ok) expect(oracle.error).toContain(c.oracle);
      }
    });
  }

  it('refuses a device given as the file to build', async () => {
    const err = await build('/dev/zero').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ManifestError);
    expect((err as ManifestError).message).toContain('/dev/zero is a device, not a regular file');
  });
});

describe('directories outside the kustomization', () => {
  // kustomize lets a kustomization use bases beside or above it (overlays do); --boundary confines
  // a build of an untrusted tree to one directory.
  function tree(name: string): string {
    const dir = path.join(root, name);
    mkdirSync(path.join(dir, 'overlay'), { recursive: true });
    writeFileSync(path.join(dir, 'overlay', 'kustomization.yaml'), 'resources:\n- base\n- ../sibling\n');
    symlinkSync(path.join(outside, 'base'), path.join(dir, 'overlay', 'base'));
    mkdirSync(path.join(dir, 'sibling'));
    writeFileSync(path.join(dir, 'sibling', 'kustomization.yaml'), 'resources:\n- cm.yaml\n');
    writeFileSync(path.join(dir, 'sibling', 'cm.yaml'), CM.replace('name: app', 'name: sibling'));
    return dir;
  }

  it('builds bases beside the kustomization and through a linked directory, as kustomize does', async () => {
    const dir = tree('bases-outside');
    const oracle = kustomizeBuild(path.join(dir, 'overlay'));
    if (!oracle.ok) throw new Error(oracle.error);
    expect((await build(path.join(dir, 'overlay'))).yaml).toBe(oracle.yaml);
  });

  it('refuses with a boundary every directory outside it, naming it', async () => {
    const dir = tree('bases-boundary');
    const inTree = await build(path.join(dir, 'overlay'), { boundary: path.join(dir, 'overlay') }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(inTree).toBeInstanceOf(ManifestError);
    expect((inTree as ManifestError).message).toContain(`security; directory '${path.join(dir, 'overlay', 'base')}' is not in or below '${path.join(dir, 'overlay')}'`);
    expect((inTree as ManifestError).message).toContain(`resolves to '${path.join(outside, 'base')}'`);
    // the sibling is inside a wider boundary, the linked base still is not
    const wider = await build(path.join(dir, 'overlay'), { boundary: dir }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((wider as ManifestError).message).toContain(`security; directory '${path.join(dir, 'overlay', 'base')}'`);
  });
});
