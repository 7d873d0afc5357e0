/**
 * Base class for every error lading raises on purpose. `code` is a stable string that callers
 * and tests can switch on; `message` says what was being done and to what.
 */
export class LadingError<Code extends string = string> extends Error {
  readonly code: Code;

  constructor(code: Code, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = new.target.name;
  }
}

/** Wrong command-line usage: the CLI exits with status 2. */
export class UsageError extends LadingError<'USAGE'> {
  constructor(message: string) {
    super('USAGE', message);
  }
}

/** Returns `err` as an Error with a message, whatever was thrown. */
export function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/** One-line description of an error and its causes, without stack traces. */
export function describeError(err: unknown): string {
  const parts: string[] = [];
  let current: unknown = err;
  for (let depth = 0; current !== undefined && depth < 5; depth++) {
    const e = asError(current);
    if (!parts.some((p) => p.includes(e.message))) parts.push(e.message);
    current = (e as { cause?: unknown }).cause;
  }
  return parts.join(': ');
}
