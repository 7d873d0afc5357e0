// JSON 6902 as kustomize v5 applies it: gopkg.in/evanphx/json-patch.v4 over the object's JSON
// form, then back to YAML through a Go map (so every map comes out with sorted keys). The
// library's lenient behaviours are kept on purpose, because kustomize's output depends on them:
// negative array indices count from the end, `replace` of a missing object key adds it, `copy`
// from a missing object key copies null, and `replace` of the whole document with a scalar is a
// no-op.
import { parseAllDocuments } from 'yaml';
import type { DocumentOptions, ParseOptions, SchemaOptions } from 'yaml';
import { readFinalBlockScalarsAsGoYaml } from './block-scalar.js';
import { PatchError } from './errors.js';
import { setOwn } from './own.js';

export interface JsonPatchOperation {
  op: string;
  path?: string;
  from?: string;
  value?: unknown;
}

export interface Json6902Options {
  /** Where the patch came from (file path or `[patch: "..."]`), for error messages. */
  source?: string;
  /** Upper bound on the bytes that `copy` operations may duplicate (default 64 MiB). */
  maxCopyBytes?: number;
}

type Obj = Record<string, unknown>;
type Container = Obj | unknown[];

const DEFAULT_MAX_COPY_BYTES = 64 * 1024 * 1024;

/**
 * How kustomize reads JSON 6902 patches written in YAML (sigs.k8s.io/yaml over go-yaml v2):
 * YAML 1.1 scalars (`yes`/`on` are booleans), except that timestamps stay strings.
 */
export const yaml11Options: ParseOptions & DocumentOptions & SchemaOptions = {
  version: '1.1',
  uniqueKeys: false,
  customTags: (tags) => tags.filter((t) => typeof t === 'string' ? t !== 'timestamp' : t.tag !== 'tag:yaml.org,2002:timestamp'),
};

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describeSource(source: string | undefined): string {
  return source === undefined ? '' : ` from ${source}`;
}

/**
 * Reads JSON 6902 operations as kustomize does: text starting with `[` is JSON; anything else
 * is YAML (only its first document) read with YAML 1.1 rules, as sigs.k8s.io/yaml does, so
 * `yes`/`on` are booleans. An empty document is an empty list. Throws plain errors.
 */
export function readJson6902(text: string): JsonPatchOperation[] {
  let data: unknown;
  if (text.startsWith('[')) {
    data = JSON.parse(text);
  } else {
    const docs = parseAllDocuments(text, yaml11Options);
    const first = docs[0];
    if (first === undefined) return [];
    if ('errors' in first && first.errors.length > 0) throw first.errors[0];
    if (docs.length === 1) readFinalBlockScalarsAsGoYaml(docs, text);
    data = first.toJS({ maxAliasCount: 100 });
  }
  if (data === null || data === undefined) return [];
  if (!Array.isArray(data)) throw new Error('expected a list of operations');
  data.forEach((op, i) => {
    if (op !== null && !isObj(op)) throw new Error(`operation ${i} is not an object`);
  });
  return data.map((op) => (op === null ? {} : op)) as JsonPatchOperation[];
}

/** Parses JSON 6902 operations as kustomize does (see readJson6902), naming the source in errors. */
export function parseJson6902(text: string, opts: Json6902Options = {}): JsonPatchOperation[] {
  const what = `parsing JSON 6902 patch${describeSource(opts.source)}`;
  const details = opts.source === undefined ? {} : { source: opts.source };
  if (text.length === 0) throw new PatchError(`${what}: empty json patch operations`, details);
  try {
    return readJson6902(text);
  } catch (err) {
    throw new PatchError(`${what}: ${(err as Error).message.split('\n')[0]}`, details, { cause: err });
  }
}

/**
 * Applies RFC 6902 operations as kustomize does; returns a new object with every map's keys
 * sorted (kustomize round-trips the object through a Go map). Errors name the operation index,
 * its path and the patch source.
 */
export function applyJson6902(
  target: Obj,
  operations: unknown[],
  opts: Json6902Options = {},
): Obj {
  const maxCopy = opts.maxCopyBytes ?? DEFAULT_MAX_COPY_BYTES;
  let doc: Container = toJsonValue(target) as Obj;
  // kustomize runs patches while kyaml's internal annotations (config.kubernetes.io/index, …) sit
  // on every resource, so `metadata.annotations` always exists for a patch: `add
  // /metadata/annotations/x` works on an object that has none (labels have no such entry, and a
  // missing `labels` map stays an error). restringAnnotations drops it again if it stays empty.
  const md = doc['metadata'];
  if (isObj(md) && md['annotations'] === undefined) setOwn(md, 'annotations', {});
  let copied = 0;
  operations.forEach((raw, index) => {
    const fail = (message: string, path?: string): never => {
      const op = isObj(raw) && typeof raw['op'] === 'string' ? raw['op'] : 'operation';
      const where = path === undefined ? '' : ` ${path}`;
      throw new PatchError(
        `applying JSON 6902 patch${describeSource(opts.source)}: operation ${index} (${op}${where}): ${message}`,
        {
          ...(opts.source === undefined ? {} : { source: opts.source }),
          op: index,
          ...(path === undefined ? {} : { path }),
        },
      );
    };
    if (!isObj(raw)) return fail('not an object');
    const kind = typeof raw['op'] === 'string' ? raw['op'] : 'unknown';
    const stringField = (name: 'path' | 'from'): string => {
      const v = raw[name];
      if (v === undefined || v === null) {
        return fail(
          name === 'path'
            ? `${kind} operation failed to decode path: missing value`
            : `${kind} operation failed to decode from: operation, missing from field: missing value`,
        );
      }
      if (typeof v !== 'string') return fail(`${name} is not a string`);
      return v;
    };
    // a missing value is null to json-patch v4
    const value = (): unknown => (raw['value'] === undefined ? null : toJsonValue(raw['value']));

    switch (kind) {
      case 'add': {
        const path = stringField('path');
        const [con, key] = findObject(doc, path);
        if (con === undefined) {
          return fail(`add operation does not apply: doc is missing path: "${path}": missing value`, path);
        }
        const err = add(con, key, value());
        if (err !== undefined) fail(`error in add for path: '${path}': ${err}`, path);
        return;
      }
      case 'remove': {
        const path = stringField('path');
        const [con, key] = findObject(doc, path);
        if (con === undefined) {
          return fail(`remove operation does not apply: doc is missing path: "${path}": missing value`, path);
        }
        const err = remove(con, key);
        if (err !== undefined) fail(`error in remove for path: '${path}': ${err}`, path);
        return;
      }
      case 'replace': {
        const path = stringField('path');
        if (path === '') {
          const v = value();
          if (isObj(v) || Array.isArray(v)) doc = v;
          return;
        }
        const [con, key] = findObject(doc, path);
        if (con === undefined) {
          return fail(`replace operation does not apply: doc is missing path: ${path}: missing value`, path);
        }
        const got = get(con, key);
        if (got.error !== undefined) {
          return fail(`replace operation does not apply: doc is missing key: ${path}: missing value`, path);
        }
        set(con, key, value());
        return;
      }
      case 'move': {
        const from = stringField('from');
        const [src, fromKey] = findObject(doc, from);
        if (src === undefined) {
          return fail(`move operation does not apply: doc is missing from path: ${from}: missing value`, from);
        }
        const got = get(src, fromKey);
        if (got.error !== undefined) return fail(`error in move for path: '${fromKey}': ${got.error}`, from);
        const rmErr = remove(src, fromKey);
        if (rmErr !== undefined) return fail(`error in move for path: '${fromKey}': ${rmErr}`, from);
        const path = stringField('path');
        const [con, key] = findObject(doc, path);
        if (con === undefined) {
          return fail(`move operation does not apply: doc is missing destination path: ${path}: missing value`, path);
        }
        const err = add(con, key, got.value ?? null);
        if (err !== undefined) fail(`error in move for path: '${path}': ${err}`, path);
        return;
      }
      case 'copy': {
        const from = stringField('from');
        const [src, fromKey] = findObject(doc, from);
        if (src === undefined) {
          return fail(`copy operation does not apply: doc is missing from path: ${from}: missing value`, from);
        }
        const got = get(src, fromKey);
        if (got.error !== undefined) return fail(`error in copy for from: '${from}': ${got.error}`, from);
        const path = stringField('path');
        const [con, key] = findObject(doc, path);
        if (con === undefined) {
          return fail(`copy operation does not apply: doc is missing destination path: ${path}: missing value`, path);
        }
        const size = JSON.stringify(got.value ?? null).length;
        copied += size;
        if (copied > maxCopy) {
          return fail(`copies add up to more than ${maxCopy} bytes; refusing to grow the object further`, path);
        }
        const err = add(con, key, structuredClone(got.value ?? null));
        if (err !== undefined) fail(`error while adding value during copy: ${err}`, path);
        return;
      }
      case 'test': {
        const path = stringField('path');
        const expected = raw['value'] === undefined ? undefined : toJsonValue(raw['value']);
        if (path === '') {
          if (!jsonEqual(doc, expected)) fail(`testing value ${path} failed: test failed`, path);
          return;
        }
        const [con, key] = findObject(doc, path);
        if (con === undefined) {
          return fail(`test operation does not apply: is missing path: ${path}: missing value`, path);
        }
        const got = get(con, key);
        if (got.error !== undefined) return fail(`error in test for path: '${path}': ${got.error}`, path);
        const actual = got.value;
        // json-patch v4 reads a null in the document as "no value"
        if (actual === undefined || actual === null) {
          if (expected === null) return;
          return fail(`testing value ${path} failed: test failed`, path);
        }
        if (expected === undefined || !jsonEqual(actual, expected)) {
          fail(`testing value ${path} failed: test failed`, path);
        }
        return;
      }
      default:
        return fail(`Unexpected kind: ${kind}`);
    }
  });
  if (!isObj(doc)) {
    throw new PatchError(
      `applying JSON 6902 patch${describeSource(opts.source)}: the result is a list, not an object`,
      opts.source === undefined ? {} : { source: opts.source },
    );
  }
  restringAnnotations(doc);
  return sortKeys(doc) as Obj;
}

/**
 * kustomize's JSON 6902 transformers read the annotations back and set them again as a string
 * map after every patch: values become their YAML text (null becomes "null") and an empty or
 * non-map `annotations` disappears.
 */
function restringAnnotations(doc: Obj): void {
  let md = doc['metadata'];
  if (md === undefined) {
    md = {};
    setOwn(doc, 'metadata', md);
  }
  if (!isObj(md)) return;
  const annotations = md['annotations'];
  if (annotations === undefined) return;
  const out: Obj = {};
  if (isObj(annotations)) {
    for (const [k, v] of Object.entries(annotations)) setOwn(out, k, yamlText(v));
  }
  delete md['annotations'];
  if (Object.keys(out).length > 0) setOwn(md, 'annotations', out);
}

/** The text of a YAML scalar node as Go's yaml.v3 writes the value ("" for maps and lists). */
function yamlText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v === null) return 'null';
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return '';
}

/** A deep copy as plain JSON data (what the Go side sees after json.Marshal). */
function toJsonValue(v: unknown): unknown {
  if (Array.isArray(v)) return v.map((e) => toJsonValue(e));
  if (isObj(v)) {
    const out: Obj = {};
    for (const [k, e] of Object.entries(v)) {
      if (e !== undefined) setOwn(out, k, toJsonValue(e));
    }
    return out;
  }
  if (typeof v === 'bigint') return Number(v);
  if (v === undefined) return null;
  return v;
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map((e) => sortKeys(e));
  if (isObj(v)) {
    const out: Obj = {};
    for (const k of Object.keys(v).sort(compareGo)) setOwn(out, k, sortKeys(v[k]));
    return out;
  }
  return v;
}

/** Go's string order: by UTF-8 bytes. */
function compareGo(a: string, b: string): number {
  if (a === b) return 0;
  // UTF-16 order equals UTF-8 byte order unless surrogates or U+E000..U+FFFF are involved
  if (!NON_BMP_ORDER.test(a) && !NON_BMP_ORDER.test(b)) return a < b ? -1 : 1;
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

const NON_BMP_ORDER = /[\uD800-\uFFFF]/;

function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((e, i) => jsonEqual(e, b[i]));
  }
  if (isObj(a)) {
    if (!isObj(b)) return false;
    const ka = Object.keys(a);
    if (ka.length !== Object.keys(b).length) return false;
    return ka.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]));
  }
  return false;
}

function decodeKey(k: string): string {
  return k.replace(/~1|~0/g, (m) => (m === '~1' ? '/' : '~'));
}

/** Go's strconv.Atoi: optional sign and decimal digits. */
function atoi(key: string): number | undefined {
  if (!/^[+-]?\d+$/.test(key)) return undefined;
  const n = Number(key);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** The container holding the last segment of `path`, and that segment decoded. */
function findObject(doc: Container, path: string): [Container | undefined, string] {
  const split = path.split('/');
  if (split.length < 2) return [undefined, ''];
  let cur: Container = doc;
  for (const part of split.slice(1, -1)) {
    const next = get(cur, decodeKey(part));
    if (next.error !== undefined || next.value === undefined || next.value === null) return [undefined, ''];
    if (!isObj(next.value) && !Array.isArray(next.value)) return [undefined, ''];
    cur = next.value;
  }
  return [cur, decodeKey(split[split.length - 1] as string)];
}

function invalidIndex(idx: number): string {
  return `Unable to access invalid index: ${idx}: invalid index referenced`;
}

function get(con: Container, key: string): { value?: unknown; error?: string } {
  if (!Array.isArray(con)) return Object.hasOwn(con, key) ? { value: con[key] } : {};
  let idx = atoi(key);
  if (idx === undefined) return { error: `strconv.Atoi: parsing "${key}": invalid syntax` };
  if (idx < 0) {
    if (idx < -con.length) return { error: invalidIndex(idx) };
    idx += con.length;
  }
  if (idx >= con.length) return { error: invalidIndex(idx) };
  return { value: con[idx] };
}

function set(con: Container, key: string, value: unknown): void {
  if (!Array.isArray(con)) {
    setOwn(con, key, value);
    return;
  }
  let idx = atoi(key) as number;
  if (idx < 0) idx += con.length;
  con[idx] = value;
}

function add(con: Container, key: string, value: unknown): string | undefined {
  if (!Array.isArray(con)) {
    setOwn(con, key, value);
    return undefined;
  }
  if (key === '-') {
    con.push(value);
    return undefined;
  }
  let idx = atoi(key);
  if (idx === undefined) {
    return `value was not a proper array index: '${key}': strconv.Atoi: parsing "${key}": invalid syntax`;
  }
  const size = con.length + 1;
  if (idx >= size) return invalidIndex(idx);
  if (idx < 0) {
    if (idx < -size) return invalidIndex(idx);
    idx += size;
  }
  con.splice(idx, 0, value);
  return undefined;
}

function remove(con: Container, key: string): string | undefined {
  if (!Array.isArray(con)) {
    if (!Object.hasOwn(con, key)) return `Unable to remove nonexistent key: ${key}: missing value`;
    delete con[key];
    return undefined;
  }
  let idx = atoi(key);
  if (idx === undefined) return `strconv.Atoi: parsing "${key}": invalid syntax`;
  if (idx >= con.length) return invalidIndex(idx);
  if (idx < 0) {
    if (idx < -con.length) return invalidIndex(idx);
    idx += con.length;
  }
  con.splice(idx, 1);
  return undefined;
}
