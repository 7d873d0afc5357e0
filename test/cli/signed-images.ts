// Images the verify tests of the installed command share: two key pairs in `dir` (cosign.* and
// other.*) and, in `registry`, an image signed classic (with the annotation env=prod), one signed
// as a Sigstore bundle and one unsigned, all tagged 1.0.0 under `<prefix>/`.
import { join } from 'node:path';
import { openRepository } from '../../src/oci/index.js';
import { generateKeyPair, sign } from '../../src/sign/index.js';
import type { RunningRegistry } from '../env/registry.js';
import { pushRandomImage } from '../oci/helpers.js';

export interface SignedImages {
  /** cosign.key (empty password) and its public key; other.pub, a key that signed nothing. */
  key: string;
  pub: string;
  otherPub: string;
  classicRef: string;
  bundleRef: string;
  unsignedRef: string;
}

export async function signedImages(registry: RunningRegistry, dir: string, prefix: string): Promise<SignedImages> {
  await generateKeyPair({ dir, password: '' });
  await generateKeyPair({ dir, outputKeyPrefix: 'other', password: '' });
  const key = join(dir, 'cosign.key');
  const image = async (name: string) => {
    await pushRandomImage(openRepository(`${registry.host}/${prefix}/${name}`), { tag: '1.0.0' });
    return `${registry.host}/${prefix}/${name}:1.0.0`;
  };
  const classicRef = await image('classic');
  await sign(classicRef, { key, password: '', annotations: { env: 'prod' } });
  const bundleRef = await image('bundle');
  await sign(bundleRef, { key, password: '', format: 'bundle' });
  const unsignedRef = await image('unsigned');
  return { key, pub: join(dir, 'cosign.pub'), otherPub: join(dir, 'other.pub'), classicRef, bundleRef, unsignedRef };
}
