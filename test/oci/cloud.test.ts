// Registry credentials from cloud providers (src/oci/cloud), against local fakes of the cloud
// endpoints — no cloud is reachable here. Each fake implements the documented request and answer
// of its API and checks what lading sends: STS AssumeRoleWithWebIdentity (AWS STS API reference),
// ECR GetAuthorizationToken (ECR API reference, JSON 1.1) with the SigV4 signature recomputed
// here independently with the known secret, the EKS Pod Identity / container credentials
// endpoint, EC2 IMDSv2, the Microsoft Entra ID v2.0 token endpoint (client credentials with a
// client secret or a federated client assertion), Azure IMDS, ACR's POST /oauth2/exchange, and the
// GCE metadata server's token endpoint. The https fakes serve a certificate of a CA made for the
// run, which lading is told to trust (TLS stays verified). End to end, a real registry
// (distribution, htpasswd) is given the user and password the fake cloud issues, and lading's
// registry client pulls from it with the cloud credentials.
import { createHash, createHmac, generateKeyPairSync, randomBytes, verify } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { StaticCredentials, openRepository } from '../../src/oci/index.js';
import {
  ACR_TOKEN_USER,
  CloudAuthError,
  CloudCredentialCache,
  GCP_TOKEN_USER,
  cloudCredentialStore,
  cloudRegistryCredentials,
  type CloudCredentialsOptions,
  type CloudProvider,
} from '../../src/oci/cloud/index.js';
import { startRegistry, type RunningRegistry } from '../env/registry.js';
import { createTestPki, type TestPki } from '../env/tls.js';
import { expectOciError, pushRandomImage, tempDir } from './helpers.js';

const tmp = tempDir('lading-cloud-');
afterAll(() => tmp.remove());

// ---------------------------------------------------------------------------------------------
// Fake servers

interface Recorded {
  method: string;
  url: URL;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
}

type Handler = (req: Recorded, res: http.ServerResponse) => void;

interface Fake {
  url: string;
  host: string;
  requests: Recorded[];
  handle: Handler;
  close(): Promise<void>;
}

async function startFake(pki?: TestPki): Promise<Fake> {
  const fake: Fake = {
    url: '',
    host: '',
    requests: [],
    handle: (_req, res) => {
      res.statusCode = 500;
      res.end('no handler');
    },
    close: async () => undefined,
  };
  const listener = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const recorded: Recorded = { method: req.method ?? '', url: new URL(req.url ?? '/', 'http://fake'), headers: req.headers, rawHeaders: req.rawHeaders, body: Buffer.concat(chunks).toString('utf8') };
      fake.requests.push(recorded);
      fake.handle(recorded, res);
    });
  };
  const server = pki ? https.createServer({ cert: readFileSync(pki.serverCertFile), key: readFileSync(pki.serverKeyFile) }, listener) : http.createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  fake.host = `127.0.0.1:${port}`;
  fake.url = `${pki ? 'https' : 'http'}://127.0.0.1:${port}`;
  fake.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return fake;
}

function json(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

function form(body: string): Record<string, string> {
  return Object.fromEntries(new URLSearchParams(body));
}

/** A JWT-shaped token (unsigned: only its exp is read) with the given expiry; short enough for bcrypt's 72 bytes. */
function fakeJwt(exp: number, nonce = randomBytes(3).toString('hex')): string {
  return `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ exp, n: nonce })).toString('base64url')}.x`;
}

// ---------------------------------------------------------------------------------------------
// SigV4 check on the fake ECR: written here from the AWS documentation, apart from
// src/oci/cloud/sigv4.ts, for requests to "/" without a query (what ECR gets).

const AWS_KEYS: Record<string, string> = {};

function verifySigV4(req: Recorded, service: string, region: string): string | undefined {
  const auth = req.headers['authorization'] ?? '';
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) return `malformed Authorization header`;
  const [, keyId, day, reqRegion, reqService, signedHeaders, signature] = m as unknown as string[];
  const secret = AWS_KEYS[keyId as string];
  if (secret === undefined) return `unknown access key ${keyId}`;
  if (reqRegion !== region || reqService !== service) return `scope ${reqRegion}/${reqService}, expected ${region}/${service}`;
  const date = String(req.headers['x-amz-date'] ?? '');
  if (!date.startsWith(day as string)) return 'X-Amz-Date does not match the credential scope';
  const names = (signedHeaders as string).split(';');
  for (const required of ['host', 'x-amz-date', 'x-amz-target', 'content-type']) if (!names.includes(required)) return `${required} is not signed`;
  if (req.headers['x-amz-security-token'] !== undefined && !names.includes('x-amz-security-token')) return 'the session token is not signed';
  const canonicalHeaders = names.map((n) => `${n}:${String(req.headers[n] ?? '').trim()}\n`).join('');
  const canonical = ['POST', '/', '', canonicalHeaders, signedHeaders, createHash('sha256').update(req.body).digest('hex')].join('\n');
  const stringToSign = ['AWS4-HMAC-SHA256', date, `${day}/${region}/${service}/aws4_request`, createHash('sha256').update(canonical).digest('hex')].join('\n');
  let key: Buffer = createHmac('sha256', `AWS4${secret}`).update(day as string).digest();
  for (const part of [region, service, 'aws4_request']) key = createHmac('sha256', key).update(part).digest();
  const expected = createHmac('sha256', key).update(stringToSign).digest('hex');
  return expected === signature ? undefined : 'signature mismatch';
}

// ---------------------------------------------------------------------------------------------

const ECR_HOST = '123456789012.dkr.ecr.us-east-1.amazonaws.com';
const ACR_HOST = 'ladingtest.azurecr.io';
const GCP_HOST = 'europe-west1-docker.pkg.dev';

let pki: TestPki;
let caPem: Buffer;
let sts: Fake;
let ecr: Fake;
let aad: Fake;
let acr: Fake;
let imds: Fake;
let gce: Fake;
let container: Fake;
let ec2: Fake;

/** What the fake ECR issues: `AWS:<password>` valid for `ecrTtl` seconds from the fake's clock. */
let ecrPassword = '';
let ecrTtl = 12 * 3600;
let clock = new Date('2026-12-07T12:00:00Z');
const now = () => new Date(clock.getTime());

beforeAll(async () => {
  pki = createTestPki(join(tmp.path, 'pki'));
  caPem = readFileSync(pki.caFile);
  [sts, ecr, aad, acr] = await Promise.all([startFake(pki), startFake(pki), startFake(pki), startFake(pki)]);
  [imds, gce, container, ec2] = await Promise.all([startFake(), startFake(), startFake(), startFake()]);
});

afterAll(async () => {
  await Promise.all([sts, ecr, aad, acr, imds, gce, container, ec2].map((f) => f?.close()));
});

beforeEach(() => {
  for (const f of [sts, ecr, aad, acr, imds, gce, container, ec2]) {
    f.requests.length = 0;
    f.handle = (_req, res) => json(res, 500, { message: 'unexpected request' });
  }
  clock = new Date('2026-12-07T12:00:00Z');
  ecrPassword = `ecr-${randomBytes(9).toString('base64url')}`;
  ecrTtl = 12 * 3600;
  ecr.handle = ecrHandler;
});

/** ECR's GetAuthorizationToken, or ECR Public's (its own target, signing name and answer shape). */
function ecrHandler(req: Recorded, res: http.ServerResponse): void {
  const target = req.headers['x-amz-target'];
  const isPublic = target === 'SpencerFrontendService.GetAuthorizationToken';
  if (req.method !== 'POST' || req.url.pathname !== '/' || (!isPublic && target !== 'AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken')) {
    json(res, 400, { __type: 'UnknownOperationException' });
    return;
  }
  if (req.headers['content-type'] !== 'application/x-amz-json-1.1') {
    json(res, 400, { __type: 'SerializationException', message: 'wrong content type' });
    return;
  }
  const problem = verifySigV4(req, isPublic ? 'ecr-public' : 'ecr', 'us-east-1');
  if (problem) {
    json(res, 403, { __type: 'InvalidSignatureException', message: problem }, { 'x-amzn-errortype': 'InvalidSignatureException:http://internal.amazon.com/coral/com.amazon.coral.service/' });
    return;
  }
  const data = { authorizationToken: Buffer.from(`AWS:${ecrPassword}`).toString('base64'), expiresAt: clock.getTime() / 1000 + ecrTtl };
  json(res, 200, isPublic ? { authorizationData: data } : { authorizationData: [{ ...data, proxyEndpoint: `https://${ECR_HOST}` }] });
}

/** Options pointing AWS at the fakes (through the SDKs' own endpoint variables). */
function awsEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { AWS_ENDPOINT_URL_ECR: ecr.url, AWS_ENDPOINT_URL_STS: sts.url, AWS_EC2_METADATA_DISABLED: 'true', ...extra };
}

function opts(env: NodeJS.ProcessEnv, more: Partial<CloudCredentialsOptions> = {}): CloudCredentialsOptions {
  return { env, now, transport: { ca: [caPem] }, cache: false, retryBaseMs: 1, ...more };
}

async function expectCloudError(p: Promise<unknown>, code: string, message?: RegExp): Promise<CloudAuthError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected a CloudAuthError ${code}`).toBeInstanceOf(CloudAuthError);
  expect((err as CloudAuthError).code, (err as Error).message).toBe(code);
  if (message) expect((err as Error).message).toMatch(message);
  return err as CloudAuthError;
}

/** Nothing of `secrets` in the error's message, cause chain or stack. */
function expectNoSecrets(err: Error, secrets: string[]): void {
  const texts: string[] = [];
  for (let e: unknown = err, i = 0; e && i < 6; e = (e as { cause?: unknown }).cause, i++) texts.push(String((e as Error).message), String((e as Error).stack));
  const all = texts.join('\n');
  for (const s of secrets) expect(all).not.toContain(s);
}

// ---------------------------------------------------------------------------------------------

describe('registry host patterns (as Flux refuses other hosts)', () => {
  const cases: Array<[CloudProvider, string, boolean]> = [
    ['aws', '123456789012.dkr.ecr.us-east-1.amazonaws.com', true],
    ['aws', '123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com', true],
    ['aws', '123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn', true],
    ['aws', '123456789012.dkr-ecr.eu-west-1.on.aws', true],
    ['aws', '123456789012.dkr.ecr.eusc-de-east-1.amazonaws.eu', true],
    ['aws', '123456789012.dkr.ecr.us-iso-east-1.c2s.ic.gov', true],
    ['aws', 'public.ecr.aws', true],
    ['aws', '12345678901.dkr.ecr.us-east-1.amazonaws.com', false],
    ['aws', '123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example', false],
    ['aws', 'evil.example', false],
    ['aws', '123456789012.dkr.ecr.us-east-1.amazonaws.com:443', false],
    ['azure', 'ladingtest.azurecr.io', true],
    ['azure', 'x.azurecr.cn', true],
    ['azure', 'x.azurecr.us', true],
    ['azure', 'azurecr.io', false],
    ['azure', 'x.azurecr.io.evil.example', false],
    ['gcp', 'gcr.io', true],
    ['gcp', 'eu.gcr.io', true],
    ['gcp', 'europe-west1-docker.pkg.dev', true],
    ['gcp', 'docker.s3nsregistry.fr', true],
    ['gcp', 'docker.pkg.dev', false],
    ['gcp', 'gcr.io.evil.example', false],
    ['gcp', 'ghcr.io', false],
  ];
  for (const [provider, host, ok] of cases.filter((c) => !c[2])) {
    it(`${provider} refuses ${host}, naming host and provider`, async () => {
      const err = await expectCloudError(cloudRegistryCredentials(provider, host, opts({})), 'HOST_MISMATCH');
      expect(err.message).toContain(host);
      expect(err.message).toContain(`provider: ${provider}`);
      expect(err.provider).toBe(provider);
      expect(err.host).toBe(host);
      void ok;
    });
  }
  it('accepts the providers\' registry hosts (the check passes and the credential lookup starts)', async () => {
    for (const [provider, host] of cases.filter((c) => c[2])) {
      // Empty environment: past the host check, the lookup fails for want of credentials.
      const env = provider === 'aws' ? { AWS_EC2_METADATA_DISABLED: 'true' } : provider === 'azure' ? { AZURE_FEDERATED_TOKEN_FILE: '/nonexistent' } : { GOOGLE_APPLICATION_CREDENTIALS: '/nonexistent' };
      const err = await cloudRegistryCredentials(provider, host, opts(env)).catch((e: unknown) => e as CloudAuthError);
      expect((err as CloudAuthError).code, `${provider} ${host}: ${(err as Error).message}`).not.toBe('HOST_MISMATCH');
    }
  });
  it('takes an oci:// URL or a repository path and checks its host', async () => {
    await expectCloudError(cloudRegistryCredentials('aws', 'oci://evil.example/123456789012.dkr.ecr.us-east-1.amazonaws.com/app', opts({})), 'HOST_MISMATCH', /evil\.example is not an Amazon ECR registry/);
  });
  it('refuses an unknown provider', async () => {
    await expectCloudError(cloudRegistryCredentials('generic' as CloudProvider, ECR_HOST, opts({})), 'CONFIG', /unknown provider "generic"/);
  });
});

describe('AWS ECR', () => {
  it('static keys: GetAuthorizationToken signed with SigV4 (verified by the fake), token decoded, expiry from expiresAt', async () => {
    AWS_KEYS['AKIASTATIC'] = 'static-secret-key-0123456789abcdefghijklmn';
    const creds = await cloudRegistryCredentials('aws', ECR_HOST, opts(awsEnv({ AWS_ACCESS_KEY_ID: 'AKIASTATIC', AWS_SECRET_ACCESS_KEY: AWS_KEYS['AKIASTATIC'] })));
    expect(creds).toEqual({ username: 'AWS', password: ecrPassword, expiresAt: new Date(clock.getTime() + 12 * 3600 * 1000) });
    expect(ecr.requests).toHaveLength(1);
    const req = ecr.requests[0] as Recorded;
    expect(req.body).toBe('{}');
    expect(req.headers['x-amz-date']).toBe('20261207T120000Z');
    expect(req.headers['x-amz-security-token']).toBeUndefined();
  });

  it('ECR Public (public.ecr.aws): its own GetAuthorizationToken, signed for ecr-public in us-east-1', async () => {
    AWS_KEYS['AKIAPUBLIC'] = 'public-secret';
    const creds = await cloudRegistryCredentials('aws', 'public.ecr.aws', opts({ AWS_ENDPOINT_URL_ECR_PUBLIC: ecr.url, AWS_ACCESS_KEY_ID: 'AKIAPUBLIC', AWS_SECRET_ACCESS_KEY: 'public-secret', AWS_EC2_METADATA_DISABLED: 'true' }));
    expect(creds).toEqual({ username: 'AWS', password: ecrPassword, expiresAt: new Date(clock.getTime() + 12 * 3600 * 1000) });
    expect((ecr.requests[0] as Recorded).headers['x-amz-target']).toBe('SpencerFrontendService.GetAuthorizationToken');
  });

  it('a wrong secret: the fake rejects the signature → DENIED, without the secret', async () => {
    AWS_KEYS['AKIAWRONG'] = 'the-right-secret-0123456789abcdefghijklmnop';
    const wrong = 'the-wrong-secret-0123456789abcdefghijklmnop';
    const err = await expectCloudError(cloudRegistryCredentials('aws', ECR_HOST, opts(awsEnv({ AWS_ACCESS_KEY_ID: 'AKIAWRONG', AWS_SECRET_ACCESS_KEY: wrong }))), 'DENIED', /403 InvalidSignatureException: signature mismatch/);
    expect(err.message).toMatch(/^getting aws credentials for 123456789012\.dkr\.ecr\.us-east-1\.amazonaws\.com: calling ECR GetAuthorizationToken at https:\/\/127\.0\.0\.1:\d+: /);
    expect(err.status).toBe(403);
    expectNoSecrets(err, [wrong, AWS_KEYS['AKIAWRONG'] as string]);
  });

  it('IRSA: the projected token goes to STS AssumeRoleWithWebIdentity; ECR is signed with the session credentials and token', async () => {
    const tokenFile = join(tmp.path, 'irsa-token');
    const webToken = `eyJhbGciOiJSUzI1NiJ9.${randomBytes(24).toString('base64url')}.sig`;
    writeFileSync(tokenFile, `${webToken}\n`);
    AWS_KEYS['ASIASESSION'] = `session-secret-${randomBytes(8).toString('hex')}`;
    const sessionToken = `FwoGZXIvYXdzE${randomBytes(30).toString('base64')}`;
    sts.handle = (req, res) => {
      const f = form(req.body);
      if (req.method !== 'POST' || f['Action'] !== 'AssumeRoleWithWebIdentity' || f['Version'] !== '2011-06-15' || req.headers['authorization'] !== undefined) {
        res.writeHead(400).end('<ErrorResponse><Error><Code>InvalidAction</Code></Error></ErrorResponse>');
        return;
      }
      if (f['WebIdentityToken'] !== webToken || f['RoleArn'] !== 'arn:aws:iam::123456789012:role/flux-source' || !f['RoleSessionName']) {
        res.writeHead(400, { 'content-type': 'text/xml' }).end(`<ErrorResponse><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code><Message>Incorrect token audience</Message></Error></ErrorResponse>`);
        return;
      }
      res.writeHead(200, { 'content-type': 'text/xml' }).end(
        `<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult><Credentials>` +
          `<AccessKeyId>ASIASESSION</AccessKeyId><SecretAccessKey>${AWS_KEYS['ASIASESSION']}</SecretAccessKey><SessionToken>${sessionToken}</SessionToken><Expiration>2026-12-07T13:00:00Z</Expiration>` +
          `</Credentials><SubjectFromWebIdentityToken>system:serviceaccount:flux-system:source-controller</SubjectFromWebIdentityToken></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>`,
      );
    };
    const creds = await cloudRegistryCredentials('aws', ECR_HOST, opts(awsEnv({ AWS_ROLE_ARN: 'arn:aws:iam::123456789012:role/flux-source', AWS_WEB_IDENTITY_TOKEN_FILE: tokenFile })));
    expect(creds.password).toBe(ecrPassword);
    expect(sts.requests).toHaveLength(1);
    expect((ecr.requests[0] as Recorded).headers['x-amz-security-token']).toBe(sessionToken);

    // A token STS refuses: DENIED with STS's code, not the token.
    writeFileSync(tokenFile, 'eyJhbGciOiJSUzI1NiJ9.bm90LXRoZS1yaWdodC10b2tlbi1hdC1hbGwtMTIzNDU2Nzg5.sig');
    const err = await expectCloudError(
      cloudRegistryCredentials('aws', ECR_HOST, opts(awsEnv({ AWS_ROLE_ARN: 'arn:aws:iam::123456789012:role/flux-source', AWS_WEB_IDENTITY_TOKEN_FILE: tokenFile }))),
      'DENIED',
      /calling STS AssumeRoleWithWebIdentity for role arn:aws:iam::123456789012:role\/flux-source at https:\/\/127\.0\.0\.1:\d+\/: 400 InvalidIdentityToken: Incorrect token audience/,
    );
    expectNoSecrets(err, ['bm90LXRoZS1yaWdodC10b2tlbi1hdC1hbGwtMTIzNDU2Nzg5', webToken]);
  });

  it('EKS Pod Identity: the container credentials endpoint with the authorization token file', async () => {
    const tokenFile = join(tmp.path, 'pod-identity-token');
    writeFileSync(tokenFile, 'pod-identity-token-value');
    AWS_KEYS['ASIAPODID'] = `pod-secret-${randomBytes(8).toString('hex')}`;
    container.handle = (req, res) => {
      if (req.url.pathname !== '/v1/credentials' || req.headers['authorization'] !== 'pod-identity-token-value') return json(res, 401, { message: 'unauthorized' });
      json(res, 200, { AccessKeyId: 'ASIAPODID', SecretAccessKey: AWS_KEYS['ASIAPODID'], Token: 'pod-session-token', AccountId: '123456789012', Expiration: '2026-12-07T18:00:00Z' });
    };
    const creds = await cloudRegistryCredentials('aws', ECR_HOST, opts(awsEnv({ AWS_CONTAINER_CREDENTIALS_FULL_URI: `${container.url}/v1/credentials`, AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: tokenFile })));
    expect(creds.password).toBe(ecrPassword);
    expect((ecr.requests[0] as Recorded).headers['x-amz-security-token']).toBe('pod-session-token');
  });

  it('the EC2 instance role through IMDSv2 (session token, role name, credentials)', async () => {
    AWS_KEYS['ASIANODE'] = `node-secret-${randomBytes(8).toString('hex')}`;
    ec2.handle = (req, res) => {
      if (req.method === 'PUT' && req.url.pathname === '/latest/api/token' && req.headers['x-aws-ec2-metadata-token-ttl-seconds'] === '21600') return void res.writeHead(200).end('imds-session');
      if (req.headers['x-aws-ec2-metadata-token'] !== 'imds-session') return void res.writeHead(401).end();
      if (req.url.pathname === '/latest/meta-data/iam/security-credentials/') return void res.writeHead(200).end('eks-node-role');
      if (req.url.pathname === '/latest/meta-data/iam/security-credentials/eks-node-role') {
        return json(res, 200, { Code: 'Success', Type: 'AWS-HMAC', AccessKeyId: 'ASIANODE', SecretAccessKey: AWS_KEYS['ASIANODE'], Token: 'node-token', Expiration: '2026-12-07T18:00:00Z' });
      }
      res.writeHead(404).end();
    };
    const creds = await cloudRegistryCredentials('aws', ECR_HOST, opts(awsEnv({ AWS_EC2_METADATA_DISABLED: 'false', AWS_EC2_METADATA_SERVICE_ENDPOINT: ec2.url })));
    expect(creds.password).toBe(ecrPassword);
    expect(ec2.requests.map((r) => `${r.method} ${r.url.pathname}`)).toEqual(['PUT /latest/api/token', 'GET /latest/meta-data/iam/security-credentials/', 'GET /latest/meta-data/iam/security-credentials/eks-node-role']);
  });

  it('no credentials anywhere: NO_CREDENTIALS saying what is needed', async () => {
    await expectCloudError(cloudRegistryCredentials('aws', ECR_HOST, opts(awsEnv({}))), 'NO_CREDENTIALS', /set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or use IAM roles for service accounts \(AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE/);
    // IMDS enabled but nothing listening there.
    const closed = await startFake();
    await closed.close();
    await expectCloudError(cloudRegistryCredentials('aws', ECR_HOST, opts(awsEnv({ AWS_EC2_METADATA_DISABLED: 'false', AWS_EC2_METADATA_SERVICE_ENDPOINT: closed.url }), { retries: 0 })), 'NO_CREDENTIALS', /instance metadata service did not answer/);
  });

  it('half a configuration: CONFIG naming what is missing', async () => {
    await expectCloudError(cloudRegistryCredentials('aws', ECR_HOST, opts(awsEnv({ AWS_ROLE_ARN: 'arn:aws:iam::123456789012:role/x' }))), 'CONFIG', /only AWS_ROLE_ARN is set/);
    await expectCloudError(cloudRegistryCredentials('aws', ECR_HOST, opts(awsEnv({ AWS_ACCESS_KEY_ID: 'AKIA' }))), 'CONFIG', /AWS_ACCESS_KEY_ID is set without AWS_SECRET_ACCESS_KEY/);
    await expectCloudError(
      cloudRegistryCredentials('aws', ECR_HOST, opts(awsEnv({ AWS_ROLE_ARN: 'arn:aws:iam::123456789012:role/x', AWS_WEB_IDENTITY_TOKEN_FILE: join(tmp.path, 'missing-token') }))),
      'CONFIG',
      /reading the token file .*missing-token named by AWS_WEB_IDENTITY_TOKEN_FILE: ENOENT/,
    );
    await expectCloudError(
      cloudRegistryCredentials('aws', ECR_HOST, opts(awsEnv({ AWS_CONTAINER_CREDENTIALS_FULL_URI: 'http://credentials.example/v1/credentials' }))),
      'CONFIG',
      /plain http is allowed only to the ECS\/EKS agent addresses or loopback, not credentials\.example/,
    );
    await expectCloudError(cloudRegistryCredentials('azure', ACR_HOST, opts({ AZURE_CLIENT_SECRET: 's3cret-value' })), 'CONFIG', /AZURE_CLIENT_SECRET needs AZURE_TENANT_ID and AZURE_CLIENT_ID/);
    await expectCloudError(cloudRegistryCredentials('azure', ACR_HOST, opts({ AZURE_CLIENT_CERTIFICATE_PATH: '/cert.pem' })), 'CONFIG', /not supported by lading/);
    await expectCloudError(cloudRegistryCredentials('azure', ACR_HOST, opts({ AZURE_TENANT_ID: '../evil', AZURE_CLIENT_ID: 'c', AZURE_CLIENT_SECRET: 's' })), 'CONFIG', /not a tenant ID/);
  });

  it('ECR answers 403 AccessDenied: DENIED with AWS\'s message, no secret', async () => {
    AWS_KEYS['AKIADENIED'] = `denied-secret-${randomBytes(10).toString('hex')}`;
    ecr.handle = (_req, res) => json(res, 400, { __type: 'com.amazonaws.ecr#AccessDeniedException', message: 'User: arn:aws:iam::123456789012:user/ci is not authorized to perform: ecr:GetAuthorizationToken' });
    const err = await expectCloudError(
      cloudRegistryCredentials('aws', ECR_HOST, opts(awsEnv({ AWS_ACCESS_KEY_ID: 'AKIADENIED', AWS_SECRET_ACCESS_KEY: AWS_KEYS['AKIADENIED'] }))),
      'DENIED',
      /400 AccessDeniedException: User: arn:aws:iam::123456789012:user\/ci is not authorized to perform: ecr:GetAuthorizationToken/,
    );
    expectNoSecrets(err, [AWS_KEYS['AKIADENIED'] as string]);
    ecr.handle = (_req, res) => json(res, 403, { message: 'forbidden' });
    await expectCloudError(cloudRegistryCredentials('aws', ECR_HOST, opts(awsEnv({ AWS_ACCESS_KEY_ID: 'AKIADENIED', AWS_SECRET_ACCESS_KEY: AWS_KEYS['AKIADENIED'] }))), 'DENIED', /: 403 forbidden$/);
  });

  it('hostile or broken answers: BAD_RESPONSE, bounded', async () => {
    AWS_KEYS['AKIABAD'] = 'bad-answers-secret';
    const env = awsEnv({ AWS_ACCESS_KEY_ID: 'AKIABAD', AWS_SECRET_ACCESS_KEY: 'bad-answers-secret' });
    ecr.handle = (_req, res) => json(res, 200, { authorizationData: [{ authorizationToken: Buffer.from('no-colon-here').toString('base64'), expiresAt: 2e9 }] });
    await expectCloudError(cloudRegistryCredentials('aws', ECR_HOST, opts(env)), 'BAD_RESPONSE', /not base64 of "user:password"/);
    ecr.handle = (_req, res) => json(res, 200, { authorizationData: [{ authorizationToken: Buffer.from('AWS:pw').toString('base64') }] });
    await expectCloudError(cloudRegistryCredentials('aws', ECR_HOST, opts(env)), 'BAD_RESPONSE', /no expiresAt/);
    ecr.handle = (_req, res) => json(res, 200, { authorizationData: [] });
    await expectCloudError(cloudRegistryCredentials('aws', ECR_HOST, opts(env)), 'BAD_RESPONSE', /no authorizationData/);
    ecr.handle = (_req, res) => res.writeHead(200).end('<html>');
    await expectCloudError(cloudRegistryCredentials('aws', ECR_HOST, opts(env)), 'BAD_RESPONSE', /not JSON/);
    ecr.handle = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(Buffer.alloc(2 * 1024 * 1024, 0x20));
    };
    await expectCloudError(cloudRegistryCredentials('aws', ECR_HOST, opts(env)), 'BAD_RESPONSE', /more than the 1048576|more than 1048576/);
  });

  it('retries 503 and then succeeds', async () => {
    AWS_KEYS['AKIARETRY'] = 'retry-secret';
    let n = 0;
    ecr.handle = (req, res) => (++n < 3 ? json(res, 503, { message: 'slow down' }) : ecrHandler(req, res));
    const creds = await cloudRegistryCredentials('aws', ECR_HOST, opts(awsEnv({ AWS_ACCESS_KEY_ID: 'AKIARETRY', AWS_SECRET_ACCESS_KEY: 'retry-secret' })));
    expect(creds.password).toBe(ecrPassword);
    expect(n).toBe(3);
  });

  it('refuses plain http to a non-loopback endpoint, and an untrusted certificate', async () => {
    const env = { AWS_ACCESS_KEY_ID: 'AKIASTATIC', AWS_SECRET_ACCESS_KEY: 'x', AWS_EC2_METADATA_DISABLED: 'true' };
    await expectCloudError(cloudRegistryCredentials('aws', ECR_HOST, opts({ ...env, AWS_ENDPOINT_URL_ECR: 'http://ecr.example' })), 'CONFIG', /refusing to send credentials over http/);
    await expectCloudError(cloudRegistryCredentials('aws', ECR_HOST, { env: { ...env, AWS_ENDPOINT_URL_ECR: ecr.url }, cache: false, retries: 0 }), 'TLS');
    expect(ecr.requests).toHaveLength(0);
  });
});

describe('Azure ACR', () => {
  const tenant = '72f988bf-86f1-41af-91ab-2d7cd011db47';
  const clientId = '11111111-2222-3333-4444-555555555555';
  let aadToken = '';
  let refreshToken = '';
  let federatedToken = '';
  let tokenFile = '';

  beforeEach(() => {
    aadToken = `aad.${randomBytes(20).toString('base64url')}.sig`;
    refreshToken = fakeJwt(Math.floor(clock.getTime() / 1000) + 3 * 3600);
    federatedToken = `eyJhbGciOiJSUzI1NiJ9.${randomBytes(20).toString('base64url')}.fed`;
    tokenFile = join(tmp.path, `azure-token-${randomBytes(4).toString('hex')}`);
    writeFileSync(tokenFile, federatedToken);
    aad.handle = (req, res) => {
      const f = form(req.body);
      if (req.method !== 'POST' || req.url.pathname !== `/${tenant}/oauth2/v2.0/token` || f['grant_type'] !== 'client_credentials' || f['scope'] !== 'https://containerregistry.azure.net/.default') {
        return json(res, 400, { error: 'invalid_request', error_description: 'AADSTS900144: bad request' });
      }
      const assertionOk = f['client_assertion_type'] === 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer' && f['client_assertion'] === federatedToken;
      const secretOk = f['client_secret'] === 'the-client-secret';
      if (f['client_id'] !== clientId || !(assertionOk || secretOk)) {
        return json(res, 401, { error: 'invalid_client', error_description: `AADSTS700213: No matching federated identity record found for presented assertion ${f['client_assertion'] ?? ''}.\r\nTrace ID: x` });
      }
      json(res, 200, { token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599, access_token: aadToken });
    };
    acr.handle = (req, res) => {
      const f = form(req.body);
      if (req.method !== 'POST' || req.url.pathname !== '/oauth2/exchange' || f['grant_type'] !== 'access_token' || f['service'] !== ACR_HOST) {
        return json(res, 400, { errors: [{ code: 'BAD_REQUEST', message: 'bad exchange request' }] });
      }
      if (f['access_token'] !== aadToken) return json(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: `invalid token ${f['access_token'] ?? ''}` }] });
      json(res, 200, { refresh_token: refreshToken });
    };
  });

  function azureOpts(env: NodeJS.ProcessEnv, more: Partial<CloudCredentialsOptions> = {}): CloudCredentialsOptions {
    return opts({ AZURE_AUTHORITY_HOST: `${aad.url}/`, ...env }, { endpoints: { acrExchange: acr.url, azureImds: `${imds.url}/metadata/identity/oauth2/token` }, ...more });
  }

  it('workload identity: federated token → Entra ID token for ACR\'s scope → ACR refresh token', async () => {
    const creds = await cloudRegistryCredentials('azure', ACR_HOST, azureOpts({ AZURE_TENANT_ID: tenant, AZURE_CLIENT_ID: clientId, AZURE_FEDERATED_TOKEN_FILE: tokenFile }));
    expect(creds).toEqual({ username: ACR_TOKEN_USER, password: refreshToken, expiresAt: new Date(clock.getTime() + 3 * 3600 * 1000) });
    expect(aad.requests).toHaveLength(1);
    expect(acr.requests).toHaveLength(1);
  });

  it('a client secret (AZURE_CLIENT_SECRET)', async () => {
    const creds = await cloudRegistryCredentials('azure', ACR_HOST, azureOpts({ AZURE_TENANT_ID: tenant, AZURE_CLIENT_ID: clientId, AZURE_CLIENT_SECRET: 'the-client-secret' }));
    expect(creds.password).toBe(refreshToken);
    expect(form((aad.requests[0] as Recorded).body)['client_assertion']).toBeUndefined();
  });

  it('managed identity through IMDS (Metadata: true, resource = ACR\'s audience, the client ID of a user-assigned identity)', async () => {
    imds.handle = (req, res) => {
      const q = req.url.searchParams;
      if (req.headers['metadata'] !== 'true' || q.get('api-version') !== '2018-02-01' || q.get('resource') !== 'https://containerregistry.azure.net' || q.get('client_id') !== clientId) {
        return json(res, 400, { error: 'invalid_request', error_description: 'bad IMDS request' });
      }
      json(res, 200, { access_token: aadToken, expires_in: '86399', expires_on: String(Math.floor(clock.getTime() / 1000) + 86399), resource: 'https://containerregistry.azure.net', token_type: 'Bearer' });
    };
    const creds = await cloudRegistryCredentials('azure', ACR_HOST, azureOpts({ AZURE_CLIENT_ID: clientId }));
    expect(creds.password).toBe(refreshToken);
    expect(imds.requests).toHaveLength(1);
  });

  it('Entra ID refuses the assertion: DENIED with the AADSTS code, without the assertion', async () => {
    writeFileSync(tokenFile, 'eyJhbGciOiJSUzI1NiJ9.c29tZS1vdGhlci1mZWRlcmF0ZWQtdG9rZW4tdmFsdWU.sig');
    const err = await expectCloudError(cloudRegistryCredentials('azure', ACR_HOST, azureOpts({ AZURE_TENANT_ID: tenant, AZURE_CLIENT_ID: clientId, AZURE_FEDERATED_TOKEN_FILE: tokenFile })), 'DENIED', /401 invalid_client: AADSTS700213: No matching federated identity record found/);
    expectNoSecrets(err, ['c29tZS1vdGhlci1mZWRlcmF0ZWQtdG9rZW4tdmFsdWU']);
  });

  it('ACR refuses the exchange (403 / 401): DENIED, without the token', async () => {
    acr.handle = (_req, res) => json(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: `invalid token ${aadToken}` }] });
    const err = await expectCloudError(cloudRegistryCredentials('azure', ACR_HOST, azureOpts({ AZURE_TENANT_ID: tenant, AZURE_CLIENT_ID: clientId, AZURE_FEDERATED_TOKEN_FILE: tokenFile })), 'DENIED', /exchanging the Entra ID token for an ACR refresh token at https:\/\/127\.0\.0\.1:\d+: 401 UNAUTHORIZED: invalid token \*\*\*/);
    expectNoSecrets(err, [aadToken]);
    acr.handle = (_req, res) => json(res, 403, {});
    await expectCloudError(cloudRegistryCredentials('azure', ACR_HOST, azureOpts({ AZURE_TENANT_ID: tenant, AZURE_CLIENT_ID: clientId, AZURE_FEDERATED_TOKEN_FILE: tokenFile })), 'DENIED', /: 403$/);
  });

  it('a refresh token that is not a JWT with exp: BAD_RESPONSE', async () => {
    refreshToken = 'opaque-token';
    await expectCloudError(cloudRegistryCredentials('azure', ACR_HOST, azureOpts({ AZURE_TENANT_ID: tenant, AZURE_CLIENT_ID: clientId, AZURE_FEDERATED_TOKEN_FILE: tokenFile })), 'BAD_RESPONSE', /not a JWT with an exp claim/);
  });

  it('nothing configured and no IMDS: NO_CREDENTIALS saying what is needed; half a workload identity: CONFIG', async () => {
    const closed = await startFake();
    await closed.close();
    await expectCloudError(
      cloudRegistryCredentials('azure', ACR_HOST, opts({}, { endpoints: { azureImds: `${closed.url}/metadata/identity/oauth2/token` }, retries: 0 })),
      'NO_CREDENTIALS',
      /use workload identity \(AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_FEDERATED_TOKEN_FILE/,
    );
    await expectCloudError(cloudRegistryCredentials('azure', ACR_HOST, azureOpts({ AZURE_FEDERATED_TOKEN_FILE: tokenFile })), 'CONFIG', /needs AZURE_CLIENT_ID and AZURE_TENANT_ID/);
  });

  it('a custom cloud (AZURE_ENVIRONMENT_FILEPATH): its registry suffix and resource manager scope', async () => {
    const envFile = join(tmp.path, 'azure-env.json');
    writeFileSync(envFile, JSON.stringify({ containerRegistryDNSSuffix: '.azurecr.stack.example', resourceManagerEndpoint: 'https://management.stack.example/', tokenAudience: 'https://management.stack.example/' }));
    const host = 'reg.azurecr.stack.example';
    aad.handle = (req, res) => (form(req.body)['scope'] === 'https://management.stack.example/.default' ? json(res, 200, { access_token: aadToken, expires_in: 3599 }) : json(res, 400, { error: 'invalid_scope' }));
    acr.handle = (req, res) => (form(req.body)['service'] === host ? json(res, 200, { refresh_token: refreshToken }) : json(res, 400, {}));
    const creds = await cloudRegistryCredentials('azure', host, azureOpts({ AZURE_ENVIRONMENT_FILEPATH: envFile, AZURE_TENANT_ID: tenant, AZURE_CLIENT_ID: clientId, AZURE_FEDERATED_TOKEN_FILE: tokenFile }));
    expect(creds.password).toBe(refreshToken);
    await expectCloudError(cloudRegistryCredentials('azure', 'reg.example', azureOpts({ AZURE_ENVIRONMENT_FILEPATH: envFile })), 'HOST_MISMATCH', /must match \*\.azurecr\.stack\.example/);
  });
});

describe('GCP Artifact Registry / GCR', () => {
  let accessToken = '';
  beforeEach(() => {
    accessToken = `ya29.${randomBytes(30).toString('base64url')}`;
    gce.handle = (req, res) => {
      if (req.url.pathname !== '/computeMetadata/v1/instance/service-accounts/default/token' || req.headers['metadata-flavor'] !== 'Google') return void res.writeHead(403, { 'metadata-flavor': 'Google' }).end();
      if (req.url.searchParams.get('scopes') !== 'https://www.googleapis.com/auth/cloud-platform,https://www.googleapis.com/auth/userinfo.email') return void res.writeHead(400, { 'metadata-flavor': 'Google' }).end();
      json(res, 200, { access_token: accessToken, expires_in: 3599, token_type: 'Bearer' }, { 'metadata-flavor': 'Google' });
    };
  });

  it('the metadata server\'s token (GCE_METADATA_HOST), user oauth2accesstoken, expiry from expires_in', async () => {
    const creds = await cloudRegistryCredentials('gcp', GCP_HOST, opts({ GCE_METADATA_HOST: gce.host }));
    expect(creds).toEqual({ username: GCP_TOKEN_USER, password: accessToken, expiresAt: new Date(clock.getTime() + 3599 * 1000) });
    expect(gce.requests).toHaveLength(1);
  });

  it('something that is not a metadata server (no Metadata-Flavor: Google): BAD_RESPONSE', async () => {
    gce.handle = (_req, res) => json(res, 200, { access_token: 'x', expires_in: 3599 });
    await expectCloudError(cloudRegistryCredentials('gcp', GCP_HOST, opts({ GCE_METADATA_HOST: gce.host })), 'BAD_RESPONSE', /lacks "Metadata-Flavor: Google"/);
  });

  it('no metadata server: NO_CREDENTIALS saying what is needed', async () => {
    const closed = await startFake();
    await closed.close();
    await expectCloudError(cloudRegistryCredentials('gcp', GCP_HOST, opts({ GCE_METADATA_HOST: closed.host }, { retries: 0 })), 'NO_CREDENTIALS', /the metadata server at 127\.0\.0\.1:\d+ did not answer/);
  });

  it('a service account key (GOOGLE_APPLICATION_CREDENTIALS): an RS256 JWT, verified by the fake token endpoint, for an access token', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const keyFile = join(tmp.path, 'sa-key.json');
    const tokenUri = `${aad.url}/token`; // any https fake will do: this one plays oauth2.googleapis.com
    writeFileSync(keyFile, JSON.stringify({ type: 'service_account', project_id: 'p', private_key_id: 'kid-1', private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }), client_email: 'flux@p.iam.gserviceaccount.com', token_uri: tokenUri }));
    aad.handle = (req, res) => {
      const f = form(req.body);
      const [h, c, sig] = (f['assertion'] ?? '').split('.');
      const ok =
        f['grant_type'] === 'urn:ietf:params:oauth:grant-type:jwt-bearer' &&
        h !== undefined && c !== undefined && sig !== undefined &&
        verify('sha256', Buffer.from(`${h}.${c}`), publicKey, Buffer.from(sig, 'base64url'));
      if (!ok) return json(res, 400, { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' });
      const header = JSON.parse(Buffer.from(h as string, 'base64url').toString()) as Record<string, unknown>;
      const claims = JSON.parse(Buffer.from(c as string, 'base64url').toString()) as Record<string, unknown>;
      const iat = Math.floor(clock.getTime() / 1000);
      const wantHeader = { alg: 'RS256', typ: 'JWT', kid: 'kid-1' };
      const wantClaims = { iss: 'flux@p.iam.gserviceaccount.com', scope: 'https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/userinfo.email', aud: tokenUri, iat, exp: iat + 3600 };
      if (JSON.stringify(header) !== JSON.stringify(wantHeader) || JSON.stringify(claims) !== JSON.stringify(wantClaims)) {
        return json(res, 400, { error: 'invalid_grant', error_description: `unexpected JWT ${JSON.stringify([header, claims])}` });
      }
      json(res, 200, { access_token: accessToken, expires_in: 3599, token_type: 'Bearer' });
    };
    const creds = await cloudRegistryCredentials('gcp', GCP_HOST, opts({ GOOGLE_APPLICATION_CREDENTIALS: keyFile }));
    expect(creds).toEqual({ username: GCP_TOKEN_USER, password: accessToken, expiresAt: new Date(clock.getTime() + 3599 * 1000) });
    expect(gce.requests).toHaveLength(0);

    // Another key than the one the token endpoint knows: DENIED, without the assertion.
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' });
    writeFileSync(keyFile, JSON.stringify({ type: 'service_account', private_key: other, client_email: 'flux@p.iam.gserviceaccount.com', token_uri: tokenUri }));
    const err = await expectCloudError(cloudRegistryCredentials('gcp', GCP_HOST, opts({ GOOGLE_APPLICATION_CREDENTIALS: keyFile })), 'DENIED', /getting an access token for flux@p\.iam\.gserviceaccount\.com with its key at https:\/\/127\.0\.0\.1:\d+\/token: 400 invalid_grant: Invalid JWT Signature\./);
    expectNoSecrets(err, [form((aad.requests.at(-1) as Recorded).body)['assertion'] as string]);
  });

  it('key files lading does not take: CONFIG', async () => {
    const file = join(tmp.path, 'external-account.json');
    writeFileSync(file, JSON.stringify({ type: 'external_account', audience: '//iam.googleapis.com/x' }));
    await expectCloudError(cloudRegistryCredentials('gcp', GCP_HOST, opts({ GOOGLE_APPLICATION_CREDENTIALS: file })), 'CONFIG', /of type "external_account": lading supports "service_account" keys and the metadata server only/);
    writeFileSync(file, '{not json');
    await expectCloudError(cloudRegistryCredentials('gcp', GCP_HOST, opts({ GOOGLE_APPLICATION_CREDENTIALS: file })), 'CONFIG', /not JSON/);
    await expectCloudError(cloudRegistryCredentials('gcp', GCP_HOST, opts({ GOOGLE_APPLICATION_CREDENTIALS: join(tmp.path, 'nope.json') })), 'CONFIG', /ENOENT/);
    writeFileSync(file, JSON.stringify({ type: 'service_account', client_email: 'a@b', private_key: 'not a key' }));
    await expectCloudError(cloudRegistryCredentials('gcp', GCP_HOST, opts({ GOOGLE_APPLICATION_CREDENTIALS: file })), 'CONFIG', /not a PEM private key/);
  });

  it('the metadata server refuses (403): DENIED', async () => {
    gce.handle = (_req, res) => void res.writeHead(403, { 'metadata-flavor': 'Google' }).end('denied');
    await expectCloudError(cloudRegistryCredentials('gcp', GCP_HOST, opts({ GCE_METADATA_HOST: gce.host })), 'DENIED', /403/);
  });
});

describe('the cache', () => {
  beforeEach(() => {
    AWS_KEYS['AKIACACHE'] = 'cache-secret';
  });
  const env = () => awsEnv({ AWS_ACCESS_KEY_ID: 'AKIACACHE', AWS_SECRET_ACCESS_KEY: 'cache-secret' });

  it('serves cached credentials until 80 % of their lifetime, then fetches new ones', async () => {
    const cache = new CloudCredentialCache();
    ecrTtl = 1000;
    const first = await cloudRegistryCredentials('aws', ECR_HOST, opts(env(), { cache }));
    clock = new Date(clock.getTime() + 799_000);
    expect(await cloudRegistryCredentials('aws', ECR_HOST, opts(env(), { cache }))).toEqual(first);
    expect(ecr.requests).toHaveLength(1);
    // Past 80 %: the fake now issues another password, and that is what comes back.
    const old = ecrPassword;
    ecrPassword = `ecr-${randomBytes(9).toString('base64url')}`;
    clock = new Date(clock.getTime() + 2_000);
    const second = await cloudRegistryCredentials('aws', ECR_HOST, opts(env(), { cache }));
    expect(second.password).toBe(ecrPassword);
    expect(second.password).not.toBe(old);
    expect(ecr.requests).toHaveLength(2);
  });

  it('one fetch for concurrent callers; another identity or host is another entry; invalidate forgets', async () => {
    const cache = new CloudCredentialCache();
    const results = await Promise.all(Array.from({ length: 5 }, () => cloudRegistryCredentials('aws', ECR_HOST, opts(env(), { cache }))));
    expect(new Set(results.map((r) => r.password)).size).toBe(1);
    expect(ecr.requests).toHaveLength(1);
    AWS_KEYS['AKIAOTHER'] = 'other-secret';
    await cloudRegistryCredentials('aws', ECR_HOST, opts(awsEnv({ AWS_ACCESS_KEY_ID: 'AKIAOTHER', AWS_SECRET_ACCESS_KEY: 'other-secret' }), { cache }));
    expect(ecr.requests).toHaveLength(2);
    await cloudRegistryCredentials('aws', '123456789012.dkr.ecr.us-east-1.amazonaws.com/app', opts(env(), { cache }));
    expect(ecr.requests).toHaveLength(2);
    expect(cache.invalidate('aws', ECR_HOST)).toBe(2);
    await cloudRegistryCredentials('aws', ECR_HOST, opts(env(), { cache }));
    expect(ecr.requests).toHaveLength(3);
  });

  it('failures are not cached', async () => {
    const cache = new CloudCredentialCache();
    ecr.handle = (_req, res) => json(res, 403, { __type: 'AccessDeniedException', message: 'no' });
    await expectCloudError(cloudRegistryCredentials('aws', ECR_HOST, opts(env(), { cache })), 'DENIED');
    ecr.handle = ecrHandler;
    expect((await cloudRegistryCredentials('aws', ECR_HOST, opts(env(), { cache }))).password).toBe(ecrPassword);
  });

  it('the caller\'s signal and the deadline end a hanging exchange', async () => {
    ecr.handle = () => undefined; // never answers
    const ac = new AbortController();
    const p = cloudRegistryCredentials('aws', ECR_HOST, opts(env(), { signal: ac.signal }));
    setTimeout(() => ac.abort(), 50);
    await expectCloudError(p, 'ABORTED');
    await expectCloudError(cloudRegistryCredentials('aws', ECR_HOST, opts(env(), { timeoutMs: 200 })), 'TIMEOUT', /did not finish within 200 ms/);
  });
});

// ---------------------------------------------------------------------------------------------
// End to end: a real registry whose htpasswd user and password are what the fake cloud issues.
// The registry listens on 127.0.0.1; the cloud name of the registry (an ECR, ACR or Artifact
// Registry host, which must pass the provider's host check) is given to the credential store as
// `registryHost`, while the registry client connects to the loopback address. No DNS is faked.

describe('end to end: lading\'s registry client pulls with cloud credentials', () => {
  const registries: RunningRegistry[] = [];
  afterAll(async () => {
    await Promise.all(registries.map((r) => r.stop()));
  });

  async function registryFor(username: string, password: string): Promise<RunningRegistry> {
    const reg = await startRegistry({ auth: { username, password } });
    registries.push(reg);
    const repo = openRepository(`${reg.host}/team/app`, { credentials: new StaticCredentials({ [reg.host]: { username, password } }), retryBaseMs: 10 });
    await pushRandomImage(repo, { tag: 'v1' });
    return reg;
  }

  async function pull(reg: RunningRegistry, provider: CloudProvider, cloudHost: string, options: CloudCredentialsOptions): Promise<string> {
    const repo = openRepository(`${reg.host}/team/app`, { credentials: cloudCredentialStore(provider, { ...options, registryHost: cloudHost }), retryBaseMs: 10 });
    const desc = await repo.resolve('v1');
    await repo.fetchBytes(desc);
    return desc.digest;
  }

  it('AWS: the ECR token\'s password opens the registry; a stale one is refused by the registry', async () => {
    AWS_KEYS['AKIAE2E'] = `e2e-secret-${randomBytes(8).toString('hex')}`;
    const env = awsEnv({ AWS_ACCESS_KEY_ID: 'AKIAE2E', AWS_SECRET_ACCESS_KEY: AWS_KEYS['AKIAE2E'] });
    const reg = await registryFor('AWS', ecrPassword);
    expect(await pull(reg, 'aws', ECR_HOST, opts(env))).toMatch(/^sha256:/);
    ecrPassword = `ecr-${randomBytes(9).toString('base64url')}`;
    await expectOciError(pull(reg, 'aws', ECR_HOST, opts(env)), 'UNAUTHORIZED', /rejected the credentials for user "AWS"/);
  });

  it('Azure: the ACR refresh token as the password of 00000000-0000-0000-0000-000000000000', async () => {
    const tenant = 'contoso.onmicrosoft.com';
    const refresh = fakeJwt(Math.floor(clock.getTime() / 1000) + 3 * 3600);
    expect(refresh.length).toBeLessThanOrEqual(72); // bcrypt (htpasswd -B) compares 72 bytes at most
    const federated = `fed.${randomBytes(12).toString('base64url')}.sig`;
    const tokenFile = join(tmp.path, 'e2e-azure-token');
    writeFileSync(tokenFile, federated);
    aad.handle = (req, res) => (form(req.body)['client_assertion'] === federated ? json(res, 200, { access_token: 'aad-e2e', expires_in: 3599 }) : json(res, 401, { error: 'invalid_client' }));
    acr.handle = (req, res) => (form(req.body)['access_token'] === 'aad-e2e' ? json(res, 200, { refresh_token: refresh }) : json(res, 401, {}));
    const reg = await registryFor(ACR_TOKEN_USER, refresh);
    const options = opts({ AZURE_AUTHORITY_HOST: aad.url, AZURE_TENANT_ID: tenant, AZURE_CLIENT_ID: 'e2e-client', AZURE_FEDERATED_TOKEN_FILE: tokenFile }, { endpoints: { acrExchange: acr.url } });
    expect(await pull(reg, 'azure', ACR_HOST, options)).toMatch(/^sha256:/);
  });

  it('GCP: the metadata server\'s access token as the password of oauth2accesstoken; a store for a foreign host refuses', async () => {
    const token = `ya29.${randomBytes(24).toString('base64url')}`;
    gce.handle = (req, res) => (req.headers['metadata-flavor'] === 'Google' ? json(res, 200, { access_token: token, expires_in: 3599 }, { 'metadata-flavor': 'Google' }) : void res.writeHead(403).end());
    const reg = await registryFor(GCP_TOKEN_USER, token);
    expect(await pull(reg, 'gcp', GCP_HOST, opts({ GCE_METADATA_HOST: gce.host }))).toMatch(/^sha256:/);
    // Without registryHost the store is asked for 127.0.0.1:PORT, which is no GCP registry.
    const repo = openRepository(`${reg.host}/team/app`, { credentials: cloudCredentialStore('gcp', opts({ GCE_METADATA_HOST: gce.host })), retryBaseMs: 10 });
    await expectCloudError(repo.resolve('v1'), 'HOST_MISMATCH', /127\.0\.0\.1:\d+ is not a Google Container Registry or Artifact Registry/);
  });
});
