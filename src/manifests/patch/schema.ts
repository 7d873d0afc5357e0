// Just enough of the Kubernetes OpenAPI schema for strategic merge: which lists merge by which
// keys, reached from a resource's apiVersion/kind the way kyaml's walker reaches them.
import { SCHEMA } from './schema-data.js';

/** One field of a definition in the compact table (see schema-data.ts). */
export interface FieldSchema {
  /** Definition of a nested object. */
  t?: string;
  /** Definition of the values of a string-keyed map. */
  m?: string;
  /** Element definition of a merge list. */
  e?: string;
  /** x-kubernetes-patch-strategy of a list (only lists whose strategy includes "merge"). */
  s?: string;
  /** Merge keys as kyaml reads them: x-kubernetes-list-map-keys, else the patch merge key. */
  k?: string[];
}

export interface SchemaTable {
  definitions: Record<string, Record<string, FieldSchema>>;
  /** `apiVersion/kind` → definition, for kinds holding merge lists. */
  kinds: Record<string, string>;
  /** `apiVersion/kind` of the other known kinds (schema present, nothing to merge). */
  opaqueKinds: string[];
}

/** A position in the schema; `undefined` stands for "no schema" (custom resources). */
export type Schema =
  | { type: 'object'; definition: string }
  | { type: 'mapOf'; definition: string }
  | { type: 'mergeList'; strategy: string; keys: string[]; element: string | undefined }
  | { type: 'opaque' };

const OPAQUE: Schema = { type: 'opaque' };
const opaqueKinds = new Set(SCHEMA.opaqueKinds);

export function schemaForType(apiVersion: string, kind: string): Schema | undefined {
  const id = `${apiVersion}/${kind}`;
  const definition = SCHEMA.kinds[id];
  if (definition !== undefined) return { type: 'object', definition };
  return opaqueKinds.has(id) ? OPAQUE : undefined;
}

export function fieldSchema(schema: Schema, name: string): Schema | undefined {
  switch (schema.type) {
    case 'opaque':
      return OPAQUE;
    case 'mapOf':
      return { type: 'object', definition: schema.definition };
    case 'mergeList':
      return undefined;
    case 'object': {
      const fields = SCHEMA.definitions[schema.definition];
      const f = fields === undefined || !Object.hasOwn(fields, name) ? undefined : fields[name];
      if (f === undefined) return undefined;
      if (f.s !== undefined) return { type: 'mergeList', strategy: f.s, keys: f.k ?? [], element: f.e };
      if (f.t !== undefined) return { type: 'object', definition: f.t };
      if (f.m !== undefined) return { type: 'mapOf', definition: f.m };
      return OPAQUE;
    }
  }
}

export function elementSchema(schema: Schema): Schema | undefined {
  if (schema.type !== 'mergeList') return undefined;
  return schema.element === undefined ? OPAQUE : { type: 'object', definition: schema.element };
}

/** True when a list merges element by element (its patch strategy includes "merge"). */
export function isAssociative(schema: Schema | undefined): boolean {
  return schema?.type === 'mergeList' && schema.strategy.split(',').includes('merge');
}
