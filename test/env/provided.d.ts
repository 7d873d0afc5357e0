// Values the vitest global setup (test/global-setup.ts) provides to every test file.
import 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Path of an admin kubeconfig for the shared test cluster (kwok nodes, RBAC on). */
    kubeconfig: string;
  }
}
