import { createHash, generateKeyPairSync, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { encryptPrivateKey, generateKeyPair, isSignError, loadPrivateKey, loadPublicKey, parsePublicKey } from '../../src/sign/index.js';
import { decodePem } from '../../src/sign/keys.js';
import { lading, tempDir } from './helpers.js';

const fixtures = join(import.meta.dirname, 'fixtures');

function pemBody(text: string): Record<string, unknown> {
  const body = text.split('\n').filter((l) => l && !l.startsWith('-----')).join('');
  return JSON.parse(Buffer.from(body, 'base64').toString('utf8')) as Record<string, unknown>;
}

async function expectCode(p: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected a SignError ${code}`).toBeDefined();
  expect(isSignError(err) ? err.code : String(err)).toBe(code);
  if (message) expect((err as Error).message).toMatch(message);
}

/** The regular-expression decoder decodePem replaced, kept here as its reference. */
function decodePemByPattern(text: string): { type: string; bytes: Buffer } | undefined {
  const m = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/.exec(text);
  if (!m) return undefined;
  const body = (m[2] ?? '')
    .split(/\r?\n/)
    .filter((line) => line !== '' && !line.includes(':'))
    .join('');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body)) return undefined;
  return { type: m[1] as string, bytes: Buffer.from(body, 'base64') };
}

describe('decodePem', () => {
  const der = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d03010703420004', 'hex').toString('base64');
  it.each([
    ['a plain block', `-----BEGIN PUBLIC KEY-----\n${der}\n-----END PUBLIC KEY-----\n`],
    ['CRLF line ends', `-----BEGIN PUBLIC KEY-----\r\n${der.slice(0, 20)}\r\n${der.slice(20)}\r\n-----END PUBLIC KEY-----\r\n`],
    ['text before and after, and a header line', `garbage\n-----BEGIN RSA PUBLIC KEY-----\nProc-Type: 4,ENCRYPTED\n\n${der}\n-----END RSA PUBLIC KEY-----\ntrailer`],
    ['two blocks: the first is taken', `-----BEGIN A-----\nAAAA\n-----END A-----\n-----BEGIN B-----\nBBBB\n-----END B-----\n`],
    ['a first block without its end: the next is taken', `-----BEGIN A-----\nAAAA\n-----END B-----\n-----BEGIN C-----\nCCCC\n-----END C-----\n`],
    ['a type with a dash is skipped', `-----BEGIN X-Y-----\nAAAA\n-----END X-Y-----\n-----BEGIN Z-----\nZZZZ\n-----END Z-----\n`],
    ['six dashes', `-----BEGIN A------\nAAAA\n-----END A-----\n`],
    ['no newline after BEGIN', `-----BEGIN A-----AAAA\n-----END A-----\n`],
    ['a body that is not base64', `-----BEGIN A-----\nAA!A\n-----END A-----\n`],
    ['padding in the middle', `-----BEGIN A-----\nAA=A\n-----END A-----\n`],
    ['an empty body', `-----BEGIN A-----\n-----END A-----\n`],
    ['nothing at all', 'not a key'],
    ['a lower-case type', `-----BEGIN public key-----\n${der}\n-----END public key-----\n`],
  ])('reads %s as the pattern did', (_what, text) => {
    expect(decodePem(text)).toEqual(decodePemByPattern(text));
  });
});

describe('generateKeyPair', () => {
  it("writes cosign's exact encrypted key format, 0600, and a PUBLIC KEY PEM", async () => {
    const dir = tempDir();
    const result = await generateKeyPair({ dir, password: 'hunter2' });
    expect(result.privateKeyPath).toBe(join(dir, 'cosign.key'));
    expect(statSync(result.privateKeyPath).mode & 0o777).toBe(0o600);
    const text = readFileSync(result.privateKeyPath, 'utf8');
    expect(text).toMatch(/^-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n/);
    expect(text).toMatch(/\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n$/);
    for (const line of text.split('\n').slice(1, -2)) expect(line.length).toBeLessThanOrEqual(64);
    const json = pemBody(text);
    expect(Object.keys(json)).toEqual(['kdf', 'cipher', 'ciphertext']);
    const kdf = json['kdf'] as { name: string; params: unknown; salt: string };
    expect(kdf.name).toBe('scrypt');
    expect(kdf.params).toEqual({ N: 65536, r: 8, p: 1 });
    expect(Buffer.from(kdf.salt, 'base64')).toHaveLength(32);
    const cipher = json['cipher'] as { name: string; nonce: string };
    expect(cipher.name).toBe('nacl/secretbox');
    expect(Buffer.from(cipher.nonce, 'base64')).toHaveLength(24);
    const pub = readFileSync(result.publicKeyPath, 'utf8');
    expect(pub).toMatch(/^-----BEGIN PUBLIC KEY-----\n[\s\S]+\n-----END PUBLIC KEY-----\n$/);

    const key = await loadPrivateKey(result.privateKeyPath, { password: 'hunter2' });
    expect(key.algorithm).toBe('ecdsa-p256');
    const verifier = await loadPublicKey(result.publicKeyPath);
    const sig = key.sign(Buffer.from('payload'));
    expect(await verifier.verify(Buffer.from('payload'), sig)).toBe(true);
    expect(await verifier.verify(Buffer.from('payloaD'), sig)).toBe(false);
    expect(verifier.hint).toBe(key.hint);
  });

  it('allows an empty password, as cosign does', async () => {
    const dir = tempDir();
    await generateKeyPair({ dir, env: { COSIGN_PASSWORD: '' } });
    const key = await loadPrivateKey(join(dir, 'cosign.key'), { env: { COSIGN_PASSWORD: '' } });
    expect(key.algorithm).toBe('ecdsa-p256');
  });

  it('takes LADING_PASSWORD before COSIGN_PASSWORD', async () => {
    const dir = tempDir();
    await generateKeyPair({ dir, env: { LADING_PASSWORD: 'a', COSIGN_PASSWORD: 'b' } });
    await loadPrivateKey(join(dir, 'cosign.key'), { password: 'a' });
    await expectCode(loadPrivateKey(join(dir, 'cosign.key'), { password: 'b' }), 'KEY_PASSWORD');
  });

  it('refuses to overwrite existing keys unless forced', async () => {
    const dir = tempDir();
    await generateKeyPair({ dir, password: '' });
    const before = readFileSync(join(dir, 'cosign.key'), 'utf8');
    await expectCode(generateKeyPair({ dir, password: '' }), 'KEY_WRITE', /file exists/);
    expect(readFileSync(join(dir, 'cosign.key'), 'utf8')).toBe(before);
    await generateKeyPair({ dir, password: '', force: true });
    expect(readFileSync(join(dir, 'cosign.key'), 'utf8')).not.toBe(before);
  });

  it('fails without a password source instead of hanging', async () => {
    await expectCode(generateKeyPair({ dir: tempDir(), env: {} }), 'NO_PASSWORD', /LADING_PASSWORD/);
  });
});

describe('loading keys', () => {
  it('reads the legacy ENCRYPTED COSIGN PRIVATE KEY with scrypt N=32768 (written by go-securesystemslib)', async () => {
    const key = await loadPrivateKey(join(fixtures, 'legacy-cosign.key'), { password: 'legacy-pass' });
    const pub = await loadPublicKey(join(fixtures, 'legacy-cosign.pub'));
    expect(await pub.verify(Buffer.from('x'), key.sign(Buffer.from('x')))).toBe(true);
  });

  it('says "incorrect password" for a wrong password', async () => {
    await expectCode(loadPrivateKey(join(fixtures, 'legacy-cosign.key'), { password: 'nope' }), 'KEY_PASSWORD', /legacy-cosign\.key: incorrect password/);
  });

  it('names the file and the problem for corrupt keys', async () => {
    const dir = tempDir();
    const good = readFileSync(join(fixtures, 'legacy-cosign.key'), 'utf8');
    const cases: Array<[string, string, string, RegExp]> = [
      ['empty.key', '', 'KEY_INVALID', /empty\.key: no PEM block/],
      ['garbage.key', 'hello world\n', 'KEY_INVALID', /no PEM block/],
      ['notjson.key', '-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\naGVsbG8=\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n', 'KEY_INVALID', /not valid JSON/],
      ['params.key', encryptedWith({ kdf: { name: 'scrypt', params: { N: 1 << 24, r: 8, p: 1 }, salt: 'AA==' }, cipher: { name: 'nacl/secretbox', nonce: 'AA==' }, ciphertext: 'AA==' }), 'KEY_UNSUPPORTED', /unsupported scrypt parameters N=16777216/],
      ['cipher.key', encryptedWith({ kdf: { name: 'scrypt', params: { N: 32768, r: 8, p: 1 }, salt: 'AA==' }, cipher: { name: 'aes' }, ciphertext: 'AA==' }), 'KEY_UNSUPPORTED', /unsupported cipher "aes"/],
      ['flipped.key', flipCiphertext(good), 'KEY_PASSWORD', /incorrect password \(or the key is corrupt\)/],
      ['rsa-type.key', '-----BEGIN FOO KEY-----\nAAAA\n-----END FOO KEY-----\n', 'KEY_UNSUPPORTED', /unsupported PEM type "FOO KEY"/],
    ];
    for (const [name, content, code, message] of cases) {
      writeFileSync(join(dir, name), content);
      await expectCode(loadPrivateKey(join(dir, name), { password: 'legacy-pass' }), code, message);
    }
    await expectCode(loadPrivateKey(join(dir, 'missing.key'), { password: '' }), 'KEY_INVALID', /missing\.key: no such file/);
    await expectCode(loadPrivateKey(join(fixtures, 'legacy-cosign.pub'), { password: '' }), 'KEY_INVALID', /this is a public key/);
    await expectCode(loadPublicKey(join(fixtures, 'legacy-cosign.key')), 'KEY_INVALID', /this is a private key/);
  });

  it('reads key files of up to 64 KiB that are regular files, naming the file otherwise', async () => {
    const dir = tempDir();
    const pem = readFileSync(join(fixtures, 'legacy-cosign.pub'), 'utf8');
    // Padding after the PEM block is ignored: a file of exactly 64 KiB is read.
    writeFileSync(join(dir, 'at-limit.pub'), pem.padEnd(64 * 1024, '\n'));
    expect((await loadPublicKey(join(dir, 'at-limit.pub'))).algorithm).toBe('ecdsa-p256');
    writeFileSync(join(dir, 'huge.pub'), pem.padEnd(64 * 1024 + 1, '\n'));
    await expectCode(loadPublicKey(join(dir, 'huge.pub')), 'KEY_INVALID', /^reading public key .*huge\.pub: 65537 bytes is too large for a key file$/);
    writeFileSync(join(dir, 'huge.key'), Buffer.alloc(1024 * 1024, 0x41));
    await expectCode(loadPrivateKey(join(dir, 'huge.key'), { password: '' }), 'KEY_INVALID', /^reading private key .*huge\.key: 1048576 bytes is too large for a key file$/);
    await expectCode(loadPublicKey(dir), 'KEY_INVALID', /^reading public key .*: not a regular file$/);
    await expectCode(loadPublicKey(join(dir, 'missing.pub')), 'KEY_INVALID', /^reading public key .*missing\.pub: no such file$/);
    // A FIFO is refused, not waited on.
    const fifo = join(dir, 'fifo.pub');
    execFileSync('mkfifo', [fifo]);
    await expectCode(loadPublicKey(fifo), 'KEY_INVALID', /fifo\.pub: not a regular file$/);
  });

  it('gives the PEM and the bundle hint of a public key (computed when first asked for)', async () => {
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const spki = pair.publicKey.export({ type: 'spki', format: 'der' });
    const pem = pair.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const key = parsePublicKey(pem, 'p256.pub');
    expect(key.hint).toBe(createHash('sha256').update(spki).digest('base64'));
    expect(key.publicKeyPem).toBe(pem);
    expect(key.hint).toBe(createHash('sha256').update(spki).digest('base64'));
    // A copy keeps them (the fields are enumerable).
    expect({ ...key }).toMatchObject({ algorithm: 'ecdsa-p256', source: 'p256.pub', hint: key.hint, publicKeyPem: pem });
    const dir = tempDir();
    writeFileSync(join(dir, 'p256.pem'), pair.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const signer = await loadPrivateKey(join(dir, 'p256.pem'));
    expect(signer.hint).toBe(key.hint);
    expect(signer.publicKeyPem).toBe(pem);
  });

  it('verifies with ECDSA P-256/P-384, RSA and Ed25519 public keys', async () => {
    const cases: Array<[string, ReturnType<typeof generateKeyPairSync>, string | null]> = [
      ['ecdsa-p256', generateKeyPairSync('ec', { namedCurve: 'P-256' }), 'sha256'],
      ['ecdsa-p384', generateKeyPairSync('ec', { namedCurve: 'P-384' }), 'sha384'],
      ['rsa', generateKeyPairSync('rsa', { modulusLength: 2048 }), 'sha256'],
      ['ed25519', generateKeyPairSync('ed25519'), null],
    ];
    for (const [alg, pair, hash] of cases) {
      const pem = pair.publicKey.export({ type: 'spki', format: 'pem' }).toString();
      const key = parsePublicKey(pem, `${alg}.pub`);
      expect(key.algorithm).toBe(alg);
      const sig = signWith(hash, pair.privateKey);
      expect(await key.verify(Buffer.from('data'), sig), alg).toBe(true);
      expect(await key.verify(Buffer.from('datA'), sig), alg).toBe(false);
    }
  });

  it('verifies Ed25519ph (RFC 8032 section 7.3 test vector), the scheme cosign v3 signs with', async () => {
    const key = parsePublicKey(ed25519Spki(RFC8032_PH.publicKey), 'rfc8032.pub');
    const signature = Buffer.from(RFC8032_PH.signature, 'hex');
    expect(await key.verify(Buffer.from('abc'), signature)).toBe(true);
    expect(await key.verify(Buffer.from('abd'), signature)).toBe(false);
    // Not plain Ed25519: Node's crypto alone rejects it.
    expect(cryptoVerify(null, Buffer.from('abc'), key.publicKey, signature)).toBe(false);
    const flipped = Buffer.from(signature);
    flipped[0] = (flipped[0] ?? 0) ^ 1;
    expect(await key.verify(Buffer.from('abc'), flipped)).toBe(false);
    expect(await key.verify(Buffer.from('abc'), signature.subarray(0, 63))).toBe(false);
  });

  it('signs with Ed25519 keys (plain Ed25519, what cosign verify --key checks), encrypted or not', async () => {
    const dir = tempDir();
    const pair = generateKeyPairSync('ed25519');
    writeFileSync(join(dir, 'ed.pem'), pair.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(join(dir, 'ed.key'), await encryptPrivateKey(pair.privateKey.export({ type: 'pkcs8', format: 'der' }), 'pw'));
    for (const key of [await loadPrivateKey(join(dir, 'ed.pem')), await loadPrivateKey(join(dir, 'ed.key'), { password: 'pw' })]) {
      expect(key.algorithm).toBe('ed25519');
      const sig = key.sign(Buffer.from('payload'));
      expect(cryptoVerify(null, Buffer.from('payload'), pair.publicKey, sig)).toBe(true);
      expect(key.verifiesAsSigned(Buffer.from('payload'), sig)).toBe(true);
      expect(await key.verify(Buffer.from('payload'), sig)).toBe(true);
      expect(await key.verify(Buffer.from('payloaD'), sig)).toBe(false);
    }
    // An Ed25519ph signature verifies, but is not one lading makes (so it is no duplicate).
    const rfcKey = await loadPrivateKey(writeTemp(dir, 'rfc.pem', ed25519Pkcs8(RFC8032_PH.seed)));
    expect(rfcKey.publicKeyPem).toBe(ed25519Spki(RFC8032_PH.publicKey));
    expect(await rfcKey.verify(Buffer.from('abc'), Buffer.from(RFC8032_PH.signature, 'hex'))).toBe(true);
    expect(rfcKey.verifiesAsSigned(Buffer.from('abc'), Buffer.from(RFC8032_PH.signature, 'hex'))).toBe(false);
  });
});

describe('lading generate-key-pair', () => {
  it('writes the pair in the working directory and says where', async () => {
    const dir = tempDir();
    const r = await lading(['generate-key-pair', '--output-key-prefix', 'release'], { cwd: dir, env: { LADING_PASSWORD: 'pw' } });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`Private key written to ${join(dir, 'release.key')}`);
    expect(r.stderr).toContain(`Public key written to ${join(dir, 'release.pub')}`);
    expect(r.stdout).toBe('');
    expect(statSync(join(dir, 'release.key')).mode & 0o777).toBe(0o600);
  });

  it('asks for the password twice on a terminal, without echo', async () => {
    const dir = tempDir();
    const tty = Object.assign(new PassThrough(), { isTTY: true, isRaw: false, setRawMode(raw: boolean) { tty.isRaw = raw; return tty; } });
    const r = lading(['generate-key-pair'], { cwd: dir, env: {}, stdin: tty });
    // Typed one keystroke chunk at a time, like a terminal in raw mode; a backspace included.
    for (const chunk of ['s3', 'x\u007f', 'cret\r', 's3cret\r']) {
      await new Promise((res) => setTimeout(res, 20));
      tty.write(chunk);
    }
    const done = await r;
    expect(done.code, done.stderr).toBe(0);
    expect(done.stderr).toContain('Enter password for private key: \nEnter password for private key again: \n');
    expect(done.stderr).not.toContain('s3cret');
    expect(tty.isRaw).toBe(false);
    await loadPrivateKey(join(dir, 'cosign.key'), { password: 's3cret' });
  });

  it('refuses mismatched passwords from the terminal', async () => {
    const tty = Object.assign(new PassThrough(), { isTTY: true, isRaw: false, setRawMode() { return tty; } });
    const r = lading(['generate-key-pair'], { cwd: tempDir(), env: {}, stdin: tty });
    tty.write('one\r');
    await new Promise((res) => setTimeout(res, 20));
    tty.write('two\r');
    const done = await r;
    expect(done.code).toBe(2);
    expect(done.stderr).toMatch(/passwords do not match/);
  });

  it('fails with one line when no password can be had (no TTY, no env)', async () => {
    const r = await lading(['generate-key-pair'], { cwd: tempDir(), env: {} });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/no password: set LADING_PASSWORD/);
  });
});

/** RFC 8032 section 7.3, test "abc" (Ed25519ph); checked against Go's crypto/ed25519 too. */
const RFC8032_PH = {
  seed: '833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42',
  publicKey: 'ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf',
  signature: '98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae4131f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406',
};

/** SPKI PEM of a raw Ed25519 public key (RFC 8410). */
function ed25519Spki(hex: string): string {
  const der = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(hex, 'hex')]);
  return `-----BEGIN PUBLIC KEY-----\n${der.toString('base64')}\n-----END PUBLIC KEY-----\n`;
}

/** PKCS#8 PEM of a raw Ed25519 seed (RFC 8410). */
function ed25519Pkcs8(hex: string): string {
  const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.from(hex, 'hex')]);
  return `-----BEGIN PRIVATE KEY-----\n${der.toString('base64')}\n-----END PRIVATE KEY-----\n`;
}

function writeTemp(dir: string, name: string, content: string): string {
  writeFileSync(join(dir, name), content);
  return join(dir, name);
}

function signWith(hash: string | null, key: KeyObject): Buffer {
  return cryptoSign(hash, Buffer.from('data'), key);
}

function encryptedWith(json: unknown): string {
  const b64 = Buffer.from(JSON.stringify(json)).toString('base64');
  return `-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n${b64.match(/.{1,64}/g)!.join('\n')}\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n`;
}

function flipCiphertext(pem: string): string {
  const json = pemBody(pem) as { ciphertext: string };
  const bytes = Buffer.from(json.ciphertext, 'base64');
  bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 1;
  return encryptedWith({ ...json, ciphertext: bytes.toString('base64') });
}
