// A real Kubernetes control plane as plain processes on loopback: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler and kwok (fake Nodes whose Pods become Running/Ready).
// Certificates and service-account keys are generated at start; data lives in a temp dir that is
// removed on stop, on SIGINT/SIGTERM and at exit.
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import {
  cleanUpOnExit,
  freePorts,
  killGroupsNow,
  removeRecord,
  spawnLogged,
  stopProcess,
  tailFile,
  waitFor,
  writeRecord,
  type StartedProcess,
} from './process.js';
import { stateRoot, toolPath, type ToolName } from './tools.js';

export interface StartClusterOptions {
  /** Number of kwok fake Nodes (default 2). */
  nodes?: number;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
  signal?: AbortSignal;
  /** Time allowed for the control plane to become ready (default 90 s). */
  readyTimeoutMs?: number;
  /**
   * Keep running after this process exits (for `npm run env -- up`); stop it later with
   * `npm run env -- down`. By default the cluster is killed when this process exits or is
   * interrupted.
   */
  detach?: boolean;
}

export interface RunningCluster {
  /** Id of the environment record (see process.ts writeRecord) that lets `npm run env -- down` clean up. */
  recordId: string;
  /** Path of a kubeconfig with admin (system:masters) client-certificate credentials. */
  kubeconfig: string;
  /** https://127.0.0.1:PORT */
  server: string;
  /** CA that signed the API server's serving certificate and the client certificates. */
  caFile: string;
  dataDir: string;
  nodeNames: string[];
  processes: Array<{ name: string; pid: number; logFile: string }>;
  /** Stops kube-apiserver and starts it again with the same flags (etcd keeps the data); resolves once it is ready. */
  restartApiServer(): Promise<void>;
  stop(): Promise<void>;
}

interface Pki {
  caFile: string;
  caKeyFile: string;
  serverCert: string;
  serverKey: string;
  adminCert: string;
  adminKey: string;
  saKey: string;
  saPub: string;
}

function openssl(args: string[], what: string): void {
  try {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT') {
      throw new Error(`${what}: openssl is not installed; install it with \`apt-get install openssl\` (npm run setup does)`);
    }
    throw new Error(`${what}: openssl ${args[0]} failed: ${e.stderr?.toString().trim() ?? e.message}`);
  }
}

function issueCert(dir: string, name: string, subject: string, ext: string, ca: { cert: string; key: string }): { cert: string; key: string } {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.crt`);
  const extFile = join(dir, `${name}.ext`);
  writeFileSync(extFile, ext);
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', csr, '-subj', subject], `generating the ${name} key`);
  openssl(
    ['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-set_serial', `0x${randomBytes(8).toString('hex')}`, '-days', '7', '-out', cert, '-extfile', extFile],
    `signing the ${name} certificate`,
  );
  chmodSync(key, 0o600);
  rmSync(csr);
  rmSync(extFile);
  return { cert, key };
}

function generatePki(dir: string): Pki {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caFile = join(dir, 'ca.crt');
  const caKeyFile = join(dir, 'ca.key');
  openssl(
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', caKeyFile, '-out', caFile, '-days', '7', '-subj', '/CN=lading-testenv-ca', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    'generating the cluster CA',
  );
  chmodSync(caKeyFile, 0o600);
  const ca = { cert: caFile, key: caKeyFile };
  const server = issueCert(
    dir,
    'apiserver',
    '/CN=kube-apiserver',
    [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      'subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local',
      '',
    ].join('\n'),
    ca,
  );
  const admin = issueCert(
    dir,
    'admin',
    '/O=system:masters/CN=lading-admin',
    ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment', 'extendedKeyUsage=clientAuth', ''].join('\n'),
    ca,
  );
  const sa = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const saKey = join(dir, 'sa.key');
  const saPub = join(dir, 'sa.pub');
  writeFileSync(saKey, sa.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  writeFileSync(saPub, sa.publicKey.export({ type: 'spki', format: 'pem' }));
  return { caFile, caKeyFile, serverCert: server.cert, serverKey: server.key, adminCert: admin.cert, adminKey: admin.key, saKey, saPub };
}

function writeKubeconfig(file: string, server: string, pki: Pki): void {
  const b64 = (f: string): string => readFileSync(f).toString('base64');
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'lading-testenv', cluster: { server, 'certificate-authority-data': b64(pki.caFile) } }],
    users: [{ name: 'lading-admin', user: { 'client-certificate-data': b64(pki.adminCert), 'client-key-data': b64(pki.adminKey) } }],
    contexts: [{ name: 'lading-testenv', context: { cluster: 'lading-testenv', user: 'lading-admin', namespace: 'default' } }],
    'current-context': 'lading-testenv',
    preferences: {},
  };
  // Holds a private key: owner-only.
  writeFileSync(file, stringify(config), { mode: 0o600 });
}

/** A tiny client for the readiness checks (the tests use kubectl and lading itself). */
class ApiClient {
  constructor(
    private readonly server: string,
    private readonly pki: Pki,
  ) {}

  request(method: string, path: string, body?: unknown): Promise<{ status: number; body: string }> {
    const url = new URL(path, this.server);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          ca: readFileSync(this.pki.caFile),
          cert: readFileSync(this.pki.adminCert),
          key: readFileSync(this.pki.adminKey),
          headers: payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {},
          timeout: 10_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > 4 * 1024 * 1024) {
              req.destroy(new Error(`${method} ${path}: response larger than 4 MiB`));
              return;
            }
            chunks.push(c);
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
      req.on('error', reject);
      if (payload) req.write(payload);
      req.end();
    });
  }
}

function fakeNode(name: string): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      annotations: { 'node.alpha.kubernetes.io/ttl': '0', 'kwok.x-k8s.io/node': 'fake' },
      labels: {
        'beta.kubernetes.io/arch': 'amd64',
        'beta.kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/role': 'agent',
        'node-role.kubernetes.io/agent': '',
        type: 'kwok',
      },
    },
    spec: {},
    status: {
      allocatable: { cpu: '32', memory: '256Gi', pods: '110' },
      capacity: { cpu: '32', memory: '256Gi', pods: '110' },
      nodeInfo: { architecture: 'amd64', kubeletVersion: 'fake', kubeProxyVersion: 'fake', operatingSystem: 'linux' },
      phase: 'Running',
    },
  };
}

// Live clusters of this process, cleaned up synchronously on exit and on SIGINT/SIGTERM.
const live = new Map<string, { pids: number[]; dataDir: string }>();

function cleanupAllNow(): void {
  for (const [id, c] of live) {
    killGroupsNow(c.pids);
    rmSync(c.dataDir, { recursive: true, force: true });
    removeRecord(stateRoot(), id);
  }
  live.clear();
}


/**
 * Starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok on free loopback
 * ports and waits until the API server is ready, every fake Node is Ready and the default
 * ServiceAccount exists. On failure everything started so far is stopped and removed.
 */
export async function startCluster(opts: StartClusterOptions = {}): Promise<RunningCluster> {
  // A free port can be taken by someone else between choosing it and binding it: retry once.
  try {
    return await startClusterOnce(opts);
  } catch (err) {
    if (!(err instanceof Error) || !/address already in use/.test(err.message) || opts.signal?.aborted) throw err;
    opts.log?.('a chosen port was taken meanwhile; retrying on new ports');
    return startClusterOnce(opts);
  }
}

async function startClusterOnce(opts: StartClusterOptions): Promise<RunningCluster> {
  const log = opts.log ?? ((): void => undefined);
  const nodeCount = opts.nodes ?? 2;
  const readyTimeoutMs = opts.readyTimeoutMs ?? 90_000;
  const tools = {} as Record<ToolName, string>;
  for (const t of ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok'] as const) tools[t] = toolPath(t);

  const id = `cluster-${process.pid}-${randomBytes(3).toString('hex')}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'lading-cluster-'));
  const logs = join(dataDir, 'logs');
  mkdirSync(logs);
  const started: StartedProcess[] = [];
  const record = (info: Record<string, string>): void => {
    writeRecord(stateRoot(), {
      id,
      kind: 'cluster',
      owner: process.pid,
      startedAt: new Date().toISOString(),
      processes: started.map((p) => ({ name: p.name, pid: p.pid, command: tools[p.name as ToolName], logFile: p.logFile })),
      dataDirs: [dataDir],
      info,
    });
  };
  cleanUpOnExit(cleanupAllNow);
  live.set(id, { pids: [], dataDir });
  const start = (name: ToolName, args: string[]): StartedProcess => {
    const p = spawnLogged({ name, command: tools[name], args, logFile: join(logs, `${name}.log`) });
    started.push(p);
    live.get(id)?.pids.push(p.pid);
    record({});
    return p;
  };
  const exitedEarly = (p: StartedProcess): (() => string | undefined) => {
    let code: number | string | undefined;
    void p.exited.then((c) => (code = c));
    return () => (code === undefined ? undefined : `${p.name} exited (${code}); last log lines:\n${tailFile(p.logFile)}`);
  };
  const stopAll = async (): Promise<void> => {
    for (const p of [...started].reverse()) await stopProcess(p.pid);
    rmSync(dataDir, { recursive: true, force: true });
    removeRecord(stateRoot(), id);
    live.delete(id);
  };

  try {
    const t0 = Date.now();
    const pki = generatePki(join(dataDir, 'pki'));
    const [etcdPort, etcdPeerPort, apiPort, kcmPort, schedPort] = (await freePorts(5)) as [number, number, number, number, number];
    log(`pki ready (${Date.now() - t0} ms)`);

    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const etcd = start('etcd', [
      '--name=lading',
      `--data-dir=${join(dataDir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
      `--initial-cluster=lading=http://127.0.0.1:${etcdPeerPort}`,
      '--unsafe-no-fsync=true',
      '--log-level=warn',
    ]);
    await waitFor(
      async () => {
        const res = await fetch(`${etcdUrl}/health`, { signal: AbortSignal.timeout(2_000) });
        const body = (await res.json()) as { health?: string };
        return body.health === 'true' ? true : undefined;
      },
      { what: `etcd on ${etcdUrl}`, timeoutMs: readyTimeoutMs, failIf: exitedEarly(etcd), ...(opts.signal ? { signal: opts.signal } : {}) },
    );
    log(`etcd ready (${Date.now() - t0} ms)`);

    const server = `https://127.0.0.1:${apiPort}`;
    const apiserverArgs = [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      `--cert-dir=${join(dataDir, 'apiserver')}`,
      `--tls-cert-file=${pki.serverCert}`,
      `--tls-private-key-file=${pki.serverKey}`,
      `--client-ca-file=${pki.caFile}`,
      '--authorization-mode=RBAC',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${pki.saPub}`,
      `--service-account-signing-key-file=${pki.saKey}`,
      '--service-cluster-ip-range=10.96.0.0/16',
      '--allow-privileged=true',
      // Loopback addresses are not valid Endpoints; there is no Service network here anyway.
      '--endpoint-reconciler-type=none',
      '--profiling=false',
    ];
    let apiserver = start('kube-apiserver', apiserverArgs);
    const kubeconfig = join(dataDir, 'kubeconfig');
    writeKubeconfig(kubeconfig, server, pki);
    const api = new ApiClient(server, pki);
    await waitFor(
      async () => {
        const res = await api.request('GET', '/readyz');
        return res.status === 200 ? true : undefined;
      },
      { what: `kube-apiserver on ${server} (/readyz)`, timeoutMs: readyTimeoutMs, failIf: exitedEarly(apiserver), ...(opts.signal ? { signal: opts.signal } : {}) },
    );
    log(`kube-apiserver ready (${Date.now() - t0} ms)`);
    record({ kubeconfig, server });

    const componentAuth = [`--kubeconfig=${kubeconfig}`, `--authentication-kubeconfig=${kubeconfig}`, `--authorization-kubeconfig=${kubeconfig}`, '--bind-address=127.0.0.1', '--leader-elect=false'];
    const kcm = start('kube-controller-manager', [
      ...componentAuth,
      `--secure-port=${kcmPort}`,
      `--cert-dir=${join(dataDir, 'kcm')}`,
      `--service-account-private-key-file=${pki.saKey}`,
      `--root-ca-file=${pki.caFile}`,
      `--cluster-signing-cert-file=${pki.caFile}`,
      `--cluster-signing-key-file=${pki.caKeyFile}`,
      '--use-service-account-credentials=false',
      '--profiling=false',
    ]);
    const scheduler = start('kube-scheduler', [...componentAuth, `--secure-port=${schedPort}`, `--cert-dir=${join(dataDir, 'scheduler')}`, '--profiling=false']);
    const kwokConfig = join(dataDir, 'kwok.yaml');
    writeFileSync(kwokConfig, '');
    const kwok = start('kwok', [
      `--config=${kwokConfig}`,
      `--kubeconfig=${kubeconfig}`,
      '--manage-all-nodes=false',
      '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
      '--cidr=10.244.0.0/16',
      '--node-ip=10.244.255.1',
      '--node-lease-duration-seconds=40',
    ]);

    const nodeNames = Array.from({ length: nodeCount }, (_, i) => `kwok-node-${i}`);
    for (const name of nodeNames) {
      const res = await api.request('POST', '/api/v1/nodes', fakeNode(name));
      if (res.status !== 201 && res.status !== 409) throw new Error(`creating fake node ${name}: HTTP ${res.status}: ${res.body.slice(0, 500)}`);
    }
    // exitedEarly starts watching when called: once per process, up front.
    const checks = [kcm, scheduler, kwok].map(exitedEarly);
    const anyExited = (): string | undefined => checks.map((c) => c()).find((m) => m !== undefined);
    await waitFor(
      async () => {
        for (const name of nodeNames) {
          const res = await api.request('GET', `/api/v1/nodes/${name}`);
          if (res.status !== 200) return undefined;
          const node = JSON.parse(res.body) as { status?: { conditions?: Array<{ type: string; status: string }> } };
          if (!node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) return undefined;
        }
        return true;
      },
      { what: `kwok nodes ${nodeNames.join(', ')} to be Ready`, timeoutMs: readyTimeoutMs, failIf: anyExited, ...(opts.signal ? { signal: opts.signal } : {}) },
    );
    log(`nodes ready (${Date.now() - t0} ms)`);
    await waitFor(
      async () => {
        const res = await api.request('GET', '/api/v1/namespaces/default/serviceaccounts/default');
        return res.status === 200 ? true : undefined;
      },
      { what: 'the default ServiceAccount (kube-controller-manager)', timeoutMs: readyTimeoutMs, failIf: anyExited, ...(opts.signal ? { signal: opts.signal } : {}) },
    );
    log(`cluster ready (${Date.now() - t0} ms)`);
    record({ kubeconfig, server });
    if (opts.detach === true) live.delete(id);

    return {
      recordId: id,
      kubeconfig,
      server,
      caFile: pki.caFile,
      dataDir,
      nodeNames,
      processes: started.map((p) => ({ name: p.name, pid: p.pid, logFile: p.logFile })),
      restartApiServer: async () => {
        await stopProcess(apiserver.pid);
        started.splice(started.indexOf(apiserver), 1);
        const pids = live.get(id)?.pids;
        if (pids) pids.splice(pids.indexOf(apiserver.pid), 1);
        apiserver = start('kube-apiserver', apiserverArgs);
        await waitFor(
          async () => {
            const res = await api.request('GET', '/readyz').catch(() => undefined);
            return res?.status === 200 ? true : undefined;
          },
          { what: `kube-apiserver on ${server} (/readyz) after a restart`, timeoutMs: readyTimeoutMs, failIf: exitedEarly(apiserver) },
        );
        record({ kubeconfig, server });
      },
      stop: stopAll,
    };
  } catch (err) {
    const logTails = started
      .map((p) => `--- ${p.name} (${p.logFile}) ---\n${tailFile(p.logFile, 10)}`)
      .join('\n');
    await stopAll();
    const message = err instanceof Error ? err.message : String(err);
    throw new Error(`starting the test cluster: ${message}${logTails ? `\n${logTails}` : ''}`, { cause: err });
  }
}
