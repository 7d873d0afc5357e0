// Strategic merge as kustomize v5 does it: kyaml's merge2 walker with the patch's list elements
// prepended (ListIncreaseDirection: prepend) and merge keys from the Kubernetes v1.21.2 OpenAPI
// built into kyaml (applyStrategicMergePatch); around it, what kustomize's ApplySmPatch does to
// the patch copy before and to the name/kind/namespace after (applyKustomizeSmPatch).
//
// The walk works on private deep copies of the target and the patch and edits them in place, so
// that the many small effects of kyaml's in-place node edits (directive elision, list element
// filtering, element replacement by merge key) come out the same.
import { PatchError } from './errors.js';
import { setOwn } from './own.js';
import type { Schema } from './schema.js';
import { elementSchema, fieldSchema, isAssociative, schemaForType } from './schema.js';

export interface StrategicMergeOptions {
  /** Where the patch came from (file path or `[patch: "..."]`), for error messages. */
  source?: string;
  /**
   * Tells whether the target's null at `owner[key]` was written as an empty value (`key:`)
   * rather than `null` or `~`. kustomize drops such fields from any object a strategic merge
   * patch touches (when the patch does not mention them) and keeps written-out nulls; plain data
   * cannot tell the two apart, so without this every null is kept. `owner` is an object of the
   * target as passed in.
   */
  emptyNull?: (owner: Record<string, unknown>, key: string) => boolean;
  /**
   * Lets callers carry what they know about the maps of the target and the patch (such as
   * `emptyNull`) over to the result: called for every map of the result that is a copy of a map
   * of the target or of the patch, with that original, and with `key` for each scalar that the
   * patch's map `original` gave to a map of the result.
   */
  carry?: (copy: Record<string, unknown>, original: Record<string, unknown>, key?: string) => void;
  /**
   * True when the target's string at `owner[key]` is written quoted (`"8080"`, `'abc'`, a block
   * scalar). kyaml keeps the style of a scalar a patch replaces, so a number or boolean from the
   * patch that replaces a quoted string becomes a string. Without this, a string is taken as
   * quoted when it would read as another type unquoted (as kustomize writes such strings).
   */
  quoted?: (owner: Record<string, unknown>, key: string) => boolean;
  /**
   * The YAML text `owner[key]` of the patch (or, with `targeted`, of its labels and annotations)
   * was read from, when the caller knows it (1.50 rather than 1.5).
   */
  scalarText?: (owner: Record<string, unknown>, key: string) => string | undefined;
}

export interface KustomizePatchOptions extends StrategicMergeOptions {
  /** Let the patch rename the target (kustomize's `options.allowNameChange`). */
  allowNameChange?: boolean;
  /** Let the patch change the target's kind (kustomize's `options.allowKindChange`). */
  allowKindChange?: boolean;
  /**
   * The patch reaches the target through kustomize's resWrangler.ApplySmPatch: a `patches:`
   * entry with a `target:` selector, or any legacy `patchesStrategicMerge` entry. kustomize then
   * patches with a copy that carries the target's apiVersion, its own name and namespace in
   * metadata (created if missing) and its labels and annotations as strings. Leave it unset for
   * a `patches:` entry without a target (matched by id).
   */
  targeted?: boolean;
}

type Obj = Record<string, unknown>;
/** A node as kyaml's walker sees it: `undefined` is a missing node, `null` a null scalar. */
type Node = unknown;

/** kyaml's "persistent null": a null in the target that the patch did not mention is kept. */
const KEEP_NULL: unique symbol = Symbol('keep-null');

const DIRECTIVE = '$patch';

function isObj(v: Node): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function missingOrNull(v: Node): boolean {
  return v === undefined || v === null || v === KEEP_NULL;
}

function emptyMap(v: Node): boolean {
  return missingOrNull(v) || (isObj(v) && Object.keys(v).length === 0);
}

/** The YAML scalar text kyaml compares (`Node.Value`): "" for maps and sequences. */
function scalarText(v: Node): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (v === null || v === KEEP_NULL) return 'null';
  return '';
}

function kindName(v: Node): string {
  if (Array.isArray(v)) return 'SequenceNode';
  if (isObj(v)) return 'MappingNode';
  return 'ScalarNode';
}

function deepClone<T>(v: T): T {
  return structuredClone(v);
}

/** A deep copy of plain data, remembering which original object each copied object came from. */
function cloneTracked(v: unknown, origins: WeakMap<object, Obj>): unknown {
  if (Array.isArray(v)) return v.map((e) => cloneTracked(e, origins));
  if (isObj(v)) {
    const out: Obj = {};
    for (const [k, e] of Object.entries(v)) setOwn(out, k, cloneTracked(e, origins));
    origins.set(out, v);
    return out;
  }
  return v;
}

/**
 * Strategic merge exactly as kustomize's patch filter runs it (kyaml merge2, patch elements
 * prepended). Returns a new object; an empty object `{}` means the patch deleted the whole
 * resource (drop it from the build). Name, namespace and kind are not put back: see
 * {@link applyKustomizeSmPatch} for the whole of kustomize's Resource.ApplySmPatch.
 */
export function applyStrategicMergePatch(
  target: Obj,
  patch: Obj,
  opts: StrategicMergeOptions = {},
): Obj {
  const tracked = opts.emptyNull !== undefined || opts.carry !== undefined || opts.quoted !== undefined || opts.scalarText !== undefined;
  const origins = new WeakMap<object, Obj>();
  const dest = tracked ? (cloneTracked(target, origins) as Obj) : deepClone(target);
  const emptyNull = opts.emptyNull;
  const carry = opts.carry;
  const patchOrigins = new WeakMap<object, Obj>();
  const quoted = opts.quoted;
  const textOf = opts.scalarText;
  const merger = new Merger(opts.source, {
    ...(emptyNull === undefined
      ? {}
      : {
          emptyNull: (owner: Obj, key: string) => {
            const original = origins.get(owner);
            return original !== undefined && emptyNull(original, key);
          },
        }),
    ...(carry === undefined
      ? {}
      : {
          scalarFromPatch: (dest: Obj, key: string, from: Obj) => {
            const original = patchOrigins.get(from);
            if (original !== undefined) carry(dest, original, key);
          },
        }),
    quoted: (owner: Obj, key: string) => {
      const original = origins.get(owner);
      if (quoted !== undefined) return quoted(original ?? owner, key);
      const v = owner[key];
      return typeof v === 'string' && readsAsOtherType(v);
    },
    patchText: (from: Obj, key: string) => {
      const original = patchOrigins.get(from);
      return original === undefined ? undefined : textOf?.(original, key);
    },
  });
  const patchCopy = tracked ? cloneTracked(patch, patchOrigins) : deepClone(patch);
  const merged = merger.walk([dest, patchCopy], undefined, []);
  if (merged === undefined || merged === null || merged === KEEP_NULL) return {};
  // kustomize keeps only what the merge changed in the target's own node: a top-level
  // `$patch: replace` yields another node, which kustomize drops (the target stays as it was).
  if (emptyMap(dest)) return {};
  restoreNulls(dest);
  if (carry !== undefined) carryOver(dest, [origins, patchOrigins], carry);
  return dest;
}

/** Calls `carry` for every map of `v` copied from a map of the target or the patch. */
function carryOver(v: unknown, origins: Array<WeakMap<object, Obj>>, carry: (copy: Obj, original: Obj) => void): void {
  if (Array.isArray(v)) {
    for (const e of v) carryOver(e, origins, carry);
  } else if (isObj(v)) {
    for (const map of origins) {
      const original = map.get(v);
      if (original !== undefined) carry(v, original);
    }
    for (const e of Object.values(v)) carryOver(e, origins, carry);
  }
}

/**
 * A strategic merge patch applied to one resource the way kustomize does it for `patches:` and
 * `patchesStrategicMerge:`: the patch copy prepared as kustomize prepares it (see
 * {@link KustomizePatchOptions.targeted}), the merge, then the target's kind, name and namespace
 * put back unless the options allow a change. `{}` means the resource was deleted.
 */
export function applyKustomizeSmPatch(
  target: Obj,
  patch: Obj,
  opts: KustomizePatchOptions = {},
): Obj {
  const kind = scalarOrEmpty(target['kind']);
  const name = metaString(target, 'name');
  const namespace = metaString(target, 'namespace');
  let effective = patch;
  // maps of the prepared copy → the caller's maps of the patch, for the caller's hooks
  const back = new WeakMap<object, Obj>();
  const original = (o: Obj): Obj => back.get(o) ?? o;
  if (opts.targeted === true) {
    effective = cloneTracked(patch, back) as Obj;
    prepareTargetedPatch(effective, patch, target, opts.scalarText);
  }
  const { scalarText: textOf, carry } = opts;
  const result = applyStrategicMergePatch(target, effective, {
    ...(opts.source === undefined ? {} : { source: opts.source }),
    ...(opts.emptyNull === undefined ? {} : { emptyNull: opts.emptyNull }),
    ...(carry === undefined ? {} : { carry: (copy: Obj, from: Obj, key?: string) => carry(copy, original(from), key) }),
    ...(opts.quoted === undefined ? {} : { quoted: opts.quoted }),
    ...(textOf === undefined ? {} : { scalarText: (owner: Obj, key: string) => textOf(original(owner), key) }),
  });
  if (Object.keys(result).length === 0) return result;
  if (opts.allowKindChange !== true) result['kind'] = kind;
  if (opts.allowNameChange !== true) setMeta(result, 'name', name);
  if (namespace === '') {
    const md = result['metadata'];
    if (isObj(md)) delete md['namespace'];
  } else {
    setMeta(result, 'namespace', namespace);
  }
  return result;
}

/** True when the patch removes the whole object (`$patch: delete` at the top level). */
export function isPatchDelete(patch: Obj): boolean {
  return patch[DIRECTIVE] === 'delete';
}

function scalarOrEmpty(v: unknown): string {
  return v === undefined || v === null || isObj(v) || Array.isArray(v) ? '' : scalarText(v);
}

/** kyaml's getMetaStringField: "" when missing, null or empty. */
function metaString(o: Obj, field: string): string {
  const md = o['metadata'];
  if (!isObj(md)) return '';
  const v = md[field];
  if (v === undefined || v === null || isObj(v) || Array.isArray(v)) return '';
  return scalarText(v);
}

function setMeta(o: Obj, field: string, value: string): void {
  let md = o['metadata'];
  if (!isObj(md)) {
    md = {};
    o['metadata'] = md;
  }
  (md as Obj)[field] = value;
}

/** resWrangler.ApplySmPatch: the patch copy gets the target's apiVersion and its own metadata. */
function prepareTargetedPatch(
  copy: Obj,
  original: Obj,
  target: Obj,
  textOf: ((owner: Obj, key: string) => string | undefined) | undefined,
): void {
  const stringMap = (v: unknown): Obj | undefined => {
    if (!isObj(v)) return undefined;
    const out: Obj = {};
    for (const k of Object.keys(v).sort()) setOwn(out, k, textOf?.(v, k) ?? scalarText(v[k]));
    return Object.keys(out).length === 0 ? undefined : out;
  };
  let md = copy['metadata'];
  if (!isObj(md)) {
    md = {};
    copy['metadata'] = md;
  }
  const meta = md as Obj;
  const origMeta = isObj(original['metadata']) ? original['metadata'] : {};
  for (const field of ['labels', 'annotations']) {
    const m = stringMap(origMeta[field]);
    delete meta[field];
    if (m !== undefined) meta[field] = m;
  }
  meta['name'] = metaString(original, 'name');
  const ns = metaString(original, 'namespace');
  if (ns === '') delete meta['namespace'];
  else meta['namespace'] = ns;
  if (target['apiVersion'] !== undefined || copy['apiVersion'] !== undefined) {
    copy['apiVersion'] = scalarOrEmpty(target['apiVersion']);
  }
  copy['kind'] = scalarOrEmpty(original['kind']);
}

function restoreNulls(v: unknown): void {
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      if (v[i] === KEEP_NULL) v[i] = null;
      else restoreNulls(v[i]);
    }
  } else if (isObj(v)) {
    for (const k of Object.keys(v)) {
      if (v[k] === KEEP_NULL) setOwn(v, k, null);
      else restoreNulls(v[k]);
    }
  }
}

function describeSource(source: string | undefined): string {
  return source === undefined ? '' : ` from ${source}`;
}

function sourceDetails(source: string | undefined): { source?: string } {
  return source === undefined ? {} : { source };
}

type Directive = 'merge' | 'replace' | 'delete';

interface MergerHooks {
  /** True when the target's null at `owner[key]` (a map of the result) was written empty. */
  emptyNull?: (owner: Obj, key: string) => boolean;
  /** Told when a scalar of the patch's map `from` was set as `dest[key]`. */
  scalarFromPatch?: (dest: Obj, key: string, from: Obj) => void;
  /** True when the string at `owner[key]` (a map of the result) is written quoted. */
  quoted: (owner: Obj, key: string) => boolean;
  /** The YAML text of the patch's `from[key]`, when known. */
  patchText: (from: Obj, key: string) => string | undefined;
}

/** The words and numbers YAML 1.1 reads as another type than string when unquoted. */
function readsAsOtherType(s: string): boolean {
  if (/^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|~|null|Null|NULL|)$/.test(s)) return true;
  if (/^[-+]?(?:\.inf|\.Inf|\.INF)$|^\.(?:nan|NaN|NAN)$/.test(s)) return true;
  const plain = s.replace(/_/g, '');
  return /^[-+]?(?:0b[01]+|0x[0-9a-fA-F]+|0o?[0-7]+|[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|\.[0-9]+(?:[eE][-+]?[0-9]+)?)$/.test(plain);
}

/** The walker (kyaml walk.Walker) and the visitor (merge2.Merger) in one. */
class Merger {
  constructor(
    private readonly source: string | undefined,
    private readonly hooks: MergerHooks,
  ) {}

  private fail(path: string[], message: string): never {
    const where = path.length === 0 ? '' : ` at ${path.join('.')}`;
    throw new PatchError(
      `applying strategic merge patch${describeSource(this.source)}${where}: ${message}`,
      { ...sourceDetails(this.source), path: path.join('.') },
    );
  }

  /** Sources are [dest, origin]; returns the new dest value, `undefined` to clear it. */
  walk(sources: [Node, Node], schema: Schema | undefined, path: string[]): Node {
    schema = schema ?? this.schemaFromType(sources);
    const first = sources.find((s) => !missingOrNull(s));
    if (first === undefined) return this.walkMap(sources, schema, path);
    if (isObj(first)) {
      this.requireKind(sources, 'MappingNode', path);
      return this.walkMap(sources, schema, path);
    }
    if (Array.isArray(first)) {
      this.requireKind(sources, 'SequenceNode', path);
      if (isAssociative(schema)) return this.walkAssociativeList(sources, schema, path);
      // non-associative lists are replaced by the patch's list
      return sources[1] !== undefined ? sources[1] : sources[0];
    }
    this.requireKind(sources, 'ScalarNode', path);
    return sources[1] !== undefined ? sources[1] : sources[0];
  }

  private requireKind(sources: Node[], kind: string, path: string[]): void {
    for (const s of sources) {
      if (missingOrNull(s)) continue;
      const k = kindName(s);
      if (k !== kind) this.fail(path, `wrong node kind: expected ${kind} but got ${k}`);
    }
  }

  /** kyaml looks a schema up by apiVersion/kind wherever it has none (target first). */
  private schemaFromType(sources: Node[]): Schema | undefined {
    for (const s of sources) {
      if (!isObj(s)) continue;
      const apiVersion = nonEmptyScalar(s['apiVersion']);
      const kind = nonEmptyScalar(s['kind']);
      if (apiVersion === '' || kind === '') continue;
      const schema = schemaForType(apiVersion, kind);
      if (schema !== undefined) return schema;
    }
    return undefined;
  }

  private walkMap(sources: [Node, Node], schema: Schema | undefined, path: string[]): Node {
    const dest = this.visitMap(sources, path);
    sources[0] = dest;
    if (dest === undefined) return undefined;
    const names = new Set<string>();
    for (const s of sources) if (isObj(s)) for (const k of Object.keys(s)) names.add(k);
    for (const key of [...names].sort(compareGo)) {
      const field: [Node, Node] = [fieldOf(sources[0], key), fieldOf(sources[1], key)];
      if (field[0] === null && field[1] === undefined && this.hooks.emptyNull?.(dest as Obj, key) === true) {
        // an empty value is a null without text: kyaml does not keep it
        delete (dest as Obj)[key];
        continue;
      }
      const s = schema === undefined ? undefined : fieldSchema(schema, key);
      let val = this.walk(field, s, [...path, key]);
      const fromPatch = val === field[1] && isObj(sources[1]) && (typeof val === 'number' || typeof val === 'bigint' || typeof val === 'boolean' || typeof val === 'string');
      const keepsQuotes = fromPatch && typeof val !== 'string' && typeof field[0] === 'string' && this.hooks.quoted(dest as Obj, key);
      // a replaced scalar keeps its quotes: the patch's number or boolean is read back as a string
      if (keepsQuotes) val = this.hooks.patchText(sources[1] as Obj, key) ?? scalarText(val);
      setField(dest, key, val);
      if (fromPatch && !keepsQuotes) this.hooks.scalarFromPatch?.(dest as Obj, key, sources[1] as Obj);
    }
    return dest;
  }

  private visitMap(sources: [Node, Node], path: string[]): Node {
    const [dest, origin] = sources;
    if (missingOrNull(dest)) {
      // kyaml ignores a bad directive here (and then leaves it in place)
      const ps = isObj(origin) ? this.mapDirective(origin, path, false) : 'merge';
      if (ps === 'delete') return undefined;
      if (origin === undefined && dest !== undefined) return KEEP_NULL;
      return origin;
    }
    if (origin === null) return undefined;
    const ps = origin === undefined ? 'merge' : this.mapDirective(origin as Obj, path);
    if (ps === 'delete') return undefined;
    if (ps === 'replace') return origin;
    return dest;
  }

  private mapDirective(patch: Obj, path: string[], strict = true): Directive | 'unknown' {
    if (!Object.hasOwn(patch, DIRECTIVE)) return 'merge';
    const v = scalarText(patch[DIRECTIVE]);
    if (v === 'delete' || v === 'replace' || v === 'merge') {
      delete patch[DIRECTIVE];
      return v;
    }
    if (!strict) return 'unknown';
    return this.fail(path, `unknown patch strategy '${v}'`);
  }

  private listDirective(patch: unknown[], path: string[]): Directive {
    const node = patch.find((e) => isObj(e) && Object.hasOwn(e, DIRECTIVE)) as Obj | undefined;
    if (node === undefined || Object.keys(node).length > 1) return 'merge';
    const value = node[DIRECTIVE];
    const v = scalarText(value);
    if (v === 'delete' || v === 'replace' || v === 'merge') {
      elementSetter(patch, undefined, [DIRECTIVE], [v], this, path);
      return v;
    }
    return this.fail(path, `unknown patch strategy '${v}'`);
  }

  private visitAssociativeList(sources: [Node, Node], path: string[]): Node {
    const [dest, origin] = sources;
    if (missingOrNull(dest)) return origin;
    if (origin === null) return undefined;
    const ps = Array.isArray(origin) ? this.listDirective(origin, path) : 'merge';
    if (ps === 'delete') return undefined;
    if (ps === 'replace') return origin;
    return dest;
  }

  private walkAssociativeList(
    sources: [Node, Node],
    schema: Schema | undefined,
    path: string[],
  ): Node {
    const dest = this.visitAssociativeList(sources, path);
    sources[0] = dest;
    if (dest === undefined) return undefined;
    const keys = schema?.type === 'mergeList' ? schema.keys : [];
    const values = elementValues(sources, keys);
    if (values.length !== 0 || keys.length > 0) {
      return this.setAssociativeElements(sources, values, keys, dest as unknown[], schema, path);
    }
    return this.setAssociativeElements(
      sources,
      elementPrimitiveValues(sources),
      [''],
      dest as unknown[],
      schema,
      path,
    );
  }

  private setAssociativeElements(
    sources: [Node, Node],
    valuesListIn: string[][],
    keys: string[],
    dest: unknown[],
    schema: Schema | undefined,
    path: string[],
  ): Node {
    const itemsToBeAdded: unknown[] = [];
    const elemSchema = schema === undefined ? undefined : elementSchema(schema);
    const valuesList = keys.length > 1 ? mergeValues(valuesListIn) : valuesListIn;
    let validKeys: string[] = [];
    let validValues: string[] = [];
    for (const values of valuesList) {
      if (values.length === 0) continue;
      [validKeys, validValues] = validateKeys(valuesList, values, keys);
      const elementPath = [...path, `[${validKeys.map((k, i) => `${k}=${validValues[i]}`).join(',')}]`];
      const elems = this.elementValueList(sources, validKeys, validValues, elementPath);
      const val = this.walk(elems, elemSchema, elementPath);
      let exit = false;
      for (let i = 0; i < validKeys.length; i++) {
        const key = validKeys[i] as string;
        const value = validValues[i] as string;
        if (missingOrNull(val) || emptyMap(val)) {
          elementSetter(dest, undefined, validKeys, validValues, this, path);
          exit = true;
        } else if (fieldOf(val, key) === undefined && value !== '') {
          // kyaml writes the key back as an untyped scalar; keep the original value's type
          if (isObj(val)) setOwn(val, key, typedKeyValue(sources, key, value));
        }
      }
      if (exit) continue;
      elementSetter(itemsToBeAdded, val, validKeys, validValues, this, path);
    }
    let result: unknown[] = dest;
    if (valuesList.length > 0) {
      result = this.appendListNode(itemsToBeAdded, dest, validKeys, path);
    }
    return result;
  }

  /** The element of each source matching all keys/values (first match), or undefined. */
  private elementValueList(
    sources: [Node, Node],
    keysIn: string[],
    valuesIn: string[],
    path: string[],
  ): [Node, Node] {
    const [keys, values] = validateKeys([valuesIn], valuesIn, keysIn);
    const find = (src: Node): Node => {
      if (!Array.isArray(src)) return undefined;
      if (keys.length === 0 || (keys[0] as string).length === 0) {
        const want = values[0] ?? '';
        return src.find((e) => scalarText(e) === want);
      }
      for (const elem of src) {
        if (!isObj(elem)) continue;
        if (keys.length !== values.length) {
          this.fail(path, 'length of keys must equal length of values when MatchAnyValue is false');
        }
        let matches = true;
        for (let i = 0; i < keys.length; i++) {
          const k = keys[i] as string;
          if (!Object.hasOwn(elem, k) || scalarText(elem[k]) !== values[i]) {
            matches = false;
            break;
          }
        }
        if (matches) return elem;
      }
      return undefined;
    };
    return [find(sources[0]), find(sources[1])];
  }

  /** kyaml appendListNode: adds src's elements to dst, replacing those with the same keys. */
  private appendListNode(dst: unknown[], src: unknown[], keys: string[], path: string[]): unknown[] {
    for (const elem of src) {
      if (keys[0] === '') {
        elementSetter(dst, elem, [''], [scalarText(elem)], this, path);
        continue;
      }
      const v: string[] = [];
      for (const key of keys) {
        if (missingOrNull(elem)) {
          // FieldMatcher on a null element finds nothing
          dst.push(elem);
          continue;
        }
        if (!isObj(elem)) {
          this.fail(path, `wrong node kind: expected MappingNode but got ${kindName(elem)}`);
        }
        if (!Object.hasOwn(elem, key)) {
          dst.push(elem);
          continue;
        }
        v.push(scalarText(elem[key]));
      }
      if (keys.length > 1) elementSetter(dst, undefined, keys, v, this, path);
      elementSetter(dst, elem, keys, v, this, path);
    }
    return dst;
  }

  failAt(path: string[], message: string): never {
    return this.fail(path, message);
  }
}

function nonEmptyScalar(v: unknown): string {
  if (v === undefined || v === null || isObj(v) || Array.isArray(v)) return '';
  return scalarText(v);
}

/** Go's sort.Strings order: by UTF-8 bytes. */
function compareGo(a: string, b: string): number {
  if (a === b) return 0;
  // UTF-16 order equals UTF-8 byte order unless surrogates or U+E000..U+FFFF are involved
  if (!NON_BMP_ORDER.test(a) && !NON_BMP_ORDER.test(b)) return a < b ? -1 : 1;
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

const NON_BMP_ORDER = /[\uD800-\uFFFF]/;

function fieldOf(node: Node, key: string): Node {
  if (!isObj(node) || !Object.hasOwn(node, key)) return undefined;
  return node[key];
}

/** kyaml FieldSetter: clear on missing/null, replace in place, or append. */
function setField(dest: Node, key: string, val: Node): void {
  if (!isObj(dest)) return;
  if (val === undefined || val === null) {
    delete dest[key];
    return;
  }
  setOwn(dest, key, val);
}

/** The original (typed) value of a merge key in either source, for writing it back. */
function typedKeyValue(sources: [Node, Node], key: string, text: string): unknown {
  for (const src of [sources[1], sources[0]]) {
    if (!Array.isArray(src)) continue;
    for (const e of src) {
      if (isObj(e) && Object.hasOwn(e, key) && scalarText(e[key]) === text) return e[key];
    }
  }
  return text;
}

/** kyaml FieldMatcher{Name, StringValue}: a "" value matches any value of the field. */
function fieldMatches(
  elem: Node,
  name: string,
  value: string,
  merger: Merger,
  path: string[],
): boolean {
  if (missingOrNull(elem)) return false;
  if (name === '') {
    if (isObj(elem) || Array.isArray(elem)) {
      merger.failAt(path, `wrong node kind: expected ScalarNode but got ${kindName(elem)}`);
    }
    return scalarText(elem) === value || (value === '' && scalarText(elem) === '');
  }
  if (!isObj(elem)) {
    merger.failAt(path, `wrong node kind: expected MappingNode but got ${kindName(elem)}`);
  }
  if (!Object.hasOwn(elem, name)) return false;
  return value === '' || scalarText(elem[name]) === value;
}

/**
 * kyaml ElementSetter, in place on `list`: drops null and empty-map elements, replaces every
 * element matching keys/values with `element` (deletes them when `element` is undefined), and
 * appends `element` when nothing matched.
 */
function elementSetter(
  list: unknown[],
  element: Node,
  keysIn: string[],
  values: string[],
  merger: Merger,
  path: string[],
): void {
  const keys = keysIn.length === 0 ? [''] : keysIn;
  const mappingSetter = keys[0] !== '' && values.length > 0 && values[0] !== '';
  const out: unknown[] = [];
  let matched = false;
  for (const elem of list) {
    if (missingOrNull(elem) || (isObj(elem) && Object.keys(elem).length === 0)) continue;
    if (!isObj(elem) && mappingSetter) {
      out.push(elem);
      continue;
    }
    let found = true;
    let last = false;
    for (let j = 0; j < keys.length; j++) {
      if (j < values.length) last = fieldMatches(elem, keys[j] as string, values[j] as string, merger, path);
      if (!last) {
        found = false;
        break;
      }
    }
    if (!found) {
      if (values.length > 0) out.push(elem);
      continue;
    }
    matched = true;
    if (element === undefined) continue;
    out.push(element);
  }
  list.length = 0;
  list.push(...out);
  if (missingOrNull(element)) return;
  if (!matched) list.push(element);
}

/** Values of the merge keys of each element, patch first (prepend), without duplicates. */
function elementValues(sources: [Node, Node], keys: string[]): string[][] {
  const result: string[][] = [];
  const seen = new Set<string>();
  for (const src of [sources[1], sources[0]]) {
    if (!Array.isArray(src)) continue;
    for (const elem of src) {
      const values = keys.map((k) => {
        const f = fieldOf(elem, k);
        return nilOrEmpty(f) ? '' : scalarText(f);
      });
      if (values.length === 0) continue;
      const id = JSON.stringify(values);
      if (seen.has(id)) continue;
      seen.add(id);
      result.push(values);
    }
  }
  return result;
}

function nilOrEmpty(v: Node): boolean {
  return (
    missingOrNull(v) ||
    (isObj(v) && Object.keys(v).length === 0) ||
    (Array.isArray(v) && v.length === 0)
  );
}

function elementPrimitiveValues(sources: [Node, Node]): string[][] {
  const result: string[][] = [];
  const seen = new Set<string>();
  for (const src of [sources[1], sources[0]]) {
    if (!Array.isArray(src)) continue;
    for (const item of src) {
      const v = scalarText(item);
      if (seen.has(v)) continue;
      seen.add(v);
      result.push([v]);
    }
  }
  return result;
}

function validateKeys(valuesList: string[][], values: string[], keys: string[]): [string[], string[]] {
  const valid = new Set<string>();
  for (const vs of valuesList) {
    vs.forEach((v, i) => {
      if (v !== '') valid.add(keys[i] as string);
    });
  }
  if (valid.size === 0) return [keys, values];
  const validKeys = keys.filter((k) => valid.has(k));
  const validValues: string[] = [];
  values.forEach((v, i) => {
    if (v !== '' || valid.has(keys[i] as string)) validValues.push(v);
  });
  return [validKeys, validValues];
}

function mergeValues(valuesList: string[][]): string[][] {
  for (let i = 0; i < valuesList.length; i++) {
    for (let j = 0; j < valuesList.length; j++) {
      const [matched, values] = match(valuesList[i] as string[], valuesList[j] as string[]);
      if (matched) {
        valuesList[i] = values;
        valuesList[j] = values;
      }
    }
  }
  return valuesList;
}

function match(a: string[], b: string[]): [boolean, string[]] {
  if (a.length !== b.length) return [false, []];
  let common = false;
  const res: string[] = [];
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as string;
    const y = b[i] as string;
    if (x === y) {
      common = true;
      res.push(x);
      continue;
    }
    if (x !== '' && y !== '') return [false, []];
    res.push(x !== '' ? x : y);
  }
  return [common, res];
}
