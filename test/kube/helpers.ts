// Helpers for the apply-engine tests: the shared test cluster, the CLI with captured streams,
// kubectl against the test cluster, and a copy of the tutorial's demo app.
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { KubeClient } from '../../src/kube/index.js';
import { runCaptured } from '../cli/captured-io.js';
import { run } from '../env/process.js';
import { demoAppDir } from '../fixtures.js';

/** The shared cluster's kubeconfig (test/global-setup.ts); a clear failure when it is absent. */
export function clusterKubeconfig(): string {
  const kc = inject('kubeconfig');
  if (typeof kc !== 'string' || kc === '') {
    throw new Error(
      'no test cluster: these tests need the Kubernetes control plane that test/global-setup.ts starts. ' +
        'Run them with the repository vitest config (`npx vitest run test/kube`); build the control plane first with `npm run env -- build` (Go toolchain needed).',
    );
  }
  return kc;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the lading CLI in-process with captured streams against the given kubeconfig. */
export function lading(args: string[], opts: { kubeconfig: string; cwd?: string; env?: NodeJS.ProcessEnv }): Promise<CliResult> {
  return runCaptured(args, {
    env: { ...process.env, DOCKER_CONFIG: '/nonexistent-lading-test', KUBECONFIG: opts.kubeconfig, ...opts.env },
    cwd: opts.cwd ?? process.cwd(),
  });
}

/** kubectl against the given kubeconfig; throws with kubectl's stderr on failure unless allowFailure. */
export async function kubectl(kubeconfig: string, args: string[], opts: { input?: string; allowFailure?: boolean; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return run('kubectl', ['--kubeconfig', kubeconfig, ...args], {
    env: { ...process.env, ...opts.env },
    ...(opts.input !== undefined ? { input: opts.input } : {}),
    ...(opts.allowFailure ? { allowFailure: true } : {}),
  });
}

export async function kubectlJson<T = Record<string, unknown>>(kubeconfig: string, args: string[]): Promise<T> {
  return JSON.parse((await kubectl(kubeconfig, [...args, '-o', 'json'])).stdout) as T;
}

export function tempDir(prefix = 'lading-kube-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

function rewriteTree(dir: string, fn: (text: string) => string): void {
  for (const entry of readdirSync(dir)) {
    const p = join(dir, entry);
    if (statSync(p).isDirectory()) rewriteTree(p, fn);
    else if (p.endsWith('.yaml')) writeFileSync(p, fn(readFileSync(p, 'utf8')));
  }
}

/**
 * A writable copy of test/fixtures/demo-app. The fixture's HPAs use
 * autoscaling/v2beta2, which Kubernetes stopped serving in 1.26; the copy uses autoscaling/v2
 * (same fields), as anyone running the tutorial on a current cluster must.
 */
export function demoAppCopy(root: string): string {
  const dir = join(root, 'demo-app');
  cpSync(demoAppDir, dir, { recursive: true });
  rewriteTree(dir, (t) => t.replace(/autoscaling\/v2beta2/g, 'autoscaling/v2'));
  return dir;
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** A library client for the test cluster. */
export function connect(kubeconfig: string, namespace?: string): Promise<KubeClient> {
  return KubeClient.connect({ kubeconfig, ...(namespace ? { namespace } : {}) });
}

/** Lines of output, trimmed, without empty ones. */
export function lines(text: string): string[] {
  return text.split('\n').map((l) => l.trimEnd()).filter((l) => l !== '');
}

/**
 * Runs a suite's setup in beforeAll but reports a failure in every test (rather than vitest
 * marking them skipped): each test starts with `await setup.ready()`.
 */
export function deferredSetup(): { run(fn: () => Promise<void>): Promise<void>; ready(): void } {
  let error: unknown;
  return {
    async run(fn) {
      try {
        await fn();
      } catch (err) {
        error = err;
      }
    },
    ready() {
      if (error !== undefined) throw error;
    },
  };
}
