import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readArtifactFiles } from '../../src/artifact/index.js';
import { lading } from './cli-io.js';
import { demoApp, readTree, registryForSuite, repoName, tempDir, writeTree } from './helpers.js';
import { demoAppObjects } from '../fixtures.js';

/** The demo app built by the real `kubectl kustomize`, as the tutorial pushes it. */
function kustomizeDemoApp(): string {
  try {
    return execFileSync('kubectl', ['kustomize', demoApp], { encoding: 'utf8' });
  } catch (err) {
    throw new Error(`kubectl is needed to build the demo app (install kubectl 1.32, e.g. from https://dl.k8s.io): ${(err as Error).message}`);
  }
}

describe('lading * artifact (CLI)', async () => {
  const reg = await registryForSuite();

  it.each([
    ['push', 'artifact'],
    ['pull', 'artifact'],
    ['tag', 'artifact'],
    ['list', 'artifacts'],
    ['inspect', 'artifact'],
    ['diff', 'artifact'],
    ['build', 'artifact'],
  ])('%s %s --help shows examples and exits 0', async (v, noun) => {
    const r = await lading([v, noun, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Examples:');
    expect(r.stdout).toContain(`lading ${v} ${noun}`);
  });

  it('exits 2 on usage errors, with a message', async () => {
    const url = `oci://${reg.host}/${repoName()}:v1`;
    const cases: Array<[string[], RegExp]> = [
      [['push', 'artifact', url], /--path .* is required/],
      [['push', 'artifact', url, '--path', demoApp, '-a', 'novalue'], /invalid annotation "novalue"/],
      [['push', 'artifact', url, '--path', demoApp, '-o', 'table'], /invalid output format/],
      [['push', 'artifact', url, '--path', demoApp, '--patch', 'x.yaml'], /--patch goes with --kustomize/],
      [['tag', 'artifact', url], /at least one tag/],
      [['pull', 'artifact', url], /required option/],
      [['pull', 'artifact', url, '-o', 'x', '--max-size', 'lots'], /invalid --max-size/],
      [['list', 'artifacts', `oci://${reg.host}/x`, '-o', 'xml'], /invalid output format/],
      [['push', 'artefact', url], /.+/],
    ];
    for (const [args, message] of cases) {
      const r = await lading(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(message);
    }
  });

  it('pushes with -o json/yaml printing {url, repository, tag, digest}, progress on stderr otherwise', async () => {
    const repo = repoName();
    const json = await lading(['push', 'artifact', `oci://${reg.host}/${repo}:1.0.0`, '--path', demoApp, '--source', 'git@example', '--revision', 'v1', '--reproducible', '-o', 'json']);
    expect(json.code).toBe(0);
    const data = JSON.parse(json.stdout) as Record<string, string>;
    expect(Object.keys(data)).toEqual(['url', 'repository', 'tag', 'digest']);
    expect(data).toMatchObject({ repository: `${reg.host}/${repo}`, tag: '1.0.0', url: `oci://${reg.host}/${repo}@${data['digest']}` });
    expect(json.stderr).toBe('');

    const yaml = await lading(['push', 'artifact', `oci://${reg.host}/${repo}:1.0.1`, '--path', demoApp, '--reproducible', '-o', 'yaml']);
    expect(yaml.stdout).toMatch(new RegExp(`^url: oci://.*\\nrepository: ${reg.host}/${repo}\\ntag: 1.0.1\\ndigest: sha256:[0-9a-f]{64}\\n$`));

    const plain = await lading(['push', 'artifact', `oci://${reg.host}/${repo}:1.0.2`, '--path', demoApp]);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toBe('');
    expect(plain.stderr).toMatch(new RegExp(`✔ artifact successfully pushed to ${reg.host}/${repo}@sha256:[0-9a-f]{64}`));
  });

  it('inspects the tutorial demo app like the seed tutorial, and lists its container images', async () => {
    const url = `oci://${reg.host}/${repoName('demo-app')}:1.0.0`;
    const pushed = await lading(['push', 'artifact', url, '--path', '-', '--source', 'https://github.com/example/demo-app', '--revision', '1.0.0@sha1:0123abc', '-o', 'json'], { stdin: kustomizeDemoApp() });
    expect(pushed.code).toBe(0);
    const digest = (JSON.parse(pushed.stdout) as { digest: string }).digest;

    const r = await lading(['inspect', 'artifact', url]);
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe(`Artifact: oci://${url.slice(6, url.lastIndexOf(':'))}@${digest}`);
    expect(lines[1]).toMatch(/^CreatedAt: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(lines.slice(2).join('\n')).toBe(
      [
        'Source: https://github.com/example/demo-app',
        'Revision: 1.0.0@sha1:0123abc',
        'Resources:',
        '- Namespace/demo-app',
        '- ConfigMap/demo-app/redis-config-bd2fcfgt6k',
        '- Service/demo-app/backend',
        '- Service/demo-app/cache',
        '- Service/demo-app/frontend',
        '- Deployment/demo-app/backend',
        '  - ghcr.io/stefanprodan/podinfo:6.0.0',
        '- Deployment/demo-app/cache',
        '  - public.ecr.aws/docker/library/redis:6.2.0',
        '- Deployment/demo-app/frontend',
        '  - ghcr.io/stefanprodan/podinfo:6.0.0',
        '- HorizontalPodAutoscaler/demo-app/backend',
        '- HorizontalPodAutoscaler/demo-app/frontend',
        '',
      ].join('\n'),
    );

    const images = await lading(['inspect', 'artifact', url, '--container-images']);
    expect(images.stdout).toBe('ghcr.io/stefanprodan/podinfo:6.0.0\npublic.ecr.aws/docker/library/redis:6.2.0\n');

    const json = await lading(['inspect', 'artifact', url, '-o', 'json']);
    const data = JSON.parse(json.stdout) as { digest: string; resources: Array<{ kind: string; images: string[] }>; files: string[] };
    expect(data.digest).toBe(digest);
    expect(data.files).toEqual(['manifests.yaml']);
    expect(data.resources).toHaveLength(10);
    const yaml = await lading(['inspect', 'artifact', url, '-o', 'yaml']);
    expect(yaml.stdout).toContain(`digest: ${digest}`);
  });

  it('pushes a kustomize build (-k) like kustomizer, byte-identical to kubectl kustomize, with --patch on top', async () => {
    const url = `oci://${reg.host}/${repoName('kustomize')}:1.0.0`;
    const r = await lading(['push', 'artifact', url, '-k', demoApp, '--reproducible']);
    expect(r.code).toBe(0);
    expect(r.stderr.split('\n').slice(0, 12)).toEqual([
      'building manifests...',
      ...demoAppObjects,
      expect.stringMatching(/^► /),
    ]);
    const files = await readArtifactFiles(url);
    expect(files.files.map((f) => f.path)).toEqual(['manifests.yaml']);
    expect(files.files[0]!.content.toString()).toBe(kustomizeDemoApp());

    const patch = join(demoApp, '..', 'patches', 'safe-to-evict.yaml');
    const patched = await lading(['push', 'artifact', `${url}-patched`, '-k', demoApp, '--patch', patch]);
    expect(patched.code).toBe(0);
    const content = (await readArtifactFiles(`${url}-patched`)).files[0]!.content.toString();
    expect(content.match(/cluster-autoscaler.kubernetes.io\/safe-to-evict: "true"/g)).toHaveLength(3);
  });

  it('inspects a directory artifact (the raw demo app), skipping kustomize config files', async () => {
    const url = `oci://${reg.host}/${repoName()}:raw`;
    expect((await lading(['push', 'artifact', url, '--path', demoApp])).code).toBe(0);
    const r = await lading(['inspect', 'artifact', url]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('- Namespace/demo-app\n');
    expect(r.stdout).toContain('- Deployment/backend\n  - ghcr.io/stefanprodan/podinfo:6.0.0\n');
    expect(r.stdout).toContain('- Deployment/cache\n  - redis:6.0.1\n');
    expect(r.stdout).not.toContain('Kustomization');
    expect(r.stdout).not.toContain('LabelTransformer');
  });

  it('tags with --tag and positional tags, then lists with the Flux columns', async () => {
    const repo = repoName();
    const base = `oci://${reg.host}/${repo}`;
    await lading(['push', 'artifact', `${base}:1.0.0`, '--path', demoApp, '--source', 'https://git.example/app', '--revision', '1.0.0@sha1:aaa']);
    const tagged = await lading(['tag', 'artifact', `${base}:1.0.0`, 'latest', '--tag', 'stable', '-t', 'sha256-123.sig']);
    expect(tagged.code).toBe(0);
    expect(tagged.stderr).toContain(`✔ artifact tagged as ${base}:latest`);
    expect(tagged.stderr).toContain(`✔ artifact tagged as ${base}:stable`);

    const list = await lading(['list', 'artifacts', base]);
    expect(list.code).toBe(0);
    const rows = list.stdout.trimEnd().split('\n').map((l) => l.split(/\s+/));
    expect(rows[0]).toEqual(['ARTIFACT', 'DIGEST', 'SOURCE', 'REVISION']);
    expect(rows.slice(1).map((r) => r[0])).toEqual([`${base}:stable`, `${base}:latest`, `${base}:1.0.0`]);
    expect(rows[1]?.[2]).toBe('https://git.example/app');
    expect(rows[1]?.[3]).toBe('1.0.0@sha1:aaa');

    const semver = await lading(['list', 'artifacts', base, '--filter-semver', '>=1.0.0', '-o', 'json']);
    expect((JSON.parse(semver.stdout) as Array<{ tag: string }>).map((i) => i.tag)).toEqual(['1.0.0']);
    const regex = await lading(['list', 'artifacts', base, '--filter-regex', '^lat', '-o', 'yaml']);
    expect(regex.stdout).toContain(`url: ${base}:latest`);
    expect(regex.stdout).not.toContain('stable');
  });

  it('pulls into a directory, exits 1 with a clear message for a missing artifact and writes nothing', async () => {
    const repo = repoName();
    const url = `oci://${reg.host}/${repo}:v1`;
    await lading(['push', 'artifact', url, '--path', demoApp]);
    const cwd = tempDir();
    const r = await lading(['pull', 'artifact', url, '-o', 'out'], { cwd });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('✔ artifact content extracted to out');
    expect(readTree(join(cwd, 'out'))).toEqual(readTree(demoApp));

    const again = await lading(['pull', 'artifact', url, '-o', 'out'], { cwd });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/is not empty \(use --overwrite/);
    expect((await lading(['pull', 'artifact', url, '-o', 'out', '--overwrite'], { cwd })).code).toBe(0);

    const missing = await lading(['pull', 'artifact', `oci://${reg.host}/${repo}:nope`, '-o', 'missing'], { cwd });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/✗ .*nope/);
    expect(existsSync(join(cwd, 'missing'))).toBe(false);
  });

  it('diffs file by file: exit 0 when identical, 1 with unified diffs when not', async () => {
    const dir = writeTree(tempDir(), { 'app.yaml': 'replicas: 1\nimage: app:1\n', 'keep.yaml': 'k: 1\n', 'gone.yaml': 'g: 1\n' });
    const url = `oci://${reg.host}/${repoName()}:v1`;
    await lading(['push', 'artifact', url, '--path', dir]);
    const same = await lading(['diff', 'artifact', url, '--path', dir]);
    expect(same.code).toBe(0);
    expect(same.stdout).toBe('');
    expect(same.stderr).toContain('no changes');

    writeTree(dir, { 'app.yaml': 'replicas: 2\nimage: app:1\n', 'new.yaml': 'n: 1\n' });
    execFileSync('rm', [join(dir, 'gone.yaml')]);
    const changed = await lading(['diff', 'artifact', url, '--path', dir]);
    expect(changed.code).toBe(1);
    expect(changed.stdout).toBe(
      [
        '--- a/app.yaml',
        '+++ b/app.yaml',
        '@@ -1,2 +1,2 @@',
        '-replicas: 1',
        '+replicas: 2',
        ' image: app:1',
        '--- a/gone.yaml',
        '+++ /dev/null',
        '@@ -1,1 +0,0 @@',
        '-g: 1',
        '--- /dev/null',
        '+++ b/new.yaml',
        '@@ -0,0 +1,1 @@',
        '+n: 1',
        '',
      ].join('\n'),
    );
    expect(changed.stderr).toContain('3 file(s) differ');
    const json = await lading(['diff', 'artifact', url, '--path', dir, '-o', 'json']);
    expect(json.code).toBe(1);
    expect((JSON.parse(json.stdout) as { changes: Array<{ path: string; status: string }> }).changes.map((c) => [c.path, c.status])).toEqual([
      ['app.yaml', 'modified'],
      ['gone.yaml', 'removed'],
      ['new.yaml', 'added'],
    ]);
    // Ignored files are not compared.
    expect((await lading(['diff', 'artifact', url, '--path', dir, '--add-ignore-paths', 'new.yaml,app.yaml'])).stdout).not.toContain('new.yaml');
  });

  it('builds the tarball locally, the same bytes for the same content', async () => {
    const cwd = tempDir();
    const one = await lading(['build', 'artifact', '--path', demoApp, '-o', 'one.tgz'], { cwd });
    expect(one.code).toBe(0);
    expect(one.stderr).toMatch(/✔ artifact created at one\.tgz/);
    await lading(['build', 'artifact', '--path', demoApp, '-o', 'two.tgz'], { cwd });
    expect(readFileSync(join(cwd, 'one.tgz')).equals(readFileSync(join(cwd, 'two.tgz')))).toBe(true);
    const listing = execFileSync('tar', ['-tzf', join(cwd, 'one.tgz')], { encoding: 'utf8' });
    expect(listing).toContain('bases/backend/deployment.yaml\n');
    const missing = await lading(['build', 'artifact', '--path', 'nope', '-o', 'x.tgz'], { cwd });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/nope: no such file or directory/);
    expect(existsSync(join(cwd, 'x.tgz'))).toBe(false);
  });
});
