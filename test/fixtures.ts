// Paths of the tutorial's fixtures, kept in the repository so tests run from any clone.
import { join } from 'node:path';

export const fixturesDir = join(import.meta.dirname, 'fixtures');
/** The seed tutorial's demo app (ten objects once built). */
export const demoAppDir = join(fixturesDir, 'demo-app');
/** The tutorial's `--patch` examples. */
export const patchesDir = join(fixturesDir, 'patches');

/** The ten objects the tutorial lists for the built demo app, in kustomize's output order. */
export const demoAppObjects: readonly string[] = [
  'Namespace/demo-app',
  'ConfigMap/demo-app/redis-config-bd2fcfgt6k',
  'Service/demo-app/backend',
  'Service/demo-app/cache',
  'Service/demo-app/frontend',
  'Deployment/demo-app/backend',
  'Deployment/demo-app/cache',
  'Deployment/demo-app/frontend',
  'HorizontalPodAutoscaler/demo-app/backend',
  'HorizontalPodAutoscaler/demo-app/frontend',
];
