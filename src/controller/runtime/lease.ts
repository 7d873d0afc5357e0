// Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it with
// Flux's timings (lease 35 s, renew deadline 30 s, retry every 5 s): a candidate takes the Lease
// when it is free or when its holder has not renewed it for a lease duration (measured on this
// process's clock from when the record was last seen to change, never by comparing clocks);
// the leader renews every retry period and stops leading when it could not renew for the renew
// deadline. Every write carries the resourceVersion read, so two candidates never both win.
// release() hands the Lease back on a graceful shutdown (holder cleared, duration 1 s), as
// client-go's ReleaseOnCancel does, so the next replica takes over at once.
import { createHash } from 'node:crypto';
import { KubeError, type KubeClient } from '../../kube/index.js';
import type { Logger } from './types.js';
import { delay, isRecord } from './util.js';

export interface LeaderElectionOptions {
  client: KubeClient;
  namespace: string;
  /** Lease name (default `lading-controller-leader-election`). */
  name?: string;
  /** This candidate (default: host name and a random suffix, as controller-runtime makes it). */
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  log: Logger;
}

export const defaultLeaseName = 'lading-controller-leader-election';

/**
 * The lease name of a controller instance: with a label selector (a shard), the base name plus
 * the first 8 hex digits of the selector's SHA-256, as Flux's leaderelection.GenerateID makes it,
 * so every shard elects its own leader.
 */
export function leaseNameFor(labelSelector: string | undefined, base = defaultLeaseName): string {
  if (!labelSelector) return base;
  return `${base}-${createHash('sha256').update(labelSelector).digest('hex').slice(0, 8)}`;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

interface LeaseObject {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec?: LeaseSpec;
}

/** MicroTime, as the Lease's acquireTime and renewTime are written. */
function microTime(d: Date): string {
  return d.toISOString().replace(/Z$/, '000Z');
}

export class LeaderElector {
  private readonly name: string;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private observed: { record: string; atMs: number } | undefined;
  private lease: LeaseObject | undefined;
  private leading = false;

  constructor(private readonly opts: LeaderElectionOptions) {
    this.name = opts.name ?? defaultLeaseName;
    this.leaseDurationMs = opts.leaseDurationMs ?? 35_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 30_000;
    this.retryPeriodMs = opts.retryPeriodMs ?? 5_000;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  private get path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(this.opts.namespace)}/leases`;
  }

  /**
   * Campaigns until elected (resolves true) or `signal` aborts (false). Once elected, keeps
   * renewing in the background; `onLost` is called if the lease could not be renewed in time.
   */
  async acquire(signal: AbortSignal, onLost: () => void): Promise<boolean> {
    this.opts.log.info('attempting to acquire leader lease', { lease: `${this.opts.namespace}/${this.name}` });
    while (!signal.aborted) {
      if (await this.tryAcquireOrRenew(signal)) {
        this.leading = true;
        this.opts.log.info('successfully acquired lease', { lease: `${this.opts.namespace}/${this.name}`, identity: this.opts.identity });
        void this.renewLoop(signal, onLost);
        return true;
      }
      await delay(this.retryPeriodMs * (1 + Math.random() * 0.2), signal);
    }
    return false;
  }

  private async renewLoop(signal: AbortSignal, onLost: () => void): Promise<void> {
    let lastRenewMs = Date.now();
    while (!signal.aborted && this.leading) {
      await delay(this.retryPeriodMs, signal);
      if (signal.aborted || !this.leading) return;
      if (await this.tryAcquireOrRenew(signal)) {
        lastRenewMs = Date.now();
        continue;
      }
      if (signal.aborted) return;
      if (Date.now() - lastRenewMs >= this.renewDeadlineMs) {
        this.leading = false;
        this.opts.log.error('leader election lost', { lease: `${this.opts.namespace}/${this.name}` });
        onLost();
        return;
      }
    }
  }

  private async tryAcquireOrRenew(signal: AbortSignal): Promise<boolean> {
    const now = new Date();
    const spec = (transitions: number, acquireTime: string | undefined): LeaseSpec => ({
      holderIdentity: this.opts.identity,
      leaseDurationSeconds: Math.round(this.leaseDurationMs / 1000),
      acquireTime: acquireTime ?? microTime(now),
      renewTime: microTime(now),
      leaseTransitions: transitions,
    });
    try {
      let current: LeaseObject;
      try {
        current = await this.opts.client.request<LeaseObject>({ path: `${this.path}/${this.name}`, signal, what: `reading lease ${this.opts.namespace}/${this.name}` });
      } catch (err) {
        if (!(err instanceof KubeError && err.code === 'NOT_FOUND')) throw err;
        this.lease = await this.opts.client.request<LeaseObject>({
          method: 'POST',
          path: this.path,
          body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: this.name, namespace: this.opts.namespace }, spec: spec(0, undefined) },
          signal,
          what: `creating lease ${this.opts.namespace}/${this.name}`,
        });
        this.observed = { record: JSON.stringify(this.lease.spec ?? {}), atMs: Date.now() };
        return true;
      }
      const held: LeaseSpec = isRecord(current.spec) ? current.spec : {};
      const record = JSON.stringify(held);
      if (this.observed?.record !== record) this.observed = { record, atMs: Date.now() };
      const holder = held.holderIdentity ?? '';
      const mine = holder === this.opts.identity;
      const durationMs = (held.leaseDurationSeconds ?? 0) * 1000;
      const expired = this.observed.atMs + durationMs <= Date.now();
      if (holder !== '' && !mine && !expired) return false;
      const transitions = (held.leaseTransitions ?? 0) + (mine ? 0 : 1);
      this.lease = await this.opts.client.request<LeaseObject>({
        method: 'PUT',
        path: `${this.path}/${this.name}`,
        body: { ...current, spec: spec(transitions, mine ? held.acquireTime : undefined) },
        signal,
        what: `updating lease ${this.opts.namespace}/${this.name}`,
      });
      this.observed = { record: JSON.stringify(this.lease.spec ?? {}), atMs: Date.now() };
      return true;
    } catch (err) {
      if (!signal.aborted) this.opts.log.debug('leader lease not acquired or renewed', { lease: `${this.opts.namespace}/${this.name}`, error: err });
      return false;
    }
  }

  /** Gives the lease up if held (a graceful shutdown). */
  async release(): Promise<void> {
    if (!this.leading || !this.lease) return;
    this.leading = false;
    const where = `${this.opts.namespace}/${this.name}`;
    let lease: LeaseObject = this.lease;
    // A renewal may have been in flight: on a conflict, read the lease again (and let it be if another holds it).
    for (let attempt = 0; attempt < 3; attempt++) {
      const now = microTime(new Date());
      try {
        await this.opts.client.request({
          method: 'PUT',
          path: `${this.path}/${this.name}`,
          body: { ...lease, spec: { leaseDurationSeconds: 1, acquireTime: now, renewTime: now, leaseTransitions: lease.spec?.leaseTransitions ?? 0 } },
          what: `releasing lease ${where}`,
        });
        this.opts.log.info('released leader lease', { lease: where });
        return;
      } catch (err) {
        if (!(err instanceof KubeError && err.code === 'CONFLICT') || attempt === 2) {
          this.opts.log.error('releasing the leader lease failed', { lease: where, error: err });
          return;
        }
        try {
          lease = await this.opts.client.request<LeaseObject>({ path: `${this.path}/${this.name}`, what: `reading lease ${where}` });
        } catch (readErr) {
          this.opts.log.error('releasing the leader lease failed', { lease: where, error: readErr });
          return;
        }
        if (lease.spec?.holderIdentity !== this.opts.identity) return;
      }
    }
  }
}
