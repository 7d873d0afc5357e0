// kustomize's `crds:` field: files of OpenAPI definitions (the map of Go type name →
// {Schema, Dependencies} that kube-openapi generates for custom types, in JSON or YAML) whose
// vendor extensions teach the build where custom kinds hold names, labels and annotations:
//   x-kubernetes-object-ref-api-version + x-kubernetes-object-ref-kind (+ x-kubernetes-object-ref-
//     name-key, default "name"): the field refers by name to an object of that version/kind, so
//     prefixes, suffixes and hash suffixes of the target follow into it;
//   x-kubernetes-label-selector: the field is a label map that commonLabels also fill;
//   x-kubernetes-annotation: the field is an annotation map that commonAnnotations also fill;
//   x-kubernetes-identity: the field holds a name that namePrefix also prefixes.
// A definition counts as a kind when it has apiVersion, kind and metadata properties; its kind
// is the last dot-separated part of its type name, with no group or version (kustomize has no
// other source for them). Properties given by `$ref` are followed into the referenced
// definition. An extension only counts when its value is a string, as in kustomize.
import { ManifestError } from './errors.js';
import type { TransformerConfig } from './resmap.js';
import type { FieldSpec } from './resource.js';
import { isPlainObject, parseYamlDocuments } from './yaml.js';

export type CrdConfig = Pick<TransformerConfig, 'commonAnnotations' | 'commonLabels' | 'namePrefix' | 'nameReference'>;

type Obj = Record<string, unknown>;

/** Reads one `crds:` file's definitions into transformer config (see the file comment). */
export function crdConfig(text: string, source: string): CrdConfig {
  const doc = parseYamlDocuments(text, source).find((d) => d.value !== null)?.value ?? {};
  if (!isPlainObject(doc)) throw new ManifestError('INVALID_KUSTOMIZATION', `${source}: expected a map of OpenAPI definitions by type name`);
  const out: CrdConfig = { commonAnnotations: [], commonLabels: [], namePrefix: [], nameReference: [] };
  for (const typeName of Object.keys(doc)) {
    const props = properties(doc, typeName, source);
    if (props === undefined || !('kind' in props) || !('apiVersion' in props) || !('metadata' in props)) continue;
    const kind = typeName.split('.').pop() ?? typeName;
    walk(doc, typeName, kind, [], out, source, new Set());
  }
  return out;
}

/** The `properties` of a definition's schema (`Schema` or any case of it, as Go's JSON reads it). */
function properties(doc: Obj, typeName: string, source: string): Obj | undefined {
  const def = doc[typeName];
  if (!isPlainObject(def)) return undefined;
  const schemaKey = Object.keys(def).find((k) => k.toLowerCase() === 'schema');
  const schema = schemaKey === undefined ? undefined : def[schemaKey];
  if (schema === undefined || schema === null) return undefined;
  if (!isPlainObject(schema)) throw new ManifestError('INVALID_KUSTOMIZATION', `${source}: ${typeName}.Schema: expected a map`);
  const props = schema['properties'];
  if (props === undefined || props === null) return undefined;
  if (!isPlainObject(props)) throw new ManifestError('INVALID_KUSTOMIZATION', `${source}: ${typeName}.Schema.properties: expected a map`);
  return props;
}

function walk(doc: Obj, typeName: string, kind: string, path: string[], out: CrdConfig, source: string, seen: Set<string>): void {
  // A definition that refers back to itself would recurse forever (kustomize overflows its stack).
  if (seen.has(typeName)) return;
  const props = properties(doc, typeName, source);
  if (props === undefined) return;
  const inner = new Set(seen).add(typeName);
  for (const [name, prop] of Object.entries(props)) {
    if (!isPlainObject(prop)) continue;
    const here = [...path, name];
    const spec = (p: string[]): FieldSpec => ({ group: '', version: '', kind, path: p.join('/'), create: false });
    const ext = (key: string): string | undefined => (typeof prop[key] === 'string' ? (prop[key] as string) : undefined);
    if (ext('x-kubernetes-annotation') !== undefined) out.commonAnnotations.push(spec(here));
    if (ext('x-kubernetes-label-selector') !== undefined) out.commonLabels.push(spec(here));
    if (ext('x-kubernetes-identity') !== undefined) out.namePrefix.push(spec(here));
    const version = ext('x-kubernetes-object-ref-api-version');
    const refKind = ext('x-kubernetes-object-ref-kind');
    if (version !== undefined && refKind !== undefined) {
      const nameKey = ext('x-kubernetes-object-ref-name-key') ?? 'name';
      out.nameReference.push({ ...spec([...here, nameKey]), target: { version, kind: refKind } });
    }
    const ref = prop['$ref'];
    if (typeof ref === 'string' && ref !== '') walk(doc, ref, kind, here, out, source, inner);
  }
}
