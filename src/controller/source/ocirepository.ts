// The OCIRepository reconciler, following source-controller's (internal/controller/
// ocirepository_controller.go, v1.9): storage checks, then the source (credentials, reference
// resolution, revision, signature verification before any content is fetched, pull strictly by
// digest), then the artifact (archive or copy into storage, latest link), with Flux's conditions,
// reasons, messages and events. Everything it must remember lives in the object's status and in
// artifact storage.
import { mkdtemp, rm, writeFile, chmod, mkdir } from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import semver from 'semver';
import { extractToDirectory, Annotations } from '../../artifact/index.js';
import type { KubeObject } from '../../kube/index.js';
import {
  fetchManifest,
  isDigest,
  openRepository,
  parseReference,
  StaticCredentials,
  type Credential,
  type ImageManifest,
  type Reference,
  type RegistryOptions,
  type RemoteRepository,
} from '../../oci/index.js';
import { parsePublicKey, verify } from '../../sign/index.js';
import { Finalizer, FieldManagers, Kinds, ReconcileAnnotations, type Artifact, type OCILayerSelector, type OCIRepository, type OCIRepositoryStatus } from '../api.js';
import { ConditionTypes as C, Reasons, findCondition, isFalse, removeCondition, setCondition, summarizeReady, type Condition } from '../runtime/conditions.js';
import { formatDuration, jitter, parseDuration } from '../runtime/duration.js';
import type { EventSpec, ReconcileContext, ReconcileOutcome, Reconciler } from '../runtime/types.js';
import { AuthError, SecretValues, cosignKeysFromSecret, credentialFromPullSecrets, proxyFromSecret, pullSecrets, tlsFromSecret, type TlsMaterial } from './auth.js';
import type { ArtifactStorage } from './storage.js';

/**
 * Token exchange of a cloud provider (`spec.provider: aws|azure|gcp`): registry credentials for
 * `registryHost`. The implementation lives in src/oci/cloud (another part of the work); until it is
 * wired in, a provider other than `generic` fails with AuthenticationFailed saying so.
 */
export type CloudCredentialsFn = (provider: 'aws' | 'azure' | 'gcp', registryHost: string, opts: { signal?: AbortSignal; proxy?: string; env?: NodeJS.ProcessEnv }) => Promise<Credential>;

export interface OCIRepositoryReconcilerDeps {
  storage: ArtifactStorage;
  /** Token exchange for `provider: aws|azure|gcp` (see CloudCredentialsFn). */
  cloudCredentials?: CloudCredentialsFn;
  /** Most bytes of uncompressed content an artifact may hold (default 1 GiB; Flux has no limit). */
  maxBytes?: number;
  /** Most archive entries (default 100 000). */
  maxEntries?: number;
  /** Where working directories are made (default os.tmpdir()). */
  workDir?: string;
  /** Environment for proxy variables (HTTPS_PROXY, NO_PROXY) when no proxySecretRef is set; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** `--interval-jitter-percentage`: ± this much random jitter on the requeue after success (default 5). */
  jitterPercent?: number;
  /** Extra registry options (idle timeout, retries, user agent); TLS, credentials and proxy come from the object. */
  registry?: Pick<RegistryOptions, 'idleTimeoutMs' | 'retries' | 'retryBaseMs' | 'userAgent'>;
}

const DefaultTimeoutMs = 60_000;
const DefaultMaxBytes = 1024 * 1024 * 1024;
const DefaultMaxEntries = 100_000;

/** Ready is summarised from these, in this order (ociRepositoryReadyCondition). */
const summaryOrder = [C.StorageOperationFailed, C.FetchFailed, C.ArtifactOutdated, C.ArtifactInStorage, C.SourceVerified, C.Stalled, C.Reconciling];
const negativePolarity = [C.StorageOperationFailed, C.FetchFailed, C.ArtifactOutdated, C.Stalled, C.Reconciling];
/** A reconcile that clears these after they were set is a recovery (Succeeded event). */
const failConditions = [C.FetchFailed, C.StorageOperationFailed];

const GroupPrefix = 'source.toolkit.fluxcd.io';

/** A failure of one step: the condition it sets is already marked; `stalling` stops retries. */
class StepError extends Error {
  constructor(
    readonly reason: string,
    message: string,
    readonly stalling = false,
  ) {
    super(message);
  }
}

type OCIRepositoryObject = OCIRepository & KubeObject;

/** The working state of one reconcile: the status being built and what to say about it. */
class Work {
  conditions: Condition[];
  status: OCIRepositoryStatus;
  readonly events: EventSpec[] = [];

  constructor(
    readonly obj: OCIRepository,
    readonly ctx: ReconcileContext,
    readonly hidden: SecretValues,
  ) {
    this.status = structuredClone(obj.status ?? {});
    this.conditions = [...(this.status.conditions ?? [])];
  }

  get generation(): number {
    return this.obj.metadata.generation ?? 0;
  }

  mark(type: string, status: Condition['status'], reason: string, message: string): void {
    this.conditions = setCondition(this.conditions, { type, status, reason, message: this.hidden.scrub(message), observedGeneration: this.generation }, this.ctx.now());
  }

  del(type: string): void {
    this.conditions = removeCondition(this.conditions, type);
  }

  /** Reconciling=True; Ready=Unknown when `drift` or Ready is missing or Unknown (ProgressiveStatus). */
  progressing(drift: boolean, message: string): void {
    this.mark(C.Reconciling, 'True', Reasons.Progressing, message);
    const ready = findCondition(this.conditions, C.Ready);
    if (drift || !ready || ready.status === 'Unknown') this.mark(C.Ready, 'Unknown', Reasons.Progressing, message);
  }

  snapshot(): Record<string, unknown> {
    return toStatusObject({ ...this.status, conditions: this.conditions });
  }

  /** Writes the status now (best effort, as Flux's intermediate patches). */
  async persist(): Promise<void> {
    try {
      await this.ctx.patchStatus(this.snapshot());
    } catch (err) {
      this.ctx.log.error('failed to patch status', { error: this.hidden.scrub((err as Error).message) });
    }
  }

  fail(type: string, reason: string, message: string, stalling = false): StepError {
    const text = this.hidden.scrub(message);
    this.mark(type, 'True', reason, text);
    return new StepError(reason, text, stalling);
  }
}

function toStatusObject(status: OCIRepositoryStatus): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(status)) if (v !== undefined) out[k] = v;
  return out;
}

function layerSelectorEqual(a: OCILayerSelector | undefined, b: OCILayerSelector | undefined): boolean {
  if ((a === undefined) !== (b === undefined)) return false;
  if (a === undefined || b === undefined) return true;
  return (a.mediaType ?? '') === (b.mediaType ?? '') && (a.operation ?? '') === (b.operation ?? '');
}

/** Whether `ignore` or `layerSelector` changed since the stored artifact was made (ociContentConfigChanged). */
function contentConfigChanged(obj: OCIRepository, status: OCIRepositoryStatus): boolean {
  return obj.spec.ignore !== status.observedIgnore || !layerSelectorEqual(obj.spec.layerSelector, status.observedLayerSelector);
}

function digestFromRevision(revision: string): string {
  const parts = revision.split('@');
  return parts[parts.length - 1] ?? revision;
}

/** Validates `spec.url` (parseRepository): the `oci://` prefix, a repository, no tag or digest. */
function parseRepositoryURL(url: string): Reference {
  if (!url.startsWith('oci://')) throw new Error("URL must be in format 'oci://<domain>/<org>/<repo>'");
  const ref = parseReference(url);
  if (ref.tag !== undefined) throw new Error(`URL must not contain a tag; remove ':${ref.tag}'`);
  if (ref.digest !== undefined) throw new Error(`URL must not contain a digest; remove '@${ref.digest}' and set spec.ref.digest`);
  return ref;
}

/** A tag as Flux's version.ParseVersion reads it: three dot-separated parts, an optional `v`. */
function parseTagVersion(tag: string): semver.SemVer | undefined {
  if (tag.split('.').length < 3) return undefined;
  return semver.parse(tag.replace(/^v/, '')) ?? undefined;
}

/**
 * The highest tag matching a Masterminds-style constraint. Commas (AND in Masterminds) become
 * spaces for node-semver; `||`, ranges, `x`, `~` and `^` mean the same in both; pre-releases match
 * only when the constraint names one, as in both.
 */
function pickSemverTag(tags: readonly string[], constraint: string, filter: string | undefined): string {
  let candidates = [...tags];
  if (filter) {
    let re: RegExp;
    try {
      re = new RegExp(filter);
    } catch (err) {
      throw new Error(`invalid semverFilter '${filter}': ${(err as Error).message}`);
    }
    candidates = candidates.filter((t) => re.test(t));
  }
  const range = semver.validRange(constraint.replace(/,/g, ' '));
  if (range === null) throw new Error(`semver '${constraint}' parse error: improper constraint`);
  // Masterminds lets a constraint that names a pre-release match pre-releases of any version;
  // node-semver only of the same major.minor.patch unless asked.
  const includePrerelease = /\d-[0-9A-Za-z]/.test(constraint);
  const matching = candidates
    .map((tag) => ({ tag, version: parseTagVersion(tag) }))
    .filter((c): c is { tag: string; version: semver.SemVer } => c.version !== undefined && semver.satisfies(c.version, range, { includePrerelease }));
  if (matching.length === 0) throw new Error(`no match found for semver: ${constraint}`);
  matching.sort((a, b) => semver.rcompare(a.version, b.version));
  return matching[0]!.tag;
}

/** The library's command-line hints, said the way an OCIRepository is configured. */
const controllerHints: Array<[RegExp, string]> = [
  [/ \(raise (?:it|the limit) with --max-size\)/g, ''],
  [/ \(raise the limit with --timeout\)/g, ''],
  [/ \(the limit on the whole operation: timeoutMs, --timeout\)/g, ' (spec.timeout)'],
  [/\(use --ca-file to trust its CA, or --insecure to skip verification\)/g, '(set spec.certSecretRef with its CA certificate)'],
  [/; run `lading login(?: [^`]*)?`/g, '; set spec.secretRef to a kubernetes.io/dockerconfigjson Secret'],
];

function describe(err: unknown): string {
  let message = (err as Error | undefined)?.message ?? String(err);
  for (const [pattern, replacement] of controllerHints) message = message.replace(pattern, replacement);
  return message;
}

/** Creates the OCIRepository reconciler. */
export function createOCIRepositoryReconciler(deps: OCIRepositoryReconcilerDeps): Reconciler<OCIRepositoryObject> {
  const storage = deps.storage;

  async function reconcileDelete(obj: OCIRepository, ctx: ReconcileContext): Promise<ReconcileOutcome> {
    try {
      if (await storage.remove(Kinds.OCIRepository.kind, obj.metadata.namespace, obj.metadata.name)) {
        ctx.log.info('garbage collected artifacts for deleted resource');
      }
    } catch (err) {
      return { error: new Error(`garbage collection for deleted resource failed: ${describe(err)}`) };
    }
    return { finalizer: 'remove' };
  }

  async function reconcileStorage(w: Work): Promise<void> {
    let artifact = w.status.artifact;
    // A status naming a file outside this object's directory (written by someone else) is not
    // ours to collect or verify: treated as missing, and rebuilt.
    const ownDir = `${storage.artifactDir(Kinds.OCIRepository.kind, w.obj.metadata.namespace, w.obj.metadata.name)}/`;
    if (artifact && (typeof artifact.path !== 'string' || !artifact.path.startsWith(ownDir) || artifact.path.slice(ownDir.length).includes('/'))) {
      w.ctx.log.info('the artifact in status is not in this object\'s storage directory; rebuilding', { path: String(artifact.path) });
      delete w.status.artifact;
      delete w.status.url;
      artifact = undefined;
    }
    if (artifact) {
      try {
        const removed = await storage.gc(artifact);
        if (removed.length > 0) w.ctx.log.debug(`garbage collected ${removed.length} artifacts`);
      } catch (err) {
        w.ctx.log.error('garbage collection of artifacts failed', { error: describe(err) });
      }
    }
    let missing = false;
    if (artifact) {
      if (!(await storage.exists(artifact))) {
        missing = true;
      } else {
        try {
          await storage.verify(artifact);
        } catch (err) {
          w.events.push({ type: 'Warning', reason: 'ArtifactVerificationFailed', message: `failed to verify integrity of artifact: ${describe(err)}` });
          try {
            await storage.removeFile(artifact);
          } catch (rmErr) {
            throw new StepError(Reasons.Failed, `failed to remove artifact after digest mismatch: ${describe(rmErr)}`);
          }
          missing = true;
        }
      }
      if (missing) {
        delete w.status.artifact;
        delete w.status.url;
      }
    }
    if (!w.status.artifact) {
      w.progressing(true, missing ? 'building artifact: disappeared from storage' : 'building artifact');
      w.del(C.ArtifactInStorage);
      await w.persist();
      return;
    }
    w.status.artifact = { ...w.status.artifact, url: storage.urlFor(w.status.artifact.path) };
    if (w.status.url) w.status.url = storage.setHostname(w.status.url);
  }

  /** What reconcileSource hands to reconcileArtifact. */
  interface Fetched {
    revision: string;
    /** The directory with the content, or the copied layer file; absent when the pull was skipped. */
    dir?: string;
    copiedLayer?: string;
    metadata?: Record<string, string>;
  }

  async function registryOptionsFor(w: Work, signal: AbortSignal, registryHost: string, workDir: string): Promise<RegistryOptions> {
    const { obj, ctx, hidden } = w;
    const ns = obj.metadata.namespace;
    let credential: Credential | undefined;
    try {
      const secrets = await pullSecrets(ctx.client, ns, obj.spec.secretRef?.name, obj.spec.serviceAccountName, signal, hidden);
      credential = credentialFromPullSecrets(secrets, registryHost, hidden);
      if (obj.spec.secretRef && secrets.length > 0 && credential === undefined) {
        ctx.log.debug('no credentials for the registry host in the pull secrets; pulling anonymously', { registry: registryHost });
      }
    } catch (err) {
      if (err instanceof AuthError && /not found$/.test(err.message) && obj.spec.secretRef) {
        w.events.push({ type: 'Normal', reason: Reasons.AuthenticationFailed, message: `auth secret '${obj.spec.secretRef.name}' not found`, trace: true });
      }
      throw w.fail(C.FetchFailed, Reasons.AuthenticationFailed, `failed to get credential: ${describe(err)}`);
    }
    let proxy: string | undefined;
    if (obj.spec.proxySecretRef) {
      try {
        proxy = await proxyFromSecret(ctx.client, ns, obj.spec.proxySecretRef.name, signal, hidden);
      } catch (err) {
        throw w.fail(C.FetchFailed, Reasons.AuthenticationFailed, `failed to get proxy address: ${describe(err)}`);
      }
    }
    const provider = obj.spec.provider ?? 'generic';
    if (provider !== 'generic' && credential === undefined) {
      if (obj.spec.serviceAccountName) {
        throw w.fail(
          C.Stalled,
          Reasons.FeatureGateDisabled,
          'to use spec.serviceAccountName for provider authentication please enable the ObjectLevelWorkloadIdentity feature gate in the controller',
          true,
        );
      }
      if (!deps.cloudCredentials) {
        throw w.fail(C.FetchFailed, Reasons.AuthenticationFailed, `failed to get credential from ${provider}: the ${provider} token exchange is not available in this build of lading`);
      }
      try {
        credential = await deps.cloudCredentials(provider, registryHost, { signal, ...(proxy ? { proxy } : {}), ...(deps.env ? { env: deps.env } : {}) });
        hidden.add(credential.password);
        hidden.add(credential.identityToken);
        hidden.add(credential.registryToken);
      } catch (err) {
        throw w.fail(C.FetchFailed, Reasons.AuthenticationFailed, `failed to get credential from ${provider}: ${describe(err)}`);
      }
    }
    let tls: TlsMaterial | undefined;
    if (obj.spec.certSecretRef?.name) {
      try {
        tls = await tlsFromSecret(ctx.client, ns, obj.spec.certSecretRef.name, signal, hidden);
      } catch (err) {
        throw w.fail(C.FetchFailed, Reasons.AuthenticationFailed, `failed to generate transport for '${obj.spec.url}': ${describe(err)}`);
      }
    }
    const opts: RegistryOptions = {
      ...(deps.registry ?? {}),
      signal,
      credentials: new StaticCredentials(credential ? { [registryHost]: credential } : {}),
      env: deps.env ?? process.env,
      proxy: proxy ?? 'environment',
    };
    // Flux: insecure without a certSecretRef means plain http and no certificate check.
    if (obj.spec.insecure && !tls) opts.insecure = true;
    if (tls) {
      // RegistryOptions takes TLS material as files: written for this reconcile only, 0600, removed after.
      const dir = join(workDir, 'tls');
      await mkdir(dir, { mode: 0o700 });
      const put = async (name: string, data: Buffer) => {
        const p = join(dir, name);
        await writeFile(p, data, { mode: 0o600 });
        await chmod(p, 0o600);
        return p;
      };
      if (tls.ca) opts.caFile = await put('ca.crt', tls.ca);
      if (tls.cert) opts.certFile = await put('tls.crt', tls.cert);
      if (tls.key) opts.keyFile = await put('tls.key', tls.key);
    }
    return opts;
  }

  async function verifySignature(w: Work, repoRef: Reference, digest: string, registry: RegistryOptions, signal: AbortSignal): Promise<void> {
    const v = w.obj.spec.verify!;
    const provider = v.provider ?? 'cosign';
    if (provider === 'notation') {
      throw new Error('notation verification is not supported by lading (use provider: cosign with a public key)');
    }
    if (provider !== 'cosign') throw new Error(`unsupported verification provider '${String(provider)}'`);
    if (!v.secretRef) {
      throw new Error('keyless verification (no secretRef, matchOIDCIdentity) is not supported by lading yet: it comes with Sigstore keyless support; use verify.secretRef with cosign public keys');
    }
    const keys = await cosignKeysFromSecret(w.ctx.client, w.obj.metadata.namespace, v.secretRef.name, signal);
    const target = `${repoRef.name}@${digest}`;
    const reasons: string[] = [];
    for (const k of keys) {
      const key = parsePublicKey(k.pem, `${v.secretRef.name}/${k.name}`);
      try {
        await verify(target, { key, registry, signal });
        return;
      } catch (err) {
        if (signal.aborted) throw err;
        reasons.push(`${k.name}: ${describe(err)}`);
      }
    }
    w.ctx.log.debug('signature verification failed', { reasons: reasons.map((r) => w.hidden.scrub(r)) });
    throw new Error(`no matching signatures were found for '${target}'`);
  }

  async function reconcileSource(w: Work, workDir: string): Promise<Fetched> {
    const { obj, ctx } = w;
    const timeoutMs = obj.spec.timeout ? parseDuration(obj.spec.timeout, 'spec.timeout') : DefaultTimeoutMs;
    // A plain abort (an AbortError), not AbortSignal.timeout's TimeoutError: every layer below
    // recognises an abort as such and stops at once.
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), timeoutMs);
    try {
      return await reconcileSourceWithin(w, workDir, AbortSignal.any([ctx.signal, deadline.signal]), (err) =>
        deadline.signal.aborted ? `${describe(err).replace(/: aborted$/, '')}: timed out after ${formatDuration(timeoutMs)} (spec.timeout)` : describe(err),
      );
    } finally {
      clearTimeout(timer);
    }
  }

  async function reconcileSourceWithin(w: Work, workDir: string, signal: AbortSignal, timedOut: (err: unknown) => string): Promise<Fetched> {
    const { obj } = w;

    if (isFalse(w.conditions, C.SourceVerified)) w.del(C.SourceVerified);

    let repoRef: Reference;
    try {
      repoRef = parseRepositoryURL(obj.spec.url);
    } catch (err) {
      const message = `URL validation failed for '${obj.spec.url}': ${describe(err)}`;
      w.mark(C.FetchFailed, 'True', Reasons.URLInvalid, message);
      throw new StepError(Reasons.URLInvalid, w.hidden.scrub(message), true);
    }

    const registry = await registryOptionsFor(w, signal, repoRef.registry, workDir);
    const repo: RemoteRepository = openRepository(repoRef, registry);
    try {
      // The reference to resolve: digest > semver > tag > latest.
      let tag: string | undefined;
      let digestRef: string | undefined;
      const ref = obj.spec.ref;
      try {
        if (ref?.digest) {
          if (!isDigest(ref.digest)) throw new Error(`invalid digest '${ref.digest}' (expected sha256:<hex>)`);
          digestRef = ref.digest;
        } else if (ref?.semver) {
          const tags = await repo.listTags({ signal });
          tag = pickSemverTag(tags, ref.semver, ref.semverFilter);
        } else {
          tag = ref?.tag || 'latest';
        }
      } catch (err) {
        throw w.fail(C.FetchFailed, Reasons.ReadOperationFailed, `failed to determine the artifact tag for '${obj.spec.url}': ${timedOut(err)}`);
      }

      let revision: string;
      if (digestRef) {
        revision = digestRef;
      } else {
        try {
          const desc = await repo.resolve(tag!, { signal });
          revision = `${tag}@${desc.digest}`;
        } catch (err) {
          throw w.fail(C.FetchFailed, Reasons.OCIArtifactPullFailed, `failed to determine artifact digest: ${timedOut(err)}`);
        }
      }
      const digest = digestFromRevision(revision);
      const refText = digestRef ? `${repoRef.name}@${digestRef}` : `${repoRef.name}:${tag}`;

      const hasRevision = w.status.artifact?.revision === revision;
      const markOutdated = async () => {
        if (w.status.artifact?.revision === revision) return;
        const message = `new revision '${revision}' for '${refText}'`;
        if (w.status.artifact) w.mark(C.ArtifactOutdated, 'True', Reasons.NewRevision, message);
        w.progressing(true, `building artifact: ${message}`);
        await w.persist();
      };

      try {
        if (!obj.spec.verify) {
          w.del(C.SourceVerified);
        } else if (!hasRevision || findCondition(w.conditions, C.SourceVerified)?.observedGeneration !== w.generation || isFalse(w.conditions, C.SourceVerified)) {
          try {
            await verifySignature(w, repoRef, digest, registry, signal);
          } catch (err) {
            const provider = obj.spec.verify.provider === 'notation' ? 'notation' : obj.spec.verify.secretRef ? 'cosign' : 'cosign keyless';
            const message = `failed to verify the signature using provider '${provider}': ${timedOut(err)}`;
            w.mark(C.SourceVerified, 'False', Reasons.VerificationError, message);
            throw new StepError(Reasons.VerificationError, w.hidden.scrub(message));
          }
          w.mark(C.SourceVerified, 'True', Reasons.Succeeded, `verified signature of revision ${revision}`);
        }

        if (hasRevision && !contentConfigChanged(obj, w.status)) {
          w.del(C.FetchFailed);
          return { revision };
        }

        // Everything from here on is fetched by digest.
        let manifest: ImageManifest;
        try {
          const fetched = await fetchManifest(repo, digest, { signal });
          if (!('layers' in fetched.manifest)) throw new Error(`${digest} is an image index (${fetched.descriptor.mediaType}), not an artifact manifest`);
          manifest = fetched.manifest;
        } catch (err) {
          throw w.fail(C.FetchFailed, Reasons.OCIArtifactPullFailed, `failed to pull artifact from '${obj.spec.url}': ${timedOut(err)}`);
        }
        const metadata = manifest.annotations && Object.keys(manifest.annotations).length > 0 ? { ...manifest.annotations } : undefined;

        const layers = Array.isArray(manifest.layers) ? manifest.layers : [];
        if (layers.length < 1) throw w.fail(C.FetchFailed, Reasons.OCIArtifactLayerOperationFailed, 'failed to parse artifact layers: no layers found in artifact');
        const mediaType = obj.spec.layerSelector?.mediaType;
        const layer = mediaType ? layers.find((l) => l.mediaType === mediaType) : layers[0];
        if (!layer) throw w.fail(C.FetchFailed, Reasons.OCIArtifactLayerOperationFailed, `failed to find layer with media type '${mediaType}' in artifact`);
        const maxBytes = deps.maxBytes ?? DefaultMaxBytes;
        const maxEntries = deps.maxEntries ?? DefaultMaxEntries;
        const compressedLimit = maxBytes + maxEntries * 1024 + (1 << 20);
        if (typeof layer.size !== 'number' || layer.size > compressedLimit) {
          throw w.fail(C.FetchFailed, Reasons.OCIArtifactLayerOperationFailed, `failed to extract layer contents from artifact: the layer is ${String(layer.size)} bytes, more than the limit of ${compressedLimit}`);
        }

        const operation = obj.spec.layerSelector?.operation ?? 'extract';
        if (operation === 'copy') {
          const file = join(workDir, `${digest}.tgz`);
          try {
            const stream = await repo.fetch(layer, { signal });
            await pipeline(stream, createWriteStream(file, { flags: 'wx', mode: 0o600 }), { signal });
          } catch (err) {
            throw w.fail(C.FetchFailed, Reasons.OCIArtifactLayerOperationFailed, `failed to copy layer from artifact: ${timedOut(err)}`);
          }
          w.del(C.FetchFailed);
          return { revision, copiedLayer: file, ...(metadata ? { metadata } : {}) };
        }
        if (operation !== 'extract') throw w.fail(C.FetchFailed, Reasons.OCIArtifactLayerOperationFailed, `unsupported layer operation: ${String(operation)}`);
        const dir = join(workDir, 'content');
        try {
          const stream = await repo.fetch(layer, { signal });
          await extractToDirectory(stream, dir, { maxBytes, maxEntries, signal }, `extracting layer ${layer.digest}`);
        } catch (err) {
          throw w.fail(C.FetchFailed, Reasons.OCIArtifactLayerOperationFailed, `failed to extract layer contents from artifact: ${timedOut(err)}`);
        }
        w.del(C.FetchFailed);
        return { revision, dir, ...(metadata ? { metadata } : {}) };
      } finally {
        await markOutdated();
      }
    } finally {
      repo.close();
    }
  }

  async function reconcileArtifact(w: Work, fetched: Fetched, signal: AbortSignal): Promise<void> {
    const { obj } = w;
    const revision = fetched.revision;
    const file = `${digestFromRevision(revision)}.tar.gz`;
    const upToDate = () => w.status.artifact?.revision === revision && !contentConfigChanged(obj, w.status);
    try {
      if (upToDate()) return;
      if (!fetched.dir && !fetched.copiedLayer) {
        throw w.fail(C.StorageOperationFailed, Reasons.StatOperationFailed, 'failed to stat source path: no content was fetched');
      }
      const target = { kind: Kinds.OCIRepository.kind, namespace: obj.metadata.namespace, name: obj.metadata.name, file };
      let stored;
      try {
        stored = fetched.copiedLayer ? await storage.copy(target, fetched.copiedLayer, { signal }) : await storage.archive(target, fetched.dir!, { ...(obj.spec.ignore !== undefined ? { ignore: obj.spec.ignore } : {}), signal });
      } catch (err) {
        throw w.fail(C.StorageOperationFailed, Reasons.ArchiveOperationFailed, `unable to ${fetched.copiedLayer ? 'copy' : 'archive'} artifact to storage: ${describe(err)}`);
      }
      const artifact: Artifact = {
        path: stored.path,
        url: stored.url,
        revision,
        digest: stored.digest,
        lastUpdateTime: stored.lastUpdateTime,
        size: stored.size,
        ...(fetched.metadata ? { metadata: fetched.metadata } : {}),
      };
      w.status.artifact = artifact;
      if (obj.spec.ignore !== undefined) w.status.observedIgnore = obj.spec.ignore;
      else delete w.status.observedIgnore;
      if (obj.spec.layerSelector !== undefined) w.status.observedLayerSelector = { ...obj.spec.layerSelector };
      else delete w.status.observedLayerSelector;
      try {
        w.status.url = await storage.setLatest(artifact);
      } catch (err) {
        w.events.push({ type: 'Normal', reason: Reasons.SymlinkUpdateFailed, message: `failed to update status URL symlink: ${describe(err)}`, trace: true });
      }
      w.del(C.StorageOperationFailed);
    } finally {
      if (upToDate()) {
        w.del(C.ArtifactOutdated);
        w.mark(C.ArtifactInStorage, 'True', Reasons.Succeeded, `stored artifact for digest '${revision}'`);
      }
    }
  }

  /** Events for a new artifact and for a recovery (notify). */
  function notify(w: Work, old: OCIRepositoryStatus): void {
    const artifact = w.status.artifact;
    if (!artifact) return;
    const annotations: Record<string, string> = { [`${GroupPrefix}/revision`]: artifact.revision, ...(artifact.digest ? { [`${GroupPrefix}/digest`]: artifact.digest } : {}) };
    let message = `stored artifact with revision '${artifact.revision}' from '${w.obj.spec.url}'`;
    const source = artifact.metadata?.[Annotations.source];
    const originRevision = artifact.metadata?.[Annotations.revision];
    if (source && originRevision) message = `${message}, origin source '${source}', origin revision '${originRevision}'`;
    if (old.artifact?.digest !== artifact.digest) {
      w.events.push({ type: 'Normal', reason: 'NewArtifact', message, annotations });
      w.ctx.log.info(message);
      return;
    }
    const failedBefore = failConditions.some((t) => findCondition(old.conditions, t) !== undefined);
    const failedNow = failConditions.some((t) => findCondition(w.conditions, t) !== undefined);
    if (failedBefore && !failedNow) {
      w.events.push({ type: 'Normal', reason: Reasons.Succeeded, message, annotations });
      w.ctx.log.info(message);
    }
  }

  async function reconcile(object: OCIRepositoryObject, ctx: ReconcileContext): Promise<ReconcileOutcome> {
    const obj = object as OCIRepository;
    if (obj.metadata.deletionTimestamp) return reconcileDelete(obj, ctx);
    const addFinalizer = !(obj.metadata.finalizers ?? []).includes(Finalizer);
    const finalizer: Pick<ReconcileOutcome, 'finalizer'> = addFinalizer ? { finalizer: 'add' } : {};
    const requestedAt = obj.metadata.annotations?.[ReconcileAnnotations.requestedAt];

    if (obj.spec.suspend) {
      ctx.log.info('reconciliation is suspended for this object');
      // As source-controller: a request to reconcile is recorded as handled even while suspended.
      if (requestedAt !== undefined && requestedAt !== obj.status?.lastHandledReconcileAt) {
        return { status: { ...(obj.status ?? {}), lastHandledReconcileAt: requestedAt } as Record<string, unknown>, ...finalizer };
      }
      return { ...finalizer };
    }

    const hidden = new SecretValues();
    const w = new Work(obj, ctx, hidden);
    const old = structuredClone(obj.status ?? {});
    let intervalMs: number;
    try {
      intervalMs = parseDuration(obj.spec.interval, 'spec.interval');
    } catch {
      intervalMs = 60_000;
    }

    w.progressing(false, 'reconciliation in progress');
    if (w.generation !== (w.status.observedGeneration ?? -1)) {
      w.progressing(false, `processing object: new generation ${w.status.observedGeneration ?? -1} -> ${w.generation}`);
      await w.persist();
    } else if (requestedAt !== undefined && requestedAt !== w.status.lastHandledReconcileAt) {
      await w.persist();
    }

    let failure: StepError | Error | undefined;
    let workDir: string | undefined;
    try {
      workDir = await mkdtemp(join(deps.workDir ?? tmpdir(), `ocirepository-${obj.metadata.namespace}-${obj.metadata.name}-`));
    } catch (err) {
      failure = w.fail(C.StorageOperationFailed, Reasons.DirectoryCreationFailed, `failed to create temporary working directory: ${describe(err)}`);
    }
    if (workDir) {
      w.del(C.StorageOperationFailed);
      try {
        await reconcileStorage(w);
        const fetched = await reconcileSource(w, workDir);
        await reconcileArtifact(w, fetched, ctx.signal);
      } catch (err) {
        failure = err instanceof StepError ? err : new Error(hidden.scrub(describe(err)));
      } finally {
        await rm(workDir, { recursive: true, force: true }).catch(() => undefined);
      }
    }

    if (!failure) notify(w, old);

    // ComputeReconcileResult: Reconciling removed on success, kept as ProgressingWithRetry otherwise.
    const stalling = failure instanceof StepError && failure.stalling;
    if (!failure) w.del(C.Reconciling);
    const reconciling = findCondition(w.conditions, C.Reconciling);
    if (reconciling?.status === 'True') w.conditions = w.conditions.map((c) => (c.type === C.Reconciling ? { ...c, reason: Reasons.ProgressingWithRetry } : c));
    if (stalling) {
      w.mark(C.Stalled, 'True', (failure as StepError).reason, failure!.message);
    } else {
      w.del(C.Stalled);
    }
    if (!failure || stalling) w.status.observedGeneration = w.generation;

    // Summary: Ready from the others in priority order; a False SourceVerified wins (bipolarity).
    if (!failure && w.status.artifact) {
      const stored = findCondition(w.conditions, C.ArtifactInStorage);
      if (stored?.status === 'True') w.mark(C.Ready, 'True', stored.reason, stored.message);
    }
    w.conditions = summarizeReady(w.conditions, { order: summaryOrder, negativePolarity, observedGeneration: w.generation }, ctx.now());
    const verified = findCondition(w.conditions, C.SourceVerified);
    if (verified?.status === 'False') w.mark(C.Ready, 'False', verified.reason, verified.message);

    if (requestedAt !== undefined) w.status.lastHandledReconcileAt = requestedAt;

    if (failure) {
      const reason = failure instanceof StepError ? failure.reason : Reasons.Failed;
      w.events.push({ type: 'Warning', reason, message: hidden.scrub(failure.message) });
    }
    for (const e of w.events) ctx.event({ ...e, message: hidden.scrub(e.message) });

    const status = w.snapshot();
    if (stalling) return { status, ...finalizer };
    if (failure) return { status, error: new Error(hidden.scrub(failure.message)), ...finalizer };
    const ready = findCondition(w.conditions, C.Ready);
    if (ready?.status !== 'True') return { status, error: new Error(ready?.message ?? 'not ready'), ...finalizer };
    return { status, requeueAfterMs: jitter(intervalMs, deps.jitterPercent ?? 5), ...finalizer };
  }

  return {
    name: 'ocirepository',
    kind: Kinds.OCIRepository,
    statusManager: FieldManagers.sourceStatus,
    reconcile,
  };
}
