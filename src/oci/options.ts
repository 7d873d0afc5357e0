import type { CredentialStore } from './credentials.js';

/** How to reach registries. Every field is optional; defaults are safe (TLS verified). */
export interface RegistryOptions {
  /** Allow plain http and skip TLS verification (http is implicit for loopback hosts). */
  insecure?: boolean;
  /** PEM file with extra CA certificates to trust, added to the roots Node trusts by default. */
  caFile?: string;
  /** PEM client certificate and key for mutual TLS. */
  certFile?: string;
  keyFile?: string;
  /** Where credentials come from; default: the docker config (`DOCKER_CONFIG`, ~/.docker/config.json). */
  credentials?: CredentialStore;
  /**
   * Deadline for everything done through one registry client (one repository opened with these
   * options), counted from when it is opened: a whole pull, push or copy, retries and a server
   * that trickles bytes included. Default: none in the library (the CLI's --timeout: 5 min, 30
   * min for copy). A long-lived caller passes `signal` per operation instead.
   */
  timeoutMs?: number;
  /** Time without progress (connect, response head, or between body chunks) before a request fails; default 60 s. */
  idleTimeoutMs?: number;
  /** Retries on 408/429/5xx and connection resets; default 4. */
  retries?: number;
  userAgent?: string;
  signal?: AbortSignal;
  /**
   * Environment for DOCKER_CONFIG, HOME, credential helpers and the proxy variables (HTTPS_PROXY,
   * HTTP_PROXY, NO_PROXY); default process.env.
   */
  env?: NodeJS.ProcessEnv;
  /**
   * 'environment' (default): HTTPS_PROXY / HTTP_PROXY / NO_PROXY as Go tools read them; 'none';
   * or one proxy URL (http://, https://, socks5://) for every request.
   */
  proxy?: 'environment' | 'none' | string;
  /** Upload blobs in chunks of this many bytes (PATCH) instead of one streamed PUT. */
  uploadChunkSize?: number;
  /** Base delay for retry backoff in ms (default 250); tests lower it. */
  retryBaseMs?: number;
}
