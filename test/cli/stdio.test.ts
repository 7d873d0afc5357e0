// The CLI's stdout/stderr writers (src/cli/stdio.ts): write(2) on the descriptor, Node's stream
// from the first write that would block, nothing after the reader went away. Each case runs a
// child node process (tsx) whose descriptors are real pipes and FIFOs set up by the test.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'lading-stdio-'));
  dirs.push(d);
  return d;
}

/** A child that writes `lines` numbered lines of 100 bytes to stdout through fdOutput, then exits as the CLI does. */
function childScript(dir: string, lines: number): string {
  const file = join(dir, 'child.mts');
  writeFileSync(
    file,
    `import { fdOutput } from ${JSON.stringify(join(REPO, 'src/cli/stdio.ts'))};
     import { exitWhenFlushed } from ${JSON.stringify(join(REPO, 'src/cli/report.ts'))};
     const io = { stdout: fdOutput(1, () => process.stdout), stderr: fdOutput(2, () => process.stderr) };
     for (let i = 0; i < ${lines}; i++) io.stdout.write(String(i).padStart(99, '0') + '\\n');
     io.stderr.write('written\\n');
     exitWhenFlushed(0, io);`,
  );
  return file;
}

function expectedOutput(lines: number): string {
  return Array.from({ length: lines }, (_, i) => `${String(i).padStart(99, '0')}\n`).join('');
}

describe('fdOutput', () => {
  it('writes to a blocking pipe in order and exits 0', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', childScript(tempDir(), 5000)], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const [code] = (await once(child, 'close')) as [number];
    expect([code, err]).toEqual([0, 'written\n']);
    expect(out).toBe(expectedOutput(5000));
  });

  it('a non-blocking descriptor that fills up: the rest goes through Node stream, in order, and the process waits for it', async () => {
    const dir = tempDir();
    const fifo = join(dir, 'out.fifo');
    execFileSync('mkfifo', [fifo]);
    // Both ends non-blocking: the child inherits O_NONBLOCK with the write end. Nothing is read
    // until the child wrote everything it could, so its writes hit EAGAIN at the pipe's capacity.
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const writer = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
    const lines = 20_000; // 2 MB, far beyond a pipe's 64 KiB
    const child = spawn(process.execPath, ['--import', 'tsx', childScript(dir, lines)], { cwd: REPO, stdio: ['ignore', writer, 'pipe'] });
    closeSync(writer);
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    for (let waited = 0; !err.includes('written'); waited += 20) {
      if (waited > 30_000) throw new Error(`the child never got past its writes: ${err}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    let exited = false;
    child.on('exit', () => (exited = true));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(exited, 'the child exited before its output was read').toBe(false);
    const chunks: Buffer[] = [];
    const buf = Buffer.alloc(64 * 1024);
    for (let waited = 0; ; ) {
      let n = 0;
      try {
        n = readSync(reader, buf, 0, buf.length, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
        if (exited) break;
        if ((waited += 5) > 30_000) throw new Error('the child stopped writing');
        await new Promise((resolve) => setTimeout(resolve, 5));
        continue;
      }
      if (n === 0) break; // every writer closed
      chunks.push(Buffer.from(buf.subarray(0, n)));
    }
    closeSync(reader);
    const [code] = child.exitCode !== null ? [child.exitCode] : ((await once(child, 'exit')) as [number]);
    expect(code).toBe(0);
    expect(Buffer.concat(chunks).toString()).toBe(expectedOutput(lines));
  });

  it('a reader that went away (EPIPE): the output is dropped, no error, exit 0', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', childScript(tempDir(), 5000)], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const [code] = (await once(child, 'close')) as [number];
    expect([code, err]).toEqual([0, 'written\n']);
  });
});
