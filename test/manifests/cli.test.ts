// `lading build` through the CLI entry point: output, formats, exit codes, help.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runCaptured } from '../cli/captured-io.js';
import { kustomizeBuild, requireOracle } from './oracle.js';
import { demoAppDir } from '../fixtures.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const demo = demoAppDir;

async function lading(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const r = await runCaptured(args, { stdin: new PassThrough(), env: process.env, cwd: here });
  return { code: r.code, out: r.stdout, err: r.stderr };
}

describe('lading build', () => {
  it('prints what kustomize build prints', async () => {
    const r = await lading(['build', demo]);
    expect(r.code, r.err).toBe(0);
    requireOracle();
    const oracle = kustomizeBuild(demo);
    if (!oracle.ok) throw new Error(oracle.error);
    expect(r.out).toBe(oracle.yaml);
    expect(r.err).toBe('');
  });

  it('`build kustomization` is the same command', async () => {
    const a = await lading(['build', demo]);
    const b = await lading(['build', 'kustomization', demo]);
    expect(b.out).toBe(a.out);
  });

  it('-o json prints a List of the objects', async () => {
    const r = await lading(['build', demo, '-o', 'json']);
    expect(r.code).toBe(0);
    const list = JSON.parse(r.out) as { kind: string; items: Array<{ kind: string; metadata: { name: string } }> };
    expect(list.kind).toBe('List');
    expect(list.items).toHaveLength(10);
    expect(list.items[1]?.metadata.name).toBe('redis-config-bd2fcfgt6k');
  });

  it('exits 1 naming the path when it does not exist', async () => {
    const r = await lading(['build', './no-such-dir']);
    expect(r.code).toBe(1);
    expect(r.err).toContain('no-such-dir');
    expect(r.out).toBe('');
  });

  it('exits 2 on a bad output format', async () => {
    const r = await lading(['build', demo, '-o', 'table']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('invalid output format');
  });

  it('--boundary refuses a base outside the directory, naming it, and builds what is inside', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'lading-cli-boundary-'));
    try {
      mkdirSync(path.join(root, 'artifact', 'overlay'), { recursive: true });
      mkdirSync(path.join(root, 'base'));
      writeFileSync(path.join(root, 'base', 'kustomization.yaml'), 'resources:\n- cm.yaml\n');
      writeFileSync(path.join(root, 'base', 'cm.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: base\n');
      writeFileSync(path.join(root, 'artifact', 'overlay', 'kustomization.yaml'), 'resources:\n- ../../base\n');
      const outside = await lading(['build', path.join(root, 'artifact', 'overlay'), '--boundary', path.join(root, 'artifact')]);
      expect(outside.code).toBe(1);
      expect(outside.err).toContain(`security; directory '${path.join(root, 'base')}' is not in or below '${path.join(root, 'artifact')}'`);
      expect(outside.out).toBe('');
      const inside = await lading(['build', path.join(root, 'artifact', 'overlay'), '--boundary', root]);
      expect(inside.code, inside.err).toBe(0);
      expect(inside.out).toContain('name: base');
      const empty = await lading(['build', path.join(root, 'artifact', 'overlay'), '--boundary', '']);
      expect(empty.code).toBe(2);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('has help with examples', async () => {
    const r = await lading(['build', 'kustomization', '--help']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('Examples:');
    expect(r.out).toContain('--pin-images');
  });
});
