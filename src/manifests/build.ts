import type { BuildOptions, BuildResult } from './types.js';
import { ManifestError } from './errors.js';

export async function build(path: string, opts: BuildOptions = {}): Promise<BuildResult> {
  void opts;
  throw new ManifestError('UNSUPPORTED', `building ${path}: not implemented yet`);
}
