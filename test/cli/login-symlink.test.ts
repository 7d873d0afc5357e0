// `lading login` and `lading logout` with a config.json that is a symbolic link (a dotfiles
// checkout, say): the file the link leads to is written, and the link stays, as with docker.
import { lstatSync, mkdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, type RunningRegistry } from '../env/registry.js';
import { tempDir } from '../oci/helpers.js';
import { runCaptured } from './captured-io.js';

let registry: RunningRegistry;
const tmp = tempDir('lading-login-link-');

beforeAll(async () => {
  registry = await startRegistry({ flavor: 'distribution2', auth: true });
});

afterAll(async () => {
  await registry?.stop();
  tmp.remove();
});

describe('lading login with a symlinked config.json', () => {
  it('writes through the link (two links deep) and keeps it; logout too', async () => {
    const dotfiles = join(tmp.path, 'dotfiles');
    const docker = join(tmp.path, '.docker');
    mkdirSync(dotfiles);
    mkdirSync(docker);
    const real = join(dotfiles, 'docker-config.json');
    writeFileSync(real, JSON.stringify({ auths: {}, detachKeys: 'ctrl-x' }) + '\n', { mode: 0o600 });
    symlinkSync(real, join(dotfiles, 'current.json'));
    symlinkSync(join(dotfiles, 'current.json'), join(docker, 'config.json'));
    const opts = { env: { DOCKER_CONFIG: docker, HOME: tmp.path }, cwd: tmp.path, stdin: `${registry.password}\n` };

    const login = await runCaptured(['login', registry.host, '-u', registry.username ?? '', '--password-stdin'], opts);
    expect(login.code, login.stderr).toBe(0);
    expect(lstatSync(join(docker, 'config.json')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(docker, 'config.json'))).toBe(join(dotfiles, 'current.json'));
    expect(lstatSync(join(dotfiles, 'current.json')).isSymbolicLink()).toBe(true);
    const saved = JSON.parse(readFileSync(real, 'utf8')) as { auths: Record<string, { auth: string }>; detachKeys: string };
    expect(saved.detachKeys).toBe('ctrl-x');
    expect(Buffer.from(saved.auths[registry.host]?.auth ?? '', 'base64').toString()).toBe(`${registry.username}:${registry.password}`);

    const logout = await runCaptured(['logout', registry.host], opts);
    expect(logout.code, logout.stderr).toBe(0);
    expect(lstatSync(join(docker, 'config.json')).isSymbolicLink()).toBe(true);
    expect((JSON.parse(readFileSync(real, 'utf8')) as { auths: Record<string, unknown> }).auths).toEqual({});
  });
});
