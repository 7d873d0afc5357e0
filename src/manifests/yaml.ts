// Reading and writing YAML the way kustomize does.
//
// Reading follows go-yaml v3 (what kyaml decodes with): YAML 1.2-style booleans, Go integer
// syntax (0x, 0o, 0b, leading-zero octal, underscores), timestamps kept as strings.
// Writing follows kustomize's output path: objects go through JSON and are printed by go-yaml
// v2 (sigs.k8s.io/yaml), which sorts keys "naturally", quotes YAML 1.1 look-alikes, folds long
// lines at 80 columns and prints multi-line strings as literal blocks.
import { foldedAsKustomizeReadsIt, readFinalBlockScalarsAsGoYaml } from './patch/block-scalar.js';
import { Alias, isAlias, isMap, isScalar, isSeq, LineCounter, parseAllDocuments, type Document, type Node } from 'yaml';
import { ManifestError } from './errors.js';
import type { KubeObject } from './types.js';

/** Largest YAML input accepted from one file or argument (64 MiB). */
export const MAX_YAML_BYTES = 64 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Reading

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;
const yamlStyleFloat = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/;

/** Parses a Go integer literal as strconv.ParseInt/ParseUint with base 0 would (after "_" removal). */
function goParseInt(s: string): bigint | undefined {
  const m = /^([-+]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$/.exec(s);
  if (!m) return undefined;
  const sign = m[1] === '-' ? -1n : 1n;
  let body = m[2] ?? '';
  let v: bigint;
  if (/^0[xXoObB]/.test(body)) v = BigInt('0' + body.slice(1, 2).toLowerCase() + body.slice(2));
  else if (body.length > 1 && body.startsWith('0')) v = BigInt('0o' + body.slice(1));
  else v = BigInt(body);
  body = '';
  v *= sign;
  if (v < INT64_MIN || v > UINT64_MAX || (sign < 0n && v < INT64_MIN)) return undefined;
  return v;
}

/** Integers stay numbers when a double holds them exactly; only the rest become bigint. */
function intValue(v: bigint): number | bigint {
  const n = Number(v);
  return BigInt(n) === v ? n : v;
}

/** Resolves an untagged plain scalar as go-yaml v3 does when decoding into interface{}. */
export function resolvePlainV3(s: string): unknown {
  switch (s) {
    case '':
    case '~':
    case 'null':
    case 'Null':
    case 'NULL':
      return null;
    case 'true':
    case 'True':
    case 'TRUE':
      return true;
    case 'false':
    case 'False':
    case 'FALSE':
      return false;
    case '.nan':
    case '.NaN':
    case '.NAN':
      return NaN;
    case '.inf':
    case '.Inf':
    case '.INF':
    case '+.inf':
    case '+.Inf':
    case '+.INF':
      return Infinity;
    case '-.inf':
    case '-.Inf':
    case '-.INF':
      return -Infinity;
  }
  const c = s.charCodeAt(0);
  if (c === 0x2e /* . */) {
    if (/^\.[0-9]+([eE][-+]?[0-9]+)?$/.test(s)) return Number(s);
    return s;
  }
  const isDigit = c >= 0x30 && c <= 0x39;
  if (!isDigit && c !== 0x2b && c !== 0x2d) return s;
  if (isDigit) {
    const ts = timestampV3(s);
    if (ts !== undefined) return ts;
  }
  const plain = s.replace(/_/g, '');
  const i = goParseInt(plain);
  if (i !== undefined) return intValue(i);
  if (yamlStyleFloat.test(plain)) {
    const f = Number(plain);
    if (Number.isFinite(f)) return f;
  }
  return s;
}

function daysIn(year: number, month: number): number {
  return [31, year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1] ?? 0;
}

/**
 * go-yaml v3 decodes plain timestamps into time.Time, which kustomize's JSON step prints in
 * RFC 3339 (e.g. 2024-01-02 becomes "2024-01-02T00:00:00Z").
 */
function timestampV3(s: string): string | undefined {
  const m =
    /^(\d{4})-(\d{1,2})-(\d{1,2})(?:(?:[Tt](\d{1,2}):(\d{1,2}):(\d{1,2})(\.\d{1,9})?(Z|[+-]\d{2}:\d{2}))|(?: (\d{1,2}):(\d{1,2}):(\d{1,2})(\.\d{1,9})?))?$/.exec(s);
  if (!m) return undefined;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return undefined;
  const h = Number(m[4] ?? m[9] ?? 0);
  const mi = Number(m[5] ?? m[10] ?? 0);
  const sec = Number(m[6] ?? m[11] ?? 0);
  if (h > 23 || mi > 59 || sec > 59) return undefined;
  const frac = (m[7] ?? m[12] ?? '').replace(/0+$/, '');
  let zone = m[8] ?? 'Z';
  if (zone === '+00:00' || zone === '-00:00') zone = 'Z';
  const p2 = (n: number) => String(n).padStart(2, '0');
  return `${m[1]}-${p2(month)}-${p2(day)}T${p2(h)}:${p2(mi)}:${p2(sec)}${frac === '.' ? '' : frac}${zone}`;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Decodes a file read as YAML (or an env file). Invalid UTF-8 is refused, naming the file and the
 * line, as go-yaml refuses it ("invalid leading UTF-8 octet"); it is never turned into U+FFFD.
 */
export function decodeUtf8(buf: Uint8Array, file: string): string {
  try {
    return utf8.decode(buf);
  } catch (err) {
    // The lenient decoding agrees with the input up to the first invalid byte.
    const lenient = Buffer.from(Buffer.from(buf).toString('utf8'), 'utf8');
    let at = 0;
    while (at < buf.length && buf[at] === lenient[at]) at++;
    let line = 1;
    for (let i = 0; i < at; i++) if (buf[i] === 0x0a) line++;
    throw new ManifestError('INVALID_YAML', `${file}:${line}: invalid UTF-8 (byte 0x${(buf[at] ?? 0).toString(16).padStart(2, '0')} at offset ${at}); the file must be UTF-8 text`, { cause: err });
  }
}

export interface ParsedDocument {
  value: unknown;
  /** 1-based line where the document starts. */
  line: number;
}

function lineOf(counter: LineCounter, offset: number | undefined): number {
  return offset === undefined ? 0 : counter.linePos(offset).line;
}

/** Most values one document may expand to (aliases can otherwise blow up exponentially). */
const MAX_NODES_PER_DOCUMENT = 2_000_000;
let nodeBudget = MAX_NODES_PER_DOCUMENT;

function toValue(node: Node | null | undefined, doc: Document, counter: LineCounter, source: string, depth = 0, annotations = false): unknown {
  if (depth > 200) throw new ManifestError('INVALID_YAML', `${source}: YAML nested too deeply`);
  if (--nodeBudget < 0) throw new ManifestError('TOO_LARGE', `${source}: YAML document expands to more than ${MAX_NODES_PER_DOCUMENT} values (alias expansion)`);
  if (node === null || node === undefined) return null;
  if (isAlias(node)) {
    const target = (node as Alias).resolve(doc);
    if (!target) throw new ManifestError('INVALID_YAML', `${source}:${lineOf(counter, node.range?.[0])}: unknown anchor ${node.source}`);
    return toValue(target as Node, doc, counter, source, depth + 1);
  }
  if (isScalar(node)) {
    const raw = node.value;
    const s = typeof raw === 'string' ? raw : raw === null || raw === undefined ? '' : String(raw);
    const tag = node.tag;
    if (tag && tag !== '!') {
      const short = tag.replace(/^tag:yaml\.org,2002:/, '!!');
      switch (short) {
        case '!!str':
          return s;
        case '!!null':
          return null;
        case '!!bool': {
          const v = resolvePlainV3(s);
          if (typeof v !== 'boolean') throw new ManifestError('INVALID_YAML', `${source}:${lineOf(counter, node.range?.[0])}: cannot decode "${s}" as !!bool`);
          return v;
        }
        case '!!int':
        case '!!float': {
          const v = resolvePlainV3(s);
          if (typeof v !== 'number' && typeof v !== 'bigint') throw new ManifestError('INVALID_YAML', `${source}:${lineOf(counter, node.range?.[0])}: cannot decode "${s}" as ${short}`);
          return v;
        }
        case '!!binary':
        case '!!timestamp':
          return s;
        default:
          // Unknown local tags are ignored by kyaml's decoding into plain values.
          return node.type === 'PLAIN' ? resolvePlainV3(s) : s;
      }
    }
    if (node.type === 'PLAIN' && tag !== '!') return resolvePlainV3(s);
    if (node.type === 'BLOCK_FOLDED') return foldedAsKustomizeReadsIt(s);
    return s;
  }
  if (isSeq(node)) {
    return node.items.map((item) => toValue(item as Node, doc, counter, source, depth + 1));
  }
  if (isMap(node)) {
    const out: Record<string, unknown> = {};
    const merges: unknown[] = [];
    for (const pair of node.items) {
      const keyNode = pair.key as Node | null;
      const key = toValue(keyNode, doc, counter, source, depth + 1);
      if (isScalar(keyNode) && keyNode.value === '<<' && !keyNode.tag) {
        // A plain << is a merge key (kyaml resolves it on reading); a quoted "<<" key is
        // dropped by kustomize's round trip through go-yaml.
        if (keyNode.type !== 'PLAIN') continue;
        const merged = toValue(pair.value as Node, doc, counter, source, depth + 1);
        if (!isPlainObject(merged) && !(Array.isArray(merged) && merged.every(isPlainObject))) {
          throw new ManifestError('INVALID_YAML', `${source}:${lineOf(counter, keyNode.range?.[0])}: map merge requires map or sequence of maps as the value`);
        }
        merges.push(merged);
        continue;
      }
      if (typeof key !== 'string') {
        if (key === null || typeof key === 'object') {
          throw new ManifestError('INVALID_YAML', `${source}:${lineOf(counter, keyNode?.range?.[0])}: unsupported map key (only strings are allowed as keys)`);
        }
        throw new ManifestError('INVALID_YAML', `${source}:${lineOf(counter, keyNode?.range?.[0])}: map key ${String(key)} is not a string; quote it`);
      }
      const valueNode = pair.value as Node | null;
      const value = toValue(valueNode, doc, counter, source, depth + 1, key === 'annotations');
      if (valueNode === null) {
        recordScalarSource(out, key, '', value);
      } else if (isScalar(valueNode) && typeof valueNode.source === 'string') {
        const text = valueNode.source;
        if (typeof value === 'string') {
          if (valueNode.type !== 'PLAIN') recordScalarSource(out, key, text, value, 'quoted');
          else if (valueNode.tag) recordScalarSource(out, key, text, value, 'tagged');
          else if (annotations && text !== value) recordScalarSource(out, key, text, value);
        } else if (value === null || text !== canonicalText(value)) {
          recordScalarSource(out, key, text, value);
        }
      }
      setOwn(out, key, value);
    }
    for (const m of merges) {
      const sources = Array.isArray(m) ? m : [m];
      for (const src of sources) {
        if (!isPlainObject(src)) throw new ManifestError('INVALID_YAML', `${source}: merge key << needs a map`);
        for (const [k, v] of Object.entries(src)) if (!Object.prototype.hasOwnProperty.call(out, k)) setOwn(out, k, v);
      }
    }
    return out;
  }
  return null;
}

// The YAML text of some scalars that do not read as strings, by map and key: nulls anywhere
// (`key:` reads as null like `null` and `~` do, but kustomize's strategic merge drops only the
// empty ones from maps a patch reaches) and every non-string value of an `annotations` map
// (kustomize prints annotation values as strings made from their YAML text: 1.50 stays "1.50").
// Strings are recorded when quoted (kyaml keeps a replaced scalar's quotes: see
// StrategicMergeOptions.quoted) or tagged.
interface ScalarSource {
  text: string;
  value: unknown;
  style?: 'quoted' | 'tagged';
}
const scalarSources = new WeakMap<object, Map<string, ScalarSource>>();

/** Records that `owner[key]`, now `value`, was read from the YAML text `text`. */
export function recordScalarSource(owner: object, key: string, text: string, value: unknown, style?: 'quoted' | 'tagged'): void {
  let texts = scalarSources.get(owner);
  if (texts === undefined) {
    texts = new Map();
    scalarSources.set(owner, texts);
  }
  texts.set(key, style === undefined ? { text, value } : { text, value, style });
}

/**
 * True when the string `owner[key]` was written quoted (or as a block scalar), or, when it was
 * not read from YAML as it is now, when it would read as another type unquoted (kustomize writes
 * such strings quoted).
 */
export function isQuotedString(owner: Record<string, unknown>, key: string): boolean {
  const v = owner[key];
  if (typeof v !== 'string') return false;
  const entry = scalarSources.get(owner)?.get(key);
  if (entry !== undefined && entry.value === v && entry.style !== undefined) return entry.style === 'quoted';
  return resolvesAsNonStringV2(v) || base60float.test(v);
}

/** The YAML text `owner[key]` was read from, when recorded and the value is still the one read. */
export function scalarSource(owner: Record<string, unknown>, key: string): string | undefined {
  const entry = scalarSources.get(owner)?.get(key);
  if (entry === undefined || entry.style !== undefined) return undefined;
  return Object.prototype.hasOwnProperty.call(owner, key) && owner[key] === entry.value ? entry.text : undefined;
}

function canonicalText(v: unknown): string | undefined {
  if (typeof v === 'number' || typeof v === 'bigint') return formatNumber(v);
  if (typeof v === 'boolean') return String(v);
  return undefined;
}

/** True when `owner[key]` was read from YAML as an empty value (`key:`). */
export function wasWrittenEmpty(owner: Record<string, unknown>, key: string): boolean {
  return owner[key] === null && scalarSource(owner, key) === '';
}

/**
 * Gives `copy` the recorded texts of `original` (all of them, or the one for `key`) where the
 * values are still the same.
 */
export function carryScalarSources(copy: Record<string, unknown>, original: Record<string, unknown>, key?: string): void {
  const texts = scalarSources.get(original);
  if (texts === undefined) return;
  for (const [k, entry] of texts) {
    if (key !== undefined && k !== key) continue;
    if (Object.prototype.hasOwnProperty.call(copy, k) && copy[k] === entry.value) recordScalarSource(copy, k, entry.text, entry.value, entry.style);
  }
}

/** Sets a property even when the key is "__proto__". */
export function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses every document of a YAML stream into plain values (empty documents included as null). */
export function parseYamlDocuments(text: string, source = '<input>', opts: { uniqueKeys?: boolean } = {}): ParsedDocument[] {
  if (text.length > MAX_YAML_BYTES) throw new ManifestError('TOO_LARGE', `${source}: YAML larger than ${MAX_YAML_BYTES} bytes`);
  const counter = new LineCounter();
  const docs = parseAllDocuments(text, { schema: 'failsafe', lineCounter: counter, prettyErrors: true, uniqueKeys: opts.uniqueKeys ?? true, strict: false });
  const list = Array.isArray(docs) ? docs : [];
  if (list.every((d) => d.errors.length === 0)) readFinalBlockScalarsAsGoYaml(list, text);
  const out: ParsedDocument[] = [];
  for (const doc of list) {
    const err = doc.errors[0];
    if (err) {
      const pos = err.linePos?.[0];
      const where = pos ? `${source}:${pos.line}:${pos.col}` : source;
      const msg = err.message.split('\n')[0] ?? err.message;
      throw new ManifestError('INVALID_YAML', `${where}: invalid YAML: ${msg.replace(/ at line \d+, column \d+:?$/, '')}`);
    }
    nodeBudget = MAX_NODES_PER_DOCUMENT;
    out.push({ value: toValue(doc.contents as Node | null, doc, counter, source), line: lineOf(counter, doc.range[0]) || 1 });
  }
  return out;
}

/**
 * Parses a multi-document YAML stream of Kubernetes objects. Empty documents are skipped; a
 * document that is not a mapping is an error naming the source and line.
 */
export function parseManifests(text: string, source = '<input>'): KubeObject[] {
  const result: KubeObject[] = [];
  for (const doc of parseYamlDocuments(text, source)) {
    if (doc.value === null) continue;
    if (!isPlainObject(doc.value)) {
      throw new ManifestError('INVALID_YAML', `${source}:${doc.line}: expected a YAML mapping (a Kubernetes object), got ${Array.isArray(doc.value) ? 'a list' : 'a scalar'}`);
    }
    result.push(doc.value);
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Writing (a port of the parts of go-yaml v2's emitter kustomize's output uses)

const BEST_WIDTH = 80;
const BEST_INDENT = 2;
const base60float = /^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$/;

/** Would go-yaml v2 read this plain scalar back as something other than a string? */
function resolvesAsNonStringV2(s: string): boolean {
  switch (s) {
    case 'y': case 'Y': case 'yes': case 'Yes': case 'YES':
    case 'n': case 'N': case 'no': case 'No': case 'NO':
    case 'true': case 'True': case 'TRUE':
    case 'false': case 'False': case 'FALSE':
    case 'on': case 'On': case 'ON':
    case 'off': case 'Off': case 'OFF':
    case '': case '~': case 'null': case 'Null': case 'NULL':
    case '.nan': case '.NaN': case '.NAN':
    case '.inf': case '.Inf': case '.INF':
    case '+.inf': case '+.Inf': case '+.INF':
    case '-.inf': case '-.Inf': case '-.INF':
      return true;
  }
  const c = s.charCodeAt(0);
  if (c === 0x2e) return /^\.[0-9]+([eE][-+]?[0-9]+)?$/.test(s);
  const isDigit = c >= 0x30 && c <= 0x39;
  if (!isDigit && c !== 0x2b && c !== 0x2d) return false;
  if (isTimestampV2(s)) return true;
  const plain = s.replace(/_/g, '');
  if (goParseInt(plain) !== undefined) return true;
  if (yamlStyleFloat.test(plain) && Number.isFinite(Number(plain))) return true;
  if (/^0b[01]+$/.test(plain) || /^-0b[01]+$/.test(plain)) return true;
  return false;
}

function isTimestampV2(s: string): boolean {
  if (!/^[0-9]{4}-/.test(s)) return false;
  const date = /^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})/.exec(s);
  if (!date) return false;
  const month = Number(date[2]);
  const day = Number(date[3]);
  const year = Number(date[1]);
  if (month < 1 || month > 12 || day < 1) return false;
  const dim = [31, year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1] ?? 31;
  if (day > dim) return false;
  const rest = s.slice(date[0].length);
  if (rest === '') return true;
  const time = /^([Tt ])([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(\.[0-9]+)?(.*)$/.exec(rest);
  if (!time) return false;
  if (Number(time[2]) > 23 || Number(time[3]) > 59 || Number(time[4]) > 59) return false;
  const zone = time[6] ?? '';
  if (time[1] === ' ') return zone === '';
  return zone === 'Z' || /^[-+][0-9]{2}:[0-9]{2}$/.test(zone);
}

/** Formats a float64 as Go's strconv.FormatFloat(f, 'g', -1, 64). */
function goFormatG(f: number): string {
  if (f === 0) return Object.is(f, -0) ? '-0' : '0';
  const neg = f < 0;
  const exp = Math.abs(f).toExponential(); // shortest digits: d.ddde±x
  const m = /^(\d)(?:\.(\d+))?e([-+]\d+)$/.exec(exp);
  if (!m) return String(f);
  const digits = (m[1] ?? '') + (m[2] ?? '');
  const e = Number(m[3]);
  let out: string;
  if (e < -4 || e >= 21) {
    const mant = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const ae = Math.abs(e);
    out = `${mant}e${e < 0 ? '-' : '+'}${ae < 10 ? '0' : ''}${ae}`;
  } else if (e >= 6) {
    const mant = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    out = `${mant}e+${e < 10 ? '0' : ''}${e}`;
  } else if (e < 0) {
    out = `0.${'0'.repeat(-e - 1)}${digits}`;
  } else if (digits.length <= e + 1) {
    out = digits + '0'.repeat(e + 1 - digits.length);
  } else {
    out = `${digits.slice(0, e + 1)}.${digits.slice(e + 1)}`;
  }
  return neg ? `-${out}` : out;
}

/** The text kustomize prints for a number (after its JSON round trip). */
export function formatNumber(v: number | bigint): string {
  if (typeof v === 'bigint') {
    if (v >= INT64_MIN && v <= UINT64_MAX) return v.toString();
    return goFormatG(Number(v));
  }
  if (!Number.isFinite(v)) throw new ManifestError('INVALID_YAML', `cannot write ${String(v)}: JSON has no representation for it`);
  if (Number.isInteger(v) && Math.abs(v) < 1e21) {
    // JSON prints it without a fraction; go-yaml v2 reads that back as an int when it fits.
    const b = BigInt(v);
    if (b >= INT64_MIN && b <= UINT64_MAX) return b.toString();
    return goFormatG(v);
  }
  return goFormatG(v);
}

function isLetter(ch: string): boolean {
  return /^\p{L}$/u.test(ch);
}
function isDigitRune(ch: string): boolean {
  return /^\p{Nd}$/u.test(ch);
}

/** go-yaml v2's key order: letters after other characters, digit runs compared as numbers. */
export function compareKeysV2(a: string, b: string): number {
  if (a === b) return 0;
  return keyLessV2(a, b) ? -1 : 1;
}

function keyLessV2(a: string, b: string): boolean {
  const ar = Array.from(a);
  const br = Array.from(b);
  for (let i = 0; i < ar.length && i < br.length; i++) {
    const ai0 = ar[i] as string;
    const bi0 = br[i] as string;
    if (ai0 === bi0) continue;
    const al = isLetter(ai0);
    const bl = isLetter(bi0);
    if (al && bl) return (ai0.codePointAt(0) ?? 0) < (bi0.codePointAt(0) ?? 0);
    if (al || bl) return bl;
    let an = 0n;
    let bn = 0n;
    if (ai0 === '0' || bi0 === '0') {
      for (let j = i - 1; j >= 0 && isDigitRune(ar[j] as string); j--) {
        if (ar[j] !== '0') {
          an = 1n;
          bn = 1n;
          break;
        }
      }
    }
    let ai = i;
    for (; ai < ar.length && isDigitRune(ar[ai] as string); ai++) an = an * 10n + BigInt((ar[ai]?.codePointAt(0) ?? 48) - 48);
    let bi = i;
    for (; bi < br.length && isDigitRune(br[bi] as string); bi++) bn = bn * 10n + BigInt((br[bi]?.codePointAt(0) ?? 48) - 48);
    if (an !== bn) return an < bn;
    if (ai !== bi) return ai < bi;
    return (ai0.codePointAt(0) ?? 0) < (bi0.codePointAt(0) ?? 0);
  }
  return ar.length < br.length;
}

type Style = 'plain' | 'single' | 'double' | 'literal';

interface Analysis {
  multiline: boolean;
  flowPlain: boolean;
  blockPlain: boolean;
  singleQuoted: boolean;
  block: boolean;
}

function isPrintable(cp: number): boolean {
  return cp === 0x0a || (cp >= 0x20 && cp <= 0x7e) || (cp >= 0xa0 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd && cp !== 0xfeff);
}
function isBreak(cp: number | undefined): boolean {
  return cp === 0x0d || cp === 0x0a || cp === 0x85 || cp === 0x2028 || cp === 0x2029;
}
function isBlank(cp: number | undefined): boolean {
  return cp === 0x20 || cp === 0x09;
}

function utf8Length(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

const FIRST_INDICATORS = new Set('#,[]{}&*!|>\'"%@`');
const FLOW_INDICATORS = new Set(',?[]{}');

function analyze(value: string): Analysis {
  if (value.length === 0) return { multiline: false, flowPlain: false, blockPlain: true, singleQuoted: true, block: false };
  let blockIndicators = false;
  let flowIndicators = false;
  let lineBreaks = false;
  let special = false;
  let leadingSpace = false;
  let leadingBreak = false;
  let trailingSpace = false;
  let trailingBreak = false;
  let breakSpace = false;
  let spaceBreak = false;
  let previousSpace = false;
  let previousBreak = false;
  if (value.startsWith('---') || value.startsWith('...')) {
    blockIndicators = true;
    flowIndicators = true;
  }
  let precededByWhitespace = true;
  const n = value.length;
  for (let i = 0; i < n; ) {
    const c = value.codePointAt(i) as number;
    const w = c > 0xffff ? 2 : 1;
    const first = i === 0;
    const last = i + w >= n;
    const nextC = last ? -1 : value.charCodeAt(i + w);
    const followedByWhitespace = last || nextC === 0x20 || nextC === 0x09;
    const ch = value[i] as string;
    if (first) {
      if (FIRST_INDICATORS.has(ch)) {
        flowIndicators = true;
        blockIndicators = true;
      } else if (ch === '?' || ch === ':') {
        flowIndicators = true;
        if (followedByWhitespace) blockIndicators = true;
      } else if (ch === '-') {
        if (followedByWhitespace) {
          flowIndicators = true;
          blockIndicators = true;
        }
      }
    } else {
      if (FLOW_INDICATORS.has(ch)) flowIndicators = true;
      else if (ch === ':') {
        flowIndicators = true;
        if (followedByWhitespace) blockIndicators = true;
      } else if (ch === '#' && precededByWhitespace) {
        flowIndicators = true;
        blockIndicators = true;
      }
    }
    if (!isPrintable(c)) special = true;
    if (c === 0x20) {
      if (first) leadingSpace = true;
      if (last) trailingSpace = true;
      if (previousBreak) breakSpace = true;
      previousSpace = true;
      previousBreak = false;
    } else if (isBreak(c)) {
      lineBreaks = true;
      if (first) leadingBreak = true;
      if (last) trailingBreak = true;
      if (previousSpace) spaceBreak = true;
      previousSpace = false;
      previousBreak = true;
    } else {
      previousSpace = false;
      previousBreak = false;
    }
    precededByWhitespace = c === 0x20 || c === 0x09 || isBreak(c) || c === 0;
    i += w;
  }
  const a: Analysis = { multiline: lineBreaks, flowPlain: true, blockPlain: true, singleQuoted: true, block: true };
  if (leadingSpace || leadingBreak || trailingSpace || trailingBreak) {
    a.flowPlain = false;
    a.blockPlain = false;
  }
  if (trailingSpace) a.block = false;
  if (breakSpace) {
    a.flowPlain = false;
    a.blockPlain = false;
    a.singleQuoted = false;
  }
  if (spaceBreak || special) {
    a.flowPlain = false;
    a.blockPlain = false;
    a.singleQuoted = false;
    a.block = false;
  }
  if (lineBreaks) {
    a.flowPlain = false;
    a.blockPlain = false;
  }
  if (flowIndicators) a.flowPlain = false;
  if (blockIndicators) a.blockPlain = false;
  return a;
}

class Emitter {
  private out: string[] = [];
  private column = 0;
  private whitespace = true;
  private indention = true;
  private openEnded = false;
  private indent = -1;
  private indents: number[] = [];

  result(): string {
    return this.out.join('');
  }

  private put(s: string): void {
    this.out.push(s);
    this.column += 1;
  }
  private putBreak(): void {
    this.out.push('\n');
    this.column = 0;
  }
  private writeText(s: string): void {
    this.out.push(s);
    this.column += Array.from(s).length;
  }

  private increaseIndent(flow: boolean, indentless: boolean): void {
    this.indents.push(this.indent);
    if (this.indent < 0) this.indent = flow ? BEST_INDENT : 0;
    else if (!indentless) this.indent += BEST_INDENT;
  }
  private popIndent(): void {
    this.indent = this.indents.pop() ?? -1;
  }

  writeIndent(): void {
    const indent = Math.max(this.indent, 0);
    if (!this.indention || this.column > indent || (this.column === indent && !this.whitespace)) this.putBreak();
    if (this.column < indent) {
      this.out.push(' '.repeat(indent - this.column));
      this.column = indent;
    }
    this.whitespace = true;
    this.indention = true;
  }

  private writeIndicator(ind: string, needWhitespace: boolean, isWhitespace: boolean, isIndention: boolean): void {
    if (needWhitespace && !this.whitespace) this.put(' ');
    this.writeText(ind);
    this.whitespace = isWhitespace;
    this.indention = this.indention && isIndention;
    this.openEnded = false;
  }

  document(value: unknown): void {
    this.node(value, { root: true, sequence: false, mapping: false, simpleKey: false });
    // document end (implicit)
    this.writeIndent();
    if (this.openEnded) {
      this.writeIndicator('...', true, false, false);
      this.writeIndent();
    }
  }

  private node(v: unknown, ctx: { root: boolean; sequence: boolean; mapping: boolean; simpleKey: boolean }): void {
    if (Array.isArray(v)) {
      if (v.length === 0) return this.flowEmpty('[', ']');
      return this.blockSequence(v, ctx.mapping);
    }
    if (isPlainObject(v)) {
      const keys = Object.keys(v);
      if (keys.length === 0) return this.flowEmpty('{', '}');
      return this.blockMapping(v, keys);
    }
    this.scalar(v, ctx);
  }

  private flowEmpty(open: string, close: string): void {
    this.writeIndicator(open, true, true, false);
    this.writeIndicator(close, false, false, false);
  }

  private blockSequence(items: unknown[], mappingContext: boolean): void {
    this.increaseIndent(false, mappingContext && !this.indention);
    for (const item of items) {
      this.writeIndent();
      this.writeIndicator('-', true, false, true);
      this.node(item, { root: false, sequence: true, mapping: false, simpleKey: false });
    }
    this.popIndent();
  }

  private blockMapping(obj: Record<string, unknown>, keys: string[]): void {
    this.increaseIndent(false, false);
    keys.sort(compareKeysV2);
    for (const key of keys) {
      this.writeIndent();
      const a = analyze(key);
      if (!a.multiline && utf8Length(key) <= 128) {
        this.scalar(key, { root: false, simpleKey: true });
        this.writeIndicator(':', false, false, false);
      } else {
        this.writeIndicator('?', true, false, true);
        this.scalar(key, { root: false, simpleKey: false });
        this.writeIndent();
        this.writeIndicator(':', true, false, true);
      }
      this.node(obj[key], { root: false, sequence: false, mapping: true, simpleKey: false });
    }
    this.popIndent();
  }

  private scalar(v: unknown, ctx: { root: boolean; simpleKey: boolean }): void {
    let text: string;
    let style: Style;
    if (typeof v === 'string') {
      text = v;
      const canUsePlain = !resolvesAsNonStringV2(v) && !base60float.test(v);
      style = v.includes('\n') ? 'literal' : canUsePlain ? 'plain' : 'double';
    } else if (v === null || v === undefined) {
      text = 'null';
      style = 'plain';
    } else if (typeof v === 'boolean') {
      text = v ? 'true' : 'false';
      style = 'plain';
    } else if (typeof v === 'number' || typeof v === 'bigint') {
      text = formatNumber(v);
      style = 'plain';
    } else {
      text = String(v);
      style = 'plain';
    }
    const a = analyze(text);
    if (ctx.simpleKey && a.multiline) style = 'double';
    if (style === 'plain') {
      if (!a.blockPlain) style = 'single';
      if (text.length === 0 && ctx.simpleKey) style = 'single';
    }
    if (style === 'single' && !a.singleQuoted) style = 'double';
    if (style === 'literal' && (!a.block || ctx.simpleKey)) style = 'double';
    this.increaseIndent(true, false);
    const allowBreaks = !ctx.simpleKey;
    switch (style) {
      case 'plain':
        this.writePlain(text, allowBreaks, ctx.root);
        break;
      case 'single':
        this.writeSingle(text, allowBreaks);
        break;
      case 'double':
        this.writeDouble(text, allowBreaks);
        break;
      case 'literal':
        this.writeLiteral(text);
        break;
    }
    this.popIndent();
  }

  private writePlain(value: string, allowBreaks: boolean, root: boolean): void {
    if (!this.whitespace) this.put(' ');
    const cps = Array.from(value);
    let spaces = false;
    let breaks = false;
    for (let i = 0; i < cps.length; i++) {
      const ch = cps[i] as string;
      const cp = ch.codePointAt(0);
      if (ch === ' ') {
        if (allowBreaks && !spaces && this.column > BEST_WIDTH && cps[i + 1] !== ' ') {
          this.writeIndent();
        } else {
          this.put(ch);
        }
        spaces = true;
      } else if (isBreak(cp)) {
        if (!breaks && ch === '\n') this.putBreak();
        this.writeBreak(ch);
        this.indention = true;
        breaks = true;
      } else {
        if (breaks) this.writeIndent();
        this.put(ch);
        this.indention = false;
        spaces = false;
        breaks = false;
      }
    }
    this.whitespace = false;
    this.indention = false;
    if (root) this.openEnded = true;
  }

  private writeBreak(ch: string): void {
    if (ch === '\n') this.putBreak();
    else {
      this.out.push(ch);
      this.column = 0;
    }
  }

  private writeSingle(value: string, allowBreaks: boolean): void {
    this.writeIndicator("'", true, false, false);
    const cps = Array.from(value);
    let spaces = false;
    let breaks = false;
    for (let i = 0; i < cps.length; i++) {
      const ch = cps[i] as string;
      const cp = ch.codePointAt(0);
      if (ch === ' ') {
        if (allowBreaks && !spaces && this.column > BEST_WIDTH && i > 0 && i < cps.length - 1 && cps[i + 1] !== ' ') {
          this.writeIndent();
        } else {
          this.put(ch);
        }
        spaces = true;
      } else if (isBreak(cp)) {
        if (!breaks && ch === '\n') this.putBreak();
        this.writeBreak(ch);
        this.indention = true;
        breaks = true;
      } else {
        if (breaks) this.writeIndent();
        if (ch === "'") this.put("'");
        this.put(ch);
        this.indention = false;
        spaces = false;
        breaks = false;
      }
    }
    this.writeIndicator("'", false, false, false);
    this.whitespace = false;
    this.indention = false;
  }

  private writeDouble(value: string, allowBreaks: boolean): void {
    let spaces = false;
    this.writeIndicator('"', true, false, false);
    const cps = Array.from(value);
    for (let i = 0; i < cps.length; i++) {
      const ch = cps[i] as string;
      const v = ch.codePointAt(0) ?? 0;
      if (!isPrintable(v) || v === 0xfeff || isBreak(v) || ch === '"' || ch === '\\') {
        this.put('\\');
        const simple: Record<number, string> = {
          0x00: '0', 0x07: 'a', 0x08: 'b', 0x09: 't', 0x0a: 'n', 0x0b: 'v', 0x0c: 'f', 0x0d: 'r', 0x1b: 'e',
          0x22: '"', 0x5c: '\\', 0x85: 'N', 0xa0: '_', 0x2028: 'L', 0x2029: 'P',
        };
        const s = simple[v];
        if (s !== undefined) this.put(s);
        else {
          let w: number;
          if (v <= 0xff) {
            this.put('x');
            w = 2;
          } else if (v <= 0xffff) {
            this.put('u');
            w = 4;
          } else {
            this.put('U');
            w = 8;
          }
          for (const d of v.toString(16).toUpperCase().padStart(w, '0')) this.put(d);
        }
        spaces = false;
      } else if (ch === ' ') {
        if (allowBreaks && !spaces && this.column > BEST_WIDTH && i > 0 && i < cps.length - 1) {
          this.writeIndent();
          if (cps[i + 1] === ' ') this.put('\\');
        } else {
          this.put(ch);
        }
        spaces = true;
      } else {
        this.put(ch);
        spaces = false;
      }
    }
    this.writeIndicator('"', false, false, false);
    this.whitespace = false;
    this.indention = false;
  }

  private writeLiteral(value: string): void {
    this.writeIndicator('|', true, false, false);
    // block scalar hints
    const cps = Array.from(value, (c) => c.codePointAt(0) ?? 0);
    if (cps[0] === 0x20 || isBreak(cps[0])) this.writeIndicator(String(BEST_INDENT), false, false, false);
    this.openEnded = false;
    let chomp = '';
    if (cps.length === 0) chomp = '-';
    else {
      const last = cps.length - 1;
      if (!isBreak(cps[last])) chomp = '-';
      else if (last === 0) {
        chomp = '+';
      } else if (isBreak(cps[last - 1])) {
        chomp = '+';
      }
    }
    if (chomp) this.writeIndicator(chomp, false, false, false);
    if (chomp === '+') this.openEnded = true;
    this.putBreak();
    this.indention = true;
    this.whitespace = true;
    let breaks = true;
    for (const c of cps) {
      const ch = String.fromCodePoint(c);
      if (isBreak(c)) {
        this.writeBreak(ch);
        this.indention = true;
        breaks = true;
      } else {
        if (breaks) this.writeIndent();
        this.put(ch);
        this.indention = false;
        breaks = false;
      }
    }
  }
}

/** Prints one object exactly as kustomize prints a resource. */
export function formatObject(value: unknown): string {
  const e = new Emitter();
  e.document(value);
  return e.result();
}

/** Prints objects as a kustomize build output: documents separated by "---". */
export function formatManifests(objects: readonly unknown[]): string {
  return objects.map((o) => formatObject(o)).join('---\n');
}
