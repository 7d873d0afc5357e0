// Streaming watch, as client-go's reflector does it: list the collection (in pages), then watch
// from the list's resourceVersion with bookmarks on; when the stream ends (the server's
// timeoutSeconds, a dropped connection, an API server restart) watch again from the last
// resourceVersion seen; when the API server says that version is gone (410, as an HTTP status or
// as an ERROR event), list again. Errors worth waiting out are retried
// with growing delays (see worthRetrying); others end the watch with a KubeError. Aborting the signal ends it quietly.
import type { KubeClient } from './client.js';
import { KubeError } from './errors.js';
import type { KubeObject } from './objects.js';
import { retryDelayMs } from '../http/index.js';
import { isRecord, sleep } from './util.js';

export interface WatchOptions {
  /** The collection: `/api/v1/namespaces/default/configmaps`, `/apis/apps/v1/deployments`. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Watch from this resourceVersion without listing first (a resume); listing follows if it is gone. */
  resourceVersion?: string;
  signal?: AbortSignal;
  /** Objects per page of a list (default 500). */
  pageSize?: number;
  /** How long the API server keeps one watch request open before the watch is opened again (default 300 s). */
  timeoutSeconds?: number;
  /** Largest single event accepted (default 16 MiB). */
  maxEventBytes?: number;
  /** Told about each error the watch waits out, with the delay before it tries again. */
  onRetry?: (err: KubeError, delayMs: number) => void;
}

export type WatchEvent =
  /** The whole collection, from a list: it replaces everything known before (the first event, and after a 410). */
  | { type: 'SYNC'; objects: KubeObject[]; resourceVersion: string }
  | { type: 'ADDED' | 'MODIFIED' | 'DELETED'; object: KubeObject; resourceVersion: string }
  /** Nothing changed up to this resourceVersion (the API server's progress note). */
  | { type: 'BOOKMARK'; resourceVersion: string };

const defaultPageSize = 500;
/** Pages one list may take (5 million objects at the default page size) before it is refused. */
const maxListPages = 10_000;
const defaultTimeoutSeconds = 300;
const defaultMaxEventBytes = 16 * 1024 * 1024;

/** Splits a byte stream into lines, refusing a line longer than `max` bytes. */
async function* lines(body: AsyncIterable<Buffer>, max: number, what: string): AsyncGenerator<string> {
  let pending: Buffer[] = [];
  let pendingSize = 0;
  for await (const chunk of body) {
    let start = 0;
    for (let nl = chunk.indexOf(10, start); nl >= 0; nl = chunk.indexOf(10, start)) {
      pending.push(chunk.subarray(start, nl));
      // Measured in bytes before the line is joined and decoded.
      if (pendingSize + nl - start > max) throw new KubeError('TOO_LARGE', `${what}: an event larger than ${max} bytes`);
      const line = Buffer.concat(pending).toString('utf8');
      pending = [];
      pendingSize = 0;
      start = nl + 1;
      if (line.trim() !== '') yield line;
    }
    if (start < chunk.length) {
      pending.push(chunk.subarray(start));
      pendingSize += chunk.length - start;
      if (pendingSize > max) throw new KubeError('TOO_LARGE', `${what}: an event larger than ${max} bytes`);
    }
  }
  const rest = Buffer.concat(pending).toString('utf8');
  if (rest.trim() !== '') yield rest;
}

function resourceVersionOf(obj: unknown): string | undefined {
  if (!isRecord(obj)) return undefined;
  const m = obj['metadata'];
  return isRecord(m) && typeof m['resourceVersion'] === 'string' ? m['resourceVersion'] : undefined;
}

/**
 * Whether the watch waits an error out rather than ending with it: network failures, 5xx and
 * 429, and 401/403 (credentials rotate, RBAC is granted, an API server starting up refuses for a
 * moment). A bad request, an unknown resource (404) or an oversized event end the watch.
 */
function worthRetrying(err: KubeError): boolean {
  if (err.code === 'NETWORK') return true;
  const status = err.status ?? 0;
  return status === 401 || status === 403 || status === 429 || status >= 500;
}

/** Lists a collection page by page; items get the kind and apiVersion the API server leaves out of lists. */
async function listAll(client: KubeClient, opts: WatchOptions, what: string): Promise<{ objects: KubeObject[]; resourceVersion: string }> {
  const objects: KubeObject[] = [];
  let continueToken: string | undefined;
  let resourceVersion = '';
  const tokensSeen = new Set<string>();
  do {
    if (tokensSeen.size >= maxListPages) throw new KubeError('TOO_LARGE', `listing ${what}: more than ${maxListPages} pages`);
    const page = await client.request<Record<string, unknown>>({
      path: opts.path,
      query: { limit: opts.pageSize ?? defaultPageSize, continue: continueToken, labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector },
      ...(opts.signal ? { signal: opts.signal } : {}),
      what: `listing ${what}`,
    });
    const kind = typeof page['kind'] === 'string' && page['kind'].endsWith('List') ? page['kind'].slice(0, -'List'.length) : undefined;
    const apiVersion = typeof page['apiVersion'] === 'string' ? page['apiVersion'] : undefined;
    const items = Array.isArray(page['items']) ? (page['items'] as unknown[]) : [];
    for (const item of items) {
      if (!isRecord(item)) continue;
      objects.push({ ...(apiVersion ? { apiVersion } : {}), ...(kind ? { kind } : {}), ...item });
    }
    const meta = isRecord(page['metadata']) ? page['metadata'] : {};
    resourceVersion = typeof meta['resourceVersion'] === 'string' ? meta['resourceVersion'] : resourceVersion;
    continueToken = typeof meta['continue'] === 'string' && meta['continue'] !== '' ? meta['continue'] : undefined;
    if (continueToken !== undefined) {
      // An API server (or something posing as one) handing back a token already followed would page forever.
      if (tokensSeen.has(continueToken)) throw new KubeError('API', `listing ${what}: the API server returned a continue token already followed`);
      tokensSeen.add(continueToken);
    }
  } while (continueToken !== undefined);
  return { objects, resourceVersion };
}

/** See the top of this file; use it as `for await (const event of client.watch({...}))`. */
export async function* watch(client: KubeClient, opts: WatchOptions): AsyncGenerator<WatchEvent> {
  const what = opts.path;
  const timeoutSeconds = opts.timeoutSeconds ?? defaultTimeoutSeconds;
  const maxEventBytes = opts.maxEventBytes ?? defaultMaxEventBytes;
  let resourceVersion = opts.resourceVersion ?? '';
  let needList = resourceVersion === '';
  let failures = 0;
  while (!opts.signal?.aborted) {
    let body: { destroy(): void } | undefined;
    try {
      if (needList) {
        const listed = await listAll(client, opts, what);
        resourceVersion = listed.resourceVersion;
        needList = false;
        failures = 0;
        yield { type: 'SYNC', objects: listed.objects, resourceVersion };
      }
      const stream = await client.openStream({
        path: opts.path,
        query: {
          watch: 'true',
          allowWatchBookmarks: 'true',
          resourceVersion,
          timeoutSeconds,
          labelSelector: opts.labelSelector,
          fieldSelector: opts.fieldSelector,
        },
        ...(opts.signal ? { signal: opts.signal } : {}),
        what: `watching ${what}`,
        // The server ends the request after timeoutSeconds; bookmarks and events come well within.
        idleTimeoutMs: (timeoutSeconds + 60) * 1000,
      });
      body = stream.body;
      let sawEvent = false;
      for await (const line of lines(stream.body, maxEventBytes, `watching ${what}`)) {
        let event: unknown;
        try {
          event = JSON.parse(line);
        } catch (err) {
          throw new KubeError('API', `watching ${what}: an event that is not JSON`, { cause: err });
        }
        if (!isRecord(event) || typeof event['type'] !== 'string') throw new KubeError('API', `watching ${what}: an event without a type`);
        const type = event['type'];
        const object = event['object'];
        if (type === 'ERROR') {
          const status = isRecord(object) ? object : {};
          const code = typeof status['code'] === 'number' ? status['code'] : 0;
          const message = typeof status['message'] === 'string' ? status['message'] : 'an error event';
          throw new KubeError(code === 401 ? 'UNAUTHORIZED' : code === 403 ? 'FORBIDDEN' : 'API', `watching ${what}: ${message}`, { status: code });
        }
        const rv = resourceVersionOf(object);
        if (rv !== undefined) resourceVersion = rv;
        failures = 0;
        sawEvent = true;
        if (type === 'BOOKMARK') yield { type: 'BOOKMARK', resourceVersion };
        else if ((type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') && isRecord(object)) yield { type, object, resourceVersion };
      }
      // The stream ended (timeoutSeconds passed, or the server went away): watch again from here,
      // after a pause when it ended without a single event (a server or proxy closing at once).
      if (!sawEvent) await sleep(retryDelayMs(failures++), opts.signal);
    } catch (err) {
      if (opts.signal?.aborted) return;
      const e = err instanceof KubeError ? err : new KubeError('NETWORK', `watching ${what}: ${(err as Error).message}`, { cause: err });
      if (e.status === 410) {
        // The version is gone (compacted, or older than the API server's cache): list again.
        needList = true;
        continue;
      }
      if (!worthRetrying(e)) throw e;
      const delay = retryDelayMs(failures++);
      opts.onRetry?.(e, delay);
      try {
        await sleep(delay, opts.signal);
      } catch {
        return;
      }
    } finally {
      body?.destroy();
    }
  }
}
