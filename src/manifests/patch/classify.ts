// Telling a JSON 6902 patch from strategic merge patches, as kustomize's PatchTransformer does:
// the text is read both ways, and exactly one reading must succeed.
import { parseAllDocuments } from 'yaml';
import { readFinalBlockScalarsAsGoYaml } from './block-scalar.js';
import { PatchError } from './errors.js';
import type { JsonPatchOperation } from './json6902.js';
import { readJson6902 } from './json6902.js';

export type PatchKind = 'strategicMerge' | 'json6902';

export type ClassifiedPatch =
  | { kind: 'strategicMerge'; documents: Array<Record<string, unknown>> }
  | { kind: 'json6902'; operations: JsonPatchOperation[] };

export interface ClassifyOptions {
  /** Where the patch came from, as kustomize names it: a file path or `[patch: "..."]`. */
  source?: string;
  /**
   * Parser for strategic merge documents (multi-document YAML to plain objects, null for empty
   * documents). Pass the build engine's own parser so patches and resources read alike; the
   * default uses the `yaml` package with its YAML 1.2 core schema.
   */
  parse?: (text: string, source?: string) => unknown[];
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isEmpty(v: unknown): boolean {
  return (
    v === null ||
    v === undefined ||
    (Array.isArray(v) && v.length === 0) ||
    (isObj(v) && Object.keys(v).length === 0)
  );
}

function defaultParse(text: string): unknown[] {
  const docs = parseAllDocuments(text);
  for (const doc of docs) if ('errors' in doc && doc.errors.length > 0) throw doc.errors[0];
  readFinalBlockScalarsAsGoYaml(docs, text);
  return docs.map((doc) => doc.toJS({ maxAliasCount: 100 }));
}

function scalar(v: unknown): string {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : '';
}

/** Strategic merge reading (kustomize's resource factory): objects with kind and name. */
function readStrategicMerge(
  text: string,
  opts: ClassifyOptions,
): { documents: Array<Record<string, unknown>>; first: unknown } {
  const docs = (opts.parse ?? defaultParse)(text, opts.source);
  const first = docs[0];
  const out: Array<Record<string, unknown>> = [];
  const queue = [...docs];
  while (queue.length > 0) {
    const doc = queue.shift();
    if (isEmpty(doc)) continue;
    if (!isObj(doc)) throw new Error('missing kind in object');
    const kind = scalar(doc['kind']);
    if (kind === '') throw new Error('missing kind in object');
    if (kind.endsWith('List')) {
      if (!Object.hasOwn(doc, 'items')) {
        out.push(doc);
        continue;
      }
      const items = doc['items'];
      if (items === null || items === undefined) continue;
      if (!Array.isArray(items)) throw new Error(`expected array for items in ${kind}`);
      queue.unshift(...items);
      continue;
    }
    const md = doc['metadata'];
    if (!isObj(md) || scalar(md['name']) === '') throw new Error('missing metadata.name in object');
    out.push(doc);
  }
  return { documents: out, first };
}

/**
 * Tells a JSON 6902 patch (a list of operations, JSON or YAML) from strategic merge patches
 * (one or more YAML documents, each with kind and metadata.name), as kustomize's
 * PatchTransformer does, and returns it parsed. Text that reads both ways or neither way is an
 * error, with kustomize's wording.
 */
export function classifyPatch(text: string, opts: ClassifyOptions = {}): ClassifiedPatch {
  const source = opts.source ?? `[patch: ${JSON.stringify(text)}]`;
  const details = { source };
  if (text.trim() === '') throw new PatchError(`patch ${source} is empty`, details);
  let documents: Array<Record<string, unknown>> | undefined;
  let first: unknown;
  let operations: JsonPatchOperation[] | undefined;
  let smError: unknown;
  let jsonError: unknown;
  try {
    ({ documents, first } = readStrategicMerge(text, opts));
  } catch (err) {
    smError = err;
  }
  // A first document that is a non-empty map can never read as a list of operations.
  const firstIsMap = !text.startsWith('[') && isObj(first) && Object.keys(first).length > 0;
  if (!firstIsMap) {
    try {
      operations = readJson6902(text);
    } catch (err) {
      jsonError = err;
    }
  }
  if (documents !== undefined && operations !== undefined) {
    throw new PatchError(`illegally qualifies as both an SM and JSON patch: ${source}`, details);
  }
  if (operations !== undefined) return { kind: 'json6902', operations };
  if (documents !== undefined) return { kind: 'strategicMerge', documents };
  const reasons = [smError, jsonError]
    .map((e) => (e instanceof Error ? e.message.split('\n')[0] : String(e)))
    .join('; ');
  throw new PatchError(`unable to parse SM or JSON patch from ${source} (${reasons})`, details, {
    cause: smError,
  });
}
