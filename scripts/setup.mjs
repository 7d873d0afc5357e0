#!/usr/bin/env node
// Installs what the tests, the demo and the benchmarks need on a fresh machine of this kind:
// Debian packages (registry, skopeo, htpasswd, tinyproxy, stunnel, microsocks) and npm dependencies. The Go-built reference
// tools are added by the test environment (test/env).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const debianPackages = [
  { pkg: 'docker-registry', bin: '/usr/bin/docker-registry' },
  { pkg: 'skopeo', bin: '/usr/bin/skopeo' },
  { pkg: 'apache2-utils', bin: '/usr/bin/htpasswd' },
  { pkg: 'tinyproxy', bin: '/usr/bin/tinyproxy' },
  { pkg: 'stunnel4', bin: '/usr/bin/stunnel4' },
  { pkg: 'microsocks', bin: '/usr/bin/microsocks' },
  { pkg: 'openssl', bin: '/usr/bin/openssl' },
];

function log(msg) {
  process.stderr.write(`setup: ${msg}\n`);
}

const missing = debianPackages.filter((p) => !existsSync(p.bin)).map((p) => p.pkg);
if (missing.length > 0) {
  log(`installing Debian packages: ${missing.join(' ')}`);
  const sudo = process.getuid && process.getuid() !== 0 ? ['sudo'] : [];
  const apt = (args) => {
    const cmd = [...sudo, 'apt-get', ...args];
    const r = spawnSync(cmd[0], cmd.slice(1), { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    return r.status === 0;
  };
  if (!apt(['install', '-y', '--no-install-recommends', ...missing])) {
    if (!apt(['update']) || !apt(['install', '-y', '--no-install-recommends', ...missing])) {
      log(`could not install ${missing.join(' ')} with apt-get; install them by hand and re-run`);
      process.exit(1);
    }
  }
}

if (!existsSync('node_modules/.package-lock.json')) {
  log('installing npm dependencies (npm ci)');
  execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { stdio: 'inherit' });
}

// The reference tools (Kubernetes control plane, etcd, kwok, cosign, crane, flux, distribution v3,
// the conformance suite) are built from the pinned Go modules in test/tools by the same code the
// tests use (test/env/tools.ts ensureTools); a no-op when .cache/testenv holds binaries for the
// current pins. A cold build takes a while on 2 cores; progress goes to stderr.
// `--tools=kube,...` builds only those modules of test/tools (the demo needs the control plane
// alone); the default is all of them (npm test).
{
  const only = process.argv.find((a) => a.startsWith('--tools='));
  const env = { ...process.env };
  const hasGo = spawnSync('go', ['version'], { stdio: 'ignore' }).status === 0;
  if (!hasGo && existsSync('/usr/local/go/bin/go')) env.PATH = `/usr/local/go/bin:${env.PATH ?? ''}`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'test/env/cli.ts', 'build', ...(only ? ['--modules', only.slice('--tools='.length)] : [])], { stdio: 'inherit', env });
  if (r.status !== 0) {
    log('building the reference tools failed (see the message above); fix it and re-run `npm run setup`');
    process.exit(1);
  }
}

// Flux's controller modules (their CRDs and API docs are the reference the controller tests
// compare lading's CRDs with): fetched into the Go module cache now, so tests need no network.
{
  const only = process.argv.find((a) => a.startsWith('--tools='));
  if (!only) {
    const env = { ...process.env, GOFLAGS: '-mod=mod' };
    if (spawnSync('go', ['version'], { stdio: 'ignore' }).status !== 0 && existsSync('/usr/local/go/bin/go')) env.PATH = `/usr/local/go/bin:${env.PATH ?? ''}`;
    // v1.9.5: what flux v2.9.5 ships (v1 only); v1.7.3: the last release serving v1beta2, which the seeds' YAML uses.
    const mods = ['github.com/fluxcd/source-controller@v1.9.5', 'github.com/fluxcd/kustomize-controller@v1.9.5', 'github.com/fluxcd/source-controller@v1.7.3', 'github.com/fluxcd/kustomize-controller@v1.7.3'];
    const r = spawnSync('go', ['mod', 'download', ...mods], { stdio: 'inherit', env, cwd: '/' });
    if (r.status !== 0) {
      log(`could not download ${mods.join(' ')} into the Go module cache (GOPROXY reachable?)`);
      process.exit(1);
    }
  }
}
