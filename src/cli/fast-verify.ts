// The fast path of `lading verify`: its command line parsed without commander, for the command
// people run in loops (admission checks, CI gates) and time against `cosign verify`. Building
// commander's program costs a short run about 5 ms; this parser is conservative instead: it
// takes only plain forms of verify's own flags, and anything else (--help, an unknown or
// abbreviated flag, a missing --key, a second reference, `--`, combined short flags) is left to
// the full CLI, which then gives its usual help or error. What it takes runs verifyCommand, as
// the commander command does, so output and exit codes are the same
// (test/cli/fast-verify.test.ts compares both paths).
// Bundled on its own (dist/cli/bundles/verify-fast.cjs); the launcher runs it first for `verify`.
import { defaultIO } from './output.js';
import { exitWhenFlushed, reportFailure } from './report.js';
import { parseAnnotations } from '../sign/target.js';
import { verify } from '../sign/verify.js';
import { verifyCommand } from './verify-command.js';

/** Flags taking a value → commander's attribute name. */
const VALUE_FLAGS: Readonly<Record<string, string>> = {
  '--key': 'key',
  '-a': 'annotations',
  '--annotations': 'annotations',
  '-o': 'output',
  '--output': 'output',
  '--ca-file': 'caFile',
  '--cert-file': 'certFile',
  '--key-file': 'keyFile',
  '--creds': 'creds',
  '--registry-timeout': 'registryTimeout',
};
/** Boolean flags → attribute name. */
const BOOLEAN_FLAGS: Readonly<Record<string, string>> = { '--insecure': 'insecure', '-y': 'yes', '--yes': 'yes' };
/** cosign's flags verify accepts and ignores (commander `[bool]`: a bare flag or `--flag=value`). */
const COMPAT_FLAGS: ReadonlySet<string> = new Set(['--insecure-ignore-tlog', '--tlog-upload', '--use-signing-config', '--new-bundle-format']);

export interface FastVerifyArgs {
  reference: string;
  /** The flags under commander's names, with commander's defaults. */
  opts: Record<string, unknown>;
}

/**
 * `verify` command lines this path takes, parsed as commander would; undefined for anything else.
 * `argv` starts with the verb.
 */
export function parseVerifyArgs(argv: readonly string[]): FastVerifyArgs | undefined {
  if (argv[0] !== 'verify') return undefined;
  const opts: Record<string, unknown> = { output: 'json', registryTimeout: '60s' };
  let reference: string | undefined;
  for (let i = 1; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!arg.startsWith('-') || arg === '-') {
      if (reference !== undefined) return undefined;
      reference = arg;
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    const inline = flag === arg ? undefined : arg.slice(eq + 1);
    const valueName = VALUE_FLAGS[flag];
    if (valueName !== undefined) {
      // A separate value that looks like a flag is left to commander's rules.
      const value = inline ?? argv[++i];
      if (value === undefined || (inline === undefined && value.startsWith('-'))) return undefined;
      if (valueName === 'annotations') opts['annotations'] = [...((opts['annotations'] as string[] | undefined) ?? []), value];
      else opts[valueName] = value;
    } else if (BOOLEAN_FLAGS[flag] !== undefined && inline === undefined) {
      opts[BOOLEAN_FLAGS[flag] as string] = true;
    } else if (COMPAT_FLAGS.has(flag)) {
      // Bare, commander would take a following non-flag argument as its value.
      const next = argv[i + 1];
      if (inline === undefined && next !== undefined && !next.startsWith('-')) return undefined;
    } else {
      return undefined;
    }
  }
  if (reference === undefined || typeof opts['key'] !== 'string' || opts['key'] === '') return undefined;
  return { reference, opts };
}

/**
 * Runs `lading verify` from `argv` when this path takes it (and exits when done); false when the
 * full CLI must run it.
 */
export function main(argv: readonly string[]): boolean {
  const parsed = parseVerifyArgs(argv);
  if (!parsed) return false;
  const io = defaultIO();
  verifyCommand(io, parsed.reference, parsed.opts, { verify, parseAnnotations }).then(
    () => exitWhenFlushed(0, io),
    (err: unknown) => exitWhenFlushed(reportFailure(err, io), io),
  );
  return true;
}
