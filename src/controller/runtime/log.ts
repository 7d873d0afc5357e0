// The controller's log: one line per record on stderr, as JSON (`--log-encoding json`, the
// default, as zap's production encoder writes it: level, ts, msg, then the fields) or as
// readable text (`console`). Errors are written with describeError; every string passes through
// redactCredentials so a URL with a password in it never reaches the log.
import { describeError } from '../../errors.js';
import { redactCredentials } from '../../redact.js';
import type { Logger, LogLevel } from './types.js';

export type LogEncoding = 'json' | 'console';

export interface LoggerOptions {
  /** Least severe level written (default info). */
  level?: LogLevel;
  encoding?: LogEncoding;
  /** Where lines go (default process.stderr). */
  stream?: { write(line: string): unknown };
  now?: () => Date;
}

const levelRank: Record<LogLevel, number> = { debug: 0, info: 1, error: 2 };

export function parseLogLevel(value: string): LogLevel | undefined {
  return value === 'debug' || value === 'info' || value === 'error' ? value : undefined;
}

export function parseLogEncoding(value: string): LogEncoding | undefined {
  return value === 'json' || value === 'console' ? value : undefined;
}

/** A field value as it is written: errors described, strings redacted, other values as JSON sees them. */
function clean(value: unknown, depth = 0): unknown {
  if (value instanceof Error) return redactCredentials(describeError(value));
  if (typeof value === 'string') return redactCredentials(value);
  if (typeof value === 'bigint') return String(value);
  if (value === null || typeof value !== 'object') return value;
  // Deeper than any field worth logging: written as text, still redacted.
  if (depth > 6) {
    try {
      return redactCredentials(JSON.stringify(value) ?? '');
    } catch {
      return '[unserializable]'; // a cycle: a log line must never throw
    }
  }
  if (Array.isArray(value)) return value.map((v) => clean(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = clean(v, depth + 1);
  return out;
}

class LineLogger implements Logger {
  constructor(
    private readonly opts: Required<LoggerOptions>,
    private readonly fields: Record<string, unknown>,
  ) {}

  debug(message: string, fields?: Record<string, unknown>): void {
    this.write('debug', message, fields);
  }

  info(message: string, fields?: Record<string, unknown>): void {
    this.write('info', message, fields);
  }

  error(message: string, fields?: Record<string, unknown>): void {
    this.write('error', message, fields);
  }

  with(fields: Record<string, unknown>): Logger {
    return new LineLogger(this.opts, { ...this.fields, ...fields });
  }

  private write(level: LogLevel, message: string, fields: Record<string, unknown> | undefined): void {
    if (levelRank[level] < levelRank[this.opts.level]) return;
    const all = clean({ ...this.fields, ...fields }) as Record<string, unknown>;
    const ts = this.opts.now().toISOString();
    const msg = redactCredentials(message);
    let line: string;
    if (this.opts.encoding === 'json') {
      line = JSON.stringify({ level, ts, msg, ...all });
    } else {
      const rest = Object.entries(all)
        .map(([k, v]) => `${k}=${typeof v === 'string' && !/[\s"=]/.test(v) && v !== '' ? v : JSON.stringify(v)}`)
        .join(' ');
      line = `${ts}\t${level.toUpperCase()}\t${msg}${rest ? `\t${rest}` : ''}`;
    }
    try {
      this.opts.stream.write(`${line}\n`);
    } catch {
      // A closed stderr must not take the controller down.
    }
  }
}

export function createLogger(opts: LoggerOptions = {}, fields: Record<string, unknown> = {}): Logger {
  return new LineLogger(
    {
      level: opts.level ?? 'info',
      encoding: opts.encoding ?? 'json',
      stream: opts.stream ?? process.stderr,
      now: opts.now ?? (() => new Date()),
    },
    fields,
  );
}

/** A logger that writes nothing. */
export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  error: () => undefined,
  with: () => silentLogger,
};
