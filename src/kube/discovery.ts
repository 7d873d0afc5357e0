// API discovery: which resource serves a kind and whether it is namespaced. Resource lists are
// fetched per group-version on first use and cached for the life of the client; a kind that is
// missing triggers one refresh (a CRD applied a moment ago).
import type { KubeClient } from './client.js';
import { KubeError } from './errors.js';
import { apiVersionOf, type ObjectRef } from './objects.js';
import { isRecord } from './util.js';

export interface ResourceInfo {
  group: string;
  version: string;
  kind: string;
  /** Plural resource name, e.g. `deployments`. */
  resource: string;
  namespaced: boolean;
}

interface ApiResource {
  name: string;
  kind: string;
  namespaced: boolean;
}

export class Discovery {
  private readonly lists = new Map<string, Promise<ApiResource[] | undefined>>();

  constructor(private readonly client: KubeClient) {}

  private fetchList(apiVersion: string, signal?: AbortSignal): Promise<ApiResource[] | undefined> {
    let p = this.lists.get(apiVersion);
    if (!p) {
      const path = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
      p = this.client
        .request<Record<string, unknown>>({ path, what: `discovering ${apiVersion}`, ...(signal ? { signal } : {}) })
        .then((body) => {
          const resources = Array.isArray(body['resources']) ? (body['resources'] as unknown[]) : [];
          return resources
            .filter(isRecord)
            .filter((r) => typeof r['name'] === 'string' && !(r['name'] as string).includes('/'))
            .map((r) => ({ name: r['name'] as string, kind: String(r['kind']), namespaced: r['namespaced'] === true }));
        })
        .catch((err: unknown) => {
          if (err instanceof KubeError && err.code === 'NOT_FOUND') return undefined;
          this.lists.delete(apiVersion);
          throw err;
        });
      this.lists.set(apiVersion, p);
    }
    return p;
  }

  /** Versions of `group` the cluster serves, for error messages. */
  private async servedVersions(group: string, signal?: AbortSignal): Promise<string[]> {
    try {
      if (group === '') return ['v1'];
      const body = await this.client.request<Record<string, unknown>>({ path: `/apis/${group}`, what: `discovering ${group}`, ...(signal ? { signal } : {}) });
      const versions = Array.isArray(body['versions']) ? (body['versions'] as unknown[]) : [];
      return versions.filter(isRecord).map((v) => String(v['groupVersion']));
    } catch {
      return [];
    }
  }

  /** Resolves the resource for an object's apiVersion and kind. */
  async resolve(ref: Pick<ObjectRef, 'group' | 'version' | 'kind'>, opts: { signal?: AbortSignal; what?: string } = {}): Promise<ResourceInfo> {
    const apiVersion = apiVersionOf(ref);
    for (let attempt = 0; attempt < 2; attempt++) {
      const list = await this.fetchList(apiVersion, opts.signal);
      const found = list?.find((r) => r.kind === ref.kind);
      if (found) return { group: ref.group, version: ref.version, kind: ref.kind, resource: found.name, namespaced: found.namespaced };
      if (attempt === 0) this.lists.delete(apiVersion);
    }
    const served = await this.servedVersions(ref.group, opts.signal);
    const hint = served.length > 0 ? ` (the cluster serves ${served.join(', ')})` : ref.group !== '' ? ` (the cluster does not serve the group ${ref.group}; is its CRD installed?)` : '';
    throw new KubeError('UNKNOWN_KIND', `${opts.what ?? ref.kind}: no kind ${ref.kind} in ${apiVersion}${hint}`);
  }

  /** Forgets what was learnt (after CRDs change). */
  reset(): void {
    this.lists.clear();
  }
}

/** REST path of a collection or of one object. */
export function resourcePath(info: ResourceInfo, namespace: string, name?: string): string {
  const base = info.group === '' ? `/api/${info.version}` : `/apis/${info.group}/${info.version}`;
  const ns = info.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${base}${ns}/${info.resource}${name !== undefined ? `/${encodeURIComponent(name)}` : ''}`;
}

const shared = new WeakMap<KubeClient, Discovery>();

/**
 * The discovery cache that belongs to a client (one per client, shared by every verb). Clients
 * made by impersonate() share the cache of the client they came from: what the cluster serves
 * does not depend on who asks, and a controller makes one impersonating client per reconcile.
 */
export function discoveryFor(client: KubeClient): Discovery {
  const root = client.impersonatedFrom ?? client;
  let d = shared.get(root);
  if (!d) {
    d = new Discovery(root);
    shared.set(root, d);
  }
  return d;
}
