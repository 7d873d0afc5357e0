// Exec credential plugins (client.authentication.k8s.io/v1 and v1beta1), run as client-go runs
// them: the plugin inherits the environment plus the kubeconfig's `env` entries and
// KUBERNETES_EXEC_INFO (an ExecCredential whose spec says whether it may talk to the user and, with
// provideClusterInfo, describes the cluster); its stdin is the terminal only when interactive; its
// stderr is passed through; its stdout is an ExecCredential whose status holds a bearer token
// and/or a client certificate and key. The answer is kept until its expirationTimestamp (for
// ever without one) or until the API server answers 401 to it.
import { spawn } from 'node:child_process';
import { isatty } from 'node:tty';
import { parse as parseYaml } from 'yaml';
import { KubeError } from './errors.js';
import type { ExecConfig, ResolvedKubeconfig } from './kubeconfig.js';
import { isRecord } from './util.js';

/** What a plugin returned. Secrets: never put these in a message. */
export interface ExecCredential {
  token?: string;
  /** PEM client certificate and key, both or neither. */
  clientCertificate?: string;
  clientKey?: string;
  /** Epoch milliseconds; undefined: valid until the API server refuses it. */
  expiresAt?: number;
}

export interface ExecCredentialOptions {
  env?: NodeJS.ProcessEnv;
  /** Whether standard input is a terminal (default: isatty(0)); decides interactive mode. */
  stdinIsTerminal?: boolean;
  /** Where the plugin's standard error goes (default: this process's). */
  stderr?: { write(data: string | Uint8Array): unknown };
  /** Largest standard output accepted from a plugin (default 1 MiB). */
  maxOutputBytes?: number;
  /** The clock, in epoch milliseconds (default Date.now). */
  now?: () => number;
}

/** Runs one kubeconfig user's exec plugin and caches its credential. */
export class ExecCredentialSource {
  private cached: ExecCredential | undefined;
  private running: Promise<ExecCredential> | undefined;
  private readonly where: string;

  constructor(
    private readonly exec: ExecConfig,
    private readonly config: Pick<ResolvedKubeconfig, 'source' | 'user' | 'server' | 'tlsServerName' | 'insecureSkipTlsVerify' | 'ca' | 'proxyUrl' | 'disableCompression'>,
    private readonly opts: ExecCredentialOptions = {},
  ) {
    this.where = `${config.source}: user "${config.user}": exec plugin ${exec.command}`;
  }

  /** The cached credential while it has not expired, else a fresh one from the plugin. */
  async get(): Promise<ExecCredential> {
    const now = (this.opts.now ?? Date.now)();
    if (this.cached && (this.cached.expiresAt === undefined || now < this.cached.expiresAt)) return this.cached;
    return this.refresh();
  }

  /**
   * The API server refused `used`: run the plugin again, unless another request already did.
   * Returns the credential to retry with.
   */
  async rejected(used: ExecCredential): Promise<ExecCredential> {
    if (this.cached !== used) return this.cached ?? this.refresh();
    this.cached = undefined;
    return this.refresh();
  }

  private refresh(): Promise<ExecCredential> {
    // One run at a time, shared by every request waiting for it.
    this.running ??= this.run().then(
      (cred) => {
        this.cached = cred;
        this.running = undefined;
        return cred;
      },
      (err: unknown) => {
        this.running = undefined;
        throw err;
      },
    );
    return this.running;
  }

  private interactive(): boolean {
    const mode = this.exec.interactiveMode;
    if (mode === 'Never') return false;
    const terminal = this.opts.stdinIsTerminal ?? isatty(0);
    if (mode === 'Always' && !terminal) {
      throw new KubeError('KUBECONFIG', `${this.where}: interactiveMode is Always but standard input is not a terminal`);
    }
    return terminal;
  }

  /** KUBERNETES_EXEC_INFO: the ExecCredential given to the plugin. */
  private execInfo(interactive: boolean): string {
    const spec: Record<string, unknown> = { interactive };
    if (this.exec.provideClusterInfo) {
      const c = this.config;
      const cluster: Record<string, unknown> = { server: c.server.pathname === '/' ? c.server.origin : c.server.href };
      if (c.tlsServerName !== undefined) cluster['tls-server-name'] = c.tlsServerName;
      if (c.insecureSkipTlsVerify) cluster['insecure-skip-tls-verify'] = true;
      if (c.ca !== undefined) cluster['certificate-authority-data'] = c.ca.toString('base64');
      if (c.proxyUrl !== undefined) cluster['proxy-url'] = c.proxyUrl;
      if (c.disableCompression) cluster['disable-compression'] = true;
      if (this.exec.clusterConfig !== undefined) cluster['config'] = this.exec.clusterConfig;
      spec['cluster'] = cluster;
    }
    return JSON.stringify({ kind: 'ExecCredential', apiVersion: this.exec.apiVersion, spec });
  }

  private async run(): Promise<ExecCredential> {
    const interactive = this.interactive();
    const env: NodeJS.ProcessEnv = { ...(this.opts.env ?? process.env) };
    for (const { name, value } of this.exec.env) env[name] = value;
    env['KUBERNETES_EXEC_INFO'] = this.execInfo(interactive);
    const maxOutput = this.opts.maxOutputBytes ?? 1024 * 1024;
    const stdout = await new Promise<string>((resolve, reject) => {
      const child = spawn(this.exec.command, this.exec.args, { env, stdio: [interactive ? 'inherit' : 'ignore', 'pipe', 'pipe'] });
      const chunks: Buffer[] = [];
      let size = 0;
      let failed = false;
      child.stdout.on('data', (c: Buffer) => {
        size += c.length;
        if (size > maxOutput) {
          failed = true;
          child.kill();
          reject(new KubeError('KUBECONFIG', `${this.where}: wrote more than ${maxOutput} bytes to standard output`));
          return;
        }
        chunks.push(c);
      });
      child.stderr.on('data', (c: Buffer) => (this.opts.stderr ?? process.stderr).write(c));
      child.on('error', (err: NodeJS.ErrnoException) => {
        failed = true;
        if (err.code === 'ENOENT') {
          const hint = this.exec.installHint ? `\n\n${this.exec.installHint.trimEnd()}` : '';
          reject(new KubeError('KUBECONFIG', `${this.where}: executable not found${this.exec.command.includes('/') ? '' : ' on PATH'}${hint}`, { cause: err }));
          return;
        }
        reject(new KubeError('KUBECONFIG', `${this.where}: could not run it: ${err.message}`, { cause: err }));
      });
      child.on('close', (code, signal) => {
        if (failed) return;
        if (code !== 0) {
          reject(new KubeError('KUBECONFIG', `${this.where}: failed with ${signal ? `signal ${signal}` : `exit code ${code}`}`));
          return;
        }
        resolve(Buffer.concat(chunks).toString('utf8'));
      });
    });
    return this.parse(stdout);
  }

  private parse(stdout: string): ExecCredential {
    let data: unknown;
    try {
      // JSON, or YAML as client-go's decoder also takes.
      data = parseYaml(stdout);
    } catch {
      data = undefined;
    }
    if (!isRecord(data)) throw new KubeError('KUBECONFIG', `${this.where}: its output is not an ExecCredential`);
    if (data['kind'] !== 'ExecCredential') throw new KubeError('KUBECONFIG', `${this.where}: its output is not an ExecCredential (kind ${JSON.stringify(data['kind'])})`);
    if (data['apiVersion'] !== this.exec.apiVersion) {
      throw new KubeError('KUBECONFIG', `${this.where}: is configured for ${this.exec.apiVersion} but returned ${JSON.stringify(data['apiVersion'])}`);
    }
    const status = data['status'];
    if (!isRecord(status)) throw new KubeError('KUBECONFIG', `${this.where}: returned no status`);
    const text = (field: string): string | undefined => {
      const v = status[field];
      if (v === undefined || v === null || v === '') return undefined;
      if (typeof v !== 'string') throw new KubeError('KUBECONFIG', `${this.where}: status.${field} must be a string`);
      return v;
    };
    const token = text('token');
    const cert = text('clientCertificateData');
    const key = text('clientKeyData');
    if (token === undefined && cert === undefined && key === undefined) throw new KubeError('KUBECONFIG', `${this.where}: returned neither a token nor a client certificate and key`);
    if ((cert === undefined) !== (key === undefined)) throw new KubeError('KUBECONFIG', `${this.where}: returned only one of clientCertificateData and clientKeyData`);
    const cred: ExecCredential = {};
    if (token !== undefined) cred.token = token;
    if (cert !== undefined && key !== undefined) {
      cred.clientCertificate = cert;
      cred.clientKey = key;
    }
    const expiration = text('expirationTimestamp');
    if (expiration !== undefined) {
      const at = Date.parse(expiration);
      if (Number.isNaN(at)) throw new KubeError('KUBECONFIG', `${this.where}: status.expirationTimestamp ${JSON.stringify(expiration)} is not an RFC 3339 time`);
      cred.expiresAt = at;
    }
    return cred;
  }
}
