// The controller process's options: listen addresses, the advertised storage address as Flux
// derives it, defaults and environment fallbacks, and the CLI's reading of Flux's flags.
import { describe, expect, it } from 'vitest';
import { controllerOptionsFrom } from '../../src/cli/commands/controller.js';
import { advertisedStorageAddress, parseListenAddress, resolveControllerOptions } from '../../src/controller/run.js';
import { leaseNameFor } from '../../src/controller/runtime/lease.js';
import { LadingError, UsageError } from '../../src/errors.js';

const io = { env: {}, cwd: '/work', stderr: process.stderr };

describe('controller options', () => {
  it('reads listen addresses as Go does', () => {
    expect(parseListenAddress(':9090', '--storage-addr')).toEqual({ host: undefined, port: 9090 });
    expect(parseListenAddress('127.0.0.1:0', '--health-addr')).toEqual({ host: '127.0.0.1', port: 0 });
    expect(parseListenAddress('[::1]:8080', '--metrics-addr')).toEqual({ host: '::1', port: 8080 });
    expect(parseListenAddress('9440', '--health-addr')).toEqual({ host: undefined, port: 9440 });
    for (const bad of ['localhost', 'host:port', ':99999', '']) {
      expect(() => parseListenAddress(bad, '--storage-addr')).toThrow(LadingError);
    }
  });

  it('derives the advertised storage address from --storage-addr as Flux does', () => {
    expect(advertisedStorageAddress(':9090', {})).toBe('localhost:9090');
    expect(advertisedStorageAddress('0.0.0.0:9090', { HOSTNAME: 'source-controller-abc' })).toBe('source-controller-abc:9090');
    expect(advertisedStorageAddress('10.0.0.5:9090', {})).toBe('10.0.0.5:9090');
  });

  it('takes Flux defaults, then the environment, then the options', () => {
    const d = resolveControllerOptions({ env: {} }, 'default');
    expect(d).toMatchObject({
      storagePath: '/data',
      storageAddr: ':9090',
      storageAdvAddr: 'localhost:9090',
      metricsAddr: ':8080',
      healthAddr: ':9440',
      concurrent: 4,
      requeueDependencyMs: 30_000,
      watchAllNamespaces: true,
      runtimeNamespace: 'default',
      enableLeaderElection: false,
      minRetryDelayMs: 750,
      maxRetryDelayMs: 900_000,
      intervalJitterPercentage: 5,
      gracefulShutdownTimeoutMs: 30_000,
    });
    const env = { STORAGE_PATH: '/var/lib/artifacts', STORAGE_ADV_ADDR: 'lading.flux-system.svc', RUNTIME_NAMESPACE: 'flux-system', METRICS_ADDR: ':18080' };
    expect(resolveControllerOptions({ env }, 'default')).toMatchObject({ storagePath: '/var/lib/artifacts', storageAdvAddr: 'lading.flux-system.svc', runtimeNamespace: 'flux-system', metricsAddr: ':18080' });
    expect(resolveControllerOptions({ env, storagePath: '/x', runtimeNamespace: 'ns' }, 'default')).toMatchObject({ storagePath: '/x', runtimeNamespace: 'ns' });
  });

  it('reads Flux flag values: Go durations and booleans, paths against the working directory', () => {
    const o = controllerOptionsFrom(
      {
        storagePath: 'artifacts',
        minRetryDelay: '1s',
        maxRetryDelay: '1h30m',
        requeueDependency: '5s',
        watchAllNamespaces: false,
        enableLeaderElection: true,
        concurrent: '10',
        intervalJitterPercentage: '10',
        gracefulShutdownTimeout: '45s',
        logLevel: 'debug',
        logEncoding: 'console',
      },
      io,
    );
    expect(o).toMatchObject({
      storagePath: '/work/artifacts',
      minRetryDelayMs: 1000,
      maxRetryDelayMs: 5_400_000,
      requeueDependencyMs: 5000,
      watchAllNamespaces: false,
      enableLeaderElection: true,
      concurrent: 10,
      intervalJitterPercentage: 10,
      gracefulShutdownTimeoutMs: 45_000,
      logLevel: 'debug',
      logEncoding: 'console',
    });
    expect(o).not.toHaveProperty('metricsAddr');
  });

  it('refuses bad values as usage errors', () => {
    for (const bad of [{ concurrent: '0' }, { concurrent: '2.5' }, { logLevel: 'warn' }, { logEncoding: 'text' }, { minRetryDelay: '10x' }, { minRetryDelay: '1m', maxRetryDelay: '1s' }, { intervalJitterPercentage: '100' }]) {
      expect(() => controllerOptionsFrom(bad, io), JSON.stringify(bad)).toThrow(UsageError);
    }
  });

  it('names the lease per shard as Flux does', () => {
    expect(leaseNameFor(undefined)).toBe('lading-controller-leader-election');
    // sha256("sharding.fluxcd.io/key=shard1") starts with these 8 hex digits.
    expect(leaseNameFor('sharding.fluxcd.io/key=shard1')).toBe('lading-controller-leader-election-73fdc1be');
  });
});
