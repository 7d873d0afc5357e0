// kustomize `replacements`: copy a field of one object into fields of others.
import { ManifestError } from './errors.js';
import { matchesSelector, parseLabelSelector, type ResMap } from './resmap.js';
import { effectiveNamespace, gvkSelected, str, type ResId, type Resource } from './resource.js';
import { isPlainObject, resolvePlainV3 } from './yaml.js';

interface IdSelector {
  group?: string;
  version?: string;
  kind?: string;
  name?: string;
  namespace?: string;
}

function idSelector(v: unknown, where: string): IdSelector {
  if (!isPlainObject(v)) throw new ManifestError('INVALID_KUSTOMIZATION', `${where}: expected a map`);
  const s: IdSelector = {};
  for (const f of ['group', 'version', 'kind', 'name', 'namespace'] as const) if (typeof v[f] === 'string' && v[f] !== '') s[f] = v[f];
  return s;
}

function isSelectedBy(id: ResId, s: IdSelector): boolean {
  if (s.name && s.name !== id.name) return false;
  if (s.namespace && effectiveNamespace({ ...id, namespace: s.namespace }) !== effectiveNamespace(id)) return false;
  return gvkSelected(id, s);
}

function describe(s: IdSelector): string {
  return `${s.kind ?? '~K'}.${s.version ?? '~V'}.${s.group ?? '~G'}/${s.name ?? '~N'}.${s.namespace ?? '~X'}`;
}

/** Splits a replacement field path on "." outside of [..]. */
export function splitDotted(p: string): string[] {
  const out: string[] = [];
  let cur = '';
  let depth = 0;
  for (const c of p) {
    if (c === '[') depth++;
    if (c === ']') depth--;
    if (c === '.' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

/**
 * Splits a replacement field path as kyaml's SmarterPathSplitter does: on "." (a leading "." is
 * dropped, `\.` is a literal dot), keeping `[name=value]` list selectors whole and unwrapping a
 * bracketed map key that holds dots (`[a.b/c]`).
 */
function splitFieldPath(p: string): string[] {
  let parts = p.split('.');
  if (parts.length > 1 && parts[0] === '') parts = parts.slice(1);
  const joined: string[] = [];
  for (const part of parts) {
    const last = joined.length - 1;
    if (last >= 0 && (joined[last] as string).endsWith('\\')) joined[last] = `${(joined[last] as string).slice(0, -1)}.${part}`;
    else joined.push(part);
  }
  const out: string[] = [];
  for (let i = 0; i < joined.length; i++) {
    const elem = joined[i] as string;
    if (!elem.startsWith('[') || elem.endsWith(']')) {
      out.push(elem);
      continue;
    }
    const bracketed = [elem];
    while (i < joined.length - 1) {
      i++;
      bracketed.push(joined[i] as string);
      if ((joined[i] as string).endsWith(']')) break;
    }
    const text = bracketed.join('.');
    out.push(text.includes('=') ? text : text.replace(/^[[\]]+|[[\]]+$/g, ''));
  }
  return out;
}

type Slot = { parent: Record<string, unknown> | unknown[]; key: string | number };

/**
 * Finds (and with `create`, makes) the fields a path names, as kyaml's PathMatcher does. A
 * missing field followed by an index is created as a list; with `create`, an index equal to a
 * list's length appends an element, a larger one is an error (`fail`).
 */
function match(root: unknown, segs: string[], create: boolean, fail: (message: string) => never): Slot[] {
  const out: Slot[] = [];
  const walk = (parent: Record<string, unknown> | unknown[], key: string | number, i: number) => {
    if (i === segs.length) {
      out.push({ parent, key });
      return;
    }
    const node = (parent as Record<string, unknown>)[key as string];
    const seg = segs[i] as string;
    const bracket = /^\[([^=\]]*)=(.*)\]$/.exec(seg);
    if (bracket) {
      const [, k = '', v = ''] = bracket;
      let list = node;
      if (!Array.isArray(list)) {
        if (!create || (list !== undefined && list !== null)) return;
        list = [];
        (parent as Record<string, unknown>)[key as string] = list;
      }
      const arr = list as unknown[];
      let found = false;
      arr.forEach((el, idx) => {
        const ok = k === '' ? str(el) === v : isPlainObject(el) && str(el[k]) === v;
        if (ok) {
          found = true;
          walk(arr, idx, i + 1);
        }
      });
      if (!found && create) {
        const el: unknown = k === '' ? v : { [k]: v };
        arr.push(el);
        walk(arr, arr.length - 1, i + 1);
      }
      return;
    }
    if (seg === '*' || seg === '[]') {
      if (Array.isArray(node)) node.forEach((_, idx) => walk(node, idx, i + 1));
      else if (isPlainObject(node)) for (const k of Object.keys(node)) walk(node, k, i + 1);
      return;
    }
    if (/^\d+$/.test(seg) && (Array.isArray(node) || (create && (node === undefined || node === null)))) {
      let arr = node;
      if (!Array.isArray(arr)) {
        arr = [];
        (parent as Record<string, unknown>)[key as string] = arr;
      }
      const list = arr as unknown[];
      const idx = Number(seg);
      if (idx < list.length) walk(list, idx, i + 1);
      else if (create) {
        if (idx > list.length) fail(`index ${idx} specified but only ${list.length} elements found`);
        list.push(null);
        walk(list, idx, i + 1);
      }
      return;
    }
    if (Array.isArray(node) && /^-\d+$/.test(seg)) return;
    // [key] names a map key that holds dots
    const name = /^\[([^=\]]*)\]$/.exec(seg)?.[1] ?? seg;
    let obj = node;
    if (!isPlainObject(obj)) {
      if (!create || (obj !== undefined && obj !== null)) return;
      obj = {};
      (parent as Record<string, unknown>)[key as string] = obj;
    }
    const m = obj as Record<string, unknown>;
    if (!(name in m) || m[name] === undefined) {
      if (!create) return;
      if (i === segs.length - 1) m[name] = null;
    }
    walk(m, name, i + 1);
  };
  walk({ root }, 'root', 0);
  return out;
}

function scalarText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (v === null) return '';
  return undefined;
}

interface Options {
  delimiter?: string;
  index?: number;
  create?: boolean;
}

function options(v: unknown): Options {
  if (!isPlainObject(v)) return {};
  const o: Options = {};
  if (typeof v['delimiter'] === 'string') o.delimiter = v['delimiter'];
  if (typeof v['index'] === 'number') o.index = v['index'];
  if (v['create'] === true) o.create = true;
  return o;
}

function idsOf(r: Resource): ResId[] {
  return r.allIds().map((id) => ({ ...id }));
}

export async function applyReplacements(m: ResMap, replacements: Record<string, unknown>[], where: string): Promise<void> {
  for (let i = 0; i < replacements.length; i++) {
    const rep = replacements[i] as Record<string, unknown>;
    const w = `${where}[${i}]`;
    if (!isPlainObject(rep['source']) || !Array.isArray(rep['targets'])) {
      throw new ManifestError('INVALID_KUSTOMIZATION', `${w}: replacements must specify a source and at least one target`);
    }
    const src = rep['source'];
    const sel = idSelector(src, `${w}.source`);
    const matches = m.list.filter((r) => idsOf(r).some((id) => isSelectedBy(id, sel)));
    if (matches.length === 0) throw new ManifestError('NO_MATCH', `${w}: nothing selected by ${describe(sel)}`);
    if (matches.length > 1) throw new ManifestError('CONFLICT', `${w}: multiple matches for selector ${describe(sel)}`);
    const fieldPath = typeof src['fieldPath'] === 'string' && src['fieldPath'] !== '' ? src['fieldPath'] : 'metadata.name';
    // the source is looked up as kyaml's PathGetter does: blank segments are skipped
    const sourcePath = splitFieldPath(fieldPath).map((seg) => seg.trim()).filter((seg) => seg !== '');
    const found = match((matches[0] as Resource).obj, sourcePath, false, (message) => { throw new ManifestError('NO_MATCH', message); });
    const first = found[0];
    let value = first ? (first.parent as Record<string, unknown>)[first.key as string] : undefined;
    const isEmpty = value === undefined || value === null || (Array.isArray(value) && value.length === 0) || (isPlainObject(value) && Object.keys(value).length === 0);
    if (isEmpty) throw new ManifestError('NO_MATCH', `${w}: fieldPath \`${fieldPath}\` is missing for replacement source ${describe(sel)}`);
    const so = options(src['options']);
    if (so.delimiter) {
      const text = scalarText(value);
      if (text === undefined) throw new ManifestError('INVALID_KUSTOMIZATION', `${w}: delimiter option can only be used with scalar nodes`);
      const parts = text.split(so.delimiter);
      const idx = so.index ?? 0;
      if (idx >= parts.length || idx < 0) throw new ManifestError('INVALID_KUSTOMIZATION', `${w}: options.index ${idx} is out of bounds for value ${text}`);
      value = parts[idx];
    }
    for (let t = 0; t < rep['targets'].length; t++) {
      const target = rep['targets'][t];
      const tw = `${w}.targets[${t}]`;
      if (!isPlainObject(target) || !isPlainObject(target['select'])) throw new ManifestError('INVALID_KUSTOMIZATION', `${tw}: target must specify resources to select`);
      const select = idSelector(target['select'], `${tw}.select`);
      const selLabels = typeof target['select']['labelSelector'] === 'string' ? parseLabelSelector(target['select']['labelSelector'], `${tw}.select.labelSelector`) : undefined;
      const selAnnos = typeof target['select']['annotationSelector'] === 'string' ? parseLabelSelector(target['select']['annotationSelector'], `${tw}.select.annotationSelector`) : undefined;
      const rejects = Array.isArray(target['reject']) ? target['reject'].filter(isPlainObject) : [];
      const fieldPaths = Array.isArray(target['fieldPaths']) && target['fieldPaths'].length > 0 ? target['fieldPaths'].map(String) : ['metadata.name'];
      const to = options(target['options']);
      for (const r of m.list) {
        if (selLabels && !matchesSelector(r.labels(), selLabels)) continue;
        if (selAnnos && !matchesSelector(r.annotations(), selAnnos)) continue;
        let rejected = false;
        for (const rej of rejects) {
          const ls = typeof rej['labelSelector'] === 'string' ? parseLabelSelector(rej['labelSelector']) : undefined;
          const as = typeof rej['annotationSelector'] === 'string' ? parseLabelSelector(rej['annotationSelector']) : undefined;
          if ((ls || as) && (!ls || matchesSelector(r.labels(), ls)) && (!as || matchesSelector(r.annotations(), as))) rejected = true;
          const rid = idSelector(rej, `${tw}.reject`);
          if (Object.keys(rid).length > 0 && idsOf(r).some((id) => isSelectedBy(id, rid))) rejected = true;
        }
        if (rejected) continue;
        if (!idsOf(r).some((id) => isSelectedBy(id, select))) continue;
        for (const fp of fieldPaths) {
          const slots = match(r.obj, splitFieldPath(fp), to.create === true, (message) => {
            throw new ManifestError('NO_MATCH', `${tw}: unable to find or create field "${fp}" in replacement target ${r.kind}/${r.name}: ${message}`);
          });
          if (slots.length === 0) {
            throw new ManifestError('NO_MATCH', `${tw}: unable to find ${to.create ? 'or create ' : ''}field "${fp}" in replacement target ${r.kind}/${r.name}`);
          }
          for (const slot of slots) setValue(slot, value, to, tw);
        }
      }
    }
  }
}

function setValue(slot: Slot, value: unknown, o: Options, where: string): void {
  const p = slot.parent as Record<string, unknown>;
  const key = slot.key as string;
  const current = p[key];
  let v = structuredClone(value);
  if (o.delimiter) {
    const text = scalarText(current);
    if (text === undefined) throw new ManifestError('INVALID_KUSTOMIZATION', `${where}: delimiter option can only be used with scalar nodes`);
    const parts = text.split(o.delimiter);
    const val = scalarText(v) ?? '';
    const idx = o.index ?? 0;
    if (idx < 0) parts.unshift(val);
    else if (idx >= parts.length) parts.push(val);
    else parts[idx] = val;
    v = parts.join(o.delimiter);
  }
  const currentIsScalar = current !== undefined && !Array.isArray(current) && !isPlainObject(current);
  const text = scalarText(v);
  if (currentIsScalar && text !== undefined) {
    // Only the scalar's text is replaced; the target keeps its type (kyaml keeps the node's tag).
    if (typeof current === 'string') p[key] = text;
    else if (current === null) p[key] = resolvePlainV3(text);
    else {
      const resolved = resolvePlainV3(text);
      p[key] = typeof resolved === typeof current ? resolved : text;
    }
    return;
  }
  p[key] = v;
}
