// Paths of the tutorial's fixtures, kept in the repository so tests run from any clone.
import { join } from 'node:path';

export const fixturesDir = join(import.meta.dirname, 'fixtures');
/** The seed tutorial's demo app (ten objects once built). */
export const demoAppDir = join(fixturesDir, 'demo-app');
/** The tutorial's `--patch` examples. */
export const patchesDir = join(fixturesDir, 'patches');
