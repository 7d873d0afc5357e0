// A real SOCKS5 proxy for tests: microsocks (Debian package, installed by `npm run setup`) on a
// loopback port, optionally with username/password auth. It logs every connection it makes
// (`client[N] IP: connected to HOST:PORT`) to its log file. Stopped by pid.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acceptingConnections, cleanUpOnExit, freePort, killGroupsNow, spawnLogged, stopProcess } from './process.js';

const MICROSOCKS = '/usr/bin/microsocks';

export interface RunningSocksProxy {
  /** `socks5://[user:password@]127.0.0.1:PORT` */
  url: string;
  host: string;
  /** The connections it made so far (`HOST:PORT` each). */
  connections(): string[];
  stop(): Promise<void>;
}

export async function startSocksProxy(opts: { auth?: { username: string; password: string } } = {}): Promise<RunningSocksProxy> {
  if (!existsSync(MICROSOCKS)) throw new Error(`${MICROSOCKS} is missing: install it with \`sudo apt-get install -y microsocks\` (or run \`npm run setup\`)`);
  const dir = mkdtempSync(join(tmpdir(), 'lading-socks-'));
  const port = await freePort();
  const logFile = join(dir, 'microsocks.log');
  const args = ['-i', '127.0.0.1', '-p', String(port), ...(opts.auth ? ['-u', opts.auth.username, '-P', opts.auth.password] : [])];
  const proc = spawnLogged({ name: 'microsocks', command: MICROSOCKS, args, logFile });
  cleanUpOnExit(() => killGroupsNow([proc.pid]));
  let exited: string | undefined;
  void proc.exited.then((code) => (exited = String(code)));
  await acceptingConnections(port, `microsocks on 127.0.0.1:${port}`, () => exited, logFile);
  const auth = opts.auth ? `${encodeURIComponent(opts.auth.username)}:${encodeURIComponent(opts.auth.password)}@` : '';
  return {
    url: `socks5://${auth}127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    connections: () => [...readFileSync(logFile, 'utf8').matchAll(/connected to (\S+)/g)].map((m) => m[1] as string),
    stop: async () => {
      await stopProcess(proc.pid);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
