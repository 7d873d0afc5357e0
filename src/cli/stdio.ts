// stdout and stderr written with write(2) on their file descriptors. Node's process.stdout and
// process.stderr cost a short command about 1 ms of CPU to set up when they are pipes (a
// net.Socket each), and on Linux they write synchronously to pipes, files and terminals anyway:
// these writers do the same without the set-up. A descriptor in non-blocking mode that is full
// (EAGAIN) hands the rest of the output, in order, to Node's stream, which waits for it to drain.
import { writeSync } from 'node:fs';

/** What the CLI writes its output to (process streams, test captures, fdOutput). */
export interface Output {
  write(data: string | Uint8Array): unknown;
  /** Bytes accepted but not yet written (streams); 0 or absent when everything is out. */
  readonly writableLength?: number;
}

/**
 * An Output on file descriptor `fd`; `stream` gives Node's stream for the same descriptor, used
 * from the first write that would block on. A reader that went away (EPIPE) ends the output: the
 * rest is dropped, as a command piped into `head` expects.
 */
export function fdOutput(fd: number, stream: () => NodeJS.WritableStream & { writableLength?: number }): Output {
  let fallback: (NodeJS.WritableStream & { writableLength?: number }) | undefined;
  let closed = false;
  return {
    write(data: string | Uint8Array): boolean {
      if (closed) return true;
      if (fallback) return fallback.write(data);
      const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
      let offset = 0;
      while (offset < bytes.length) {
        try {
          offset += writeSync(fd, bytes, offset, bytes.length - offset);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'EAGAIN') {
            fallback = stream();
            return fallback.write(bytes.subarray(offset));
          }
          if (code === 'EPIPE') {
            closed = true;
            return true;
          }
          throw err;
        }
      }
      return true;
    },
    get writableLength(): number {
      return fallback?.writableLength ?? 0;
    },
  };
}
