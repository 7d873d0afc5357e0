import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');

describe('docs/cli.md', () => {
  it('is the current --help of every command (regenerate: npm run build && node scripts/cli-reference.mjs)', () => {
    const r = spawnSync(process.execPath, ['scripts/cli-reference.mjs', '--check'], { cwd: root, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
