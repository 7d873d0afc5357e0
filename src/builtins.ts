// Node built-in modules that a short command pays milliseconds to load (node:crypto ~2 ms,
// node:fs/promises ~1 ms in a fresh process), loaded on first use instead of when the bundle
// starts: `lading verify` sends its first request before node:crypto is loaded and loads it (with
// the key) while the registry answers. Shared by the domains, like errors.ts.
import type * as cryptoModule from 'node:crypto';
import type * as fsPromises from 'node:fs/promises';
import type * as timersPromises from 'node:timers/promises';

/** node:crypto (hashes, keys, signatures, random bytes). */
export const loadCrypto = (): typeof cryptoModule => process.getBuiltinModule('node:crypto');

/** node:fs/promises, for what writes files (key pairs, docker's config, layouts). */
export const loadFsPromises = (): typeof fsPromises => process.getBuiltinModule('node:fs/promises');

/** node:timers/promises (waits that can be aborted). */
export const loadTimersPromises = (): typeof timersPromises => process.getBuiltinModule('node:timers/promises');
