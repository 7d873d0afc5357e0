import { visit, type Document } from 'yaml';

/**
 * Reads block scalars that end the input as go-yaml (and so kustomize) does. A block scalar (`|`
 * or `>`, with clip or keep chomping) whose last line ends the text without a line break has no
 * final "\n" in go-yaml: there is no break to keep. The `yaml` package adds one. This removes it
 * from the scalars of `docs` (parsed from `text`) whose last content line ends `text`.
 */
export function readFinalBlockScalarsAsGoYaml(docs: readonly Document[], text: string): void {
  if (text.length === 0 || text.endsWith('\n') || text.endsWith('\r')) return;
  const last = docs[docs.length - 1];
  if (last === undefined) return;
  visit(last, {
    Scalar(_key, node) {
      if (node.type !== 'BLOCK_LITERAL' && node.type !== 'BLOCK_FOLDED') return;
      if (node.range?.[1] !== text.length || typeof node.value !== 'string' || !node.value.endsWith('\n')) return;
      // A last line of spaces no deeper than the block's indentation is an empty line, not
      // content: the break before it is the value's last one (kept by `|+`), as in go-yaml.
      const body = node.value.slice(0, -1);
      if (text.slice(text.lastIndexOf('\n') + 1).trim() === '' && body.slice(body.lastIndexOf('\n') + 1) === '') return;
      node.value = body;
    },
  });
}
