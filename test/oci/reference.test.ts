import { describe, expect, it } from 'vitest';
import { OciError, parseReference, redactCredentials } from '../../src/oci/index.js';

describe('parseReference', () => {
  const good: Array<[string, { registry: string; repository: string; tag?: string; digest?: string; str: string }]> = [
    ['nginx', { registry: 'index.docker.io', repository: 'library/nginx', str: 'index.docker.io/library/nginx:latest' }],
    ['nginx:1.27', { registry: 'index.docker.io', repository: 'library/nginx', tag: '1.27', str: 'index.docker.io/library/nginx:1.27' }],
    ['docker.io/nginx', { registry: 'index.docker.io', repository: 'library/nginx', str: 'index.docker.io/library/nginx:latest' }],
    ['stefanprodan/podinfo:6.0.0', { registry: 'index.docker.io', repository: 'stefanprodan/podinfo', tag: '6.0.0', str: 'index.docker.io/stefanprodan/podinfo:6.0.0' }],
    ['ghcr.io/org/team/app:v1', { registry: 'ghcr.io', repository: 'org/team/app', tag: 'v1', str: 'ghcr.io/org/team/app:v1' }],
    ['localhost/app', { registry: 'localhost', repository: 'app', str: 'localhost/app:latest' }],
    ['localhost:5000/app:dev', { registry: 'localhost:5000', repository: 'app', tag: 'dev', str: 'localhost:5000/app:dev' }],
    ['oci://127.0.0.1:5000/a/b:1.0.0', { registry: '127.0.0.1:5000', repository: 'a/b', tag: '1.0.0', str: '127.0.0.1:5000/a/b:1.0.0' }],
    ['[::1]:5000/app', { registry: '[::1]:5000', repository: 'app', str: '[::1]:5000/app:latest' }],
    [`ghcr.io/a/b@sha256:${'a'.repeat(64)}`, { registry: 'ghcr.io', repository: 'a/b', digest: `sha256:${'a'.repeat(64)}`, str: `ghcr.io/a/b@sha256:${'a'.repeat(64)}` }],
    [`ghcr.io/a/b:v1@sha256:${'b'.repeat(64)}`, { registry: 'ghcr.io', repository: 'a/b', tag: 'v1', digest: `sha256:${'b'.repeat(64)}`, str: `ghcr.io/a/b:v1@sha256:${'b'.repeat(64)}` }],
    ['my-registry.example.com:443/x_y/z__w.v-1', { registry: 'my-registry.example.com:443', repository: 'x_y/z__w.v-1', str: 'my-registry.example.com:443/x_y/z__w.v-1:latest' }],
  ];
  it.each(good)('parses %s', (input, want) => {
    const ref = parseReference(input);
    expect(ref.registry).toBe(want.registry);
    expect(ref.repository).toBe(want.repository);
    expect(ref.tag).toBe(want.tag);
    expect(ref.digest).toBe(want.digest);
    expect(ref.name).toBe(`${want.registry}/${want.repository}`);
    expect(ref.reference).toBe(want.digest ?? want.tag ?? 'latest');
    expect(ref.toString()).toBe(want.str);
    expect(String(ref)).toBe(want.str);
  });

  const bad: Array<[string, RegExp]> = [
    ['', /empty reference/],
    ['Nginx', /must be lowercase/],
    ['ghcr.io/Org/app', /must be lowercase \("Org"\)/],
    ['ghcr.io/app:', /tag "" is invalid/],
    ['ghcr.io/app:-bad', /tag "-bad" is invalid/],
    [`ghcr.io/app:${'x'.repeat(129)}`, /tag .* is invalid/],
    ['ghcr.io/app@sha256:abc', /64 lower-case hex/],
    ['ghcr.io/app@md5:abcd', /unsupported digest algorithm "md5"/],
    ['ghcr.io/app@nothex', /not a digest/],
    ['ghcr.io/', /missing repository name/],
    ['ghcr.io//app', /empty path component/],
    ['ghcr.io/a--/b', /path component "a--" is invalid/],
    ['host:99999/app', /port "99999"/],
    ['https://ghcr.io/app', /only the oci:\/\/ scheme/],
    ['ghcr.io/a b', /whitespace/],
    ['ex_ample.com:5000/app', /not a valid host name/],
    [`ghcr.io/${'a'.repeat(250)}`, /longer than 255/],
  ];
  it.each(bad)('rejects %j', (input, message) => {
    let err: unknown;
    try {
      parseReference(input);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(Error);
    expect((err as { code: string }).code).toBe('INVALID_REFERENCE');
    expect((err as Error).message).toContain(`invalid reference "${input}"`);
    expect((err as Error).message).toMatch(message);
  });
});

describe('references that are not what they look like', () => {
  it('a registry host with a port and no repository is refused, not taken as a Docker Hub image', () => {
    for (const input of ['oci://127.0.0.1:35123', '127.0.0.1:35123', 'localhost:5000', 'registry.example.com:5000', '[::1]:5000']) {
      expect(() => parseReference(input), input).toThrow(/names a registry but no repository/);
    }
    // Docker Hub names with numeric tags stay what they are.
    expect(parseReference('nginx:123').toString()).toBe('index.docker.io/library/nginx:123');
    expect(parseReference('foo.bar:v1').toString()).toBe('index.docker.io/library/foo.bar:v1');
  });

  it('credentials in a reference are refused, and the message does not hold them', () => {
    for (const input of ['oci://user:s3cret-pw@127.0.0.1:5000/app:v1', 'user:s3cret-pw@ghcr.io/org/app', 'ghp_s3cret-pw@ghcr.io/org/app']) {
      let message = '';
      try {
        parseReference(input);
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message, input).toMatch(/credentials in a reference are not supported/);
      expect(message, input).not.toContain('s3cret-pw');
    }
    expect(parseReference(`ghcr.io/org/app@sha256:${'a'.repeat(64)}`).digest).toBe(`sha256:${'a'.repeat(64)}`);
  });

  it('OciError messages have passwords in URLs redacted', () => {
    expect(redactCredentials('pulling oci://bob:hunter2@host:5000/app:v1 via https://tok-123@proxy/ failed')).toBe('pulling oci://bob:***@host:5000/app:v1 via https://***@proxy/ failed');
    expect(new OciError('NETWORK', 'reading bob:hunter2@host.example/app: reset').message).toBe('reading bob:***@host.example/app: reset');
    expect(redactCredentials(`host:5000/app:v1@sha256:${'a'.repeat(64)}`)).toBe(`host:5000/app:v1@sha256:${'a'.repeat(64)}`);
  });
});
