// configMapGenerator / secretGenerator and kustomize's content hash for generated names.
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { ManifestError } from './errors.js';
import type { KubeObject } from './types.js';
import { decodeUtf8, isPlainObject } from './yaml.js';

export interface GeneratorOptions {
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  disableNameSuffixHash?: boolean;
  immutable?: boolean;
}

/**
 * Base64 as kustomize's generators write it: an encoding of 70 characters or more is cut into
 * lines of 70, each ending in a newline (so it prints as a block, and the name hash covers it).
 */
function kustomizeBase64(buf: Buffer): string {
  const encoded = buf.toString('base64');
  if (encoded.length < 70) return encoded;
  let out = '';
  for (let i = 0; i < encoded.length; i += 70) out += encoded.slice(i, i + 70) + '\n';
  return out;
}

export interface GeneratorArgs {
  name?: string;
  namespace?: string;
  behavior?: string;
  files?: string[];
  literals?: string[];
  envs?: string[];
  env?: string;
  type?: string;
  options?: GeneratorOptions;
}

/** Reads a file relative to the kustomization root (with kustomize's root-only restriction). */
export type FileReader = (path: string, field: string) => Promise<Buffer>;

/** Go's encoding/json string escaping on top of JSON.stringify (HTML-safe, U+2028/9). */
export function goJson(value: unknown): string {
  return JSON.stringify(sortKeysDeep(value))
    .replace(/[<>&\u2028\u2029]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}

function sortKeysDeep(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeysDeep);
  if (isPlainObject(v)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort((a, b) => (Buffer.compare(Buffer.from(a), Buffer.from(b))))) out[k] = sortKeysDeep(v[k]);
    return out;
  }
  if (typeof v === 'bigint') return Number(v);
  return v;
}

function encodeHash(hex: string): string {
  return hex.slice(0, 10).replace(/[013ae]/g, (c) => ({ '0': 'g', '1': 'h', '3': 'k', a: 'm', e: 't' })[c] ?? c);
}

function fieldValue(obj: KubeObject, key: string): unknown {
  const v = obj[key];
  if (v === undefined || v === null) return '';
  return v;
}

/** kustomize v5.5's hash of a ConfigMap or Secret (its lookup of "metadata/name" finds nothing). */
export function contentHash(obj: KubeObject): string {
  const kind = obj['kind'];
  let encoded: string;
  if (kind === 'ConfigMap') {
    const m: Record<string, unknown> = { kind: 'ConfigMap', name: '', data: fieldValue(obj, 'data') };
    if (isPlainObject(obj['binaryData'])) m['binaryData'] = obj['binaryData'];
    encoded = goJson(m);
  } else if (kind === 'Secret') {
    const m: Record<string, unknown> = { kind: 'Secret', type: fieldValue(obj, 'type'), name: '', data: fieldValue(obj, 'data') };
    if (isPlainObject(obj['stringData'])) m['stringData'] = obj['stringData'];
    encoded = goJson(m);
  } else {
    encoded = goJson(obj);
  }
  return encodeHash(createHash('sha256').update(encoded, 'utf8').digest('hex'));
}

const validKey = /^[-._a-zA-Z0-9]+$/;
const envVarName = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

function removeQuotes(s: string): string {
  if (s.length < 2 || s[0] !== s[s.length - 1]) return s;
  if (s[0] === '"' || s[0] === "'") return s.slice(1, -1);
  return s;
}

function parseFileSource(source: string, where: string): { key: string; path: string } {
  const n = source.split('=').length - 1;
  if (n === 0) return { key: posix.basename(source), path: source };
  if (n === 1 && source.startsWith('=')) throw new ManifestError('INVALID_KUSTOMIZATION', `${where}: missing key name for file path "${source.slice(1)}" in source "${source}"`);
  if (n === 1 && source.endsWith('=')) throw new ManifestError('INVALID_KUSTOMIZATION', `${where}: missing file path for key name "${source.slice(0, -1)}" in source "${source}"`);
  if (n > 1) throw new ManifestError('INVALID_KUSTOMIZATION', `${where}: source "${source}" key name or file path contains '='`);
  const [key = '', path = ''] = source.split('=');
  return { key, path };
}

async function loadPairs(args: GeneratorArgs, read: FileReader, where: string): Promise<Array<[string, Buffer | string]>> {
  const pairs: Array<[string, Buffer | string]> = [];
  const envs = [...(args.envs ?? []), ...(args.env ? [args.env] : [])];
  for (const envFile of envs) {
    const content = decodeUtf8(await read(envFile, `${where}.envs`), `${where}: env file ${envFile}`);
    const lines = content.split('\n');
    lines.forEach((rawLine, i) => {
      let line = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
      if (i === lines.length - 1 && line === '') return;
      if (i === 0 && line.startsWith('\uFEFF')) line = line.slice(1);
      line = line.replace(/^\s+/u, '');
      if (line === '' || line.startsWith('#')) return;
      const eq = line.indexOf('=');
      const key = eq < 0 ? line : line.slice(0, eq);
      if (!envVarName.test(key)) throw new ManifestError('INVALID_KUSTOMIZATION', `${where}: env file ${envFile} line ${i + 1}: invalid key "${key}": a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit`);
      pairs.push([key, eq < 0 ? '' : line.slice(eq + 1)]);
    });
  }
  for (const lit of args.literals ?? []) {
    if (lit.indexOf('=') <= 0) throw new ManifestError('INVALID_KUSTOMIZATION', `${where}: invalid literal source ${lit}, expected key=value`);
    const eq = lit.indexOf('=');
    pairs.push([lit.slice(0, eq), removeQuotes(lit.slice(eq + 1))]);
  }
  for (const f of args.files ?? []) {
    const { key, path } = parseFileSource(f, where);
    pairs.push([key, await read(path, `${where}.files`)]);
  }
  return pairs;
}

function mergeOptions(global: GeneratorOptions | undefined, local: GeneratorOptions | undefined): GeneratorOptions {
  const out: GeneratorOptions = {};
  const labels = { ...(global?.labels ?? {}), ...(local?.labels ?? {}) };
  const annotations = { ...(global?.annotations ?? {}), ...(local?.annotations ?? {}) };
  if (Object.keys(labels).length > 0) out.labels = labels;
  if (Object.keys(annotations).length > 0) out.annotations = annotations;
  out.disableNameSuffixHash = Boolean(global?.disableNameSuffixHash || local?.disableNameSuffixHash);
  out.immutable = Boolean(global?.immutable || local?.immutable);
  return out;
}

export interface Generated {
  obj: KubeObject;
  needsHash: boolean;
  behavior: 'create' | 'merge' | 'replace';
}

/** Builds one ConfigMap or Secret from generator arguments. */
export async function generate(
  kind: 'ConfigMap' | 'Secret',
  args: GeneratorArgs,
  globalOptions: GeneratorOptions | undefined,
  read: FileReader,
  where: string,
): Promise<Generated> {
  if (!args.name) throw new ManifestError('INVALID_KUSTOMIZATION', `${where}: a ${kind === 'ConfigMap' ? 'configmap' : 'secret'} must have a name`);
  const behavior = args.behavior ?? 'create';
  if (behavior !== 'create' && behavior !== 'merge' && behavior !== 'replace') {
    throw new ManifestError('INVALID_KUSTOMIZATION', `${where}.behavior: unknown behavior "${behavior}" (use create, merge or replace)`);
  }
  const obj: KubeObject = { apiVersion: 'v1', kind, metadata: { name: args.name } };
  const meta = obj['metadata'] as Record<string, unknown>;
  if (args.namespace) meta['namespace'] = args.namespace;
  if (kind === 'Secret') obj['type'] = args.type || 'Opaque';
  const pairs = await loadPairs(args, read, where);
  const seen = new Set<string>();
  const data: Record<string, string> = {};
  const binaryData: Record<string, string> = {};
  for (const [key, value] of pairs) {
    if (!validKey.test(key)) throw new ManifestError('INVALID_KUSTOMIZATION', `${where}: invalid key "${key}": a valid config key must consist of alphanumeric characters, '-', '_' or '.'`);
    if (seen.has(key)) throw new ManifestError('INVALID_KUSTOMIZATION', `${where}: ${kind === 'ConfigMap' ? 'configmap' : 'secret'} ${args.name} illegally repeats the key \`${key}\``);
    seen.add(key);
    const buf = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    if (kind === 'Secret') data[key] = kustomizeBase64(buf);
    else {
      const text = buf.toString('utf8');
      if (Buffer.from(text, 'utf8').equals(buf)) data[key] = text;
      else binaryData[key] = kustomizeBase64(buf);
    }
  }
  if (Object.keys(data).length > 0) obj['data'] = data;
  if (Object.keys(binaryData).length > 0) obj['binaryData'] = binaryData;
  const opts = mergeOptions(globalOptions, args.options);
  if (opts.labels) meta['labels'] = { ...opts.labels };
  if (opts.annotations) meta['annotations'] = { ...opts.annotations };
  if (opts.immutable) obj['immutable'] = true;
  return { obj, needsHash: !opts.disableNameSuffixHash, behavior };
}
