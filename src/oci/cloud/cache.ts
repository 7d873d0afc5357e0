import type { CloudProvider } from './errors.js';

export interface CachedCredentials {
  username: string;
  password: string;
  expiresAt?: Date;
}

interface Entry {
  provider: CloudProvider;
  host: string;
  value: CachedCredentials;
  /** When to fetch again: 80 % of the way from fetching to expiry. */
  refreshAt: number;
}

/** Credentials without an expiry are fetched again after this long. */
const NO_EXPIRY_TTL_MS = 5 * 60_000;
const DEFAULT_MAX_ENTRIES = 1024;

/**
 * Registry credentials by provider, registry host and the identity configured in the
 * environment, kept until 80 % of their lifetime has passed (an ECR token of 12 h is fetched
 * again after 9.6 h, a GCP token of 1 h after 48 min), so a registry never sees one about to
 * expire. Concurrent requests for the same key share one fetch. Bounded: the oldest entry goes
 * when full. Values are held in memory only.
 */
export class CloudCredentialCache {
  private readonly entries = new Map<string, Entry>();
  private readonly pending = new Map<string, Promise<CachedCredentials>>();
  private readonly maxEntries: number;

  constructor(opts?: { maxEntries?: number }) {
    this.maxEntries = opts?.maxEntries ?? DEFAULT_MAX_ENTRIES;
  }

  /** The cached credentials for `key` if still fresh at `now`. */
  get(key: string, now: Date): CachedCredentials | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (now.getTime() >= entry.refreshAt) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  set(key: string, provider: CloudProvider, host: string, value: CachedCredentials, fetchedAt: Date): void {
    const start = fetchedAt.getTime();
    const end = value.expiresAt?.getTime();
    if (end !== undefined && end <= start) return;
    const refreshAt = end === undefined ? start + NO_EXPIRY_TTL_MS : start + (end - start) * 0.8;
    this.entries.delete(key);
    this.entries.set(key, { provider, host, value, refreshAt });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  /** One fetch at a time per key: a second caller waits for the first's result. */
  async getOrFetch(key: string, now: () => Date, fetch: () => Promise<CachedCredentials>, meta: { provider: CloudProvider; host: string }): Promise<CachedCredentials> {
    const hit = this.get(key, now());
    if (hit) return hit;
    let running = this.pending.get(key);
    if (!running) {
      running = (async () => {
        const fetchedAt = now();
        const value = await fetch();
        this.set(key, meta.provider, meta.host, value, fetchedAt);
        return value;
      })();
      this.pending.set(key, running);
      const clear = () => {
        if (this.pending.get(key) === running) this.pending.delete(key);
      };
      running.then(clear, clear);
    }
    return running;
  }

  /**
   * Forgets the credentials of a registry (every identity), e.g. after the registry refused
   * them; returns how many entries went.
   */
  invalidate(provider: CloudProvider, host: string): number {
    let n = 0;
    for (const [key, entry] of this.entries) {
      if (entry.provider === provider && entry.host === host) {
        this.entries.delete(key);
        n++;
      }
    }
    return n;
  }

  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}
