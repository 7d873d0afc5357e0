import * as crypto from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { chmod, open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { SignError } from './errors.js';
import { readRegularFile } from './files.js';

/** PEM type cosign (v2.0+) writes for its encrypted private keys. */
export const SIGSTORE_PRIVATE_KEY_PEM = 'ENCRYPTED SIGSTORE PRIVATE KEY';
/** PEM type older cosign releases wrote; still read and accepted. */
export const COSIGN_PRIVATE_KEY_PEM = 'ENCRYPTED COSIGN PRIVATE KEY';

/** Largest key file we read: keys are a few KiB; anything bigger is not a key. */
const MAX_KEY_FILE_BYTES = 64 * 1024;

/**
 * scrypt parameter sets that go-securesystemslib accepts (legacy, standard, OWASP). Anything else
 * is refused before deriving, so a tampered key file cannot make us burn memory and CPU.
 */
const SCRYPT_PARAMS: ReadonlyArray<{ N: number; r: number; p: number }> = [
  { N: 32768, r: 8, p: 1 },
  { N: 65536, r: 8, p: 1 },
  { N: 131072, r: 8, p: 1 },
];
const DEFAULT_SCRYPT = { N: 65536, r: 8, p: 1 } as const;
const SALT_BYTES = 32;
const NONCE_BYTES = 24;
const BOX_KEY_BYTES = 32;

/** Where a password comes from, in order: `password`, LADING_PASSWORD, COSIGN_PASSWORD, `prompt`. */
export interface PasswordOptions {
  /** The password itself (empty string allowed, as in cosign). */
  password?: string;
  /** Environment to read LADING_PASSWORD / COSIGN_PASSWORD from; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Asks the user (e.g. on a TTY); `confirm` asks twice when creating a key. */
  prompt?: (request: { confirm: boolean; keyPath?: string }) => Promise<string>;
}

/** Resolves the password for a private key, or fails with NO_PASSWORD. */
export async function resolvePassword(opts: PasswordOptions, request: { confirm: boolean; keyPath?: string }): Promise<string> {
  if (opts.password !== undefined) return opts.password;
  const env = opts.env ?? process.env;
  const fromEnv = env['LADING_PASSWORD'] ?? env['COSIGN_PASSWORD'];
  if (fromEnv !== undefined) return fromEnv;
  if (opts.prompt) return opts.prompt(request);
  throw new SignError(
    'NO_PASSWORD',
    `${request.keyPath ? `reading private key ${request.keyPath}: ` : ''}no password: set LADING_PASSWORD (or COSIGN_PASSWORD; an empty value means no password) or run on a terminal to be asked`,
  );
}

/** Loaded on first use: verification (public keys only) never needs the cipher. */
const loadSecretbox = () => import('@noble/ciphers/salsa.js');

function scrypt(password: string, salt: Uint8Array, params: { N: number; r: number; p: number }): Promise<Buffer> {
  return new Promise((resolvePromise, reject) => {
    // 128 * N * r bytes are needed; Node's default limit (32 MiB) is below cosign's N=65536.
    const maxmem = 128 * params.N * params.r * 2 + 1024 * 1024;
    crypto.scrypt(Buffer.from(password, 'utf8'), salt, BOX_KEY_BYTES, { N: params.N, r: params.r, p: params.p, maxmem }, (err, key) => (err ? reject(err) : resolvePromise(key)));
  });
}

/** PEM block: type and DER body. */
interface PemBlock {
  type: string;
  bytes: Buffer;
}

/** Whether `type` is a PEM type label lading reads: `[A-Z0-9 ]+`. */
function isPemType(type: string): boolean {
  if (type.length === 0) return false;
  for (let i = 0; i < type.length; i++) {
    const c = type.charCodeAt(i);
    if (!((c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 32)) return false;
  }
  return true;
}

/** Whether `s` is standard base64 with its padding: `[A-Za-z0-9+/]*={0,2}`. */
export function isBase64(s: string): boolean {
  let end = s.length;
  if (s.endsWith('==')) end -= 2;
  else if (s.endsWith('=')) end -= 1;
  for (let i = 0; i < end; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 43 || c === 47)) return false;
  }
  return true;
}

/**
 * Decodes the first PEM block of `text` (like Go's pem.Decode): a `-----BEGIN T-----` line, the
 * base64 body (header lines, those with a colon, skipped) and `-----END T-----`. Written with
 * indexOf rather than regular expressions, which a short `lading verify` would compile first.
 */
export function decodePem(text: string): PemBlock | undefined {
  for (let from = 0; ; ) {
    const begin = text.indexOf('-----BEGIN ', from);
    if (begin < 0) return undefined;
    from = begin + 1;
    const typeStart = begin + '-----BEGIN '.length;
    const typeEnd = text.indexOf('-----', typeStart);
    if (typeEnd < 0) return undefined;
    const type = text.slice(typeStart, typeEnd);
    let bodyStart = typeEnd + 5;
    if (text[bodyStart] === '\r') bodyStart++;
    if (!isPemType(type) || text[bodyStart] !== '\n') continue;
    bodyStart++;
    const end = text.indexOf(`-----END ${type}-----`, bodyStart);
    if (end < 0) continue;
    const body = text
      .slice(bodyStart, end)
      .split('\n')
      .map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line))
      .filter((line) => line !== '' && !line.includes(':'))
      .join('');
    if (!isBase64(body)) return undefined;
    return { type, bytes: Buffer.from(body, 'base64') };
  }
}

/** Encodes a PEM block the way Go's pem.EncodeToMemory does (64-column base64). */
export function encodePem(type: string, bytes: Uint8Array): string {
  const b64 = Buffer.from(bytes).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${type}-----\n${lines.join('\n')}${lines.length ? '\n' : ''}-----END ${type}-----\n`;
}

/**
 * Encrypts PKCS#8 DER the way go-securesystemslib's `encrypted.Encrypt` does and wraps it in a
 * PEM block: JSON `{kdf: scrypt, cipher: nacl/secretbox, ciphertext}` with base64 byte fields.
 */
export async function encryptPrivateKey(pkcs8Der: Uint8Array, password: string, opts: { pemType?: string; scrypt?: { N: number; r: number; p: number } } = {}): Promise<string> {
  const params = opts.scrypt ?? DEFAULT_SCRYPT;
  const salt = crypto.randomBytes(SALT_BYTES);
  const nonce = crypto.randomBytes(NONCE_BYTES);
  const { secretbox } = await loadSecretbox();
  const key = await scrypt(password, salt, params);
  const ciphertext = secretbox(key, nonce).seal(pkcs8Der);
  key.fill(0);
  // Field order and names match Go's json.Marshal of go-securesystemslib's `data` struct.
  const json = JSON.stringify({
    kdf: { name: 'scrypt', params: { N: params.N, r: params.r, p: params.p }, salt: salt.toString('base64') },
    cipher: { name: 'nacl/secretbox', nonce: nonce.toString('base64') },
    ciphertext: Buffer.from(ciphertext).toString('base64'),
  });
  return encodePem(opts.pemType ?? SIGSTORE_PRIVATE_KEY_PEM, Buffer.from(json, 'utf8'));
}

function b64Field(value: unknown, field: string, what: string): Buffer {
  if (typeof value !== 'string' || !isBase64(value)) {
    throw new SignError('KEY_INVALID', `${what}: field ${field} is missing or not base64`);
  }
  return Buffer.from(value, 'base64');
}

/** Decrypts the body of an encrypted cosign/sigstore private key PEM block into PKCS#8 DER. */
export async function decryptPrivateKey(body: Buffer, password: string, what: string): Promise<Buffer> {
  let data: Record<string, unknown>;
  try {
    data = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new SignError('KEY_INVALID', `${what}: the encrypted key is not valid JSON`, { cause: err });
  }
  if (data === null || typeof data !== 'object') throw new SignError('KEY_INVALID', `${what}: the encrypted key is not a JSON object`);
  const kdf = data['kdf'] as Record<string, unknown> | undefined;
  const cipher = data['cipher'] as Record<string, unknown> | undefined;
  if (!kdf || typeof kdf !== 'object' || kdf['name'] !== 'scrypt') {
    throw new SignError('KEY_UNSUPPORTED', `${what}: unsupported key derivation ${JSON.stringify(kdf?.['name'] ?? null)} (want scrypt)`);
  }
  if (!cipher || typeof cipher !== 'object' || cipher['name'] !== 'nacl/secretbox') {
    throw new SignError('KEY_UNSUPPORTED', `${what}: unsupported cipher ${JSON.stringify(cipher?.['name'] ?? null)} (want nacl/secretbox)`);
  }
  const params = (kdf['params'] ?? {}) as Record<string, unknown>;
  const known = SCRYPT_PARAMS.find((p) => p.N === params['N'] && p.r === params['r'] && p.p === params['p']);
  if (!known) {
    throw new SignError('KEY_UNSUPPORTED', `${what}: unsupported scrypt parameters N=${String(params['N'])} r=${String(params['r'])} p=${String(params['p'])}`);
  }
  const salt = b64Field(kdf['salt'], 'kdf.salt', what);
  const nonce = b64Field(cipher['nonce'], 'cipher.nonce', what);
  const ciphertext = b64Field(data['ciphertext'], 'ciphertext', what);
  if (nonce.length !== NONCE_BYTES) throw new SignError('KEY_INVALID', `${what}: cipher.nonce must be ${NONCE_BYTES} bytes, got ${nonce.length}`);
  if (ciphertext.length < 16) throw new SignError('KEY_INVALID', `${what}: ciphertext is too short`);
  const { secretbox } = await loadSecretbox();
  const key = await scrypt(password, salt, known);
  try {
    return Buffer.from(secretbox(key, nonce).open(ciphertext));
  } catch {
    // The cipher's own message ("invalid tag") adds nothing for the user.
    throw new SignError('KEY_PASSWORD', `${what}: incorrect password (or the key is corrupt)`);
  } finally {
    key.fill(0);
  }
}

export type KeyAlgorithm = 'ecdsa-p256' | 'ecdsa-p384' | 'ecdsa-p521' | 'rsa' | 'ed25519';

function algorithmOf(key: KeyObject, what: string): KeyAlgorithm {
  switch (key.asymmetricKeyType) {
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      if (curve === 'prime256v1' || curve === 'P-256') return 'ecdsa-p256';
      if (curve === 'secp384r1' || curve === 'P-384') return 'ecdsa-p384';
      if (curve === 'secp521r1' || curve === 'P-521') return 'ecdsa-p521';
      throw new SignError('KEY_UNSUPPORTED', `${what}: unsupported elliptic curve ${curve ?? 'unknown'} (use P-256, P-384 or P-521)`);
    }
    case 'rsa': {
      const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
      if (bits < 2048) throw new SignError('KEY_UNSUPPORTED', `${what}: RSA keys must have at least 2048 bits, this one has ${bits}`);
      return 'rsa';
    }
    case 'ed25519':
      return 'ed25519';
    default:
      throw new SignError('KEY_UNSUPPORTED', `${what}: unsupported key type ${key.asymmetricKeyType ?? 'unknown'}`);
  }
}

/** The hash each algorithm signs with by default (as sigstore's LoadDefaultSignerVerifier). */
function defaultHash(alg: KeyAlgorithm): string | null {
  switch (alg) {
    case 'ecdsa-p384':
      return 'sha384';
    case 'ecdsa-p521':
      return 'sha512';
    case 'ed25519':
      return null;
    default:
      return 'sha256';
  }
}

/**
 * Ed25519ph (RFC 8032, pre-hashed with SHA-512, empty context), which Node's crypto lacks. Loaded
 * on first use: only an Ed25519 signature that is not plain Ed25519 needs it.
 */
const loadEd25519ph = async () => (await import('@noble/curves/ed25519.js')).ed25519ph;

/** A public key that checks signatures. */
export interface VerificationKey {
  readonly algorithm: KeyAlgorithm;
  readonly publicKey: KeyObject;
  /** PEM `PUBLIC KEY` (SPKI). */
  readonly publicKeyPem: string;
  /** base64(sha256(SPKI DER)): the key hint sigstore bundles carry. */
  readonly hint: string;
  /** Where the key came from, for messages. */
  readonly source: string;
  /**
   * Whether `signature` is this key's signature over `data`, in any scheme cosign signs with for
   * the key type: ECDSA and RSA over the key's default hash or SHA-256; for Ed25519 keys plain
   * Ed25519 (what `cosign verify --key` checks and lading signs) and Ed25519ph (what cosign v3's
   * `sign` and `attest` make).
   */
  verify(data: Uint8Array, signature: Uint8Array): Promise<boolean>;
}

/** A private key that signs (and can verify its own signatures). */
export interface SigningKey extends VerificationKey {
  /**
   * Signs `data`: ECDSA (DER) and RSA PKCS#1 v1.5 over the key's default hash, plain Ed25519
   * for Ed25519 keys — the form `cosign verify --key` checks (it verifies Ed25519 keys without
   * pre-hashing).
   */
  sign(data: Uint8Array): Buffer;
  /** Whether `signature` over `data` is in the exact scheme {@link sign} uses (duplicate detection). */
  verifiesAsSigned(data: Uint8Array, signature: Uint8Array): boolean;
}

function verifyWithHash(algorithm: KeyAlgorithm, publicKey: KeyObject, hash: string | null, data: Uint8Array, signature: Uint8Array): boolean {
  try {
    return algorithm.startsWith('ecdsa') ? crypto.verify(hash, data, { key: publicKey, dsaEncoding: 'der' }, signature) : crypto.verify(hash, data, publicKey, signature);
  } catch {
    // A malformed signature is a failed verification, not an error.
    return false;
  }
}

const ALGORITHM_NAMES: Readonly<Record<KeyAlgorithm, string>> = {
  'ecdsa-p256': 'ECDSA P-256',
  'ecdsa-p384': 'ECDSA P-384',
  'ecdsa-p521': 'ECDSA P-521',
  rsa: 'RSA',
  ed25519: 'Ed25519; checked as Ed25519 and Ed25519ph',
};

/** Why a signature was rejected by `key`, for messages: names the key and its algorithm. */
export function signatureMismatch(key: VerificationKey): string {
  return `the signature does not verify with the key ${key.source} (${ALGORITHM_NAMES[key.algorithm]})`;
}

/** The 32-byte Ed25519 public key inside an SPKI DER (RFC 8410: a fixed 12-byte prefix). */
function rawEd25519(spki: Buffer): Uint8Array {
  return new Uint8Array(spki.subarray(spki.length - 32));
}

/**
 * The SPKI DER, the PEM and the hint are computed on first use: verifying an ECDSA or RSA
 * signature needs none of them (`lading verify` makes this key while it waits for the registry).
 */
function makeVerificationKey(publicKey: KeyObject, source: string): VerificationKey {
  const algorithm = algorithmOf(publicKey, source);
  const hashes: Array<string | null> = algorithm === 'ed25519' ? [null] : Array.from(new Set([defaultHash(algorithm), 'sha256']));
  let spkiDer: Buffer | undefined;
  let pem: string | undefined;
  let keyHint: string | undefined;
  const spki = (): Buffer => (spkiDer ??= publicKey.export({ type: 'spki', format: 'der' }));
  return {
    algorithm,
    publicKey,
    get publicKeyPem() {
      return (pem ??= encodePem('PUBLIC KEY', spki()));
    },
    get hint() {
      return (keyHint ??= crypto.createHash('sha256').update(spki()).digest('base64'));
    },
    source,
    async verify(data, signature) {
      for (const hash of hashes) if (verifyWithHash(algorithm, publicKey, hash, data, signature)) return true;
      if (algorithm !== 'ed25519' || signature.length !== 64) return false;
      const ed25519ph = await loadEd25519ph();
      try {
        // zip215: false: RFC 8032's decoding rules (canonical point encodings), not ZIP-215's looser ones.
        return ed25519ph.verify(signature, data, rawEd25519(spki()), { zip215: false });
      } catch {
        return false;
      }
    },
  };
}

function makeSigningKey(privateKey: KeyObject, source: string): SigningKey {
  const publicKey = crypto.createPublicKey(privateKey);
  const verifier = makeVerificationKey(publicKey, source);
  const hash = defaultHash(verifier.algorithm);
  const ecdsa = verifier.algorithm.startsWith('ecdsa');
  // Added to the verifier itself (a spread would copy its lazy getters' values).
  return Object.assign(verifier, {
    sign(data: Uint8Array): Buffer {
      return ecdsa ? crypto.sign(hash, data, { key: privateKey, dsaEncoding: 'der' }) : crypto.sign(hash, data, privateKey);
    },
    verifiesAsSigned(data: Uint8Array, signature: Uint8Array): boolean {
      return verifyWithHash(verifier.algorithm, publicKey, hash, data, signature);
    },
  });
}

/** Reads a key file: small, read synchronously (see readRegularFile). */
function readKeyFile(path: string, what: string): string {
  return readRegularFile(path, { max: MAX_KEY_FILE_BYTES, code: 'KEY_INVALID', what, tooLarge: (size) => `${size} bytes is too large for a key file` }).toString('utf8');
}

export interface LoadPrivateKeyOptions extends PasswordOptions {
  signal?: AbortSignal;
}

/**
 * Loads a private key for signing: cosign's encrypted `ENCRYPTED SIGSTORE PRIVATE KEY` /
 * `ENCRYPTED COSIGN PRIVATE KEY` (password from options, environment or prompt), or an
 * unencrypted PKCS#8 / SEC1 / PKCS#1 PEM.
 */
export async function loadPrivateKey(path: string, opts: LoadPrivateKeyOptions = {}): Promise<SigningKey> {
  const what = `reading private key ${path}`;
  const text = readKeyFile(path, what);
  return parsePrivateKey(text, { ...opts, keyPath: path });
}

/** Like {@link loadPrivateKey} for PEM text already in memory. */
export async function parsePrivateKey(pem: string, opts: LoadPrivateKeyOptions & { keyPath?: string } = {}): Promise<SigningKey> {
  const source = opts.keyPath ?? 'private key';
  const what = `reading private key ${source}`;
  const block = decodePem(pem);
  if (!block) throw new SignError('KEY_INVALID', `${what}: no PEM block found (is this a key file?)`);
  let der: Buffer;
  let format: 'pkcs8' | 'sec1' | 'pkcs1';
  switch (block.type) {
    case SIGSTORE_PRIVATE_KEY_PEM:
    case COSIGN_PRIVATE_KEY_PEM: {
      const password = await resolvePassword(opts, opts.keyPath === undefined ? { confirm: false } : { confirm: false, keyPath: opts.keyPath });
      der = await decryptPrivateKey(block.bytes, password, what);
      format = 'pkcs8';
      break;
    }
    case 'PRIVATE KEY':
      der = block.bytes;
      format = 'pkcs8';
      break;
    case 'EC PRIVATE KEY':
      der = block.bytes;
      format = 'sec1';
      break;
    case 'RSA PRIVATE KEY':
      der = block.bytes;
      format = 'pkcs1';
      break;
    case 'PUBLIC KEY':
      throw new SignError('KEY_INVALID', `${what}: this is a public key; signing needs the private key (cosign.key)`);
    default:
      throw new SignError('KEY_UNSUPPORTED', `${what}: unsupported PEM type "${block.type}"`);
  }
  let key: KeyObject;
  try {
    key = crypto.createPrivateKey({ key: der, format: 'der', type: format });
  } catch (err) {
    throw new SignError('KEY_INVALID', `${what}: the key data is not a valid ${format.toUpperCase()} private key`, { cause: err });
  } finally {
    der.fill(0);
  }
  return makeSigningKey(key, source);
}

/** Loads a PEM public key (SPKI `PUBLIC KEY`, or `RSA PUBLIC KEY`) for verification. */
export async function loadPublicKey(path: string): Promise<VerificationKey> {
  const what = `reading public key ${path}`;
  const text = readKeyFile(path, what);
  return parsePublicKey(text, path);
}

/** Like {@link loadPublicKey} for PEM text already in memory. */
export function parsePublicKey(pem: string, source = 'public key'): VerificationKey {
  const what = `reading public key ${source}`;
  const block = decodePem(pem);
  if (!block) throw new SignError('KEY_INVALID', `${what}: no PEM block found (is this a key file?)`);
  let key: KeyObject;
  try {
    if (block.type === 'PUBLIC KEY') key = crypto.createPublicKey({ key: block.bytes, format: 'der', type: 'spki' });
    else if (block.type === 'RSA PUBLIC KEY') key = crypto.createPublicKey({ key: block.bytes, format: 'der', type: 'pkcs1' });
    else if (block.type === SIGSTORE_PRIVATE_KEY_PEM || block.type === COSIGN_PRIVATE_KEY_PEM || block.type.endsWith('PRIVATE KEY')) {
      throw new SignError('KEY_INVALID', `${what}: this is a private key; verification needs the public key (cosign.pub)`);
    } else throw new SignError('KEY_UNSUPPORTED', `${what}: unsupported PEM type "${block.type}" (want PUBLIC KEY)`);
  } catch (err) {
    if (err instanceof SignError) throw err;
    throw new SignError('KEY_INVALID', `${what}: the key data is not a valid public key`, { cause: err });
  }
  return makeVerificationKey(key, source);
}

export interface GenerateKeyPairOptions extends PasswordOptions {
  /** File name prefix: writes `<prefix>.key` and `<prefix>.pub` (default `cosign`). */
  outputKeyPrefix?: string;
  /** Directory to write into (default: the current directory). */
  dir?: string;
  /** Replace existing files (default: refuse). */
  force?: boolean;
  signal?: AbortSignal;
}

export interface GenerateKeyPairResult {
  privateKeyPath: string;
  publicKeyPath: string;
  publicKeyPem: string;
}

/** Writes `content` to `path` atomically (temp file beside it, then rename) with `mode`. */
async function writeFileAtomic(path: string, content: string, mode: number, force: boolean): Promise<void> {
  if (!force) {
    try {
      await stat(path);
      throw new SignError('KEY_WRITE', `writing ${path}: file exists (pass --force to overwrite)`);
    } catch (err) {
      if (err instanceof SignError) throw err;
    }
  }
  const tmp = join(dirname(path), `.${basename(path)}.${crypto.randomBytes(6).toString('hex')}.tmp`);
  try {
    // O_EXCL with the final mode from the start: the secret is never readable by others.
    const fh = await open(tmp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, mode);
    try {
      await fh.writeFile(content, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await chmod(tmp, mode);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    if (err instanceof SignError) throw err;
    throw new SignError('KEY_WRITE', `writing ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Generates an ECDSA P-256 key pair in cosign's format: `<prefix>.key` (0600, encrypted
 * `ENCRYPTED SIGSTORE PRIVATE KEY`, scrypt N=65536) and `<prefix>.pub` (PEM `PUBLIC KEY`).
 */
export async function generateKeyPair(opts: GenerateKeyPairOptions = {}): Promise<GenerateKeyPairResult> {
  const prefix = opts.outputKeyPrefix ?? 'cosign';
  const dir = resolve(opts.dir ?? process.cwd());
  const privateKeyPath = resolve(dir, `${prefix}.key`);
  const publicKeyPath = resolve(dir, `${prefix}.pub`);
  if (!opts.force) {
    for (const p of [privateKeyPath, publicKeyPath]) {
      const exists = await stat(p).then(
        () => true,
        () => false,
      );
      if (exists) throw new SignError('KEY_WRITE', `writing ${p}: file exists (pass --force to overwrite)`);
    }
  }
  const password = await resolvePassword(opts, { confirm: true, keyPath: privateKeyPath });
  opts.signal?.throwIfAborted();
  const { privateKey, publicKey } = await new Promise<{ privateKey: KeyObject; publicKey: KeyObject }>((res, rej) =>
    crypto.generateKeyPair('ec', { namedCurve: 'P-256' }, (err, publicKey, privateKey) => (err ? rej(err) : res({ publicKey, privateKey }))),
  );
  const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'der' });
  const privatePem = await encryptPrivateKey(pkcs8, password);
  pkcs8.fill(0);
  const publicKeyPem = encodePem('PUBLIC KEY', publicKey.export({ type: 'spki', format: 'der' }));
  opts.signal?.throwIfAborted();
  await writeFileAtomic(privateKeyPath, privatePem, 0o600, opts.force ?? false);
  try {
    await writeFileAtomic(publicKeyPath, publicKeyPem, 0o644, opts.force ?? false);
  } catch (err) {
    // Never leave a private key without its public half.
    await rm(privateKeyPath, { force: true });
    throw err;
  }
  return { privateKeyPath, publicKeyPath, publicKeyPem };
}
