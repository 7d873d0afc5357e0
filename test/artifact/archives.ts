// Hand-made tarballs for the extraction tests, including malicious ones.
import { gzipSync } from 'node:zlib';
import { pack, type Header } from 'tar-stream';

export type RawEntry = Partial<Header> & { name: string; body?: string | Buffer };

/** A tar (gzip-compressed unless `gzip: false`) with exactly these headers, unchecked. */
export async function makeTarball(entries: RawEntry[], opts: { gzip?: boolean } = {}): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of p) chunks.push(c as Buffer);
  })();
  for (const e of entries) {
    const { body, ...header } = e;
    await new Promise<void>((res, rej) => {
      if (body !== undefined) p.entry(header, body, (err) => (err ? rej(err) : res()));
      else p.entry(header, (err) => (err ? rej(err) : res()));
    });
  }
  p.finalize();
  await done;
  const tar = Buffer.concat(chunks);
  return opts.gzip === false ? tar : gzipSync(tar);
}
