// kustomize's `vars` (deprecated in favour of replacements, still common): a var names a field of
// one object (objref + fieldref.fieldPath, default metadata.name); at the very end of the build,
// after prefixes, suffixes and hash suffixes are in place, `$(NAME)` in the fields listed by the
// varReference configuration (container args, commands, env values, ... of the built-in config)
// is replaced by that field's final value.
//
// As in kustomize v5.5:
// - each kustomization's vars are tied to their object once its own transformers have run (the
//   object is found by any id it has had; exactly one may match) and then travel up with it;
// - a var name may be defined once in the whole build;
// - a field that is exactly `$(NAME)` takes the value's type (a number stays a number); inside a
//   longer string the value is written as text; `$$` is a literal `$`; maps and lists as values
//   are not substituted;
// - fields are replaced only in strings (and in maps and lists of strings at a listed path).
import { ManifestError } from './errors.js';
import { splitDotted } from './replacements.js';
import type { ResMap } from './resmap.js';
import { effectiveNamespace, fieldSpecMatches, idString, isClusterScoped, splitPath, visitField, type FieldSpec, type ResId, type Resource } from './resource.js';
import { formatNumber, isPlainObject, scalarSource } from './yaml.js';

export interface VarDef {
  name: string;
  /** The object: group/version/kind exactly, the name, and the namespace when given. */
  target: ResId;
  fieldPath: string;
  /** Where it was defined, for messages. */
  where: string;
}

function text(v: unknown): string {
  return typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v);
}

/** Reads a kustomization's `vars` list. */
export function parseVars(list: unknown, where: string): VarDef[] {
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) throw new ManifestError('INVALID_KUSTOMIZATION', `${where}: expected a list`);
  return list.map((v, i) => {
    const at = `${where}[${i}]`;
    if (!isPlainObject(v)) throw new ManifestError('INVALID_KUSTOMIZATION', `${at}: expected a map`);
    const name = text(v['name']);
    if (name === '') throw new ManifestError('INVALID_KUSTOMIZATION', `${at}.name: a var needs a name`);
    const ref = isPlainObject(v['objref']) ? v['objref'] : {};
    let group = text(ref['group']);
    let version = text(ref['version']);
    const apiVersion = text(ref['apiVersion']);
    if (apiVersion !== '') {
      const parts = apiVersion.split('/');
      if (parts.length === 2) [group, version] = parts as [string, string];
      else if (parts.length === 1) version = apiVersion;
    }
    const fieldref = isPlainObject(v['fieldref']) ? v['fieldref'] : {};
    const fieldPath = text(fieldref['fieldPath']) || 'metadata.name';
    return { name, target: { group, version, kind: text(ref['kind']), name: text(ref['name']), namespace: text(ref['namespace']) }, fieldPath, where: at };
  });
}

function gvknEquals(a: ResId, b: ResId): boolean {
  return a.name === b.name && a.group === b.group && a.version === b.version && a.kind === b.kind;
}

/** ResAccumulator.MergeVars: ties each var to its object and adds it to the build's vars. */
export function mergeVars(ra: ResMap, vars: VarDef[]): void {
  for (const v of vars) {
    const exactNs = v.target.namespace !== '' || isClusterScoped(v.target);
    const matches = ra.list.filter((r) =>
      r.allIds().some((id) => gvknEquals(id, v.target) && (!exactNs || effectiveNamespace(id) === effectiveNamespace(v.target))),
    );
    if (matches.length > 1) {
      throw new ManifestError('CONFLICT', `${v.where}: found ${matches.length} resId matches for var ${v.name} (unable to disambiguate): ${matches.map((r) => idString(r.curId())).join(', ')}`);
    }
    if (matches.length === 1) (matches[0] as Resource).refVarNames.push(v.name);
  }
  addVars(ra, vars);
}

/** VarSet.MergeSlice / MergeSet: a name may be defined once. */
export function addVars(ra: ResMap, vars: Iterable<VarDef>): void {
  for (const v of vars) {
    const seen = ra.vars.get(v.name);
    if (seen) throw new ManifestError('CONFLICT', `${v.where}: var '${v.name}' already encountered (defined at ${seen.where})`);
    ra.vars.set(v.name, v);
  }
}

/** kyaml's GetFieldValue: a dotted path (`a.b[0].c`, `[k=v]` list elements) to a typed value. */
function fieldValue(obj: unknown, path: string): { found: boolean; value: unknown } {
  const parts = splitDotted(path);
  const fields: string[] = [];
  for (const p of parts) {
    const m = /^(.*)\[(\d+)\]$/.exec(p);
    if (!m) fields.push(p);
    else {
      if (m[1] !== '') fields.push(m[1] as string);
      fields.push(m[2] as string);
    }
  }
  let node: unknown = obj;
  let owner: Record<string, unknown> | undefined;
  let key = '';
  for (const f of fields) {
    owner = undefined;
    const sel = /^\[([^=\]]+)=(.*)\]$/.exec(f);
    if (Array.isArray(node)) {
      if (sel) node = node.find((e) => isPlainObject(e) && text(e[sel[1] as string]) === sel[2]);
      else if (/^\d+$/.test(f)) node = node[Number(f)];
      else return { found: false, value: undefined };
    } else if (isPlainObject(node) && !sel) {
      owner = node;
      key = f;
      node = Object.prototype.hasOwnProperty.call(node, f) ? node[f] : undefined;
    } else return { found: false, value: undefined };
    if (node === undefined) return { found: false, value: undefined };
  }
  // a null reads as its text ("null", "~" or "" for an empty value)
  if (node === null) return { found: true, value: (owner && scalarSource(owner, key)) ?? 'null' };
  return { found: true, value: node };
}

function valueText(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'bigint') return formatNumber(v);
  return String(v);
}

/** refvar.DoReplacements: `$(NAME)` → value, `$$` → `$`; a whole `$(NAME)` keeps the value's type. */
function replaceIn(input: string, lookup: (name: string) => unknown): unknown {
  let out = '';
  let checkpoint = 0;
  for (let cursor = 0; cursor < input.length; cursor++) {
    if (input[cursor] !== '$' || cursor + 1 >= input.length) continue;
    out += input.slice(checkpoint, cursor);
    const rest = input.slice(cursor + 1);
    let read: string;
    let isVar = false;
    let advance = 1;
    if (rest[0] === '$') read = '$';
    else if (rest[0] === '(') {
      const close = rest.indexOf(')', 1);
      if (close < 0) read = '$(';
      else {
        read = rest.slice(1, close);
        isVar = true;
        advance = close + 1;
      }
    } else read = `$${rest[0] as string}`;
    if (isVar) {
      const mapped = lookup(read);
      if (input === `$(${read})`) return mapped;
      out += valueText(mapped);
    } else out += read;
    cursor += advance;
    checkpoint = cursor + 1;
  }
  return out + input.slice(checkpoint);
}

/** ResAccumulator.ResolveVars: substitutes every var at the varReference field specs. */
export function resolveVars(ra: ResMap, specs: FieldSpec[]): void {
  if (ra.vars.size === 0) return;
  const values = new Map<string, unknown>();
  for (const v of [...ra.vars.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const holder = ra.list.find((r) => r.refVarNames.includes(v.name));
    if (!holder) throw new ManifestError('NO_MATCH', `${v.where}: var '${v.name}' cannot be mapped to a field in the set of known resources`);
    const got = fieldValue(holder.obj, v.fieldPath);
    if (!got.found) throw new ManifestError('NO_MATCH', `${v.where}: field specified in var '${v.name}' (${v.fieldPath}) not found in corresponding resource ${idString(holder.curId())}`);
    values.set(v.name, got.value);
  }
  const lookup = (name: string): unknown => {
    const value = values.get(name);
    const primitive = typeof value === 'string' || typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean';
    return primitive ? value : `$(${name})`;
  };
  for (const r of ra.list) {
    for (const fs of specs) {
      if (!fieldSpecMatches(fs, r.obj)) continue;
      visitField(r.obj, splitPath(fs.path), false, (parent, key) => {
        const value = parent[key];
        if (typeof value === 'string') parent[key] = replaceIn(value, lookup);
        else if (isPlainObject(value)) {
          for (const [k, e] of Object.entries(value)) if (typeof e === 'string') value[k] = replaceIn(e, lookup);
        } else if (Array.isArray(value)) {
          value.forEach((e, i) => {
            if (typeof e !== 'string') throw new ManifestError('INVALID_KUSTOMIZATION', `${r.source}: replacing vars in '${fs.path}' of ${idString(r.curId())}: invalid value type expect a string`);
            value[i] = replaceIn(e, lookup);
          });
        }
      });
    }
  }
}
