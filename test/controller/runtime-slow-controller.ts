// A controller process for the graceful-shutdown tests: runController (the same process code as
// `lading controller run`) with one Widget reconciler that writes `phase: started`, then works
// for SLOW_MS (stopping early if its signal aborts), then writes `phase: finished`.
// Run as `node --import tsx test/controller/runtime-slow-controller.ts`; configured by env:
// KUBECONFIG, WATCH_NAMESPACE, SLOW_MS, GRACE_MS, HEALTH_ADDR.
import { runController } from '../../src/controller/run.js';
import type { ReconcileContext, ReconcileOutcome } from '../../src/controller/runtime/types.js';
import type { KubeObject } from '../../src/kube/index.js';

// (Not imported from runtime-helpers.ts, which needs vitest.)
const Widget = { group: 'test.lading.dev', version: 'v1', kind: 'Widget', plural: 'widgets', namespaced: true };
const env = process.env;
const slowMs = Number(env['SLOW_MS'] ?? '5000');

const reconciler = {
  name: 'widget',
  kind: Widget,
  statusManager: 'slow-controller',
  async reconcile(object: KubeObject, ctx: ReconcileContext): Promise<ReconcileOutcome> {
    if ((object['status'] as { phase?: string } | undefined)?.phase === 'finished') return {};
    await ctx.patchStatus({ phase: 'started' });
    ctx.log.info('slow reconcile started');
    const aborted = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), slowMs);
      ctx.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    if (aborted) {
      ctx.log.info('slow reconcile aborted');
      return { error: new Error('aborted by shutdown') };
    }
    ctx.log.info('slow reconcile finished');
    return { status: { phase: 'finished' } };
  },
};

await runController({
  kube: { kubeconfig: env['KUBECONFIG'] ?? '' },
  watchAllNamespaces: false,
  runtimeNamespace: env['WATCH_NAMESPACE'] ?? 'default',
  healthAddr: env['HEALTH_ADDR'] ?? '127.0.0.1:0',
  metricsAddr: '0',
  logLevel: 'debug',
  gracefulShutdownTimeoutMs: Number(env['GRACE_MS'] ?? '30000'),
  components: async () => ({ reconcilers: [{ reconciler, reportingController: 'slow-controller' }] }),
});
process.exit(0);
