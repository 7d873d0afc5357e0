import { LadingError } from '../errors.js';

export type HttpErrorCode = 'PROXY' | 'TLS' | 'TIMEOUT';

/** A transport set-up problem (proxy settings, TLS files) or an operation's deadline passing. */
export class HttpError extends LadingError<HttpErrorCode> {}
