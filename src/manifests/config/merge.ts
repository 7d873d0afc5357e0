// Transformer configuration merged as kustomize merges it (builtinconfig.TransformerConfig.Merge),
// because its quirks show in output:
// - a field spec is left out when one already there is "selected" by it — same path, and the
//   incoming spec's group/version/kind, with empty parts as wildcards, matches the existing one
//   (a differing `create` is a conflict). So a general spec (no kind) is dropped when a spec for
//   some kind with the same path came first;
// - name references are grouped by the kind they refer to: an incoming group joins an existing
//   group for exactly the same group/version/kind, else it is added;
// - every merge sorts each list by kyaml's Gvk order (the legacy kind order, then
//   group_version_kind with "~" for empty parts). A general spec sorts after kinded ones, which
//   is why a `configurations` file with `namePrefix` specs for some kinds switches the default
//   prefixing of every other kind off (kustomize issue 4884's test shows it).
import { ManifestError } from '../errors.js';
import type { TransformerConfig } from '../resmap.js';
import type { FieldSpec, Gvk } from '../resource.js';
import { compareGvk } from '../transformers.js';

type Reference = TransformerConfig['nameReference'][number];

/** A config with every list empty: what kustomize's accumulator starts from. */
export function emptyConfig(): TransformerConfig {
  return { namePrefix: [], nameSuffix: [], namespace: [], commonLabels: [], templateLabels: [], commonAnnotations: [], images: [], replicas: [], nameReference: [], varReference: [] };
}

/** `x` is selected by `selector` (kyaml's Gvk.IsSelected: empty parts of the selector match anything). */
function selects(selector: Partial<Gvk>, x: Partial<Gvk>): boolean {
  for (const part of ['group', 'version', 'kind'] as const) {
    const want = selector[part] ?? '';
    if (want !== '' && (x[part] ?? '') !== want) return false;
  }
  return true;
}

function sameGvk(a: Partial<Gvk>, b: Partial<Gvk>): boolean {
  return (a.group ?? '') === (b.group ?? '') && (a.version ?? '') === (b.version ?? '') && (a.kind ?? '') === (b.kind ?? '');
}

/** FsSlice.MergeOne / MergeAll. */
export function mergeFieldSpecs<T extends FieldSpec>(base: readonly T[], more: readonly T[], where: string): T[] {
  const out = [...base];
  for (const f of more) {
    const existing = out.find((x) => x.path === f.path && selects(f, x));
    if (existing === undefined) {
      out.push(f);
      continue;
    }
    if (existing.create !== f.create) {
      throw new ManifestError('INVALID_KUSTOMIZATION', `${where}: conflicting fieldspecs for path ${f.path} (create ${String(existing.create)} and ${String(f.create)})`);
    }
  }
  return out;
}

/** nbrSlice.mergeAll on the flat list: referrers of one target kind form a group. */
function mergeReferences(base: readonly Reference[], more: readonly Reference[], where: string): Reference[] {
  const out = [...base];
  for (const r of more) {
    const group = out.filter((x) => sameGvk(x.target, r.target));
    if (group.length === 0) {
      out.push(r);
      continue;
    }
    const merged = mergeFieldSpecs(group, [r], where);
    if (merged.length > group.length) {
      // joins its group: after the group's last referrer
      const last = out.lastIndexOf(group[group.length - 1] as Reference);
      out.splice(last + 1, 0, r);
    }
  }
  return out;
}

/** Sorted as sortFields does (stable, so specs of one kind keep their order). */
function sorted<T>(list: T[], gvk: (x: T) => Partial<Gvk>): T[] {
  return list.map((x, i) => ({ x, i })).sort((a, b) => compareGvk(gvk(a.x), gvk(b.x)) || a.i - b.i).map((e) => e.x);
}

/** TransformerConfig.Merge: `a` then what `b` adds, each list sorted. */
export function mergeConfigs(a: TransformerConfig, b: TransformerConfig, where: string): TransformerConfig {
  const out = emptyConfig();
  for (const key of Object.keys(out) as Array<keyof TransformerConfig>) {
    if (key === 'nameReference') out.nameReference = sorted(mergeReferences(a.nameReference, b.nameReference, where), (r) => r.target);
    else out[key] = sorted(mergeFieldSpecs(a[key], b[key], where), (f) => f);
  }
  return out;
}

/** A config read from a file, sorted as kustomize sorts it on loading. */
export function sortedConfig(c: TransformerConfig): TransformerConfig {
  return mergeConfigs(emptyConfig(), c, '');
}
