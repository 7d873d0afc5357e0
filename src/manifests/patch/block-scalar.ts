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

/**
 * The value kustomize ends up with for a folded (`>`) block scalar it read. kustomize writes such
 * a node back out in folded style with go-yaml v3 and reads it again; go-yaml's folded writer
 * decides whether to double a line break by looking at the value's first character instead of
 * the next line's, so a line break before a more-indented line, or before trailing breaks kept
 * with `>+`, comes back doubled. This applies that round trip (without go-yaml's folding of lines
 * longer than 80 columns). Values go-yaml would not write as a block scalar (ending with a space,
 * or with a space before a line break) are unchanged.
 */
export function foldedAsKustomizeReadsIt(value: string): string {
  if (value === '' || value.endsWith(' ') || value.includes(' \n')) return value;
  // go-yaml v3's yaml_emitter_write_folded_scalar
  let k = 0;
  while (value[k] === '\n') k++;
  const firstBlank = k >= value.length || value[k] === ' ' || value[k] === '\t';
  let written = '';
  let breaks = true;
  let leadingSpaces = true;
  for (const ch of value) {
    if (ch === '\n') {
      if (!breaks && !leadingSpaces && !firstBlank) written += '\n';
      written += '\n';
      breaks = true;
    } else {
      if (breaks) leadingSpaces = ch === ' ' || ch === '\t';
      written += ch;
      breaks = false;
    }
  }
  // go-yaml v3's block scalar scanner, folded, with the chomping the writer chose
  const chomp = !value.endsWith('\n') ? 'strip' : value === '\n' || value.endsWith('\n\n') ? 'keep' : 'clip';
  const lines = written.split('\n');
  let out = '';
  let leadingBreak = '';
  let trailingBreaks = '';
  let leadingBlank = false;
  lines.forEach((line, i) => {
    const hasBreak = i < lines.length - 1;
    if (line === '') {
      if (hasBreak) trailingBreaks += '\n';
      return;
    }
    const trailingBlank = line[0] === ' ' || line[0] === '\t';
    if (!leadingBlank && !trailingBlank && leadingBreak === '\n') {
      if (trailingBreaks === '') out += ' ';
    } else {
      out += leadingBreak;
    }
    out += trailingBreaks;
    trailingBreaks = '';
    leadingBlank = trailingBlank;
    out += line;
    leadingBreak = hasBreak ? '\n' : '';
  });
  if (chomp !== 'strip') out += leadingBreak;
  if (chomp === 'keep') out += trailingBreaks;
  return out;
}
