// Durations as Kubernetes APIs write them (Go's time.ParseDuration / Duration.String, the form
// of metav1.Duration: `10m`, `1h30m`, `1.5s`, `250ms`). Flux's CRDs accept
// `^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`; Go also accepts `us`, `µs` and `ns`, which are read here too.
import { LadingError } from '../../errors.js';

const units: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses a Go duration into milliseconds. `what` names the field for the error message. */
export function parseDuration(text: string, what = 'duration'): number {
  const s = text.trim();
  if (s === '0') return 0;
  const re = /([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)/y;
  let ms = 0;
  let pos = 0;
  if (s.length === 0) throw new LadingError('INVALID_DURATION', `${what}: empty duration`);
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m || m[1] === '' || m[1] === '.') throw new LadingError('INVALID_DURATION', `${what}: invalid duration "${text}" (expected e.g. 10m, 1h30m, 30s)`);
    ms += Number(m[1]) * (units[m[2] as string] as number);
    pos = re.lastIndex;
  }
  return ms;
}

/** Formats milliseconds as Go's Duration.String does (`1h0m0s`, `1m30s`, `500ms`, `0s`). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  const neg = ms < 0;
  let rest = Math.abs(ms);
  let out: string;
  if (rest < 1000) {
    out = `${trim(rest)}ms`;
  } else {
    const h = Math.floor(rest / 3_600_000);
    rest -= h * 3_600_000;
    const m = Math.floor(rest / 60_000);
    rest -= m * 60_000;
    const sec = `${trim(rest / 1000)}s`;
    out = h > 0 ? `${h}h${m}m${sec}` : m > 0 ? `${m}m${sec}` : sec;
  }
  return neg ? `-${out}` : out;
}

function trim(n: number): string {
  return String(Number(n.toFixed(9)));
}

/** Adds ±`percent` % of random jitter to a duration, as Flux's `--interval-jitter-percentage` does. */
export function jitter(ms: number, percent = 5, random: () => number = Math.random): number {
  const spread = (ms * percent) / 100;
  return Math.max(0, Math.round(ms - spread + random() * 2 * spread));
}
