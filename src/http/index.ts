// The one HTTP transport of lading, on undici: the registry client (src/oci) and the Kubernetes
// client (src/kube) both send their requests through a dispatcher made here.
export { createDispatcher, type TransportOptions } from './dispatcher.js';
export { deadline, type Deadline } from './deadline.js';
export { HttpError, type HttpErrorCode } from './errors.js';
export { proxyFromEnv, proxyResolver } from './proxy.js';
export { isRetryableNetworkError, isTlsError, parseRetryAfterMs, retryDelayMs, RETRYABLE_STATUS } from './retry.js';
