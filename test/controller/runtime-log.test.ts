// The controller's log lines: JSON (level, ts, msg, fields) or console text, the level filter,
// errors written with their causes, credentials in URLs redacted.
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/controller/runtime/log.js';
import { KubeError } from '../../src/kube/index.js';

function capture(opts: Parameters<typeof createLogger>[0] = {}) {
  const out: string[] = [];
  const log = createLogger({ now: () => new Date('2026-12-07T10:00:00.123Z'), ...opts, stream: { write: (s: string) => out.push(s) } });
  return { log, out };
}

describe('controller log', () => {
  it('writes one JSON object per line with the fields of with() and of the call', () => {
    const { log, out } = capture();
    log.with({ controller: 'ocirepository', kind: 'OCIRepository' }).with({ name: 'podinfo', namespace: 'flux-system' }).info('reconciled', { revision: 'v1@sha256:abc' });
    expect(out).toHaveLength(1);
    expect(out[0]?.endsWith('\n')).toBe(true);
    expect(JSON.parse(out[0] as string)).toEqual({
      level: 'info',
      ts: '2026-12-07T10:00:00.123Z',
      msg: 'reconciled',
      controller: 'ocirepository',
      kind: 'OCIRepository',
      name: 'podinfo',
      namespace: 'flux-system',
      revision: 'v1@sha256:abc',
    });
  });

  it('writes nothing below its level', () => {
    const { log, out } = capture({ level: 'error' });
    log.debug('d');
    log.info('i');
    log.error('e');
    expect(out.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(['e']);
    const debug = capture({ level: 'debug' });
    debug.log.debug('d');
    expect(debug.out).toHaveLength(1);
  });

  it('describes errors with their causes and redacts credentials', () => {
    const { log, out } = capture();
    const cause = new Error('connect ECONNREFUSED');
    log.error('Reconciler error', {
      error: new KubeError('NETWORK', 'pulling oci://robot:s3cret@registry.example/app:1.0', { cause }),
      url: 'https://user:hunter2@example.com/x',
      nested: { urls: ['oci://a:b@host/repo'] },
    });
    const line = out[0] as string;
    expect(line).not.toContain('s3cret');
    expect(line).not.toContain('hunter2');
    expect(line).not.toContain(':b@');
    const parsed = JSON.parse(line) as Record<string, unknown>;
    expect(parsed['error']).toBe('pulling oci://robot:***@registry.example/app:1.0: connect ECONNREFUSED');
    expect(parsed['url']).toBe('https://user:***@example.com/x');
  });

  it('writes readable lines with the console encoding', () => {
    const { log, out } = capture({ encoding: 'console' });
    log.with({ name: 'podinfo' }).info('reconciled', { message: 'stored artifact' });
    expect(out[0]).toBe('2026-12-07T10:00:00.123Z\tINFO\treconciled\tname=podinfo message="stored artifact"\n');
  });

  it('never throws on a cyclic field', () => {
    const { log, out } = capture();
    const cyclic: Record<string, unknown> = { name: 'a' };
    cyclic['self'] = cyclic;
    log.info('cyclic', { cyclic });
    expect(out).toHaveLength(1);
    expect(out[0]).toContain('[unserializable]');
  });
});
