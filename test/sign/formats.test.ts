import { describe, expect, it } from 'vitest';
import { isSignError, predicateTypeURI } from '../../src/sign/index.js';
import { attestationStatement, goJSON, pae, simpleSigningPayload } from '../../src/sign/formats.js';

describe('predicate types', () => {
  // cosign's PredicateTypeMap (cmd/cosign/cli/options/predicate.go) and the in-toto constants.
  const table: Array<[string, string]> = [
    ['custom', 'https://cosign.sigstore.dev/attestation/v1'],
    ['slsaprovenance', 'https://slsa.dev/provenance/v0.2'],
    ['slsaprovenance02', 'https://slsa.dev/provenance/v0.2'],
    ['slsaprovenance1', 'https://slsa.dev/provenance/v1'],
    ['spdx', 'https://spdx.dev/Document'],
    ['spdxjson', 'https://spdx.dev/Document'],
    ['cyclonedx', 'https://cyclonedx.org/bom'],
    ['link', 'https://in-toto.io/Link/v1'],
    ['vuln', 'https://cosign.sigstore.dev/attestation/vuln/v1'],
    ['openvex', 'https://openvex.dev/ns'],
    ['https://example.com/predicate/v1', 'https://example.com/predicate/v1'],
    ['urn:example:thing', 'urn:example:thing'],
  ];
  it.each(table)('%s → %s', (alias, uri) => {
    expect(predicateTypeURI(alias)).toBe(uri);
  });

  it('refuses what is neither an alias nor a URI', () => {
    for (const bad of ['', 'sbom', 'not a type', 'cyclone dx']) {
      let err: unknown;
      try {
        predicateTypeURI(bad);
      } catch (e) {
        err = e;
      }
      expect(isSignError(err, 'INVALID_PREDICATE'), bad).toBe(true);
    }
  });
});

describe('payloads', () => {
  it("simple-signing payload bytes match cosign's (field order, null optional, Go escaping, sorted keys)", () => {
    const digest = 'sha256:148c7452232a334e4843048ec41180c0c23644c30e87672bd961f31ee7ac2fca';
    // The tutorial's `cosign verify` output is this payload.
    expect(simpleSigningPayload('ghcr.io/stefanprodan/kustomizer-demo-app', digest).toString()).toBe(
      '{"critical":{"identity":{"docker-reference":"ghcr.io/stefanprodan/kustomizer-demo-app"},"image":{"docker-manifest-digest":"sha256:148c7452232a334e4843048ec41180c0c23644c30e87672bd961f31ee7ac2fca"},"type":"cosign container image signature"},"optional":null}',
    );
    expect(simpleSigningPayload('r/x', digest, { z: '1', a: '<&>' }).toString()).toContain('"optional":{"a":"\\u003c\\u0026\\u003e","z":"1"}');
    expect(goJSON({ s: '\u2028' })).toBe('{"s":"\\u2028"}');
  });

  it('DSSE pre-authentication encoding counts bytes', () => {
    expect(pae('application/vnd.in-toto+json', Buffer.from('héllo')).toString()).toBe('DSSEv1 28 application/vnd.in-toto+json 6 héllo');
  });

  it('statements as cosign generates them per type', () => {
    const base = { repository: 'r.example/app', digest: 'sha256:abcd', predicateSource: 'p', now: new Date('2026-11-25T10:00:00.123Z') };
    const custom = attestationStatement({ ...base, type: 'custom', predicate: Buffer.from('free text') });
    expect(custom).toEqual({
      _type: 'https://in-toto.io/Statement/v0.1',
      subject: [{ name: 'r.example/app', digest: { sha256: 'abcd' } }],
      predicateType: 'https://cosign.sigstore.dev/attestation/v1',
      predicate: { Data: 'free text', Timestamp: '2026-11-25T10:00:00Z' },
    });
    expect(attestationStatement({ ...base, type: 'spdx', predicate: Buffer.from('{"spdxVersion":"SPDX-2.3"}') }).predicate).toBe('{"spdxVersion":"SPDX-2.3"}');
    expect(attestationStatement({ ...base, type: 'spdxjson', predicate: Buffer.from('{"spdxVersion":"SPDX-2.3"}') }).predicate).toEqual({ spdxVersion: 'SPDX-2.3' });
    expect(() => attestationStatement({ ...base, type: 'cyclonedx', predicate: Buffer.from('[1]') })).toThrow(/must be a JSON object/);
  });
});
