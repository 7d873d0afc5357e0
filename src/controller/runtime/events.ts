// Kubernetes events (core/v1 Event) about reconciled objects, as client-go's recorder writes
// them: in the object's namespace, involvedObject with uid and resourceVersion, source.component
// and reportingComponent naming the controller (`source-controller`, `kustomize-controller`),
// reportingInstance the host. A repeat of the same type, reason and message about the same object
// within ten minutes increments the count of the event already written (a PATCH) instead of
// creating another, as client-go's correlator does. Writing an event never fails a reconcile:
// errors are logged. Nothing is added to what the reconciler wrote (which never holds Secret data).
import { hostname } from 'node:os';
import { KubeError, type KubeClient, type KubeObject } from '../../kube/index.js';
import type { EventSpec, Logger } from './types.js';
import { metadataOf, stringField } from './util.js';

export interface EventRecorderOptions {
  client: KubeClient;
  log: Logger;
  /** reportingInstance and source.host (default: the host name, the pod name in a cluster). */
  instance?: string;
  now?: () => Date;
  /** How long a repeat counts on the event already written (default 10 min). */
  correlationWindowMs?: number;
}

/** Longest message kept (Flux's notification limit); the API server limits the whole object. */
const maxMessageLength = 39_000;
/** Events remembered for correlation before the oldest are forgotten. */
const maxRemembered = 4096;

interface Remembered {
  name: string;
  namespace: string;
  count: number;
  firstTimestamp: string;
  lastSeenMs: number;
}

function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d+Z$/, 'Z');
}

export class EventRecorder {
  private readonly client: KubeClient;
  private readonly log: Logger;
  private readonly instance: string;
  private readonly now: () => Date;
  private readonly windowMs: number;
  private readonly remembered = new Map<string, Remembered>();
  private readonly pending = new Set<Promise<void>>();
  private sequence = 0;

  constructor(opts: EventRecorderOptions) {
    this.client = opts.client;
    this.log = opts.log;
    this.instance = opts.instance ?? hostname();
    this.now = opts.now ?? (() => new Date());
    this.windowMs = opts.correlationWindowMs ?? 10 * 60_000;
  }

  /** Records `event` about `object` in the background (see flush()). */
  record(object: KubeObject, component: string, event: EventSpec): void {
    const p = this.write(object, component, event).catch((err: unknown) => {
      this.log.error('writing an event failed', { reason: event.reason, error: err });
    });
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  /** Waits for the events being written. */
  async flush(): Promise<void> {
    await Promise.all([...this.pending]);
  }

  /** Writes an event now (create, or patch the count of a recent identical one). */
  async write(object: KubeObject, component: string, event: EventSpec): Promise<void> {
    const meta = metadataOf(object);
    const name = stringField(meta, 'name') ?? '';
    const namespace = stringField(meta, 'namespace') || 'default';
    const uid = stringField(meta, 'uid') ?? '';
    const message = event.message.length > maxMessageLength ? event.message.slice(0, maxMessageLength) : event.message;
    const now = this.now();
    const stamp = rfc3339(now);
    const key = JSON.stringify([component, namespace, uid, name, event.type, event.reason, message]);
    const known = this.remembered.get(key);
    if (known && now.getTime() - known.lastSeenMs < this.windowMs) {
      const count = known.count + 1;
      try {
        await this.client.request({
          method: 'PATCH',
          path: `/api/v1/namespaces/${encodeURIComponent(known.namespace)}/events/${encodeURIComponent(known.name)}`,
          contentType: 'application/merge-patch+json',
          body: { count, lastTimestamp: stamp },
          what: `updating event ${known.namespace}/${known.name}`,
        });
        known.count = count;
        known.lastSeenMs = now.getTime();
        this.touch(key, known);
        return;
      } catch (err) {
        // Gone (events expire after an hour by default): write a new one.
        if (!(err instanceof KubeError && err.code === 'NOT_FOUND')) throw err;
      }
    }
    // client-go's `<name>.<unix nanoseconds, hex>`; the name part shortened to keep it a valid name.
    const eventName = `${name.slice(0, 230)}.${(BigInt(now.getTime()) * 1_000_000n + BigInt(this.sequence++ % 1_000_000)).toString(16)}`;
    const body = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: {
        name: eventName,
        namespace,
        ...(event.annotations && Object.keys(event.annotations).length > 0 ? { annotations: event.annotations } : {}),
      },
      involvedObject: {
        ...(typeof object['apiVersion'] === 'string' ? { apiVersion: object['apiVersion'] } : {}),
        ...(typeof object['kind'] === 'string' ? { kind: object['kind'] } : {}),
        name,
        namespace,
        ...(uid ? { uid } : {}),
        ...(stringField(meta, 'resourceVersion') ? { resourceVersion: stringField(meta, 'resourceVersion') } : {}),
      },
      reason: event.reason,
      message,
      type: event.type,
      source: { component, host: this.instance },
      reportingComponent: component,
      reportingInstance: this.instance,
      firstTimestamp: stamp,
      lastTimestamp: stamp,
      count: 1,
    };
    await this.client.request({
      method: 'POST',
      path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/events`,
      body,
      what: `creating event ${namespace}/${eventName}`,
    });
    this.touch(key, { name: eventName, namespace, count: 1, firstTimestamp: stamp, lastSeenMs: now.getTime() });
  }

  private touch(key: string, value: Remembered): void {
    this.remembered.delete(key);
    this.remembered.set(key, value);
    while (this.remembered.size > maxRemembered) {
      const oldest = this.remembered.keys().next().value;
      if (oldest === undefined) break;
      this.remembered.delete(oldest);
    }
  }
}
