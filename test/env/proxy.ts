// A real HTTP proxy for tests: tinyproxy (Debian package, installed by `npm run setup`) on a
// loopback port, with CONNECT to any port and, optionally, basic auth; and, for an https proxy
// (TLS to the proxy itself, which tinyproxy does not speak), stunnel (Debian's stunnel4) in front
// of it terminating TLS with a certificate of the test PKI. Started as plain processes and
// stopped by pid, like the registries.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acceptingConnections, cleanUpOnExit, freePort, killGroupsNow, spawnLogged, stopProcess } from './process.js';

const TINYPROXY = '/usr/bin/tinyproxy';
const STUNNEL = '/usr/bin/stunnel4';

export interface RunningProxy {
  /** `http://127.0.0.1:PORT` (`https://` with tls; with user:password@ when auth is on). */
  url: string;
  host: string;
  pid: number;
  logFile: string;
  stop(): Promise<void>;
}

/**
 * Starts tinyproxy on 127.0.0.1; `auth` turns on basic auth with those credentials; `tls` (a
 * certificate and key for 127.0.0.1) puts stunnel in front, so that clients reach the proxy over
 * TLS (an https:// proxy URL).
 */
export async function startProxy(opts: { auth?: { username: string; password: string }; tls?: { certFile: string; keyFile: string } } = {}): Promise<RunningProxy> {
  if (!existsSync(TINYPROXY)) throw new Error(`${TINYPROXY} is missing: install it with \`sudo apt-get install -y tinyproxy\` (or run \`npm run setup\`)`);
  if (opts.tls && !existsSync(STUNNEL)) throw new Error(`${STUNNEL} is missing: install it with \`sudo apt-get install -y stunnel4\` (or run \`npm run setup\`)`);
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
  const pids = [proc.pid];
  cleanUpOnExit(() => killGroupsNow(pids));
  let exited: string | undefined;
  void proc.exited.then((code) => (exited = String(code)));
  await acceptingConnections(port, `tinyproxy on 127.0.0.1:${port}`, () => exited, logFile);
  let front = port;
  if (opts.tls) {
    front = await freePort();
    const tlsLog = join(dir, 'stunnel.log');
    const tlsConfig = join(dir, 'stunnel.conf');
    // foreground, no pid file, log to stderr (into tlsLog); one service: TLS on `front`, plain to tinyproxy.
    writeFileSync(tlsConfig, ['foreground = yes', 'pid =', 'debug = 5', '[proxy]', `accept = 127.0.0.1:${front}`, `connect = 127.0.0.1:${port}`, `cert = ${opts.tls.certFile}`, `key = ${opts.tls.keyFile}`, ''].join('\n'));
    const tunnel = spawnLogged({ name: 'stunnel', command: STUNNEL, args: [tlsConfig], logFile: tlsLog });
    pids.push(tunnel.pid);
    let tunnelExited: string | undefined;
    void tunnel.exited.then((code) => (tunnelExited = String(code)));
    await acceptingConnections(front, `stunnel on 127.0.0.1:${front}`, () => tunnelExited, tlsLog);
  }
  const auth = opts.auth ? `${encodeURIComponent(opts.auth.username)}:${encodeURIComponent(opts.auth.password)}@` : '';
  return {
    url: `${opts.tls ? 'https' : 'http'}://${auth}127.0.0.1:${front}`,
    host: `127.0.0.1:${front}`,
    pid: proc.pid,
    logFile,
    stop: async () => {
      for (const pid of pids.reverse()) await stopProcess(pid);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
