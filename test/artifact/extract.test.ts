import { existsSync, readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { extractToDirectory, extractToMemory } from '../../src/artifact/index.js';
import { makeTarball, type RawEntry } from './archives.js';
import { tempDir } from './helpers.js';

const ok: RawEntry = { name: 'ok.yaml', body: 'fine: true\n' };

/**
 * Links that each stay inside the tree when read on their own (the check lading had was
 * lexical), but lead outside once the links they go through are followed.
 */
function escapingLinkChains(): Array<{ name: string; entries: RawEntry[]; code: string; message: RegExp }> {
  // a/b/c/up is the root of the tree; a/b/c/esc goes through it and three levels further up.
  const twoLinks: RawEntry[] = [
    ok,
    { name: 'a/b/c/up', type: 'symlink', linkname: '../../..' },
    { name: 'a/b/c/esc', type: 'symlink', linkname: 'up/../../..' },
  ];
  // hop1 -> hop2 -> ... -> hop12 -> a/b/c/d/e/f/g/h/u/../(x9)etc/passwd, where u is the root.
  const deep = 'a/b/c/d/e/f/g/h';
  const chain: RawEntry[] = [ok, { name: `${deep}/u`, type: 'symlink', linkname: '../'.repeat(8).slice(0, -1) }];
  for (let i = 1; i < 12; i++) chain.push({ name: `hop${i}`, type: 'symlink', linkname: `hop${i + 1}` });
  chain.push({ name: 'hop12', type: 'symlink', linkname: `${deep}/u/${'../'.repeat(9)}etc/passwd` });
  // The same, the links listed in the opposite order (resolution does not depend on it).
  const reversed = [ok, ...chain.slice(1).reverse()];
  return [
    { name: 'symlink chain through an "up" link (a/b/c/esc -> up/../../..)', entries: twoLinks, code: 'UNSAFE_ARCHIVE', message: /link "a\/b\/c\/esc" -> "up\/\.\.\/\.\.\/\.\." points outside the target directory/ },
    { name: '12-link chain ending at etc/passwd', entries: chain, code: 'UNSAFE_ARCHIVE', message: /link "hop12" -> ".*etc\/passwd" points outside the target directory/ },
    { name: '12-link chain listed backwards', entries: reversed, code: 'UNSAFE_ARCHIVE', message: /link "hop12" -> ".*etc\/passwd" points outside the target directory/ },
  ];
}

/** Malicious archives: each must be refused with UNSAFE_ARCHIVE or TOO_LARGE, writing nothing. */
const malicious: Array<{ name: string; entries: RawEntry[]; code: string; message: RegExp }> = [
  { name: 'path traversal', entries: [ok, { name: '../evil.yaml', body: 'x' }], code: 'UNSAFE_ARCHIVE', message: /"\.\.\/evil\.yaml" escapes/ },
  { name: 'nested traversal', entries: [ok, { name: 'a/../../evil.yaml', body: 'x' }], code: 'UNSAFE_ARCHIVE', message: /escapes/ },
  { name: 'absolute path', entries: [ok, { name: '/tmp/evil.yaml', body: 'x' }], code: 'UNSAFE_ARCHIVE', message: /absolute path/ },
  { name: 'symlink escaping the target', entries: [ok, { name: 'link', type: 'symlink', linkname: '../../etc' }], code: 'UNSAFE_ARCHIVE', message: /points outside/ },
  { name: 'absolute symlink', entries: [ok, { name: 'passwd', type: 'symlink', linkname: '/etc/passwd' }], code: 'UNSAFE_ARCHIVE', message: /absolute path/ },
  {
    name: 'file written through a symlink',
    entries: [{ name: 'dir', type: 'symlink', linkname: '.' }, { name: 'dir/x.yaml', body: 'x' }],
    code: 'UNSAFE_ARCHIVE',
    message: /"dir\/x\.yaml" would be written through the link "dir"/,
  },
  {
    name: 'file written over a symlink',
    entries: [{ name: 'x.yaml', type: 'symlink', linkname: 'ok.yaml' }, ok, { name: 'x.yaml', body: 'x' }],
    code: 'UNSAFE_ARCHIVE',
    message: /"x\.yaml" would be written over a symbolic link/,
  },
  ...escapingLinkChains(),
  { name: 'link loop', entries: [ok, { name: 'a', type: 'symlink', linkname: 'b' }, { name: 'b', type: 'symlink', linkname: 'c/../a' }], code: 'UNSAFE_ARCHIVE', message: /loops or goes through more than 40 links/ },
  { name: 'link to itself', entries: [ok, { name: 'self', type: 'symlink', linkname: './self' }], code: 'UNSAFE_ARCHIVE', message: /"self" -> "\.\/self" loops/ },
  { name: 'file then symlink of the same name', entries: [ok, { name: 'x.yaml', body: 'x' }, { name: 'x.yaml', type: 'symlink', linkname: 'ok.yaml' }], code: 'UNSAFE_ARCHIVE', message: /"x\.yaml" appears twice in the archive: a file, then a symbolic link/ },
  { name: 'file then directory of the same name', entries: [ok, { name: 'x', body: 'x' }, { name: 'x', type: 'directory' }], code: 'UNSAFE_ARCHIVE', message: /"x" appears twice in the archive: a file, then a directory/ },
  { name: 'directory then file of the same name', entries: [ok, { name: 'x/a.yaml', body: 'a' }, { name: 'x', body: 'x' }], code: 'UNSAFE_ARCHIVE', message: /"x" appears twice in the archive: a directory, then a file/ },
  { name: 'file below a file', entries: [ok, { name: 'ok.yaml/x', body: 'x' }], code: 'UNSAFE_ARCHIVE', message: /"ok\.yaml\/x" is below "ok\.yaml", which is a file/ },
  { name: 'hard link to a symlink', entries: [ok, { name: 's', type: 'symlink', linkname: 'ok.yaml' }, { name: 'h', type: 'link', linkname: 's' }], code: 'UNSAFE_ARCHIVE', message: /hard link "h" -> "s" does not point to a file/ },
  { name: 'hard link through a symlink', entries: [ok, { name: 'd', type: 'symlink', linkname: '.' }, { name: 'h', type: 'link', linkname: 'd/ok.yaml' }], code: 'UNSAFE_ARCHIVE', message: /hard link "h" -> "d\/ok\.yaml" does not point to a file/ },
  { name: 'name longer than 255 bytes', entries: [ok, { name: `${'n'.repeat(256)}.yaml`, body: 'x' }], code: 'TOO_LARGE', message: /a name of 261 bytes, more than the limit of 255 bytes per name/ },
  { name: 'path deeper than 128 levels', entries: [ok, { name: `${'d/'.repeat(129)}x.yaml`, body: 'x' }], code: 'TOO_LARGE', message: /130 levels deep, more than the limit of 128 levels/ },
  { name: 'path longer than 4096 bytes', entries: [ok, { name: `${`${'p'.repeat(99)}/`.repeat(41)}x`, body: 'x' }], code: 'TOO_LARGE', message: /4101 bytes long, more than the limit of 4096 bytes per path/ },
  { name: 'link target longer than 4096 bytes', entries: [ok, { name: 'l', type: 'symlink', linkname: `${'./'.repeat(2100)}ok.yaml` }], code: 'TOO_LARGE', message: /the target of link "l" is 4207 bytes long/ },
  { name: 'hard link to a file outside', entries: [ok, { name: 'h', type: 'link', linkname: '/etc/passwd' }], code: 'UNSAFE_ARCHIVE', message: /absolute path/ },
  { name: 'hard link escaping with ..', entries: [ok, { name: 'h', type: 'link', linkname: '../secret' }], code: 'UNSAFE_ARCHIVE', message: /escapes/ },
  { name: 'character device', entries: [ok, { name: 'null', type: 'character-device', devmajor: 1, devminor: 3 }], code: 'UNSAFE_ARCHIVE', message: /character-device/ },
  { name: 'block device', entries: [ok, { name: 'sda', type: 'block-device', devmajor: 8, devminor: 0 }], code: 'UNSAFE_ARCHIVE', message: /block-device/ },
  { name: 'fifo', entries: [ok, { name: 'pipe', type: 'fifo' }], code: 'UNSAFE_ARCHIVE', message: /fifo/ },
];

describe('safe extraction', () => {
  for (const c of malicious) {
    it(`refuses an archive with a ${c.name}, leaving nothing behind`, async () => {
      const archive = await makeTarball(c.entries);
      const parent = tempDir();
      const out = join(parent, 'out');
      const err = await extractToDirectory(Readable.from([archive]), out).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: c.code });
      expect((err as Error).message).toMatch(c.message);
      expect(existsSync(out)).toBe(false);
      expect(readdirSync(parent)).toEqual([]);
      // The in-memory reader applies the same rules.
      await expect(extractToMemory(Readable.from([archive]))).rejects.toMatchObject({ code: c.code });
    });
  }

  it('follows chains of links that stay inside, on disk and in memory, whatever their order', async () => {
    const entries: RawEntry[] = [
      { name: 'l1', type: 'symlink', linkname: 'l2' },
      ok,
      { name: 'base/app.yaml', body: 'app: 1\n' },
      { name: 'l2', type: 'symlink', linkname: 'a/b/c/app' },
      { name: 'a/b/c/up', type: 'symlink', linkname: '../../..' },
      { name: 'a/b/c/app', type: 'symlink', linkname: 'up/base/../base/app.yaml' },
      { name: 'a/b/c/base', type: 'symlink', linkname: 'up/base' },
    ];
    const out = join(tempDir(), 'out');
    const summary = await extractToDirectory(Readable.from([await makeTarball(entries)]), out);
    expect(summary).toMatchObject({ files: 2, symlinks: 5 });
    expect(readFileSync(join(out, 'l1'), 'utf8')).toBe('app: 1\n');
    expect(realpathSync(join(out, 'l1'))).toBe(join(realpathSync(out), 'base/app.yaml'));
    expect(readdirSync(join(out, 'a/b/c/base'))).toEqual(['app.yaml']);
    const mem = await extractToMemory(Readable.from([await makeTarball(entries)]));
    expect(mem.files.map((f) => [f.path, f.content.toString()])).toEqual([
      ['a/b/c/app', 'app: 1\n'],
      ['base/app.yaml', 'app: 1\n'],
      ['l1', 'app: 1\n'],
      ['l2', 'app: 1\n'],
      ['ok.yaml', 'fine: true\n'],
    ]);
  });

  it('refuses a chain of 5,000 links (more than 40 hops) without deep recursion, and accepts 40', async () => {
    const chain = (n: number): RawEntry[] => [ok, ...Array.from({ length: n }, (_, i): RawEntry => ({ name: `l${i}`, type: 'symlink', linkname: i === n - 1 ? 'ok.yaml' : `l${i + 1}` }))];
    const err = await extractToMemory(Readable.from([await makeTarball(chain(5000))])).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'UNSAFE_ARCHIVE' });
    expect((err as Error).message).toMatch(/loops or goes through more than 40 links/);
    const mem = await extractToMemory(Readable.from([await makeTarball(chain(40))]));
    expect(mem.files.find((f) => f.path === 'l0')?.content.toString()).toBe('fine: true\n');
  });

  it('stops at once when aborted while the archive stalls, before or after its first bytes, leaving nothing', async () => {
    const archive = await makeTarball(Array.from({ length: 200 }, (_, i) => ({ name: `d/f${i}.yaml`, body: `i: ${i}\n`.repeat(50) })));
    for (const sent of [0, 1, Math.floor(archive.length / 2)]) {
      const source = new Readable({ read() {} });
      if (sent > 0) source.push(archive.subarray(0, sent));
      const parent = tempDir();
      const controller = new AbortController();
      const extraction = extractToDirectory(source, join(parent, 'out'), { signal: controller.signal }).catch((e: unknown) => e);
      // The temporary directory exists once extraction waits for data.
      while (readdirSync(parent).length === 0) await new Promise((r) => setImmediate(r));
      controller.abort(new Error('stop'));
      expect(await extraction, `after ${sent} bytes`).toMatchObject({ code: 'ABORTED' });
      expect(readdirSync(parent)).toEqual([]);
    }
  });

  it('refuses a size bomb (content beyond the limit) and accepts it with a raised limit', async () => {
    const big = Buffer.alloc(3 * 1024 * 1024);
    const archive = await makeTarball([ok, { name: 'zeros.bin', body: big }]);
    expect(archive.length).toBeLessThan(64 * 1024); // compresses to almost nothing
    const parent = tempDir();
    const out = join(parent, 'out');
    const err = await extractToDirectory(Readable.from([archive]), out, { maxBytes: 1024 * 1024 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TOO_LARGE' });
    expect((err as Error).message).toMatch(/zeros\.bin.*--max-size/);
    expect(readdirSync(parent)).toEqual([]);
    const summary = await extractToDirectory(Readable.from([archive]), out, { maxBytes: 4 * 1024 * 1024 });
    expect(summary.bytes).toBe(big.length + 'fine: true\n'.length);
  });

  it('refuses a gzip bomb whose tar headers lie about nothing but whose stream never ends', async () => {
    // 200 MiB of zero blocks after a valid entry: tar sees end-of-archive, but the stream keeps going.
    const tar = await makeTarball([ok], { gzip: false });
    const bomb = gzipSync(Buffer.concat([tar, Buffer.alloc(200 * 1024 * 1024)]));
    const out = join(tempDir(), 'out');
    const err = await extractToDirectory(Readable.from([bomb]), out, { maxBytes: 1024 * 1024, maxEntries: 100 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TOO_LARGE' });
    expect(existsSync(out)).toBe(false);
  });

  it('refuses too many entries', async () => {
    const entries: RawEntry[] = Array.from({ length: 20 }, (_, i) => ({ name: `f${i}.yaml`, body: 'x' }));
    await expect(extractToMemory(Readable.from([await makeTarball(entries)]), { maxEntries: 10 })).rejects.toMatchObject({ code: 'TOO_LARGE' });
  });

  it('refuses content that is not a tarball, and a truncated one', async () => {
    await expect(extractToMemory(Readable.from([Buffer.from('just some text, not an archive at all'.repeat(20))]))).rejects.toMatchObject({ code: 'INVALID_ARCHIVE' });
    const archive = await makeTarball([ok, { name: 'b.yaml', body: 'b'.repeat(10000) }]);
    const out = join(tempDir(), 'out');
    await expect(extractToDirectory(Readable.from([archive.subarray(0, archive.length - 40)]), out)).rejects.toMatchObject({ code: 'INVALID_ARCHIVE' });
    expect(existsSync(out)).toBe(false);
  });

  it('keeps the last of several entries with the same name, as tar does', async () => {
    const entries: RawEntry[] = [];
    for (let i = 0; i < 40; i++) entries.push({ name: `f${i % 5}.yaml`, body: `v: ${i}\n` });
    const out = join(tempDir(), 'out');
    await extractToDirectory(Readable.from([await makeTarball(entries)]), out);
    for (let k = 0; k < 5; k++) expect(readFileSync(join(out, `f${k}.yaml`), 'utf8')).toBe(`v: ${35 + k}\n`);
  });

  it('extracts plain tar and tar+gzip, with ./ prefixes, links inside the tree, and normalised modes', async () => {
    const entries: RawEntry[] = [
      { name: './', type: 'directory' },
      { name: './deploy', type: 'directory', mode: 0o700 },
      { name: './deploy/app.yaml', body: 'app: 1\n', mode: 0o4777 },
      { name: './deploy/run.sh', body: '#!/bin/sh\n', mode: 0o755 },
      { name: 'deploy/alias.yaml', type: 'symlink', linkname: 'app.yaml' },
      { name: 'copy.yaml', type: 'link', linkname: 'deploy/app.yaml' },
    ];
    for (const gzip of [true, false]) {
      const out = join(tempDir(), 'out');
      const summary = await extractToDirectory(Readable.from([await makeTarball(entries, { gzip })]), out);
      expect(summary).toMatchObject({ files: 2, directories: 1, symlinks: 2 });
      expect(readFileSync(join(out, 'deploy/app.yaml'), 'utf8')).toBe('app: 1\n');
      expect(readFileSync(join(out, 'copy.yaml'), 'utf8')).toBe('app: 1\n');
      expect(readlinkSync(join(out, 'deploy/alias.yaml'))).toBe('app.yaml');
      const { statSync } = await import('node:fs');
      expect(statSync(join(out, 'deploy/app.yaml')).mode & 0o7777).toBe(0o755);
      expect(statSync(join(out, 'deploy/run.sh')).mode & 0o7777).toBe(0o755);
      const mem = await extractToMemory(Readable.from([await makeTarball(entries, { gzip })]));
      expect(mem.files.map((f) => f.path)).toEqual(['copy.yaml', 'deploy/alias.yaml', 'deploy/app.yaml', 'deploy/run.sh']);
    }
  });
});
