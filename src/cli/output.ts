import { UsageError } from '../errors.js';

export type OutputFormat = 'table' | 'json' | 'yaml';

/** Where the CLI writes and reads; injected so tests can capture output. */
export interface CliIO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export function defaultIO(): CliIO {
  return { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env, cwd: process.cwd() };
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
  const widths = headers.map((h, i) => rows.reduce((w, r) => Math.max(w, (r[i] ?? '').length), h.length));
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

// yaml is imported on first use (its own chunk of the bundle): most commands never print YAML,
// and loading it costs a command ~10 ms of CPU bundled (~35 ms from node_modules).
export async function renderYAML(data: unknown): Promise<string> {
  const { stringify } = await import('yaml');
  return stringify(data, { lineWidth: 0 });
}

/** Writes structured data in the requested format; `table` falls back to the given renderer. */
export async function renderData(format: OutputFormat, data: unknown, table: () => string): Promise<string> {
  switch (format) {
    case 'json':
      return renderJSON(data);
    case 'yaml':
      return renderYAML(data);
    case 'table':
      return table();
  }
}
