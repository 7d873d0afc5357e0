// Kustomize trees published by public projects (test/manifests/real-world/<project>/, each with
// a NOTICE naming its source, commit and licence), built by lading and by the oracle (kustomize
// v5.5.0, the kustomize kubectl 1.32 embeds). Every directory holding a kustomization is built:
// where the oracle builds it, lading's output must be byte-identical; where the oracle refuses it
// (a component built on its own whose patches find nothing, say), lading must refuse it too.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildBoth, firstDifference } from './oracle.js';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), 'real-world');
const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];

function kustomizationDirs(dir: string): string[] {
  const out: string[] = [];
  if (KUSTOMIZATION_FILES.some((f) => existsSync(path.join(dir, f)))) out.push(dir);
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (entry.isDirectory()) out.push(...kustomizationDirs(path.join(dir, entry.name)));
  }
  return out;
}

const projects = readdirSync(root, { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .map((e) => e.name)
  .sort();

describe('real-world kustomize trees: lading build vs kustomize build', () => {
  it('has at least 8 projects, each with its licence note', () => {
    expect(projects.length).toBeGreaterThanOrEqual(8);
    for (const p of projects) {
      const notice = readFileSync(path.join(root, p, 'NOTICE'), 'utf8');
      expect(notice, p).toMatch(/https:\/\/github\.com\/\S+ at commit [0-9a-f]{40}/);
      expect(notice, p).toMatch(/License/);
    }
  });

  for (const project of projects) {
    it(project, async () => {
      const dirs = kustomizationDirs(path.join(root, project));
      let identical = 0;
      const problems: string[] = [];
      for (const dir of dirs) {
        const rel = path.relative(root, dir);
        const { oracle, mine } = await buildBoth(dir);
        if (!oracle.ok) {
          if (!(mine instanceof Error)) problems.push(`${rel}: kustomize refuses it (${oracle.error.split('\n')[0]}) but lading builds it`);
          continue;
        }
        if (mine instanceof Error) {
          problems.push(`${rel}: lading fails: ${mine.message}`);
          continue;
        }
        if (mine === oracle.yaml) {
          identical++;
          continue;
        }
        problems.push(`${rel}: differs at ${firstDifference(oracle.yaml, mine)}`);
      }
      expect(problems).toEqual([]);
      // the project really built (not vacuously green)
      expect(identical, `${project}: identical builds`).toBeGreaterThanOrEqual(1);
    }, 300_000);
  }
});
