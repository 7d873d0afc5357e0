// Hostile artifacts and hostile registries, pushed to and served by real registries: link chains
// that leave the output directory, reused entry names, empty and dangerous output paths, a
// registry that trickles or stalls (the overall --timeout), and temporaries left by killed pulls.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FluxConfigMediaType, FluxContentMediaType, pullArtifact, readArtifactFiles } from '../../src/artifact/index.js';
import { startFaultProxy } from '../env/fault-proxy.js';
import { makeTarball, type RawEntry } from './archives.js';
import { lading } from './cli-io.js';
import { demoApp, pushLayers, readTree, registryForSuite, repoName, tempDir, writeTree } from './helpers.js';

const ok: RawEntry = { name: 'ok.yaml', body: 'a: 1\n' };

/** Pushes `entries` as a Flux artifact (Flux's config and content media types). */
async function pushFlux(host: string, entries: RawEntry[], prefix = 'hostile'): Promise<string> {
  return pushLayers(host, repoName(prefix), 'v1', [{ data: await makeTarball(entries), mediaType: FluxContentMediaType }], FluxConfigMediaType);
}

/** hop1 -> hop2 -> ... -> hop12 -> a/b/c/d/e/f/g/h/u/../(x9)etc/passwd, where u is the tree's root. */
function twelveLinkChain(): RawEntry[] {
  const deep = 'a/b/c/d/e/f/g/h';
  const chain: RawEntry[] = [ok, { name: `${deep}/u`, type: 'symlink', linkname: '../../../../../../../..' }];
  for (let i = 1; i < 12; i++) chain.push({ name: `hop${i}`, type: 'symlink', linkname: `hop${i + 1}` });
  chain.push({ name: 'hop12', type: 'symlink', linkname: `${deep}/u/${'../'.repeat(9)}etc/passwd` });
  return chain;
}

describe('hostile artifacts and registries', async () => {
  const reg = await registryForSuite();
  const proxy = await startFaultProxy(reg.url);
  afterAll(() => proxy.stop());

  const refused: Array<{ name: string; entries: RawEntry[]; entry: string; message: RegExp }> = [
    {
      name: 'a link that goes up through another link (a/b/c/esc -> up/../../..)',
      entries: [ok, { name: 'a/b/c/up', type: 'symlink', linkname: '../../..' }, { name: 'a/b/c/esc', type: 'symlink', linkname: 'up/../../..' }],
      entry: 'a/b/c/esc',
      message: /points outside the target directory/,
    },
    { name: 'a 12-link chain ending at etc/passwd', entries: twelveLinkChain(), entry: 'hop12', message: /points outside the target directory/ },
    {
      name: 'a file written through a link to a directory',
      entries: [ok, { name: 'd', type: 'symlink', linkname: '.' }, { name: 'd/x.yaml', body: 'x' }],
      entry: 'd/x.yaml',
      message: /would be written through the link "d"/,
    },
    {
      name: 'a file written through a link that leads to the parent of the output directory',
      entries: [ok, { name: 'a/b/c/up', type: 'symlink', linkname: '../../..' }, { name: 'esc', type: 'symlink', linkname: 'a/b/c/up/..' }, { name: 'esc/canary.yaml', body: 'escaped: true\n' }],
      entry: 'esc/canary.yaml',
      message: /would be written through the link "esc"/,
    },
    {
      name: 'a file then a symlink of the same name',
      entries: [ok, { name: 'x.yaml', body: 'x: 1\n' }, { name: 'x.yaml', type: 'symlink', linkname: 'ok.yaml' }],
      entry: 'x.yaml',
      message: /appears twice in the archive: a file, then a symbolic link/,
    },
    { name: 'a fifo', entries: [ok, { name: 'pipe', type: 'fifo' }], entry: 'pipe', message: /is a fifo, which is not allowed/ },
    { name: 'a hard link to a path outside', entries: [ok, { name: 'h', type: 'link', linkname: '../outside' }], entry: '../outside', message: /escapes the target directory/ },
  ];
  for (const c of refused) {
    it(`pull artifact refuses ${c.name}: exit 1 naming the entry, nothing written, no temporary`, async () => {
      const url = await pushFlux(reg.host, c.entries);
      const parent = tempDir();
      const out = join(parent, 'out');
      const r = await lading(['pull', 'artifact', url, '-o', out]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`pulling ${url}`);
      expect(r.stderr).toContain(`"${c.entry}"`);
      expect(r.stderr).toMatch(c.message);
      expect(r.stderr).not.toMatch(/EEXIST|\.lading-/);
      expect(readdirSync(parent)).toEqual([]);
      // The in-memory reader of the apply engine, inspect and diff applies the same rules.
      const err = await readArtifactFiles(url).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'UNSAFE_ARCHIVE' });
      expect((err as Error).message).toContain(`"${c.entry}"`);
    });
  }

  it('pull artifact into an existing output directory with --overwrite keeps the old content when the artifact is refused', async () => {
    const url = await pushFlux(reg.host, twelveLinkChain());
    const parent = tempDir();
    const out = writeTree(join(parent, 'out'), { 'mine.yaml': 'keep: me\n' });
    const r = await lading(['pull', 'artifact', url, '-o', out, '--overwrite']);
    expect(r.code).toBe(1);
    expect(readTree(out)).toEqual({ 'mine.yaml': 'keep: me\n' });
    expect(readdirSync(parent)).toEqual(['out']);
  });

  it('pulls an artifact whose links stay inside, following them in memory too', async () => {
    const url = await pushFlux(reg.host, [
      ok,
      { name: 'base/app.yaml', body: 'app: 1\n' },
      { name: 'overlay/up', type: 'symlink', linkname: '..' },
      { name: 'overlay/app.yaml', type: 'symlink', linkname: 'up/base/app.yaml' },
    ]);
    const out = join(tempDir(), 'out');
    const r = await lading(['pull', 'artifact', url, '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(out, 'overlay/app.yaml'), 'utf8')).toBe('app: 1\n');
    const files = await readArtifactFiles(url);
    expect(files.files.map((f) => f.path)).toEqual(['base/app.yaml', 'ok.yaml', 'overlay/app.yaml']);
  });

  it('refuses empty paths as usage errors (exit 2) and never empties the working directory', async () => {
    const url = `oci://${reg.host}/${repoName()}:v1`;
    expect((await lading(['push', 'artifact', url, '--path', demoApp])).code).toBe(0);
    const cwd = writeTree(tempDir(), { 'precious.yaml': 'p: 1\n' });
    const cases: string[][] = [
      ['pull', 'artifact', url, '-o', ''],
      ['pull', 'artifact', url, '-o', '', '--overwrite'],
      ['pull', 'artifact', url, '--output=', '--overwrite'],
      ['pull', 'artifact', url, '-o', 'x', '--verify', '--key', ''],
      ['push', 'artifact', url, '--path', ''],
      ['push', 'artifact', url, '-k', ''],
      ['diff', 'artifact', url, '--path', ''],
      ['build', 'artifact', '--path', demoApp, '-o', ''],
    ];
    for (const args of cases) {
      const r = await lading(args, { cwd });
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(/must not be empty|needs a (path|directory), not an empty string|is required/);
    }
    expect(readTree(cwd)).toEqual({ 'precious.yaml': 'p: 1\n' });
    await expect(pullArtifact({ url, output: '' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    // The message names the reference, never a password in it.
    const withPassword = await pullArtifact({ url: `oci://someone:s3cr3t-pw@${reg.host}/app:v1`, output: '' }).catch((e: unknown) => e);
    expect(withPassword).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect((withPassword as Error).message).not.toContain('s3cr3t-pw');
  });

  it('refuses to replace the current directory, one above it, the home directory or the root with --overwrite', async () => {
    const url = `oci://${reg.host}/${repoName()}:v1`;
    expect((await lading(['push', 'artifact', url, '--path', demoApp])).code).toBe(0);
    const parent = tempDir();
    const cwd = writeTree(join(parent, 'work'), { 'precious.yaml': 'p: 1\n' });
    for (const output of ['.', '..', './sub/..']) {
      const r = await lading(['pull', 'artifact', url, '-o', output, '--overwrite'], { cwd });
      expect(r.code, `${output}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(/--overwrite would replace .*, which holds the current directory/);
    }
    expect(readTree(cwd)).toEqual({ 'precious.yaml': 'p: 1\n' });
    expect(readdirSync(parent)).toEqual(['work']);
    for (const output of [homedir(), '/', process.cwd()]) {
      const err = await pullArtifact({ url, output, overwrite: true }).catch((e: unknown) => e);
      expect(err, output).toMatchObject({ code: 'OUTPUT' });
      expect((err as Error).message).toMatch(/refusing to replace the content of/);
    }
  });

  it('stops a pull from a registry that trickles one byte every 2 s at --timeout, naming the reference, leaving nothing', async () => {
    const repo = repoName('trickle');
    await pushLayers(reg.host, repo, 'v1', [{ data: await makeTarball([ok]), mediaType: FluxContentMediaType }], FluxConfigMediaType);
    proxy.reset();
    proxy.inject({ method: 'GET', path: /\/blobs\/sha256:/, fault: { kind: 'trickle', intervalMs: 2000, bytes: 1 }, times: 100 });
    const parent = tempDir();
    const url = `oci://${proxy.host}/${repo}:v1`;
    const r = await lading(['pull', 'artifact', url, '-o', join(parent, 'out'), '--timeout', '3s']);
    proxy.reset();
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`pulling ${url}: timed out after 3s`);
    expect(readdirSync(parent)).toEqual([]);
  });

  it('stops a push to a registry that never answers the upload at --timeout', async () => {
    proxy.reset();
    proxy.inject({ path: /\/blobs\/uploads\//, fault: { kind: 'stall' }, times: 100 });
    const url = `oci://${proxy.host}/${repoName('stall')}:v1`;
    const r = await lading(['push', 'artifact', url, '--path', demoApp, '--timeout', '2s']);
    proxy.reset();
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`pushing ${url}: timed out after 2s`);
  });

  it('sweeps temporaries that killed pulls left beside the output, keeping those of live processes', async () => {
    const url = `oci://${reg.host}/${repoName()}:v1`;
    expect((await lading(['push', 'artifact', url, '--path', demoApp])).code).toBe(0);
    // A process id that is gone: a process that has exited.
    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    expect(dead).toBeGreaterThan(0);
    const parent = tempDir();
    const stale = [`.out.lading-tmp-${dead}-AbC123`, `.out.lading-old-${dead}-xYz789`];
    for (const s of stale) writeTree(join(parent, s), { 'half/written.yaml': 'x' });
    const live = `.out.lading-tmp-${reg.pid}-LiVe00`;
    mkdirSync(join(parent, live));
    const other = '.other.lading-tmp-1-AbC123';
    mkdirSync(join(parent, other));
    writeFileSync(join(parent, '.out.lading-notours'), '');
    const r = await lading(['pull', 'artifact', url, '-o', join(parent, 'out')]);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(parent).sort()).toEqual([other, '.out.lading-notours', live, 'out'].sort());
    for (const s of stale) expect(existsSync(join(parent, s))).toBe(false);
  });
});
