import type { Command } from 'commander';
import { resolve } from 'node:path';
import { UsageError } from '../errors.js';
// The credentials module alone: the rest of the OCI library loads when a command runs.
import { loadDockerConfig, type Credential, type CredentialStore } from '../oci/credentials.js';
import type { RegistryOptions } from '../oci/index.js';
import type { CliIO } from './output.js';

/** The default of --timeout: how long a whole registry operation may take. */
export const DEFAULT_REGISTRY_TIMEOUT = '5m';

/**
 * Adds the flags every registry-talking command shares. `timeout` is --timeout's default (a
 * command that may move much data, such as copy, gives a longer one); a command that already has
 * its own --timeout (apply: how long to wait) keeps it, and it bounds the registry work too.
 */
export function addRegistryFlags(cmd: Command, opts: { timeout?: string } = {}): Command {
  cmd
    .option('--insecure', 'allow plain http and skip TLS verification (plain http is always allowed for localhost/127.0.0.1/::1)')
    .option('--ca-file <path>', "PEM file with CA certificates to trust for the registry, besides Node's bundled roots")
    .option('--cert-file <path>', 'PEM client certificate for mutual TLS')
    .option('--key-file <path>', 'PEM private key of the client certificate')
    .option('--creds <user:password>', 'registry credentials for this command (visible in the process list: prefer `lading login`; default: the docker config)')
    .option('--registry-timeout <duration>', 'idle limit: time without progress (connecting, waiting for an answer, between two chunks of data) before a registry request fails, e.g. 30s, 2m', '60s');
  if (!cmd.options.some((o) => o.long === '--timeout')) {
    cmd.option('--timeout <duration>', 'limit on the whole registry operation, retries included, e.g. 90s, 10m', opts.timeout ?? DEFAULT_REGISTRY_TIMEOUT);
  }
  return cmd;
}

/** Parses `90`, `500ms`, `30s`, `2m`, `1h` into milliseconds. */
export function parseDuration(value: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (!m) throw new UsageError(`invalid ${flag} "${value}": use a duration like 30s, 2m or 500ms`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  const ms = unit === 'ms' ? n : unit === 's' ? n * 1000 : unit === 'm' ? n * 60_000 : n * 3_600_000;
  if (ms <= 0) throw new UsageError(`invalid ${flag} "${value}": must be positive`);
  return ms;
}

/** `--creds`: the same credentials for every registry the command talks to (like skopeo). */
class FlagCredentials implements CredentialStore {
  constructor(private readonly credential: Credential) {}
  async get(): Promise<Credential | undefined> {
    return this.credential;
  }
}

/** Turns the parsed flags of addRegistryFlags into RegistryOptions. */
export function registryOptionsFrom(opts: Record<string, unknown>, io: CliIO): RegistryOptions {
  const out: RegistryOptions = { env: io.env };
  if (opts['insecure'] === true) out.insecure = true;
  const file = (key: string): string | undefined => (typeof opts[key] === 'string' ? resolve(io.cwd, opts[key] as string) : undefined);
  const ca = file('caFile');
  const cert = file('certFile');
  const key = file('keyFile');
  if (ca) out.caFile = ca;
  if (cert) out.certFile = cert;
  if (key) out.keyFile = key;
  if ((cert === undefined) !== (key === undefined)) throw new UsageError('--cert-file and --key-file go together');
  if (typeof opts['registryTimeout'] === 'string') out.idleTimeoutMs = parseDuration(opts['registryTimeout'], '--registry-timeout');
  if (typeof opts['timeout'] === 'string') out.timeoutMs = parseDuration(opts['timeout'], '--timeout');
  if (typeof opts['creds'] === 'string') {
    const creds = opts['creds'];
    const colon = creds.indexOf(':');
    if (colon <= 0) throw new UsageError('invalid --creds: expected <user>:<password>');
    out.credentials = new FlagCredentials({ username: creds.slice(0, colon), password: creds.slice(colon + 1) });
  } else {
    out.credentials = loadDockerConfig({ env: io.env });
  }
  return out;
}
