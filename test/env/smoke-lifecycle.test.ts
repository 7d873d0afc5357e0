// The harness's own promises: a missing tool says how to build it; a cluster started by a process
// that is interrupted (SIGTERM) is stopped and its data removed; one whose starter was killed
// outright (SIGKILL, no handlers run) is cleaned up by `npm run env -- down`.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { isAlive, run, sleep } from './process.js';
import { repoRoot, toolPath } from './tools.js';

const stateDir = mkdtempSync(join(tmpdir(), 'lading-lifecycle-state-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(stateDir, { recursive: true, force: true });
});

interface Started {
  child: ChildProcess;
  pids: number[];
  dataDir: string;
}

/** Starts a cluster in a separate node process and returns its pids once it is ready. */
async function startInChild(): Promise<Started> {
  const clusterModule = new URL('./cluster.ts', import.meta.url).href;
  const script = [
    `const { startCluster } = await import(${JSON.stringify(clusterModule)});`,
    'const c = await startCluster({ nodes: 1 });',
    'console.log(JSON.stringify({ pids: c.processes.map((p) => p.pid), dataDir: c.dataDir }));',
    'setInterval(() => {}, 1000);',
  ].join('\n');
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: repoRoot,
    env: { ...process.env, LADING_TESTENV_STATE: stateDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const lines = createInterface({ input: child.stdout! });
  const first = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`the child starting a cluster exited (${code}):\n${stderr}`)));
  });
  return { child, ...(JSON.parse(first) as { pids: number[]; dataDir: string }) };
}

async function allGone(pids: number[]): Promise<boolean> {
  for (let i = 0; i < 200; i++) {
    if (pids.every((p) => !isAlive(p))) return true;
    await sleep(100);
  }
  return false;
}

function records(): string[] {
  const dir = join(stateDir, 'run');
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')) : [];
}

describe('test environment lifecycle', () => {
  it('says how to build a tool that is missing', () => {
    const saved = process.env['LADING_TESTENV_CACHE'];
    process.env['LADING_TESTENV_CACHE'] = join(stateDir, 'empty-cache');
    try {
      expect(() => toolPath('kube-apiserver')).toThrow(/kube-apiserver is not built .*npm run env -- build/);
    } finally {
      if (saved === undefined) delete process.env['LADING_TESTENV_CACHE'];
      else process.env['LADING_TESTENV_CACHE'] = saved;
    }
  });

  it('stops the cluster and removes its data when its process gets SIGTERM', async () => {
    const started = await startInChild();
    expect(started.pids).toHaveLength(5);
    expect(started.pids.every(isAlive)).toBe(true);
    expect(existsSync(started.dataDir)).toBe(true);
    expect(records()).toHaveLength(1);
    const exited = new Promise((resolve) => started.child.once('exit', resolve));
    started.child.kill('SIGTERM');
    await exited;
    expect(await allGone(started.pids)).toBe(true);
    expect(existsSync(started.dataDir)).toBe(false);
    expect(records()).toHaveLength(0);
  });

  it('`npm run env -- down` cleans up after a starter that was SIGKILLed', async () => {
    const started = await startInChild();
    const exited = new Promise((resolve) => started.child.once('exit', resolve));
    started.child.kill('SIGKILL');
    await exited;
    // Nothing ran on the way out: the servers are still there, and so is the record.
    expect(started.pids.every(isAlive)).toBe(true);
    expect(records()).toHaveLength(1);
    const down = await run(process.execPath, ['--import', 'tsx', 'test/env/cli.ts', 'down'], {
      cwd: repoRoot,
      env: { ...process.env, LADING_TESTENV_STATE: stateDir },
    });
    expect(down.stderr).toMatch(/stopped cluster-/);
    expect(await allGone(started.pids)).toBe(true);
    expect(existsSync(started.dataDir)).toBe(false);
    expect(records()).toHaveLength(0);
  });
});
