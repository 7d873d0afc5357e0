// The Kustomization reconciler: kustomize-controller's Reconcile, step for step (see
// docs/controller.md and ../shared/research/controller.md §2.4): finalizer, suspend, source,
// dependencies, fetch, build, staged apply with Flux's owner, inventory, prune, health, status
// and events with Flux's reasons and messages. It holds no state: what it must remember is in
// status (inventory, revisions, history).
import { mkdtemp, realpath, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve, sep } from 'node:path';
import {
  FieldManagers,
  Finalizer,
  KustomizeGroup,
  Kinds,
  type Artifact,
  type InventoryEntry,
  type Kustomization,
  type KustomizationSpec,
  type KustomizationStatus,
  type SourceObject,
} from '../api.js';
import { ConditionTypes, Reasons, findCondition, isTrue, removeCondition } from '../runtime/conditions.js';
import { formatDuration, jitter } from '../runtime/duration.js';
import type { CacheReader, KindInfo, ObjectKey, ReconcileContext, ReconcileOutcome, Reconciler } from '../runtime/types.js';
import { describeError } from '../../errors.js';
import { KubeError, serviceAccountUser, type KubeClient, type KubeObject, type ObjectRef } from '../../kube/index.js';
import { buildKustomization, type BuildKustomizationOptions } from './build.js';
import { ApplyStepError, applyObjects, changeLine, checkHealth, deleteObjects, waitForTermination, type ApplyOutcome, type ChangeEntry, type Owner } from './apply.js';
import { ArtifactFetchError, fetchArtifact as defaultFetchArtifact, type FetchArtifactOptions } from './fetch.js';
import { fromEntries, toEntry } from './inventory.js';
import { deletionPolicy, elapsed, finalizeStatus, intervalMs, mark, retryIntervalMs, timeoutMs, upsertHistory } from './status.js';

/** Annotation keys of kustomize-controller's events (fluxcd/pkg apis/event metadata, group-prefixed). */
export const EventAnnotations = {
  revision: `${KustomizeGroup}/revision`,
  originRevision: `${KustomizeGroup}/originRevision`,
  commitStatus: `${KustomizeGroup}/commit_status`,
} as const;

/** Artifact metadata key of the origin revision (OCIArtifactOriginRevisionAnnotation). */
export const OriginRevisionKey = 'org.opencontainers.image.revision';
export const TerminalErrorMessage = 'Reconciliation failed terminally due to configuration error';

/** The build: ./build.ts buildKustomization (replaceable in tests). */
export type BuildFunction = (opts: BuildKustomizationOptions) => Promise<{ objects: KubeObject[]; checksum: string }>;

export interface KustomizationReconcilerDeps {
  /** --requeue-dependency (default 30 s). */
  requeueDependencyMs?: number;
  /** --http-retry (default 9). */
  httpRetry?: number;
  /**
   * --no-remote-bases. Accepted for Flux's flag; lading's build reads the artifact only, so
   * remote bases are always refused whatever the value.
   */
  noRemoteBases?: boolean;
  /** --no-cross-namespace-refs (default false). */
  noCrossNamespaceRefs?: boolean;
  /** --default-service-account: impersonated when spec.serviceAccountName is empty. */
  defaultServiceAccount?: string;
  /** Host replacing the artifact URL's (default: $SOURCE_CONTROLLER_LOCALHOST). */
  sourceHost?: string;
  /** Where temporary directories go (default the OS's). */
  tmpDir?: string;
  /** Replaces the artifact download (tests). */
  fetchArtifact?: (opts: FetchArtifactOptions) => Promise<unknown>;
  /** Replaces the build (default: buildKustomization, the Flux-compatible build of this domain). */
  build?: BuildFunction;
  /** A client acting as `system:serviceaccount:<ns>:<name>` (default: KubeClient.impersonate). */
  impersonate?: (client: KubeClient, user: string) => KubeClient | Promise<KubeClient>;
  /** Limits of the artifact download and its extraction. */
  maxDownloadBytes?: number;
  maxExtractBytes?: number;
  /** Jitter of the requeue after success (default ±5 %). */
  jitterPercent?: number;
}

const sourceKinds: Record<string, KindInfo> = {
  OCIRepository: Kinds.OCIRepository,
  GitRepository: Kinds.GitRepository,
  Bucket: Kinds.Bucket,
};

/** Kustomizations that reference this source, except those already Ready or Reconciling on its revision. */
function kustomizationsOf(kind: string) {
  return (object: KubeObject, cache: CacheReader): ObjectKey[] => {
    const src = object as unknown as SourceObject;
    const artifact = src.status?.artifact;
    if (!artifact) return [];
    const ns = src.metadata.namespace;
    const keys: ObjectKey[] = [];
    for (const k of cache.list<KubeObject>(Kinds.Kustomization) as unknown as Kustomization[]) {
      const ref = k.spec?.sourceRef;
      if (!ref || ref.kind !== kind || ref.name !== src.metadata.name || (ref.namespace || k.metadata.namespace) !== ns) continue;
      const conditions = k.status?.conditions;
      const busy = isTrue(conditions, ConditionTypes.Ready) || isTrue(conditions, ConditionTypes.Reconciling);
      if (busy && k.status?.lastAttemptedRevision === artifact.revision) continue;
      keys.push({ namespace: k.metadata.namespace, name: k.metadata.name });
    }
    return keys;
  };
}

/** Resolves spec.path inside the artifact root; a path that leaves it (also through a link) is refused. */
async function resolvePath(root: string, path: string | undefined): Promise<string> {
  const rel = (path ?? '').replace(/^\/+/, '');
  const realRoot = await realpath(root);
  const joined = resolve(realRoot, rel);
  const inside = (p: string) => p === realRoot || p.startsWith(realRoot.endsWith(sep) ? realRoot : realRoot + sep);
  if (!inside(joined)) throw new PathError(`path '${path ?? ''}' leaves the artifact root`);
  let real: string;
  try {
    await stat(joined);
    real = await realpath(joined);
  } catch {
    throw new PathError(`kustomization path not found: stat ${path ?? ''}: no such file or directory`);
  }
  if (!inside(real)) throw new PathError(`path '${path ?? ''}' leads out of the artifact root through a symbolic link`);
  return real;
}

class PathError extends Error {}

function healthRefs(spec: KustomizationSpec): ObjectRef[] {
  return (spec.healthChecks ?? []).map((h) => {
    const api = h.apiVersion ?? 'v1';
    const slash = api.indexOf('/');
    return { group: slash < 0 ? '' : api.slice(0, slash), version: slash < 0 ? api : api.slice(slash + 1), kind: h.kind, namespace: h.namespace ?? '', name: h.name };
  });
}

/** A Kustomization as the runtime hands it over (api.ts's interface, as plain JSON data). */
export type KustomizationObject = Kustomization & KubeObject;

export function createKustomizationReconciler(deps: KustomizationReconcilerDeps = {}): Reconciler<KustomizationObject> {
  const requeueDependencyMs = deps.requeueDependencyMs ?? 30_000;
  const fetchArtifact = deps.fetchArtifact ?? defaultFetchArtifact;
  const buildFn: BuildFunction = deps.build ?? buildKustomization;
  const impersonate = async (client: KubeClient, namespace: string, sa: string): Promise<KubeClient> =>
    deps.impersonate ? deps.impersonate(client, serviceAccountUser(namespace, sa)) : client.impersonate({ user: serviceAccountUser(namespace, sa) });

  async function reconcile(obj: Kustomization, ctx: ReconcileContext): Promise<ReconcileOutcome> {
    const started = Date.now();
    const gen = obj.metadata.generation;
    let status: KustomizationStatus = structuredClone(obj.status ?? {});
    const owner: Owner = { name: obj.metadata.name, namespace: obj.metadata.namespace };
    const log = ctx.log.with({ kustomization: `${owner.namespace}/${owner.name}` });
    const set = (type: string, s: 'True' | 'False' | 'Unknown', reason: string, message: string) => mark(status, obj, type, s, reason, message, ctx.now());

    const event = (severity: 'info' | 'error', message: string, revision?: string, originRevision?: string, extra?: Record<string, string>) => {
      const annotations: Record<string, string> = { ...extra };
      if (revision) annotations[EventAnnotations.revision] = revision;
      if (originRevision) annotations[EventAnnotations.originRevision] = originRevision;
      ctx.event({
        type: severity === 'error' ? 'Warning' : 'Normal',
        reason: findCondition(status.conditions, ConditionTypes.Ready)?.reason || severity,
        message,
        ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
      });
    };

    const finish = (outcome: Omit<ReconcileOutcome, 'status'>): ReconcileOutcome => {
      status = finalizeStatus(obj, status);
      if (!obj.spec.suspend && isTrue(status.conditions, ConditionTypes.Ready)) {
        const msg = `Reconciliation finished in ${elapsed(Date.now() - started)}, next run in ${formatDuration(intervalMs(obj))}`;
        log.info(msg, { revision: status.lastAttemptedRevision });
        event('info', msg, status.lastAppliedRevision, status.lastAppliedOriginRevision, { [EventAnnotations.commitStatus]: 'update' });
      }
      return { status: status as Record<string, unknown>, ...outcome };
    };
    const patch = () => ctx.patchStatus(status as Record<string, unknown>);

    // Deletion: garbage-collect per the deletion policy, then let the object go.
    if (obj.metadata.deletionTimestamp) {
      return finalize(obj, status, ctx, log, event);
    }
    // Durations the CRD's pattern should have caught (a hostile or older CRD may not).
    const invalid = durationError(obj);
    if (invalid) {
      set(ConditionTypes.Ready, 'False', 'InvalidDuration', invalid);
      set(ConditionTypes.Stalled, 'True', 'InvalidDuration', invalid);
      event('error', invalid);
      status = finalizeStatus(obj, status);
      return { status: status as Record<string, unknown> };
    }
    if (!(obj.metadata.finalizers ?? []).includes(Finalizer)) {
      // As Flux: the finalizer first, in its own write, then the real work on the requeue (the
      // finalizer's write does not change the generation, so nothing else would enqueue it).
      return finish({ finalizer: 'add', requeueAfterMs: 1 });
    }
    if (obj.spec.suspend) {
      log.info('Reconciliation is suspended for this object');
      return finish({});
    }

    // What lading does not do: say so and stop until the spec changes.
    const unsupported = obj.spec.decryption
      ? { reason: 'DecryptionNotSupported', message: `${TerminalErrorMessage}: spec.decryption (SOPS) is not supported by lading; decrypt Secrets before publishing or use Flux's kustomize-controller` }
      : (obj.spec.healthCheckExprs?.length ?? 0) > 0
        ? { reason: Reasons.InvalidCELExpression, message: `${TerminalErrorMessage}: spec.healthCheckExprs (CEL) is not supported by lading` }
        : obj.spec.dependsOn?.some((d) => d.readyExpr)
          ? { reason: Reasons.InvalidCELExpression, message: `${TerminalErrorMessage}: spec.dependsOn[].readyExpr (CEL) is not supported by lading` }
          : obj.spec.kubeConfig
            ? { reason: 'KubeConfigNotSupported', message: `${TerminalErrorMessage}: spec.kubeConfig (remote clusters) is not supported by lading` }
            : (obj.spec.ignore?.length ?? 0) > 0
              ? { reason: 'DriftIgnoreNotSupported', message: `${TerminalErrorMessage}: spec.ignore (drift ignore rules) is not supported by lading; the fields would be overwritten` }
              : undefined;
    if (unsupported) {
      set(ConditionTypes.Ready, 'False', unsupported.reason, unsupported.message);
      set(ConditionTypes.Stalled, 'True', unsupported.reason, unsupported.message);
      if (gen !== undefined) status.observedGeneration = gen;
      event('error', unsupported.message);
      return finish({});
    }

    // The source.
    const ref = obj.spec.sourceRef;
    const srcNamespace = ref.namespace || obj.metadata.namespace;
    const srcName = `${srcNamespace}/${ref.name}`;
    const denied =
      deps.noCrossNamespaceRefs && srcNamespace !== obj.metadata.namespace
        ? `can't access '${ref.kind}/${srcName}', cross-namespace references have been blocked`
        : ref.kind === 'ExternalArtifact'
          ? `can't access '${ref.kind}/${srcName}', ExternalArtifact feature gate is disabled`
          : !sourceKinds[ref.kind]
            ? `source \`${ref.name}\` kind '${ref.kind}' not supported`
            : undefined;
    if (denied) {
      set(ConditionTypes.Ready, 'False', Reasons.AccessDenied, denied);
      set(ConditionTypes.Stalled, 'True', Reasons.AccessDenied, denied);
      event('error', denied);
      return finish({});
    }
    const kindInfo = sourceKinds[ref.kind] as KindInfo;
    const source = ctx.cache.get<KubeObject>(kindInfo, { namespace: srcNamespace, name: ref.name }) as unknown as SourceObject | undefined;
    if (!source) {
      set(ConditionTypes.Ready, 'False', Reasons.ArtifactFailed, `${kindInfo.plural}.${kindInfo.group} "${ref.name}" not found`);
      log.info(`Source '${ref.kind}/${srcName}' not found`);
      return finish({ requeueAfterMs: retryIntervalMs(obj) });
    }
    const artifact = source.status?.artifact;
    if (!artifact) {
      const msg = `Source artifact not found, retrying in ${formatDuration(requeueDependencyMs)}`;
      set(ConditionTypes.Ready, 'False', Reasons.ArtifactFailed, msg);
      log.info(msg);
      return finish({ requeueAfterMs: requeueDependencyMs });
    }
    const revision = artifact.revision;
    const originRevision = artifact.metadata?.[OriginRevisionKey] ?? '';

    // Dependencies, read from the API server (not the cache), as Flux does.
    if ((obj.spec.dependsOn?.length ?? 0) > 0) {
      const notReady = await checkDependencies(obj, artifact, ctx);
      if (notReady) {
        set(ConditionTypes.Ready, 'False', Reasons.DependencyNotReady, notReady);
        const msg = `Dependencies do not meet ready condition, retrying in ${formatDuration(requeueDependencyMs)}`;
        log.info(msg);
        event('info', msg, revision, originRevision);
        return finish({ requeueAfterMs: requeueDependencyMs });
      }
      log.info('All dependencies are ready, proceeding with reconciliation');
    }

    const result = await reconcileRevision(obj, artifact, originRevision, ctx, { get: () => status, set, patch, event, log });
    if (result === 'artifact-not-found') {
      const msg = `Source is not ready, artifact not found, retrying in ${formatDuration(requeueDependencyMs)}`;
      set(ConditionTypes.Ready, 'False', Reasons.ArtifactFailed, msg);
      log.info(msg);
      return finish({ requeueAfterMs: requeueDependencyMs });
    }
    if (result instanceof Error) {
      log.error(`Reconciliation failed after ${elapsed(Date.now() - started)}, next try in ${formatDuration(retryIntervalMs(obj))}`, { revision, error: result.message });
      event('error', result.message, revision, originRevision);
      return finish({ requeueAfterMs: retryIntervalMs(obj) });
    }
    // An interval of 0 asks for no periodic reconcile (controller-runtime's RequeueAfter: 0).
    const interval = intervalMs(obj);
    return finish(interval > 0 ? { requeueAfterMs: jitter(interval, deps.jitterPercent ?? 5) } : {});
  }

  interface StatusOps {
    get(): KustomizationStatus;
    set(type: string, s: 'True' | 'False' | 'Unknown', reason: string, message: string): void;
    patch(): Promise<void>;
    event(severity: 'info' | 'error', message: string, revision?: string, originRevision?: string): void;
    log: ReconcileContext['log'];
  }

  /** reconcile(): one revision through fetch, build, apply, prune and health. Error = failed (reasons set). */
  async function reconcileRevision(obj: Kustomization, artifact: Artifact, originRevision: string, ctx: ReconcileContext, s: StatusOps): Promise<'ok' | 'artifact-not-found' | Error> {
    const started = Date.now();
    const revision = artifact.revision;
    const timeout = formatDuration(timeoutMs(obj));
    const status = s.get();
    s.set(ConditionTypes.Ready, 'Unknown', Reasons.Progressing, 'Reconciliation in progress');
    s.set(ConditionTypes.Reconciling, 'True', Reasons.Progressing, `Fetching manifests for revision ${revision} with a timeout of ${timeout}`);
    await s.patch();
    const oldEntries: InventoryEntry[] = status.inventory?.entries ?? [];

    const work = await mkdtemp(join(deps.tmpDir ?? tmpdir(), 'kustomization-'));
    try {
      const root = join(work, 'source');
      try {
        await fetchArtifact({
          url: artifact.url,
          digest: artifact.digest,
          dir: root,
          retries: deps.httpRetry ?? 9,
          ...(deps.sourceHost ?? process.env['SOURCE_CONTROLLER_LOCALHOST'] ? { hostOverride: (deps.sourceHost ?? process.env['SOURCE_CONTROLLER_LOCALHOST']) as string } : {}),
          ...(deps.maxDownloadBytes !== undefined ? { maxDownloadBytes: deps.maxDownloadBytes } : {}),
          ...(deps.maxExtractBytes !== undefined ? { maxExtractBytes: deps.maxExtractBytes } : {}),
          signal: ctx.signal,
        });
      } catch (err) {
        if (err instanceof ArtifactFetchError && err.code === 'ARTIFACT_NOT_FOUND') return 'artifact-not-found';
        const e = new Error(describeError(err), { cause: err });
        s.set(ConditionTypes.Ready, 'False', Reasons.ArtifactFailed, e.message);
        return e;
      }
      let dirPath: string;
      try {
        dirPath = await resolvePath(root, obj.spec.path);
      } catch (err) {
        const e = asError(err);
        s.set(ConditionTypes.Ready, 'False', Reasons.ArtifactFailed, e.message);
        return e;
      }
      status.lastAttemptedRevision = revision;
      s.set(ConditionTypes.Reconciling, 'True', Reasons.Progressing, `Building manifests for revision ${revision} with a timeout of ${timeout}`);
      await s.patch();

      // The client the objects are applied with: impersonating the service account, if any.
      let client = ctx.client;
      const sa = obj.spec.serviceAccountName || deps.defaultServiceAccount;
      if (sa) {
        try {
          client = await impersonate(ctx.client, obj.metadata.namespace, sa);
        } catch (err) {
          const e = new Error(`failed to build kube client: ${describeError(err)}`, { cause: err });
          s.set(ConditionTypes.Ready, 'False', Reasons.ReconciliationFailed, e.message);
          return e;
        }
      }

      let built: { objects: KubeObject[]; checksum: string };
      try {
        const rel = relative(await realpath(root), dirPath);
        // substituteFrom is read with the controller's own client, as Flux does.
        built = await buildFn({ dir: root, path: rel === '' ? '.' : rel, spec: obj.spec, client: ctx.client, namespace: obj.metadata.namespace, name: obj.metadata.name, signal: ctx.signal });
      } catch (err) {
        const e = new Error(describeError(err).replaceAll(work, ''), { cause: err });
        s.set(ConditionTypes.Ready, 'False', Reasons.BuildFailed, e.message);
        return e;
      }
      const historyMeta: Record<string, string> = { revision, ...(originRevision ? { originRevision } : {}) };
      const history = (reason: string) => {
        s.get().history = upsertHistory(s.get().history, { digest: built.checksum, now: ctx.now(), durationMs: Date.now() - started, status: reason, metadata: historyMeta });
      };

      s.set(ConditionTypes.Reconciling, 'True', Reasons.Progressing, `Detecting drift for revision ${revision} with a timeout of ${timeout}`);
      await s.patch();

      // Apply and prune. The engine widens status.inventory to old ∪ new before anything is
      // applied and narrows it after, so that a crash never loses track of an object.
      const ownerRef = { name: obj.metadata.name, namespace: obj.metadata.namespace };
      const emitApplyLog = (changes: ChangeEntry[]) => {
        const lines = changes.filter((c) => c.action === 'created' || c.action === 'configured').map(changeLine);
        if (lines.length > 0) {
          s.log.info('server-side apply completed', { revision, changes: lines.length });
          s.event('info', lines.join('\n'), revision, originRevision);
        }
        return lines.length > 0;
      };
      let outcome: ApplyOutcome;
      try {
        const previous = fromEntries(oldEntries);
        outcome = await applyObjects({
          client,
          owner: ownerRef,
          objects: built.objects,
          store: {
            read: () => previous,
            write: async (entries, stage) => {
              s.get().inventory = { entries: entries.map(toEntry) };
              // The final entries are written with the status at the end of the reconcile.
              if (stage !== 'complete') await s.patch();
            },
          },
          prune: obj.spec.prune,
          force: obj.spec.force ?? false,
          timeoutMs: timeoutMs(obj),
          signal: ctx.signal,
        });
      } catch (err) {
        const step = err instanceof ApplyStepError ? err.step : 'apply';
        const done = err instanceof ApplyStepError ? err.changes : [];
        if (step === 'prune') {
          emitApplyLog(done.filter((c) => c.action !== 'deleted' && c.action !== 'skipped'));
          const e = new Error(describeError(err), { cause: err });
          history(Reasons.PruneFailed);
          s.set(ConditionTypes.Ready, 'False', Reasons.PruneFailed, e.message);
          return e;
        }
        const partial = done.filter((c) => c.action === 'created' || c.action === 'configured').map(changeLine);
        const e = new Error([describeError(err), ...partial].join('\n'), { cause: err });
        history(Reasons.ReconciliationFailed);
        s.set(ConditionTypes.Ready, 'False', Reasons.ReconciliationFailed, e.message);
        return e;
      }
      const drifted = emitApplyLog(outcome.applied);
      s.get().inventory = { entries: outcome.entries.map(toEntry) };
      if (outcome.pruned.length > 0) {
        const msg = outcome.pruned.map(changeLine).join('\n');
        s.log.info(`garbage collection completed: ${msg}`);
        s.event('info', msg, revision, originRevision);
      }
      const changes = outcome.applied;

      // Health.
      const healthError = await runHealthChecks(obj, client, changes, revision, originRevision, drifted, ctx, s);
      if (healthError) {
        history(Reasons.HealthCheckFailed);
        return healthError;
      }

      s.get().lastAppliedRevision = revision;
      if (originRevision) s.get().lastAppliedOriginRevision = originRevision;
      else delete s.get().lastAppliedOriginRevision;
      s.set(ConditionTypes.Ready, 'True', Reasons.ReconciliationSucceeded, `Applied revision: ${revision}`);
      history(Reasons.ReconciliationSucceeded);
      return 'ok';
    } finally {
      await rm(work, { recursive: true, force: true }).catch((err: unknown) => s.log.error('failed to remove tmp dir', { path: work, error: describeError(err) }));
    }
  }

  async function runHealthChecks(
    obj: Kustomization,
    client: KubeClient,
    changes: ChangeEntry[],
    revision: string,
    originRevision: string,
    drifted: boolean,
    ctx: ReconcileContext,
    s: StatusOps,
  ): Promise<Error | undefined> {
    const status = s.get();
    const none = () => {
      status.conditions = removeCondition(status.conditions, ConditionTypes.Healthy);
      return undefined;
    };
    if (!obj.spec.wait && (obj.spec.healthChecks?.length ?? 0) === 0) return none();
    let refs = obj.spec.wait ? changes.filter((c) => c.action !== 'skipped').map((c) => c.ref) : healthRefs(obj.spec);
    if (refs.length === 0) return none();
    refs = refs.filter((r) => !(r.kind === 'Kustomization' && r.group === KustomizeGroup && r.name === obj.metadata.name && r.namespace === obj.metadata.namespace));
    const wasHealthy = isTrue(status.conditions, ConditionTypes.Healthy);
    const isNewRevision = status.lastAppliedRevision !== revision;
    const timeout = timeoutMs(obj);
    const message = `Running health checks for revision ${revision} with a timeout of ${formatDuration(timeout)}`;
    s.set(ConditionTypes.Reconciling, 'True', Reasons.Progressing, message);
    s.set(ConditionTypes.Healthy, 'Unknown', Reasons.Progressing, message);
    await s.patch();
    const started = Date.now();
    try {
      await checkHealth(client, refs, { timeoutMs: timeout, readyWhenGone: jobsWithTtl(changes), signal: ctx.signal });
    } catch (err) {
      const reason = describeError(err);
      s.set(ConditionTypes.Ready, 'False', Reasons.HealthCheckFailed, reason);
      s.set(ConditionTypes.Healthy, 'False', Reasons.HealthCheckFailed, reason);
      return new Error(`health check failed after ${elapsed(Date.now() - started)}: ${reason}`, { cause: err });
    }
    const msg = `Health check passed in ${elapsed(Date.now() - started)}`;
    if (!wasHealthy || (isNewRevision && drifted)) s.event('info', msg, revision, originRevision);
    s.set(ConditionTypes.Healthy, 'True', Reasons.Succeeded, msg);
    await s.patch();
    return undefined;
  }

  /** A reason a dependency is not ready, or undefined when all are. */
  async function checkDependencies(obj: Kustomization, artifact: Artifact, ctx: ReconcileContext): Promise<string | undefined> {
    const info = Kinds.Kustomization;
    for (const d of obj.spec.dependsOn ?? []) {
      const ns = d.namespace || obj.metadata.namespace;
      const name = `${ns}/${d.name}`;
      let dep: Kustomization;
      try {
        dep = await ctx.client.request<Kustomization>({
          path: `/apis/${info.group}/${info.version}/namespaces/${encodeURIComponent(ns)}/${info.plural}/${encodeURIComponent(d.name)}`,
          what: `reading dependency ${name}`,
          signal: ctx.signal,
        });
      } catch (err) {
        return `dependency '${name}' not found: ${err instanceof KubeError && err.code === 'NOT_FOUND' ? `${info.plural}.${info.group} "${d.name}" not found` : describeError(err)}`;
      }
      const conditions = dep.status?.conditions ?? [];
      if (conditions.length === 0 || dep.metadata.generation !== dep.status?.observedGeneration) return `dependency '${name}' is not ready`;
      if (!isTrue(conditions, ConditionTypes.Ready)) return `dependency '${name}' is not ready`;
      const depSrcNs = dep.spec.sourceRef.namespace || dep.metadata.namespace;
      const ownSrcNs = obj.spec.sourceRef.namespace || obj.metadata.namespace;
      if (dep.spec.sourceRef.name === obj.spec.sourceRef.name && depSrcNs === ownSrcNs && dep.spec.sourceRef.kind === obj.spec.sourceRef.kind && dep.status?.lastAppliedRevision !== artifact.revision) {
        return `dependency '${name}' revision is not up to date`;
      }
    }
    return undefined;
  }

  /** finalize(): delete what the Kustomization owns when its policy says so, then drop the finalizer. */
  async function finalize(
    obj: Kustomization,
    status: KustomizationStatus,
    ctx: ReconcileContext,
    log: ReconcileContext['log'],
    event: (severity: 'info' | 'error', message: string, revision?: string, originRevision?: string) => void,
  ): Promise<ReconcileOutcome> {
    const policy = deletionPolicy(obj);
    const entries = status.inventory?.entries ?? [];
    const shouldDelete = !obj.spec.suspend && entries.length > 0 && (policy === 'Delete' || policy === 'WaitForTermination' || (policy === 'MirrorPrune' && obj.spec.prune));
    const rev = status.lastAppliedRevision;
    const origin = status.lastAppliedOriginRevision;
    if (shouldDelete) {
      const refs: ObjectRef[] = [];
      for (const e of entries) {
        try {
          refs.push(...fromEntries([e]));
        } catch (err) {
          log.error('skipping an unreadable inventory entry', { entry: e.id, error: describeError(err) });
        }
      }
      const sa = obj.spec.serviceAccountName || deps.defaultServiceAccount;
      if (sa && !(await serviceAccountExists(ctx, obj.metadata.namespace, sa))) {
        // The account to act as is gone: nothing can be deleted in its name; let the object go.
        const msg = `unable to prune objects: \n${refs.map((r) => `${r.kind}/${r.namespace ? `${r.namespace}/` : ''}${r.name}`).join('\n')}`;
        log.error('skipping pruning, failed to find account to impersonate', { serviceAccount: sa });
        event('error', msg, rev, origin);
        return { finalizer: 'remove' };
      }
      const client = sa ? await impersonate(ctx.client, obj.metadata.namespace, sa) : ctx.client;
      let changes: ChangeEntry[];
      try {
        changes = await deleteObjects({ client, owner: { name: obj.metadata.name, namespace: obj.metadata.namespace }, refs, signal: ctx.signal });
      } catch (err) {
        event('error', 'pruning for deleted resource failed', rev, origin);
        return { error: err instanceof Error ? err : new Error(String(err)) };
      }
      if (changes.length > 0) {
        event('info', changes.map(changeLine).join('\n'), rev, origin);
        if (policy === 'WaitForTermination') {
          const deleted = changes.filter((c) => c.action === 'deleted').map((c) => c.ref);
          try {
            await waitForTermination(client, deleted, { timeoutMs: timeoutMs(obj), signal: ctx.signal });
          } catch (err) {
            const msg = 'failed to wait for resources termination';
            log.error(msg, { error: describeError(err) });
            event('error', msg, rev, origin);
          }
        }
      }
    }
    return { finalizer: 'remove' };
  }

  return {
    name: 'kustomization',
    kind: Kinds.Kustomization,
    statusManager: FieldManagers.kustomizeStatus,
    reconcile,
    watches: [
      { kind: Kinds.OCIRepository, map: kustomizationsOf('OCIRepository') },
      { kind: Kinds.GitRepository, map: kustomizationsOf('GitRepository') },
      { kind: Kinds.Bucket, map: kustomizationsOf('Bucket') },
    ],
  };
}

/** Jobs the TTL controller deletes once finished: gone counts as healthy (ssautil.ExtractJobsWithTTL). */
function jobsWithTtl(changes: readonly ChangeEntry[]): ObjectRef[] {
  return changes.filter((c) => c.ttlJob).map((c) => c.ref);
}

/** The first spec duration that does not parse, as a message; undefined when all do. */
function durationError(k: Kustomization): string | undefined {
  try {
    intervalMs(k);
    retryIntervalMs(k);
    timeoutMs(k);
    return undefined;
  } catch (err) {
    return `${TerminalErrorMessage}: ${describeError(err)}`;
  }
}

async function serviceAccountExists(ctx: ReconcileContext, namespace: string, name: string): Promise<boolean> {
  try {
    await ctx.client.request({ path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/serviceaccounts/${encodeURIComponent(name)}`, what: `reading service account ${namespace}/${name}`, signal: ctx.signal });
    return true;
  } catch (err) {
    if (err instanceof KubeError && err.code === 'NOT_FOUND') return false;
    throw err;
  }
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

export { resolvePath as resolveArtifactPath };
