import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, realpath, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { readSmallFileSync } from '../files.js';
import { OciError } from './errors.js';

// The config is one small file, read synchronously.

/** Credentials for one registry. */
export interface Credential {
  username?: string;
  password?: string;
  /** OAuth2 refresh token (docker's `identitytoken`). */
  identityToken?: string;
  /** A registry token used as-is in `Authorization: Bearer`. */
  registryToken?: string;
}

/** A source of credentials by registry host. */
export interface CredentialStore {
  get(registry: string): Promise<Credential | undefined>;
}

export interface DockerConfigOptions {
  /** Environment for DOCKER_CONFIG/HOME and the helpers' PATH; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Directory holding config.json; default $DOCKER_CONFIG or ~/.docker. */
  configDir?: string;
}

interface DockerConfigFile {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string; registrytoken?: string; email?: string }>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [key: string]: unknown;
}

const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';
const maxConfigBytes = 4 * 1024 * 1024;
const maxHelperOutput = 1024 * 1024;

/** A store with fixed credentials (for tests and programmatic use). */
export class StaticCredentials implements CredentialStore {
  constructor(private readonly byRegistry: Record<string, Credential>) {}
  async get(registry: string): Promise<Credential | undefined> {
    return this.byRegistry[registry] ?? this.byRegistry[normaliseRegistryKey(registry)];
  }
}

/** Where docker keeps its config.json for this environment. */
export function dockerConfigDir(opts?: DockerConfigOptions): string {
  const env = opts?.env ?? process.env;
  if (opts?.configDir) return opts.configDir;
  if (env['DOCKER_CONFIG']) return env['DOCKER_CONFIG'];
  return join(env['HOME'] ?? homedir(), '.docker');
}

/** The key docker uses in `auths` for a registry host. */
export function dockerConfigKey(registry: string): string {
  const n = normaliseRegistryKey(registry);
  return n === 'index.docker.io' ? DOCKER_HUB_KEY : n;
}

function normaliseRegistryKey(key: string): string {
  let k = key.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  if (k === 'docker.io' || k === 'registry-1.docker.io' || k === 'index.docker.io') k = 'index.docker.io';
  return k;
}

async function readConfigFile(path: string): Promise<DockerConfigFile> {
  let text: string;
  try {
    const buf = readSmallFileSync(path, maxConfigBytes);
    if (buf === undefined) throw new OciError('TOO_LARGE', `reading ${path}: larger than ${maxConfigBytes} bytes`);
    text = buf.toString('utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    if (err instanceof OciError) throw err;
    throw new OciError('CREDENTIALS', `reading docker config ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (text.trim() === '') return {};
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not a JSON object');
    return parsed as DockerConfigFile;
  } catch (err) {
    throw new OciError('CREDENTIALS', `reading docker config ${path}: invalid JSON: ${(err as Error).message}`, { cause: err });
  }
}

/** Runs `docker-credential-<helper> <action>` with `input` on stdin; returns stdout. */
async function runHelper(helper: string, action: 'get' | 'store' | 'erase', input: string, env: NodeJS.ProcessEnv): Promise<string> {
  const program = `docker-credential-${helper}`;
  return new Promise((resolve, reject) => {
    const child = spawn(program, [action], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let outLen = 0;
    let errText = '';
    child.stdout.on('data', (d: Buffer) => {
      outLen += d.length;
      if (outLen <= maxHelperOutput) out.push(d);
    });
    child.stderr.on('data', (d: Buffer) => {
      if (errText.length < 4096) errText += d.toString('utf8');
    });
    child.on('error', (err) => {
      const hint = (err as NodeJS.ErrnoException).code === 'ENOENT' ? ` (is ${program} installed and on PATH?)` : '';
      reject(new OciError('CREDENTIALS', `running credential helper ${program} ${action}: ${err.message}${hint}`, { cause: err }));
    });
    child.on('close', (code) => {
      const stdout = Buffer.concat(out).toString('utf8');
      if (outLen > maxHelperOutput) {
        reject(new OciError('TOO_LARGE', `credential helper ${program} ${action}: output larger than ${maxHelperOutput} bytes`));
      } else if (code !== 0) {
        // Helpers report "credentials not found in native keychain" on stdout for a miss.
        const msg = (stdout.trim() || errText.trim()).split('\n')[0] ?? '';
        const e = new OciError('CREDENTIALS', `credential helper ${program} ${action} exited with status ${code}: ${msg}`);
        (e as { notFound?: boolean }).notFound = /credentials not found/i.test(msg);
        reject(e);
      } else {
        resolve(stdout);
      }
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

function decodeAuth(entry: NonNullable<DockerConfigFile['auths']>[string], path: string, key: string): Credential | undefined {
  const cred: Credential = {};
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw new OciError('CREDENTIALS', `reading docker config ${path}: auths["${key}"].auth is not base64 of "user:password"`);
    cred.username = decoded.slice(0, colon);
    cred.password = decoded.slice(colon + 1);
  } else {
    if (entry.username !== undefined) cred.username = entry.username;
    if (entry.password !== undefined) cred.password = entry.password;
  }
  if (entry.identitytoken) cred.identityToken = entry.identitytoken;
  if (entry.registrytoken) cred.registryToken = entry.registrytoken;
  return Object.keys(cred).length > 0 ? cred : undefined;
}

/** Credentials from docker's config.json: `credHelpers`, then `credsStore`, then `auths`. */
export class DockerConfigStore implements CredentialStore {
  readonly path: string;
  private readonly env: NodeJS.ProcessEnv;

  constructor(opts?: DockerConfigOptions) {
    this.env = opts?.env ?? process.env;
    this.path = join(dockerConfigDir(opts), 'config.json');
  }

  async get(registry: string): Promise<Credential | undefined> {
    const config = await readConfigFile(this.path);
    const host = normaliseRegistryKey(registry);
    const helper = helperFor(config, host);
    if (helper) {
      let out: string;
      try {
        out = await runHelper(helper, 'get', dockerConfigKey(host), this.env);
      } catch (err) {
        if ((err as { notFound?: boolean }).notFound) return undefined;
        throw err;
      }
      let parsed: { Username?: string; Secret?: string };
      try {
        parsed = JSON.parse(out) as { Username?: string; Secret?: string };
      } catch {
        throw new OciError('CREDENTIALS', `credential helper docker-credential-${helper} get: output is not JSON`);
      }
      if (!parsed.Secret) return undefined;
      // Docker's convention: username "<token>" means the secret is an identity token.
      if (parsed.Username === '<token>') return { identityToken: parsed.Secret };
      return { username: parsed.Username ?? '', password: parsed.Secret };
    }
    for (const [key, entry] of Object.entries(config.auths ?? {})) {
      if (normaliseRegistryKey(key) === host && entry) return decodeAuth(entry, this.path, key);
    }
    return undefined;
  }
}

function helperFor(config: DockerConfigFile, host: string): string | undefined {
  for (const [key, helper] of Object.entries(config.credHelpers ?? {})) {
    if (normaliseRegistryKey(key) === host && helper) return helper;
  }
  return config.credsStore || undefined;
}

/** Loads the docker config credential store (`DOCKER_CONFIG` or ~/.docker/config.json). */
export function loadDockerConfig(opts?: DockerConfigOptions): DockerConfigStore {
  return new DockerConfigStore(opts);
}

/**
 * Writes config.json as a new file renamed over the old one. A config.json that is a symbolic link
 * (to a dotfiles checkout, say) is written through: the file it leads to is replaced and the link
 * stays, as docker does.
 */
async function writeConfigAtomically(configPath: string, config: DockerConfigFile): Promise<void> {
  const path = await realpath(configPath).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return configPath;
    throw new OciError('CREDENTIALS', `writing docker config ${configPath}: ${err.message}`, { cause: err });
  });
  const dir = join(path, '..');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, JSON.stringify(config, null, '\t') + '\n', { mode: 0o600 });
    await chmod(tmp, 0o600);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new OciError('CREDENTIALS', `writing docker config ${path}: ${(err as Error).message}`, { cause: err });
  }
}

export interface StoreCredentialOptions extends DockerConfigOptions {
  username: string;
  password: string;
}

/**
 * Saves credentials for `registry` the way `docker login` does: through the configured credential
 * helper when there is one, else base64 in `auths` of config.json (written atomically, mode 0600).
 * Returns where they went.
 */
export async function storeCredential(registry: string, opts: StoreCredentialOptions): Promise<{ path: string; helper?: string }> {
  const store = new DockerConfigStore(opts);
  const config = await readConfigFile(store.path);
  const host = normaliseRegistryKey(registry);
  const key = dockerConfigKey(host);
  const helper = helperFor(config, host);
  if (helper) {
    await runHelper(helper, 'store', JSON.stringify({ ServerURL: key, Username: opts.username, Secret: opts.password }), opts.env ?? process.env);
    const auths = config.auths ?? {};
    // Docker keeps an empty entry so `docker logout` and listings know about the registry.
    auths[key] = {};
    config.auths = auths;
    await writeConfigAtomically(store.path, config);
    return { path: store.path, helper };
  }
  const auths = config.auths ?? {};
  for (const k of Object.keys(auths)) if (normaliseRegistryKey(k) === host) delete auths[k];
  auths[key] = { auth: Buffer.from(`${opts.username}:${opts.password}`, 'utf8').toString('base64') };
  config.auths = auths;
  await writeConfigAtomically(store.path, config);
  return { path: store.path };
}

/** Removes stored credentials for `registry`; returns whether there were any. */
export async function logout(registry: string, opts?: DockerConfigOptions): Promise<boolean> {
  const store = new DockerConfigStore(opts);
  const config = await readConfigFile(store.path);
  const host = normaliseRegistryKey(registry);
  let found = false;
  const helper = helperFor(config, host);
  if (helper) {
    try {
      await runHelper(helper, 'erase', dockerConfigKey(host), opts?.env ?? process.env);
      found = true;
    } catch (err) {
      if (!(err as { notFound?: boolean }).notFound) throw err;
    }
  }
  const auths = config.auths ?? {};
  for (const k of Object.keys(auths)) {
    if (normaliseRegistryKey(k) === host) {
      delete auths[k];
      found = true;
    }
  }
  if (found) await writeConfigAtomically(store.path, config);
  return found;
}
