// `npm run env -- up` leaves everything it prints running until `down`: `up` runs in one process
// and exits; from this one, every address it printed is used (both registries with a push and a
// pull, the cluster with `kubectl get ns` through its KUBECONFIG); then `down` stops every
// recorded process. Its own state directory keeps it apart from an environment a developer runs.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openRepository } from '../../src/oci/index.js';
import { pushRandomImage } from '../oci/helpers.js';
import { isAlive, run, sleep, type EnvironmentRecord } from './process.js';
import { repoRoot } from './tools.js';

const stateDir = mkdtempSync(join(tmpdir(), 'lading-env-up-state-'));
const env = { ...process.env, LADING_TESTENV_STATE: stateDir };
const envCli = (args: string[]) => run(process.execPath, ['--import', 'tsx', 'test/env/cli.ts', ...args], { cwd: repoRoot, env, timeoutMs: 600_000 });

afterAll(async () => {
  await run(process.execPath, ['--import', 'tsx', 'test/env/cli.ts', 'down'], { cwd: repoRoot, env, allowFailure: true });
  rmSync(stateDir, { recursive: true, force: true });
});

function recorded(): EnvironmentRecord[] {
  const dir = join(stateDir, 'run');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as EnvironmentRecord);
}

async function allGone(pids: number[]): Promise<boolean> {
  for (let i = 0; i < 200 && pids.some(isAlive); i++) await sleep(100);
  return !pids.some(isAlive);
}

describe('npm run env -- up', () => {
  it('keeps everything it prints running after it exits, until down', { timeout: 900_000 }, async () => {
    const up = await envCli(['up', '--nodes', '1']);
    const printed = Object.fromEntries(up.stdout.trim().split('\n').map((line) => /^export ([A-Z0-9_]+)=(.*)$/.exec(line)?.slice(1, 3) ?? [line, '']));
    expect(Object.keys(printed).sort()).toEqual(['KUBECONFIG', 'LADING_TEST_REGISTRY', 'LADING_TEST_REGISTRY_V3']);
    const [record] = recorded();
    const pids = record?.processes.map((p) => p.pid) ?? [];
    expect(pids.length).toBeGreaterThan(2);

    // `up` has exited: every registry it printed still takes a push and gives it back.
    for (const key of ['LADING_TEST_REGISTRY', 'LADING_TEST_REGISTRY_V3']) {
      const repo = openRepository(`${printed[key]}/env-up/check`);
      const pushed = await pushRandomImage(repo, { tag: '1.0.0' });
      expect((await repo.resolve('1.0.0')).digest, key).toBe(pushed.descriptor.digest);
    }
    // The cluster answers through the printed kubeconfig.
    const kubectl = await run('kubectl', ['get', 'ns', '-o', 'name'], { env: { ...process.env, KUBECONFIG: printed['KUBECONFIG'] ?? '' } });
    expect(kubectl.stdout).toContain('namespace/default');

    await envCli(['down']);
    expect(await allGone(pids), `still running after down: ${pids.filter(isAlive).join(', ')}`).toBe(true);
    expect(recorded()).toEqual([]);
  });
});
