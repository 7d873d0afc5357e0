import type { CredentialStore } from './credentials.js';

/** How to reach registries. Every field is optional; defaults are safe (TLS verified). */
export interface RegistryOptions {
  /** Allow plain http and skip TLS verification (http is implicit for loopback hosts). */
  insecure?: boolean;
  /** PEM file with extra CA certificates to trust. */
  caFile?: string;
  /** PEM client certificate and key for mutual TLS. */
  certFile?: string;
  keyFile?: string;
  /** Where credentials come from; default: the docker config (`DOCKER_CONFIG`, ~/.docker/config.json). */
  credentials?: CredentialStore;
  /** Time without progress (connect, headers, or body data) before a request fails; default 60 s. */
  timeoutMs?: number;
  /** Retries on 408/429/5xx and connection resets; default 4. */
  retries?: number;
  userAgent?: string;
  signal?: AbortSignal;
  /**
   * Environment for DOCKER_CONFIG, HOME, credential helpers and the proxy variables (HTTPS_PROXY,
   * HTTP_PROXY, NO_PROXY); default process.env.
   */
  env?: NodeJS.ProcessEnv;
  /** Upload blobs in chunks of this many bytes (PATCH) instead of one streamed PUT. */
  uploadChunkSize?: number;
  /** Base delay for retry backoff in ms (default 250); tests lower it. */
  retryBaseMs?: number;
}
