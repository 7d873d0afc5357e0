// Reads kubeconfig files the way kubectl (client-go's clientcmd) does, on `yaml` alone:
// - which files: --kubeconfig (one file, which must exist), else every file of $KUBECONFIG
//   (missing and empty entries skipped, duplicates read once), else ~/.kube/config; an empty
//   result falls back to the in-cluster service account when one is mounted;
// - merging: per name, the first file that defines a cluster, user or context wins whole (later
//   files only fill in names not seen yet); current-context comes from the first file that sets it;
// - relative paths (certificate-authority, client-certificate, client-key, tokenFile, and an exec
//   command that contains a slash) are resolved against the directory of the file that names them;
// - --context, --cluster, --user and --namespace override the current context's choices.
// The result is plain data (server, TLS material, how to authenticate); nothing is sent here.
// Errors name the file(s), the context and the field; secrets never appear in them.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { redactCredentials } from '../redact.js';
import { KubeError } from './errors.js';
import { defaultServiceAccountDir, inClusterConfig, inClusterPossible } from './incluster.js';
import { isRecord } from './util.js';

export interface KubeconfigOptions {
  /** Path of a kubeconfig file (kubectl's --kubeconfig): read alone, no merging. */
  kubeconfig?: string;
  /** Context to use (default: the kubeconfig's current-context). */
  context?: string;
  /** Cluster to use instead of the context's (kubectl's --cluster). */
  cluster?: string;
  /** User (credentials) to use instead of the context's (kubectl's --user). */
  user?: string;
  /** Default namespace (default: the context's namespace, then `default`). */
  namespace?: string;
  /** Environment to read KUBECONFIG, HOME and the in-cluster variables from (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** Directory relative KUBECONFIG entries are resolved against (default: process.cwd()). */
  cwd?: string;
  /** Where the in-cluster service account is mounted (default /var/run/secrets/kubernetes.io/serviceaccount). */
  serviceAccountDir?: string;
}

export type ExecInteractiveMode = 'Never' | 'IfAvailable' | 'Always';

/** An exec credential plugin as configured in a kubeconfig user. */
export interface ExecConfig {
  apiVersion: 'client.authentication.k8s.io/v1' | 'client.authentication.k8s.io/v1beta1';
  /** Absolute when the kubeconfig named it with a slash; otherwise looked up on PATH. */
  command: string;
  args: string[];
  env: Array<{ name: string; value: string }>;
  installHint?: string;
  provideClusterInfo: boolean;
  interactiveMode: ExecInteractiveMode;
  /** The cluster's `extensions` entry named client.authentication.k8s.io/exec, passed to the plugin with provideClusterInfo. */
  clusterConfig?: unknown;
}

/** How requests authenticate. */
export type AuthConfig =
  | { kind: 'none' }
  | { kind: 'token'; token: string }
  | { kind: 'tokenFile'; path: string }
  | { kind: 'basic'; username: string; password: string }
  | { kind: 'exec'; exec: ExecConfig };

/** Everything needed to talk to one API server as one user. */
export interface ResolvedKubeconfig {
  /** Where it came from, for messages: `kubeconfig /a/config`, `kubeconfig /a:/b`, `in-cluster service account /var/run/...`. */
  source: string;
  /** Context used ('' when none: in-cluster or --cluster without a context). */
  context: string;
  cluster: string;
  user: string;
  namespace: string;
  server: URL;
  /** PEM roots that replace the system ones (certificate-authority / -data). */
  ca?: Buffer;
  /** Static client certificate and key (client-certificate / -key / -data). */
  cert?: Buffer;
  key?: Buffer;
  insecureSkipTlsVerify: boolean;
  tlsServerName?: string;
  /** proxy-url: used for every request to this cluster, loopback included. */
  proxyUrl?: string;
  disableCompression: boolean;
  auth: AuthConfig;
  /** Impersonation (as, as-uid, as-groups, as-user-extra). */
  impersonate?: { user: string; uid?: string; groups: string[]; extra: Record<string, string[]> };
}

/** One named entry of a kubeconfig and the file it came from. */
interface Entry {
  value: Record<string, unknown>;
  file: string;
}

export interface MergedKubeconfig {
  /** The files read, in order. */
  files: string[];
  clusters: Map<string, Entry>;
  users: Map<string, Entry>;
  contexts: Map<string, Entry>;
  currentContext: string;
}

function describeFiles(files: readonly string[]): string {
  return `kubeconfig ${files.join(delimiter)}`;
}

function errnoCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** Parses one kubeconfig file; entries keep the file they came from. A missing file returns undefined. */
function readKubeconfigFile(file: string): { clusters: Map<string, Entry>; users: Map<string, Entry>; contexts: Map<string, Entry>; currentContext: string } | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw new KubeError('KUBECONFIG', `loading kubeconfig ${file}: ${(err as Error).message}`, { cause: err });
  }
  const out = { clusters: new Map<string, Entry>(), users: new Map<string, Entry>(), contexts: new Map<string, Entry>(), currentContext: '' };
  if (text.trim() === '') return out;
  // YAML 1.1, as Go's YAML reader (yes/no are booleans, as kubectl reads them).
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { version: '1.1', prettyErrors: false, lineCounter });
  const yamlError = doc.errors[0];
  if (yamlError) {
    // Line and column only: the parser's own message quotes the source, which may hold a secret.
    const at = lineCounter.linePos(yamlError.pos[0]);
    throw new KubeError('KUBECONFIG', `loading kubeconfig ${file}: invalid YAML at line ${at.line}, column ${at.col} (${yamlError.code})`);
  }
  const data: unknown = doc.toJS({ maxAliasCount: 100 });
  if (data === null || data === undefined) return out;
  if (!isRecord(data)) throw new KubeError('KUBECONFIG', `loading kubeconfig ${file}: not a kubeconfig (a mapping with clusters, users and contexts was expected)`);
  const kind = data['kind'];
  if (kind !== undefined && kind !== 'Config') throw new KubeError('KUBECONFIG', `loading kubeconfig ${file}: kind is ${JSON.stringify(kind)}, not Config`);
  const lists: Array<[string, string, Map<string, Entry>]> = [
    ['clusters', 'cluster', out.clusters],
    ['users', 'user', out.users],
    ['contexts', 'context', out.contexts],
  ];
  for (const [listName, field, into] of lists) {
    const list = data[listName];
    if (list === undefined || list === null) continue;
    if (!Array.isArray(list)) throw new KubeError('KUBECONFIG', `loading kubeconfig ${file}: ${listName} must be a list`);
    for (const [i, item] of list.entries()) {
      if (!isRecord(item) || typeof item['name'] !== 'string') {
        throw new KubeError('KUBECONFIG', `loading kubeconfig ${file}: ${listName}[${i}] must have a name`);
      }
      const value = item[field] ?? {};
      if (!isRecord(value)) throw new KubeError('KUBECONFIG', `loading kubeconfig ${file}: ${listName}[${i}] (${item['name']}): ${field} must be a mapping`);
      // Within one file a later entry of the same name replaces an earlier one, as client-go decodes it.
      into.set(item['name'], { value, file });
    }
  }
  const current = data['current-context'];
  if (current !== undefined && current !== null) {
    if (typeof current !== 'string') throw new KubeError('KUBECONFIG', `loading kubeconfig ${file}: current-context must be a string`);
    out.currentContext = current;
  }
  return out;
}

/** The files kubectl would read, in order (before checking which exist). */
function kubeconfigFiles(opts: KubeconfigOptions): { files: string[]; explicit: boolean } {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  if (opts.kubeconfig !== undefined && opts.kubeconfig !== '') return { files: [resolve(cwd, opts.kubeconfig)], explicit: true };
  const list = env['KUBECONFIG'];
  if (list !== undefined && list !== '') {
    const files: string[] = [];
    for (const entry of list.split(delimiter)) {
      if (entry === '') continue;
      const file = resolve(cwd, entry);
      if (!files.includes(file)) files.push(file);
    }
    return { files, explicit: false };
  }
  const home = env['HOME'] || env['USERPROFILE'] || homedir();
  return { files: [join(home, '.kube', 'config')], explicit: false };
}

/** Loads and merges the kubeconfig files as kubectl does (see the top of this file). */
export function loadKubeconfigFiles(opts: KubeconfigOptions = {}): MergedKubeconfig {
  const { files, explicit } = kubeconfigFiles(opts);
  const merged: MergedKubeconfig = { files: [], clusters: new Map(), users: new Map(), contexts: new Map(), currentContext: '' };
  for (const file of files) {
    const one = readKubeconfigFile(file);
    if (one === undefined) {
      if (explicit) throw new KubeError('KUBECONFIG', `loading kubeconfig ${file}: no such file`);
      continue;
    }
    merged.files.push(file);
    for (const [name, entry] of one.clusters) if (!merged.clusters.has(name)) merged.clusters.set(name, entry);
    for (const [name, entry] of one.users) if (!merged.users.has(name)) merged.users.set(name, entry);
    for (const [name, entry] of one.contexts) if (!merged.contexts.has(name)) merged.contexts.set(name, entry);
    if (merged.currentContext === '' && one.currentContext !== '') merged.currentContext = one.currentContext;
  }
  return merged;
}

// --- field readers: each names the file, the entry and the field it complains about ---

class FieldReader {
  constructor(
    readonly where: string,
    private readonly value: Record<string, unknown>,
  ) {}

  fail(message: string): never {
    throw new KubeError('KUBECONFIG', `${this.where}: ${message}`);
  }

  string(field: string): string | undefined {
    const v = this.value[field];
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v !== 'string') this.fail(`${field} must be a string`);
    return v;
  }

  boolean(field: string): boolean {
    const v = this.value[field];
    if (v === undefined || v === null) return false;
    if (typeof v !== 'boolean') this.fail(`${field} must be true or false`);
    return v;
  }

  stringList(field: string): string[] {
    const v = this.value[field];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) this.fail(`${field} must be a list of strings`);
    return v as string[];
  }

  /** base64 data (…-data fields); the value itself never appears in a message. */
  data(field: string): Buffer | undefined {
    const v = this.string(field);
    if (v === undefined) return undefined;
    const compact = v.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact)) this.fail(`${field} is not valid base64`);
    return Buffer.from(compact, 'base64');
  }

  /** A file named by `field`, made absolute against the kubeconfig that names it. */
  path(field: string, file: string): string | undefined {
    const v = this.string(field);
    if (v === undefined) return undefined;
    return isAbsolute(v) ? v : resolve(dirname(file), v);
  }

  readFile(field: string, path: string): Buffer {
    try {
      return readFileSync(path);
    } catch (err) {
      return this.fail(`reading ${field} ${path}: ${(err as Error).message}`);
    }
  }
}

const execApiVersions = new Set(['client.authentication.k8s.io/v1', 'client.authentication.k8s.io/v1beta1']);

function readExec(r: FieldReader, exec: unknown, file: string): ExecConfig {
  if (!isRecord(exec)) return r.fail('exec must be a mapping');
  const e: FieldReader = new FieldReader(`${r.where} exec`, exec);
  const apiVersion = e.string('apiVersion');
  if (apiVersion === undefined) e.fail('apiVersion must be specified');
  if (!execApiVersions.has(apiVersion)) e.fail(`apiVersion ${JSON.stringify(apiVersion)} is not supported (client.authentication.k8s.io/v1 or v1beta1)`);
  let command = e.string('command');
  if (command === undefined) return e.fail('command must be specified');
  // A command with a path separator is relative to the kubeconfig; a bare name is looked up on PATH.
  if (command.includes(sep) || command.includes('/')) command = isAbsolute(command) ? command : resolve(dirname(file), command);
  let mode = e.string('interactiveMode');
  // client-go defaults v1beta1 to IfAvailable; v1 requires the field.
  if (mode === undefined && apiVersion === 'client.authentication.k8s.io/v1beta1') mode = 'IfAvailable';
  if (mode === undefined) e.fail('interactiveMode must be specified (Never, IfAvailable or Always) for client.authentication.k8s.io/v1');
  if (mode !== 'Never' && mode !== 'IfAvailable' && mode !== 'Always') e.fail(`invalid interactiveMode ${JSON.stringify(mode)} (Never, IfAvailable or Always)`);
  const envList = exec['env'];
  const env: Array<{ name: string; value: string }> = [];
  if (envList !== undefined && envList !== null) {
    if (!Array.isArray(envList)) e.fail('env must be a list of {name, value}');
    for (const item of envList as unknown[]) {
      if (!isRecord(item) || typeof item['name'] !== 'string' || item['name'] === '') e.fail('env entries need a name');
      const value = item['value'] ?? '';
      if (typeof value !== 'string') e.fail(`env ${item['name']}: value must be a string`);
      env.push({ name: item['name'], value });
    }
  }
  const installHint = e.string('installHint');
  return {
    apiVersion: apiVersion as ExecConfig['apiVersion'],
    command,
    args: e.stringList('args'),
    env,
    ...(installHint !== undefined ? { installHint } : {}),
    provideClusterInfo: e.boolean('provideClusterInfo'),
    interactiveMode: mode,
  };
}

/** The cluster's exec extension (client.authentication.k8s.io/exec), given to plugins with provideClusterInfo. */
function execExtension(cluster: Record<string, unknown>): unknown {
  const extensions = cluster['extensions'];
  if (!Array.isArray(extensions)) return undefined;
  const found = extensions.find((x) => isRecord(x) && x['name'] === 'client.authentication.k8s.io/exec');
  return isRecord(found) ? found['extension'] : undefined;
}

function parseServer(r: FieldReader, server: string): URL {
  // Shown in messages without the password of a user:password@ part.
  const shown = JSON.stringify(redactCredentials(server));
  // kubectl accepts host:port without a scheme and means https.
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(server) ? server : `https://${server}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    return r.fail(`server ${shown} is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') r.fail(`server ${shown}: only https:// and http:// servers are supported`);
  if (url.username !== '' || url.password !== '') r.fail('server URL must not hold credentials (use the user entry)');
  return url;
}

/**
 * Resolves the kubeconfig kubectl would use with the same environment and flags: the chosen
 * context, its cluster and user, with files read and paths resolved. Falls back to the in-cluster
 * service account when no kubeconfig gives a configuration and one is mounted.
 */
export function resolveKubeconfig(opts: KubeconfigOptions = {}): ResolvedKubeconfig {
  const env = opts.env ?? process.env;
  const merged = loadKubeconfigFiles(opts);
  const source = merged.files.length > 0 ? describeFiles(merged.files) : describeFiles(kubeconfigFiles(opts).files);
  const contextName = opts.context || merged.currentContext;
  const saDir = opts.serviceAccountDir ?? defaultServiceAccountDir;
  const inCluster = (): ResolvedKubeconfig => inClusterConfig({ env, serviceAccountDir: saDir, ...(opts.namespace ? { namespace: opts.namespace } : {}) });

  if (contextName === '' && !opts.cluster) {
    // Nothing chosen: kubectl's "no configuration has been provided", then in-cluster.
    if (inClusterPossible(env, saDir)) return inCluster();
    if (merged.files.length === 0) {
      const list = env['KUBECONFIG'];
      if (list) throw new KubeError('KUBECONFIG', `no kubeconfig found: none of the files of KUBECONFIG=${list} exists`);
      throw new KubeError('KUBECONFIG', 'no kubeconfig found: set KUBECONFIG, pass --kubeconfig, or create ~/.kube/config');
    }
    throw new KubeError('KUBECONFIG', `${source}: no current-context is set (pass --context, or set one with \`kubectl config use-context\`)`);
  }
  let context: Record<string, unknown> = {};
  if (contextName !== '') {
    const entry = merged.contexts.get(contextName);
    if (!entry) {
      const known = [...merged.contexts.keys()];
      throw new KubeError('KUBECONFIG', `${source}: context "${contextName}" not found (contexts: ${known.join(', ') || 'none'})`);
    }
    context = entry.value;
  }
  const ctx: FieldReader = new FieldReader(`${source}: context "${contextName}"`, context);
  const clusterName = opts.cluster || ctx.string('cluster') || '';
  if (clusterName === '') {
    if (inClusterPossible(env, saDir)) return inCluster();
    ctx.fail('names no cluster');
  }
  const clusterEntry = merged.clusters.get(clusterName);
  if (!clusterEntry) {
    const known = [...merged.clusters.keys()];
    throw new KubeError('KUBECONFIG', `${source}: cluster "${clusterName}"${contextName ? ` of context "${contextName}"` : ''} not found (clusters: ${known.join(', ') || 'none'})`);
  }
  const userName = opts.user || ctx.string('user') || '';
  // kubectl goes on without credentials when the user is not defined; so does lading.
  const userEntry: Entry = merged.users.get(userName) ?? { value: {}, file: clusterEntry.file };

  const c: FieldReader = new FieldReader(`kubeconfig ${clusterEntry.file}: cluster "${clusterName}"`, clusterEntry.value);
  const server = c.string('server');
  if (server === undefined) c.fail('no server defined');
  const resolved: ResolvedKubeconfig = {
    source,
    context: contextName,
    cluster: clusterName,
    user: userName,
    namespace: opts.namespace || ctx.string('namespace') || 'default',
    server: parseServer(c, server),
    insecureSkipTlsVerify: c.boolean('insecure-skip-tls-verify'),
    disableCompression: c.boolean('disable-compression'),
    auth: { kind: 'none' },
  };
  const caPath = c.path('certificate-authority', clusterEntry.file);
  const caData = c.data('certificate-authority-data');
  if (caPath !== undefined && caData !== undefined) c.fail('certificate-authority-data and certificate-authority are both specified');
  if (caData !== undefined) resolved.ca = caData;
  else if (caPath !== undefined) resolved.ca = c.readFile('certificate-authority', caPath);
  if (resolved.insecureSkipTlsVerify && resolved.ca !== undefined) {
    // client-go: "specifying a root certificates file with the insecure flag is not allowed"
    c.fail('certificate-authority and insecure-skip-tls-verify are both specified (a CA with the insecure flag is not allowed)');
  }
  const tlsServerName = c.string('tls-server-name');
  if (tlsServerName !== undefined) resolved.tlsServerName = tlsServerName;
  const proxyUrl = c.string('proxy-url');
  if (proxyUrl !== undefined) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(proxyUrl);
    } catch {
      parsed = undefined;
    }
    if (!parsed || !['http:', 'https:', 'socks5:'].includes(parsed.protocol)) {
      c.fail('proxy-url must be an http://, https:// or socks5:// URL');
    }
    resolved.proxyUrl = proxyUrl;
  }

  const u: FieldReader = new FieldReader(`kubeconfig ${userEntry.file}: user "${userName}"`, userEntry.value);
  const certPath = u.path('client-certificate', userEntry.file);
  const certData = u.data('client-certificate-data');
  const keyPath = u.path('client-key', userEntry.file);
  const keyData = u.data('client-key-data');
  if (certPath !== undefined && certData !== undefined) u.fail('client-certificate-data and client-certificate are both specified');
  if (keyPath !== undefined && keyData !== undefined) u.fail('client-key-data and client-key are both specified');
  const cert = certData ?? (certPath !== undefined ? u.readFile('client-certificate', certPath) : undefined);
  const key = keyData ?? (keyPath !== undefined ? u.readFile('client-key', keyPath) : undefined);
  if (cert !== undefined && key === undefined) u.fail('client-key-data or client-key must be specified with a client certificate');
  if (cert !== undefined) resolved.cert = cert;
  if (key !== undefined) resolved.key = key;

  const token = u.string('token');
  const tokenFile = u.path('tokenFile', userEntry.file);
  const username = u.string('username');
  const password = u.string('password');
  const methods = [token !== undefined || tokenFile !== undefined ? 'token' : '', username !== undefined || password !== undefined ? 'basicAuth' : ''].filter((m) => m !== '');
  if (methods.length > 1) u.fail(`more than one authentication method found (${methods.join(', ')}); only one is allowed`);
  if (userEntry.value['auth-provider'] !== undefined && userEntry.value['auth-provider'] !== null) {
    u.fail('auth-provider is not supported (client-go removed its gcp and azure providers): use an exec credential plugin, e.g. gke-gcloud-auth-plugin, kubelogin');
  }
  const exec = userEntry.value['exec'];
  if (tokenFile !== undefined) {
    // Checked now, as kubectl does; re-read later whenever it changes (projected tokens rotate).
    u.readFile('tokenFile', tokenFile);
    resolved.auth = { kind: 'tokenFile', path: tokenFile };
  } else if (token !== undefined) {
    resolved.auth = { kind: 'token', token };
  } else if (username !== undefined || password !== undefined) {
    resolved.auth = { kind: 'basic', username: username ?? '', password: password ?? '' };
  } else if (exec !== undefined && exec !== null) {
    const execConfig = readExec(u, exec, userEntry.file);
    const ext = execExtension(clusterEntry.value);
    if (ext !== undefined) execConfig.clusterConfig = ext;
    resolved.auth = { kind: 'exec', exec: execConfig };
  }
  const as = u.string('as');
  const asUid = u.string('as-uid');
  const asGroups = u.stringList('as-groups');
  const extraRaw = userEntry.value['as-user-extra'];
  const extra: Record<string, string[]> = {};
  if (isRecord(extraRaw)) {
    for (const [k, v] of Object.entries(extraRaw)) {
      if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) u.fail(`as-user-extra.${k} must be a list of strings`);
      extra[k] = v as string[];
    }
  }
  if (as !== undefined) {
    resolved.impersonate = { user: as, ...(asUid !== undefined ? { uid: asUid } : {}), groups: asGroups, extra };
  } else if (asUid !== undefined || asGroups.length > 0 || Object.keys(extra).length > 0) {
    u.fail('as-uid, as-groups or as-user-extra need a user to impersonate (as)');
  }
  return resolved;
}
