// Starts a real OCI registry on a free loopback port for tests, the demo and the benchmarks:
// Debian's docker-registry (distribution 2.8) or distribution v3 built by test/env/tools.ts,
// plain, with htpasswd basic auth, with TLS (a CA made for the run), or with token auth (the
// registry validates JWTs from a token server the caller runs); or go-containerregistry's
// registry with the OCI 1.1 referrers API (`ggcr-referrers`, plain http only), the one local
// registry that has that API. Stopped by pid.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanUpOnExit, freePort, isAlive, killGroupsNow, spawnLogged, stopProcess, tailFile, waitFor, type StartedProcess } from './process.js';
import { createTestPki, type TestPki } from './tls.js';

/**
 * `distribution2`: Debian's docker-registry 2.8; `distribution3`: distribution v3.1.2;
 * `ggcr-referrers`: go-containerregistry v0.21.7's pkg/registry with `WithReferrersSupport(true)`
 * (test/tools/oci/referrers-registry; manifests in memory, blobs in `dataDir`, no auth, no TLS,
 * every request logged to `logFile`).
 */
export type RegistryFlavor = 'distribution2' | 'distribution3' | 'ggcr-referrers';

export interface StartRegistryOptions {
  flavor?: RegistryFlavor;
  /** Basic auth with htpasswd: `true` makes up a user and password. */
  auth?: boolean | { username: string; password: string };
  /** Serve https with a certificate from a CA made for this registry (`caFile`). */
  tls?: boolean;
  /** Require a client certificate signed by the test CA (implies tls). */
  clientCerts?: boolean;
  /** Token auth: the registry trusts JWTs signed by the key of `rootCertFile` (see token-server.ts). */
  token?: { realm: string; service: string; issuer: string; rootCertFile: string };
  /** Registry binary to run instead of the flavor's default (e.g. a locally built distribution). */
  binary?: string;
  /**
   * Keep running after this process exits (for `npm run env -- up`, which records the pid; `down`
   * stops it). By default the registry is killed when this process exits or is interrupted.
   */
  detach?: boolean;
}

export interface RunningRegistry {
  /** `127.0.0.1:PORT` */
  host: string;
  /** `http://127.0.0.1:PORT` or `https://...` */
  url: string;
  flavor: RegistryFlavor;
  username?: string;
  password?: string;
  caFile?: string;
  pki?: TestPki;
  dataDir: string;
  pid: number;
  logFile: string;
  stop(): Promise<void>;
  /**
   * distribution flavors: stop the process but keep its port, configuration and data (a registry
   * that goes away), and start it again (and comes back). `pid` is the current process's.
   */
  down?(): Promise<void>;
  up?(): Promise<void>;
}

const DEBIAN_REGISTRY = '/usr/bin/docker-registry';

async function registryBinary(flavor: RegistryFlavor): Promise<string> {
  if (flavor === 'ggcr-referrers') {
    const tools = (await import('./tools.js')) as { toolPath: (name: 'referrers-registry') => string };
    return tools.toolPath('referrers-registry');
  }
  if (flavor === 'distribution2') {
    if (!existsSync(DEBIAN_REGISTRY)) {
      throw new Error(`${DEBIAN_REGISTRY} is missing: install it with \`sudo apt-get install -y docker-registry\` (or run \`npm run setup\`)`);
    }
    return DEBIAN_REGISTRY;
  }
  const tools = (await import('./tools.js')) as { toolPath: (name: 'registry') => string };
  return tools.toolPath('registry');
}

function htpasswdLine(username: string, password: string): string {
  if (!existsSync('/usr/bin/htpasswd')) {
    throw new Error('/usr/bin/htpasswd is missing: install it with `sudo apt-get install -y apache2-utils` (or run `npm run setup`)');
  }
  return execFileSync('/usr/bin/htpasswd', ['-nbB', username, password], { encoding: 'utf8' }).trim() + '\n';
}

function probe(url: string, caFile: string | undefined, pki: TestPki | undefined, clientCerts: boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    const isHttps = url.startsWith('https:');
    const opts: https.RequestOptions = { method: 'GET', timeout: 2000 };
    if (isHttps && caFile) opts.ca = readFileSync(caFile);
    if (isHttps && clientCerts && pki) {
      opts.cert = readFileSync(pki.clientCertFile);
      opts.key = readFileSync(pki.clientKeyFile);
    }
    const req = (isHttps ? https : http).request(`${url}/v2/`, opts, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

// Registries of this process, killed synchronously on exit and on SIGINT/SIGTERM/SIGHUP, so an
// interrupted test run or benchmark leaves none behind (they run detached, in their own group).
const live = new Map<number, string>();

function cleanupAllNow(): void {
  killGroupsNow([...live.keys()]);
  for (const dir of live.values()) rmSync(dir, { recursive: true, force: true });
  live.clear();
}


/** Starts a registry and waits until it answers /v2/. */
export async function startRegistry(opts: StartRegistryOptions = {}): Promise<RunningRegistry> {
  const flavor = opts.flavor ?? 'distribution2';
  if (flavor === 'ggcr-referrers') return startReferrersRegistry(opts);
  const binary = opts.binary ?? (await registryBinary(flavor));
  const dataDir = mkdtempSync(join(tmpdir(), 'lading-registry-'));
  const tls = opts.tls === true || opts.clientCerts === true;
  const port = await freePort('127.0.0.1');
  const host = `127.0.0.1:${port}`;
  const url = `${tls ? 'https' : 'http'}://${host}`;
  let username: string | undefined;
  let password: string | undefined;
  let pki: TestPki | undefined;
  const lines: string[] = [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${JSON.stringify(join(dataDir, 'storage'))}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: ${host}`,
    `  secret: ${randomBytes(16).toString('hex')}`,
  ];
  if (tls) {
    pki = createTestPki(join(dataDir, 'pki'));
    lines.push('  tls:', `    certificate: ${JSON.stringify(pki.serverCertFile)}`, `    key: ${JSON.stringify(pki.serverKeyFile)}`);
    if (opts.clientCerts) lines.push('    clientcas:', `      - ${JSON.stringify(pki.caFile)}`);
  }
  if (opts.auth) {
    username = typeof opts.auth === 'object' ? opts.auth.username : 'lading';
    password = typeof opts.auth === 'object' ? opts.auth.password : randomBytes(12).toString('base64url');
    const htpasswdFile = join(dataDir, 'htpasswd');
    writeFileSync(htpasswdFile, htpasswdLine(username, password), { mode: 0o600 });
    lines.push('auth:', '  htpasswd:', '    realm: lading-test', `    path: ${JSON.stringify(htpasswdFile)}`);
  } else if (opts.token) {
    lines.push(
      'auth:',
      '  token:',
      `    realm: ${JSON.stringify(opts.token.realm)}`,
      `    service: ${JSON.stringify(opts.token.service)}`,
      `    issuer: ${JSON.stringify(opts.token.issuer)}`,
      `    rootcertbundle: ${JSON.stringify(opts.token.rootCertFile)}`,
    );
  }
  const configFile = join(dataDir, 'config.yml');
  writeFileSync(configFile, lines.join('\n') + '\n');
  const logFile = join(dataDir, 'registry.log');
  const args = flavor === 'distribution2' ? ['serve', configFile] : ['serve', configFile];
  cleanUpOnExit(cleanupAllNow);
  let proc: StartedProcess | undefined;
  const launch = async (): Promise<StartedProcess> => {
    const p = spawnLogged({ name: `registry (${flavor})`, command: binary, args, logFile, env: { ...process.env, OTEL_TRACES_EXPORTER: 'none' } });
    proc = p;
    live.set(p.pid, dataDir);
    await waitFor(
      async () => {
        const status = await probe(url, pki?.caFile, pki, opts.clientCerts === true);
        return status === 200 || status === 401 ? status : undefined;
      },
      {
        what: `registry ${flavor} on ${url}`,
        timeoutMs: 30_000,
        failIf: () => (isAlive(p.pid) ? undefined : `the registry exited:\n${tailFile(logFile)}`),
      },
    );
    return p;
  };
  const down = async (): Promise<void> => {
    if (!proc) return;
    await stopProcess(proc.pid);
    live.delete(proc.pid);
    proc = undefined;
  };
  const stop = async () => {
    await down();
    rmSync(dataDir, { recursive: true, force: true });
  };
  let started: StartedProcess;
  try {
    started = await launch();
  } catch (err) {
    await stop();
    throw err;
  }
  if (opts.detach === true) live.delete(started.pid);
  const running: RunningRegistry = {
    host,
    url,
    flavor,
    dataDir,
    pid: started.pid,
    logFile,
    stop,
    down,
    up: async () => {
      if (proc && isAlive(proc.pid)) return;
      running.pid = (await launch()).pid;
    },
  };
  if (username !== undefined) running.username = username;
  if (password !== undefined) running.password = password;
  if (pki) {
    running.pki = pki;
    running.caFile = pki.caFile;
  }
  return running;
}

/**
 * go-containerregistry's registry with the referrers API (test/tools/oci/referrers-registry): it
 * picks a free loopback port itself and prints `serving on http://HOST:PORT`, read here from its
 * log, so no port can be taken between choosing and listening.
 */
async function startReferrersRegistry(opts: StartRegistryOptions): Promise<RunningRegistry> {
  const unsupported = (['auth', 'tls', 'clientCerts', 'token'] as const).filter((k) => opts[k] !== undefined && opts[k] !== false);
  if (unsupported.length > 0) {
    throw new Error(`startRegistry: the ggcr-referrers registry serves plain http without auth; ${unsupported.join(', ')} cannot be used with it`);
  }
  const flavor: RegistryFlavor = 'ggcr-referrers';
  const binary = opts.binary ?? (await registryBinary(flavor));
  const dataDir = mkdtempSync(join(tmpdir(), 'lading-registry-'));
  const logFile = join(dataDir, 'registry.log');
  cleanUpOnExit(cleanupAllNow);
  const proc = spawnLogged({ name: `registry (${flavor})`, command: binary, args: ['-addr', '127.0.0.1:0', '-blobs', join(dataDir, 'blobs')], logFile });
  live.set(proc.pid, dataDir);
  const stop = async () => {
    await stopProcess(proc.pid);
    live.delete(proc.pid);
    rmSync(dataDir, { recursive: true, force: true });
  };
  let url: string;
  try {
    url = await waitFor(
      async () => {
        const m = /^serving on (http:\/\/127\.0\.0\.1:\d+)$/m.exec(readFileSync(logFile, 'utf8'));
        if (!m?.[1]) return undefined;
        return (await probe(m[1], undefined, undefined, false)) === 200 ? m[1] : undefined;
      },
      {
        what: `registry ${flavor} (${binary})`,
        timeoutMs: 30_000,
        failIf: () => (isAlive(proc.pid) ? undefined : `the registry exited:\n${tailFile(logFile)}`),
      },
    );
  } catch (err) {
    await stop();
    throw err;
  }
  if (opts.detach === true) live.delete(proc.pid);
  return { host: url.slice('http://'.length), url, flavor, dataDir, pid: proc.pid, logFile, stop };
}
