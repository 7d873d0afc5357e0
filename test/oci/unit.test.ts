// Small pure pieces of the registry client, table-driven.
import { describe, expect, it } from 'vitest';
import { isLoopbackRegistry, referrersTag } from '../../src/oci/index.js';
import { parseChallenge } from '../../src/oci/remote/auth.js';

describe('WWW-Authenticate', () => {
  it.each([
    ['Basic realm="Registry Realm"', { scheme: 'basic', params: { realm: 'Registry Realm' } }],
    [
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"',
      { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/nginx:pull' } },
    ],
    ['Bearer realm="https://x/token", scope="repository:a:pull,push", error="insufficient_scope"', { scheme: 'bearer', params: { realm: 'https://x/token', scope: 'repository:a:pull,push', error: 'insufficient_scope' } }],
    ['bearer realm=https://unquoted/token,service=svc', { scheme: 'bearer', params: { realm: 'https://unquoted/token', service: 'svc' } }],
    ['Bearer realm="a \\"quoted\\" realm"', { scheme: 'bearer', params: { realm: 'a "quoted" realm' } }],
  ])('%s', (header, want) => {
    expect(parseChallenge(header)).toEqual(want);
  });
  it('no header, no challenge', () => expect(parseChallenge(undefined)).toBeUndefined());
});

describe('loopback registries (plain http allowed without --insecure)', () => {
  it.each([
    ['localhost', true],
    ['localhost:5000', true],
    ['127.0.0.1:5000', true],
    ['127.1.2.3', true],
    ['[::1]:5000', true],
    ['registry.localhost:80', true],
    ['ghcr.io', false],
    ['localhost.example.com', false],
    ['10.0.0.1:5000', false],
    ['128.0.0.1', false],
  ])('%s → %s', (host, want) => expect(isLoopbackRegistry(host)).toBe(want));
});

describe('referrers tag schema', () => {
  it('turns a digest into its fallback tag', () => {
    expect(referrersTag(`sha256:${'ab'.repeat(32)}`)).toBe(`sha256-${'ab'.repeat(32)}`);
  });
});
