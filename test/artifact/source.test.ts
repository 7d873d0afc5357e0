import { chmodSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { buildArtifact, collectSource, DefaultIgnorePaths } from '../../src/artifact/index.js';
import { tempDir, writeTree } from './helpers.js';

const paths = async (dir: string, opts: Parameters<typeof collectSource>[1] = {}) =>
  (await collectSource(dir, opts)).map((e) => (e.type === 'directory' ? `${e.path}/` : e.path));

describe('what goes into an artifact', () => {
  it("applies Flux's default ignore rules (VCS files, images, archives)", async () => {
    const dir = writeTree(tempDir(), {
      '.git/config': 'x',
      '.gitignore': 'x',
      '.gitattributes': 'x',
      'sub/.gitmodules': 'x',
      'logo.png': 'x',
      'img/photo.JPG': 'x', // gitignore matching is case-sensitive, as in Flux
      'img/photo.jpg': 'x',
      'bundle.tar.gz': 'x',
      'deploy/app.yaml': 'x',
      'README.md': 'x',
    });
    expect(await paths(dir)).toEqual(['README.md', 'deploy/', 'deploy/app.yaml', 'img/', 'img/photo.JPG', 'sub/']);
    expect(DefaultIgnorePaths).toContain('.git/');
  });

  it('replaces the defaults with --ignore-paths and appends --add-ignore-paths', async () => {
    const dir = writeTree(tempDir(), { '.git/config': 'x', 'a.yaml': 'x', 'secrets/s.yaml': 'x', 'b.png': 'x' });
    expect(await paths(dir, { ignorePaths: ['secrets/'] })).toEqual(['.git/', '.git/config', 'a.yaml', 'b.png']);
    expect(await paths(dir, { addIgnorePaths: ['secrets/'] })).toEqual(['a.yaml']);
    expect(await paths(dir, { ignorePaths: [] })).toEqual(['.git/', '.git/config', 'a.yaml', 'b.png', 'secrets/', 'secrets/s.yaml']);
  });

  it('supports negation, anchored and ** patterns in .gitignore syntax', async () => {
    const dir = writeTree(tempDir(), {
      'a/x.yaml': 'x',
      'a/keep.yaml': 'x',
      'b/x.yaml': 'x',
      'x.yaml': 'x',
      'deep/er/test.yaml': 'x',
    });
    expect(await paths(dir, { ignorePaths: ['*.yaml', '!keep.yaml', '/x.yaml'] })).toEqual(['a/', 'a/keep.yaml', 'b/', 'deep/', 'deep/er/']);
    expect(await paths(dir, { ignorePaths: ['/x.yaml', '**/er/'] })).toEqual(['a/', 'a/keep.yaml', 'a/x.yaml', 'b/', 'b/x.yaml', 'deep/']);
  });

  it('honours .sourceignore files at every level, deeper ones taking precedence', async () => {
    const dir = writeTree(tempDir(), {
      '.sourceignore': '# comment\n*.txt\ntmp/\n',
      'notes.txt': 'x',
      'tmp/a.yaml': 'x',
      'app/.sourceignore': '!important.txt\nlocal.yaml\n',
      'app/important.txt': 'x',
      'app/other.txt': 'x',
      'app/local.yaml': 'x',
      'app/deploy.yaml': 'x',
      'local.yaml': 'x',
    });
    expect(await paths(dir)).toEqual(['.sourceignore', 'app/', 'app/.sourceignore', 'app/deploy.yaml', 'app/important.txt', 'local.yaml']);
    expect(await paths(dir, { sourceIgnore: false })).toContain('notes.txt');
  });

  it('lists each directory in byte order (UTF-8, as Flux), and a directory named .sourceignore is walked, not read', async () => {
    const dir = writeTree(tempDir(), {
      'z.yaml': 'x',
      'é.yaml': 'x',
      'B.yaml': 'x',
      'a/.sourceignore/inside.yaml': 'x',
      '😀.yaml': 'x',
      '\uffee.yaml': 'x',
    });
    // Byte order: 'B' < 'a' < 'z' < U+00E9 < U+FFEE < U+1F600 (UTF-16 order would put the emoji's surrogates before U+FFEE).
    expect(await paths(dir)).toEqual(['B.yaml', 'a/', 'a/.sourceignore/', 'a/.sourceignore/inside.yaml', 'z.yaml', 'é.yaml', '\uffee.yaml', '😀.yaml']);
  });

  it('leaves symlinks out by default and packages their targets with resolveSymlinks', async () => {
    const outside = writeTree(tempDir(), { 'shared/base.yaml': 'base: 1\n', 'file.yaml': 'f: 1\n' });
    const dir = writeTree(tempDir(), { 'app.yaml': 'a: 1\n' });
    symlinkSync(join(outside, 'shared'), join(dir, 'shared'));
    symlinkSync(join(outside, 'file.yaml'), join(dir, 'linked.yaml'));
    symlinkSync('.', join(dir, 'loop')); // a cycle must not recurse forever
    expect(await paths(dir)).toEqual(['app.yaml']);
    const resolved = await collectSource(dir, { resolveSymlinks: true });
    expect(resolved.map((e) => e.path)).toEqual(['app.yaml', 'linked.yaml', 'shared', 'shared/base.yaml']);
    symlinkSync(join(outside, 'missing.yaml'), join(dir, 'broken.yaml'));
    await expect(collectSource(dir, { resolveSymlinks: true })).rejects.toMatchObject({ code: 'INVALID_PATH' });
  });

  it('skips fifos and sockets, and names a missing path in the error', async () => {
    const dir = writeTree(tempDir(), { 'a.yaml': 'x' });
    execFileSync('mkfifo', [join(dir, 'pipe')]);
    expect(await paths(dir)).toEqual(['a.yaml']);
    await expect(collectSource(join(dir, 'nope'))).rejects.toThrow(/nope: no such file or directory/);
  });

  it('writes reproducible tarballs: zeroed times and owners, fixed modes, stable bytes', async () => {
    const dir = writeTree(tempDir(), { 'b.yaml': 'b\n', 'a/run.sh': '#!/bin/sh\n', 'a-b/c.yaml': 'c\n' });
    chmodSync(join(dir, 'a/run.sh'), 0o775);
    chmodSync(join(dir, 'b.yaml'), 0o600);
    const first = await buildArtifact({ path: dir, output: join(tempDir(), 'one.tgz') });
    // Touch every file: new times must not change the bytes.
    execFileSync('touch', ['-d', '2001-02-03', join(dir, 'b.yaml'), join(dir, 'a/run.sh')]);
    const second = await buildArtifact({ path: dir, output: join(tempDir(), 'two.tgz') });
    expect(second.digest).toBe(first.digest);
    // The gzip header carries no name, no time, and "unknown" as the operating system.
    const head = readFileSync(first.output).subarray(0, 10);
    expect([...head]).toEqual([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    const listing = execFileSync('tar', ['--numeric-owner', '--full-time', '-tvzf', first.output], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC' } });
    const lines = listing.trim().split('\n').map((l) => l.replace(/\s+/g, ' '));
    expect(lines).toEqual([
      'drwxr-xr-x 0/0 0 1970-01-01 00:00:00 a',
      '-rwxr-xr-x 0/0 10 1970-01-01 00:00:00 a/run.sh',
      'drwxr-xr-x 0/0 0 1970-01-01 00:00:00 a-b',
      '-rw-r--r-- 0/0 2 1970-01-01 00:00:00 a-b/c.yaml',
      '-rw-r--r-- 0/0 2 1970-01-01 00:00:00 b.yaml',
    ]);
  });
});
