// A throwaway PKI for tests: a CA, a server certificate for 127.0.0.1/::1/localhost and a client
// certificate, made with the openssl command line in a directory the caller owns.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestPki {
  dir: string;
  caFile: string;
  caKeyFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  clientCertFile: string;
  clientKeyFile: string;
}

function openssl(args: string[], cwd: string): void {
  if (!existsSync('/usr/bin/openssl')) {
    throw new Error('openssl is missing: install it with `sudo apt-get install -y openssl` (or run `npm run setup`)');
  }
  try {
    execFileSync('/usr/bin/openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new Error(`openssl ${args[0]} failed: ${stderr.trim() || (err as Error).message}`);
  }
}

function leaf(dir: string, name: string, subject: string, ext: string): void {
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject], dir);
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-sha256', '-extfile', `${name}.ext`], dir);
}

/** Creates a CA plus server and client certificates in `dir` (keys are 0600). */
export function createTestPki(dir: string): TestPki {
  mkdirSync(dir, { recursive: true });
  openssl(
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-sha256', '-subj', '/CN=lading test CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    dir,
  );
  leaf(dir, 'server', '/CN=127.0.0.1', 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n');
  leaf(dir, 'client', '/CN=lading test client', 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n');
  return {
    dir,
    caFile: join(dir, 'ca.crt'),
    caKeyFile: join(dir, 'ca.key'),
    serverCertFile: join(dir, 'server.crt'),
    serverKeyFile: join(dir, 'server.key'),
    clientCertFile: join(dir, 'client.crt'),
    clientKeyFile: join(dir, 'client.key'),
  };
}

export interface ChainedPki {
  dir: string;
  /** The root: what a trust store holds (as a public CA's root is in Node's bundled roots). */
  rootFile: string;
  intermediateFile: string;
  /** The server's certificate followed by the intermediate: what a server sends. */
  serverChainFile: string;
  serverKeyFile: string;
}

/**
 * A chain shaped like a public CA's: a root, an intermediate CA it signs, and a server
 * certificate for 127.0.0.1/::1/localhost signed by the intermediate (served with the
 * intermediate, so that trusting the root alone verifies it).
 */
export function createChainedPki(dir: string): ChainedPki {
  mkdirSync(dir, { recursive: true });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', 'root.key', '-out', 'root.crt', '-days', '2', '-sha256', '-subj', '/CN=lading test public-style root',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  openssl(['req', '-new', ...ec, '-keyout', 'intermediate.key', '-out', 'intermediate.csr', '-subj', '/CN=lading test public-style intermediate'], dir);
  writeFileSync(join(dir, 'intermediate.ext'), 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n');
  openssl(['x509', '-req', '-in', 'intermediate.csr', '-CA', 'root.crt', '-CAkey', 'root.key', '-CAcreateserial', '-out', 'intermediate.crt', '-days', '2', '-sha256', '-extfile', 'intermediate.ext'], dir);
  openssl(['req', '-new', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1'], dir);
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n');
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'intermediate.crt', '-CAkey', 'intermediate.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-sha256', '-extfile', 'server.ext'], dir);
  writeFileSync(join(dir, 'server-chain.crt'), readFileSync(join(dir, 'server.crt'), 'utf8') + readFileSync(join(dir, 'intermediate.crt'), 'utf8'));
  return {
    dir,
    rootFile: join(dir, 'root.crt'),
    intermediateFile: join(dir, 'intermediate.crt'),
    serverChainFile: join(dir, 'server-chain.crt'),
    serverKeyFile: join(dir, 'server.key'),
  };
}
