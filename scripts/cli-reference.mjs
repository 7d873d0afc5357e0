#!/usr/bin/env node
// Writes docs/cli.md from the commands' own --help (run after `npm run build`), so the reference
// cannot drift from the CLI. `node scripts/cli-reference.mjs --check` fails when it is stale.
import { readFileSync, writeFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { buildProgram } from '../dist/cli/program.js';
import { commandModules } from '../dist/cli/commands/index.js';

const sink = new PassThrough();
const io = { stdout: sink, stderr: sink, stdin: process.stdin, env: process.env, cwd: process.cwd() };
const program = buildProgram(io, await Promise.all(commandModules.map((m) => m.load())));

const sections = [];
function walk(cmd, path) {
  const subs = cmd.commands.filter((c) => c.name() !== 'help');
  if (path.length > 0 && (subs.length === 0 || cmd._actionHandler)) {
    sections.push({ path: path.join(' '), summary: cmd.description().split('\n')[0], help: cmd.helpInformation() + helpAfter(cmd) });
  }
  for (const sub of subs) walk(sub, [...path, sub.name()]);
}
function helpAfter(cmd) {
  // addHelpText('after', …) text is emitted on the 'afterHelp' event; capture it.
  let text = '';
  cmd.emit('afterHelp', { error: false, command: cmd, write: (s) => (text += s) });
  return text;
}
walk(program, []);

const doc = [
  '# lading CLI reference',
  '',
  'Generated from `--help` by `node scripts/cli-reference.mjs`.',
  '',
  ...sections.flatMap((s) => [`## lading ${s.path}`, '', '```', s.help.trimEnd(), '```', '']),
].join('\n');

const table = [
  '| command | what it does |',
  '| --- | --- |',
  ...sections.map((s) => `| \`lading ${s.path}\` | ${s.summary.replace(/\|/g, '\\|')} |`),
].join('\n');

if (process.argv.includes('--check')) {
  if (readFileSync('docs/cli.md', 'utf8') !== doc) {
    console.error('docs/cli.md is stale: run `npm run build && node scripts/cli-reference.mjs`');
    process.exit(1);
  }
} else {
  writeFileSync('docs/cli.md', doc);
  const readme = readFileSync('README.md', 'utf8');
  const start = readme.indexOf('<!-- cli-table -->');
  const end = readme.indexOf('<!-- /cli-table -->');
  const next = start >= 0 && end > start
    ? readme.slice(0, start) + '<!-- cli-table -->\n' + table + '\n' + readme.slice(end)
    : readme.replace('CLI_REFERENCE_TABLE', '<!-- cli-table -->\n' + table + '\n<!-- /cli-table -->');
  writeFileSync('README.md', next);
}
