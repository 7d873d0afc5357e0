// The program a command line builds: with a known verb a module may add only that verb's commands
// (start-up time); what the user sees must not depend on it.
import { describe, expect, it } from 'vitest';
import { commandModules, commandModulesFor, knownVerb } from '../../src/cli/commands/index.js';
import { buildProgram } from '../../src/cli/program.js';
import { capturedIO } from './captured-io.js';

async function parse(argv: string[], verb: string | undefined): Promise<{ stdout: string; stderr: string; error: string }> {
  const { io, stdout, stderr } = capturedIO({ env: {}, cwd: '/' });
  const modules = await Promise.all(commandModulesFor(argv).map((m) => m.load()));
  // Actions never run: every command line here stops in commander (help or a usage error).
  const error = await buildProgram(io, modules, verb)
    .parseAsync(argv, { from: 'user' })
    .then(
      () => '',
      (e: unknown) => String((e as { code?: string }).code),
    );
  return { stdout: stdout(), stderr: stderr(), error };
}

describe('the program', () => {
  it('knows the verb of a command line when a module adds it', () => {
    expect(knownVerb(['verify', '--key', 'k.pub', 'ref'])).toBe('verify');
    expect(knownVerb(['--help'])).toBeUndefined();
    expect(knownVerb(['help', 'verify'])).toBeUndefined();
    expect(knownVerb(['nope'])).toBeUndefined();
    expect(commandModulesFor(['verify']).map((m) => m.name)).toEqual(['sign']);
    expect(commandModulesFor(['--version'])).toEqual([]);
    expect(commandModulesFor(['help', 'verify'])).toBe(commandModules);
  });

  it('shows the same help and usage errors whether it has all the commands or those of the verb', async () => {
    for (const verb of new Set(commandModules.flatMap((m) => m.verbs))) {
      for (const argv of [[verb, '--help'], [verb, '--no-such-flag']]) {
        const all = await parse(argv, undefined);
        const only = await parse(argv, verb);
        expect(only, argv.join(' ')).toEqual(all);
        expect(all.error, argv.join(' ')).not.toBe('');
      }
    }
  });
});
