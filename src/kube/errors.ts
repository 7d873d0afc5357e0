import { LadingError } from '../errors.js';

export type KubeErrorCode =
  | 'KUBECONFIG' // no usable kubeconfig, context or credentials
  | 'NETWORK' // the API server could not be reached or the connection dropped
  | 'TLS' // the API server's certificate was not trusted
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'INVALID' // the API server rejected an object (422 and friends)
  | 'IMMUTABLE_FIELD' // a change to a field the API server does not allow to change
  | 'UNKNOWN_KIND' // apiVersion/kind not served by the cluster
  | 'API' // any other API error
  | 'TOO_LARGE'
  | 'INPUT' // a bad manifest (missing kind, name, ...)
  | 'INVENTORY' // the inventory object is missing or unreadable
  | 'TIMEOUT' // wait gave up
  | 'FAILED' // wait saw an object fail
  | 'ABORTED';

/** Details the API server returned in a `Status` object. */
export interface ApiStatusDetails {
  status?: number;
  reason?: string;
  causes?: Array<{ field?: string; message?: string; reason?: string }>;
}

/** An error while talking to the API server or applying, waiting for or deleting objects. */
export class KubeError extends LadingError<KubeErrorCode> {
  /** HTTP status code of the API response, when there was one. */
  readonly status: number | undefined;
  /** `Kind/namespace/name` of the object involved, when there is one. */
  readonly object: string | undefined;
  readonly details: ApiStatusDetails | undefined;

  constructor(
    code: KubeErrorCode,
    message: string,
    options: { cause?: unknown; status?: number; object?: string; details?: ApiStatusDetails } = {},
  ) {
    super(code, message, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = options.status;
    this.object = options.object;
    this.details = options.details;
  }
}
