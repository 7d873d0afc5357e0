// A real S3 server on loopback for the tests: gofakes3 with its in-memory backend (the s3server
// tool built from test/tools/s3), the endpoint of Flux's Bucket (provider generic). It accepts
// any credentials and unsigned requests, so objects are put with plain HTTP PUTs. Stopped by pid.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acceptingConnections, freePort, spawnLogged, stopProcess, tailFile } from './process.js';
import { toolPath } from './tools.js';

export interface S3Server {
  pid: number;
  /** `127.0.0.1:PORT`, what a Bucket's spec.endpoint takes (with `insecure: true`). */
  endpoint: string;
  /** `http://127.0.0.1:PORT`. */
  url: string;
  bucket: string;
  /** Puts (or replaces) an object of the bucket; throws on a non-2xx answer. */
  putObject(key: string, body: string | Uint8Array): Promise<void>;
  /** Deletes an object of the bucket; throws on a non-2xx answer. */
  deleteObject(key: string): Promise<void>;
  /** The server's log so far. */
  log(): string;
  /** SIGTERM (then SIGKILL) by pid; removes the log. */
  stop(): Promise<void>;
}

function objectUrl(url: string, bucket: string, key: string): string {
  return `${url}/${encodeURIComponent(bucket)}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

/** Starts s3server on a free loopback port with `bucket` created, and waits until it accepts connections. */
export async function startS3Server(opts: { bucket: string }): Promise<S3Server> {
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(opts.bucket)) throw new Error(`startS3Server: invalid bucket name ${JSON.stringify(opts.bucket)}`);
  const logDir = mkdtempSync(join(tmpdir(), 'lading-s3-'));
  const logFile = join(logDir, 's3server.log');
  const port = await freePort();
  let proc;
  try {
    proc = spawnLogged({ name: 's3server', command: toolPath('s3server'), args: [`-addr=127.0.0.1:${port}`, `-bucket=${opts.bucket}`], logFile });
  } catch (err) {
    rmSync(logDir, { recursive: true, force: true });
    throw err;
  }
  const pid = proc.pid;
  let exited: string | undefined;
  void proc.exited.then((c) => (exited = String(c)));
  const stop = async (): Promise<void> => {
    await stopProcess(pid);
    rmSync(logDir, { recursive: true, force: true });
  };
  try {
    await acceptingConnections(port, `s3server on 127.0.0.1:${port}`, () => exited, logFile);
  } catch (err) {
    await stop();
    throw err;
  }
  const url = `http://127.0.0.1:${port}`;
  const send = async (method: 'PUT' | 'DELETE', key: string, body?: string | Uint8Array): Promise<void> => {
    const res = await fetch(objectUrl(url, opts.bucket, key), { method, ...(body !== undefined ? { body } : {}), signal: AbortSignal.timeout(10_000) });
    const text = await res.text();
    if (!res.ok) throw new Error(`s3server: ${method} ${opts.bucket}/${key}: HTTP ${res.status}: ${text.slice(0, 500)}`);
  };
  return {
    pid,
    endpoint: `127.0.0.1:${port}`,
    url,
    bucket: opts.bucket,
    putObject: (key, body) => send('PUT', key, body),
    deleteObject: (key) => send('DELETE', key),
    log: () => tailFile(logFile, 100),
    stop,
  };
}
