// A real HTTP proxy for tests: tinyproxy (Debian package, installed by `npm run setup`) on a
// loopback port, with CONNECT to any port and, optionally, basic auth. Started as a plain
// process and stopped by pid, like the registries.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanUpOnExit, freePort, killGroupsNow, spawnLogged, stopProcess, tailFile, waitFor } from './process.js';

const TINYPROXY = '/usr/bin/tinyproxy';

export interface RunningProxy {
  /** `http://127.0.0.1:PORT` (with user:password@ when auth is on). */
  url: string;
  host: string;
  pid: number;
  logFile: string;
  stop(): Promise<void>;
}

/** Starts tinyproxy on 127.0.0.1; `auth` turns on basic auth with those credentials. */
export async function startProxy(opts: { auth?: { username: string; password: string } } = {}): Promise<RunningProxy> {
  if (!existsSync(TINYPROXY)) throw new Error(`${TINYPROXY} is missing: install it with \`sudo apt-get install -y tinyproxy\` (or run \`npm run setup\`)`);
  const dir = mkdtempSync(join(tmpdir(), 'lading-proxy-'));
  const port = await freePort();
  const logFile = join(dir, 'tinyproxy.log');
  const config = join(dir, 'tinyproxy.conf');
  writeFileSync(
    config,
    [
      `Port ${port}`,
      'Listen 127.0.0.1',
      'Timeout 60',
      'MaxClients 64',
      'Allow 127.0.0.1',
      'LogLevel Info',
      // No ConnectPort line: CONNECT to every port (registries here do not listen on 443).
      ...(opts.auth ? [`BasicAuth ${opts.auth.username} ${opts.auth.password}`] : []),
      '',
    ].join('\n'),
  );
  // -d: stay in the foreground (logs to stderr, into logFile).
  const proc = spawnLogged({ name: 'tinyproxy', command: TINYPROXY, args: ['-d', '-c', config], logFile });
  const pid = proc.pid;
  const forget = () => killGroupsNow([pid]);
  cleanUpOnExit(forget);
  let exited: string | undefined;
  void proc.exited.then((code) => (exited = String(code)));
  await waitFor(
    () =>
      new Promise<true | undefined>((resolve) => {
        const s = connect(port, '127.0.0.1', () => {
          s.destroy();
          resolve(true);
        });
        s.on('error', () => resolve(undefined));
      }),
    { what: `tinyproxy on 127.0.0.1:${port}`, timeoutMs: 10_000, failIf: () => (exited !== undefined ? `it exited (${exited}): ${tailFile(logFile)}` : undefined) },
  );
  const auth = opts.auth ? `${encodeURIComponent(opts.auth.username)}:${encodeURIComponent(opts.auth.password)}@` : '';
  return {
    url: `http://${auth}127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    pid,
    logFile,
    stop: async () => {
      await stopProcess(pid);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
