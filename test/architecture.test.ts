import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const m of text.matchAll(/(?:import|export)[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)) {
    found.push((m[1] ?? m[2]) as string);
  }
  return found;
}

describe('architecture', () => {
  const files = sourceFiles(root);

  it('finds the sources', () => {
    expect(files.length).toBeGreaterThan(5);
  });

  it('the core never imports the CLI', () => {
    const offenders: string[] = [];
    for (const file of files) {
      const rel = relative(root, file);
      if (rel.startsWith(`cli${sep}`)) continue;
      for (const spec of imports(file)) {
        if (spec.startsWith('.') && join(file, '..', spec).startsWith(join(root, 'cli'))) offenders.push(`${rel} imports ${spec}`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it('domains import each other only through their index.ts', () => {
    const offenders: string[] = [];
    for (const file of files) {
      const rel = relative(root, file);
      const domain = rel.split(sep)[0];
      if (domain === 'cli' || !rel.includes(sep)) continue;
      for (const spec of imports(file)) {
        if (!spec.startsWith('.')) continue;
        const target = relative(root, join(file, '..', spec));
        const targetDomain = target.split(sep)[0];
        if (!target.includes(sep) || targetDomain === domain) continue;
        if (target !== join(targetDomain ?? '', 'index.js')) offenders.push(`${rel} imports ${spec}`);
      }
    }
    expect(offenders).toEqual([]);
  });
});
