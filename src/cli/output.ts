import { loadModule } from '../builtins.js';
import { UsageError } from '../errors.js';
import { fdOutput, type Output } from './stdio.js';

export type OutputFormat = 'table' | 'json' | 'yaml';

/** Where the CLI writes and reads; injected so tests can capture output. */
export interface CliIO {
  stdout: Output;
  stderr: Output;
  stdin: NodeJS.ReadableStream;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export function defaultIO(): CliIO {
  return {
    stdout: fdOutput(1, () => process.stdout),
    stderr: fdOutput(2, () => process.stderr),
    // process.stdin sets up a stream on first access (a few ms); most commands never read it.
    get stdin() {
      return process.stdin;
    },
    env: process.env,
    cwd: process.cwd(),
  };
}

export function parseOutputFormat(value: string | undefined, allowed: readonly OutputFormat[] = ['table', 'json', 'yaml']): OutputFormat {
  const v = (value ?? allowed[0] ?? 'table') as OutputFormat;
  if (!allowed.includes(v)) {
    throw new UsageError(`invalid output format "${value}": use one of ${allowed.join(', ')}`);
  }
  return v;
}

/** Renders rows as a tab-aligned table with an upper-case header, like kubectl and flux. */
export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('\t')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

export function renderJSON(data: unknown): string {
  return JSON.stringify(data, null, 2) + '\n';
}

// yaml is loaded on first use: most commands never print YAML, and start-up time matters (so is
// node:module, which loads the ES module loader).
let requireLazily: NodeJS.Require | undefined;

export function renderYAML(data: unknown): string {
  requireLazily ??= loadModule().createRequire(import.meta.url);
  const { stringify } = requireLazily('yaml') as typeof import('yaml');
  return stringify(data, { lineWidth: 0 });
}

/** Writes structured data in the requested format; `table` falls back to the given renderer. */
export function renderData(format: OutputFormat, data: unknown, table: () => string): string {
  switch (format) {
    case 'json':
      return renderJSON(data);
    case 'yaml':
      return renderYAML(data);
    case 'table':
      return table();
  }
}
