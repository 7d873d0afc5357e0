// Node built-in modules that a short command pays milliseconds to load (node:crypto ~2 ms,
// node:fs/promises ~1 ms in a fresh process), loaded on first use instead of when the bundle
// starts: `lading verify` sends its first request before node:crypto is loaded and loads it (with
// the key) while the registry answers. Shared by the domains, like errors.ts.
import type * as childProcess from 'node:child_process';
import type * as cryptoModule from 'node:crypto';
import type * as fsPromises from 'node:fs/promises';
import type nodeModule from 'node:module';
import type * as os from 'node:os';
import type * as timersPromises from 'node:timers/promises';
import type * as tls from 'node:tls';

/** node:crypto (hashes, keys, signatures, random bytes). */
export const loadCrypto = (): typeof cryptoModule => process.getBuiltinModule('node:crypto');

/** node:fs/promises, for what writes files (key pairs, docker's config, layouts). */
export const loadFsPromises = (): typeof fsPromises => process.getBuiltinModule('node:fs/promises');

/** node:child_process (credential helpers). */
export const loadChildProcess = (): typeof childProcess => process.getBuiltinModule('node:child_process');

/** node:os (the home directory, when HOME is not set). */
export const loadOs = (): typeof os => process.getBuiltinModule('node:os');

/** node:tls, on the first https connection: a run against a plain-http registry never needs it. */
export const loadTls = (): typeof tls => process.getBuiltinModule('node:tls');

/** node:module (createRequire, for dependencies loaded when first used); it loads the ES module loader. */
export const loadModule = (): typeof nodeModule => process.getBuiltinModule('node:module');

/** node:timers/promises (waits that can be aborted). */
export const loadTimersPromises = (): typeof timersPromises => process.getBuiltinModule('node:timers/promises');
