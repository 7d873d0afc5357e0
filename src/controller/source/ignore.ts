// Which files of a pulled artifact go into the stored archive: source-controller's rules (pkg
// sourceignore + storage.SourceIgnoreFilter). The patterns are, in this order, the root's
// `.sourceignore`, each sub-directory's (depth first, names in byte order, `.git` not entered;
// each applies only below its own directory), then `spec.ignore`. When there are none at all, the
// default exclusions apply (version control, images and archives, CI files, a few tool files);
// when there are any, only the version-control ones are kept in front of them: a `.sourceignore`
// or `spec.ignore` replaces the defaults. The last matching pattern decides.
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import ignore, { type Ignore } from 'ignore';
import { SourceIgnoreFile } from '../../artifact/index.js';
import { SourceError } from './errors.js';

const ExcludeVCS = ['.git/', '.gitignore', '.gitmodules', '.gitattributes'];
const ExcludeExt = ['*.jpg', '*.jpeg', '*.gif', '*.png', '*.wmv', '*.flv', '*.tar.gz', '*.zip'];
const ExcludeCI = ['.github/', '.circleci/', '.travis.yml', '.gitlab-ci.yml', 'appveyor.yml', '.drone.yml', 'cloudbuild.yaml', 'codeship-services.yml', 'codeship-steps.yml'];
const ExcludeExtra = ['**/.goreleaser.yml', '**/.sops.yaml', '**/.flux.yaml'];

/** Source-controller's default exclusions (used when no ignore pattern is given at all). */
export const DefaultSourceExclusions: readonly string[] = [...ExcludeVCS, ...ExcludeExt, ...ExcludeCI, ...ExcludeExtra];

/** A `.sourceignore` larger than this is refused (a pattern file is a few hundred bytes). */
const MaxIgnoreFileBytes = 1024 * 1024;

interface PatternGroup {
  /** Directory the patterns are relative to ('' for the root), slash-separated. */
  base: string;
  matcher: Ignore;
}

/** Decides, for a path relative to the archived directory, whether it is left out. */
export type IgnoreFilter = (relPath: string, isDir: boolean) => boolean;

function patternLines(text: string): string[] {
  return text.split(/\r?\n/).filter((l) => !l.startsWith('#') && l.trim() !== '');
}

function group(base: string, lines: readonly string[], what: string): PatternGroup {
  const matcher = ignore({ ignorecase: false, allowRelativePaths: true });
  for (const line of lines) {
    try {
      matcher.add(line);
    } catch (err) {
      throw new SourceError('INVALID_PATH', `${what}: invalid ignore pattern "${line}": ${(err as Error).message}`, { cause: err });
    }
  }
  return { base, matcher };
}

/** The `.sourceignore` files of `dir` and below, as source-controller loads them. */
function loadSourceIgnores(dir: string, rel: string, out: Array<{ base: string; lines: string[] }>): void {
  const file = join(dir, SourceIgnoreFile);
  let st;
  try {
    st = lstatSync(file);
  } catch {
    st = undefined;
  }
  if (st?.isFile()) {
    if (st.size > MaxIgnoreFileBytes) throw new SourceError('INVALID_PATH', `reading ${rel === '' ? '' : `${rel}/`}${SourceIgnoreFile}: larger than ${MaxIgnoreFileBytes} bytes`);
    const lines = patternLines(readFileSync(file, 'utf8'));
    if (lines.length > 0) out.push({ base: rel, lines });
  }
  const names = readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && d.name !== '.git')
    .map((d) => d.name)
    .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  for (const name of names) loadSourceIgnores(join(dir, name), rel === '' ? name : `${rel}/${name}`, out);
}

/**
 * The filter source-controller applies when archiving `dir`: `.sourceignore` files found in the
 * tree, then `spec.ignore`; the defaults only when both give no pattern.
 */
export function sourceIgnoreFilter(dir: string, specIgnore: string | undefined): IgnoreFilter {
  const found: Array<{ base: string; lines: string[] }> = [];
  loadSourceIgnores(dir, '', found);
  if (specIgnore !== undefined) {
    const lines = patternLines(specIgnore);
    if (lines.length > 0) found.push({ base: '', lines });
  }
  const groups: PatternGroup[] =
    found.length === 0
      ? [group('', DefaultSourceExclusions, 'default exclusions')]
      : [group('', ExcludeVCS, 'default exclusions'), ...found.map((f) => group(f.base, f.lines, f.base === '' ? 'spec.ignore or .sourceignore' : `${f.base}/${SourceIgnoreFile}`))];
  return (relPath, isDir) => {
    let ignored = false;
    for (const g of groups) {
      if (g.base !== '' && !relPath.startsWith(`${g.base}/`)) continue;
      const sub = g.base === '' ? relPath : relPath.slice(g.base.length + 1);
      const r = g.matcher.test(isDir ? `${sub}/` : sub);
      if (r.ignored) ignored = true;
      else if (r.unignored) ignored = false;
    }
    return ignored;
  };
}
