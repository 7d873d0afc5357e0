// postBuild variable substitution, as kustomize-controller runs it on each built object
// (fluxcd/pkg kustomize SubstituteVariables and its envsubst fork):
//
// - each object is printed as YAML (kustomize's resource YAML: keys sorted, go-yaml v2 style),
//   the `${...}` expressions in that text are expanded, and the text is read back as
//   sigs.k8s.io/yaml reads it (go-yaml v2 resolution: yes/no/on/off are booleans, 0777 octal, ...);
// - objects labelled or annotated `kustomize.toolkit.fluxcd.io/substitute: disabled` are left alone;
// - variables come from `substituteFrom` (ConfigMap data, Secret data decoded, in list order, later
//   ones overriding earlier ones; `optional` ones may be missing) and then `substitute` (which
//   overrides them); newlines are removed from every value; names must match
//   ^[_[:alpha:]][_[:alpha:][:digit:]]*$;
// - nothing runs when there are no variables, unless substituteStrategy is Always;
// - strict mode (kustomize-controller's default): `${var}` of an unset variable is an error
//   naming it; the default-giving forms (${var:=x}, ${var:-x}, ${var-x}, ${var=x}) are not.
//
// The grammar is the envsubst one Flux uses (a drone/envsubst fork), re-implemented here with
// its quirks: `$${x}` writes `${x}`, a bare `$x` is left as is, `\/` escapes a slash in
// ${var/pattern/replacement}, and the string functions ${#var} ${var^} ${var^^} ${var,}
// ${var,,} ${var:n} ${var:n:len} ${var#p} ${var##p} ${var%p} ${var%%p} ${var/p/r} ${var//p/r}
// ${var/#p/r} ${var/%p/r}.
//
// Values are never quoted in errors: they may come from a Secret.
import { parseDocument, type ScalarTag } from 'yaml';
import { KustomizeObjectAnnotations } from '../api.js';
import { formatManifests, type KubeObject } from '../../manifests/index.js';
import { FluxBuildError } from './generate.js';

/** Variable names Flux accepts (`varsubRegex`). */
export const VARIABLE_NAME = /^[_A-Za-z][_A-Za-z0-9]*$/;

/** Most characters one object's YAML may grow to through substitution (64 Mi). */
export const MAX_SUBSTITUTED_CHARS = 64 * 1024 * 1024;
/** Most characters all objects of one build may grow to through substitution (256 Mi). */
export const MAX_SUBSTITUTED_TOTAL = 256 * 1024 * 1024;
/** Deepest nesting of `${...}` inside another's arguments. */
export const MAX_NESTING = 64;
/** Budget of pattern-matching steps one object's trims (${v#p}, ${v%%p}, ...) may take. */
export const MAX_MATCH_STEPS = 50_000_000;

export interface SubstituteOptions {
  /** Fail on `${var}` of an unset variable (kustomize-controller's StrictPostBuildSubstitutions, default true). */
  strict?: boolean;
  /** substituteStrategy Always: run even when there are no variables (for defaults). */
  always?: boolean;
}

// ---------------------------------------------------------------------------------------------
// The envsubst grammar

type Node = { t: 'text'; value: string } | { t: 'func'; param: string; name: string; args: Node[] } | { t: 'list'; nodes: Node[] };

const EOF = 0; // as Go's scanner: a NUL character reads as the end of the input
const enum Tok {
  Illegal,
  EOF,
  Ident,
  Lbrack,
  Rbrack,
}
const SCAN_IDENT = 1;
const SCAN_LBRACK = 2;
const SCAN_RBRACK = 4;
const SCAN_ESCAPE = 8;
const ESC_DOLLAR = 1;
const ESC_BACKSLASH = 2;
const ESC_ALL = ESC_DOLLAR | ESC_BACKSLASH;

type Accept = (r: number, i: number) => boolean;
const isLetterRe = /^\p{L}$/u;
const isDigitRe = /^\p{Nd}$/u;
const acceptRune: Accept = () => true;
const acceptIdent: Accept = (r) => r === 0x5f || isLetterRe.test(String.fromCodePoint(r)) || isDigitRe.test(String.fromCodePoint(r));
const acceptColon: Accept = (r) => r === 0x3a;
const acceptOneHash: Accept = (r, i) => r === 0x23 && i === 1;
const acceptNotClosing: Accept = (r) => r !== 0x7d;
const acceptHashFunc: Accept = (r, i) => r === 0x23 && i < 3;
const acceptPercentFunc: Accept = (r, i) => r === 0x25 && i < 3;
const acceptDefaultFunc: Accept = (r, i) => (i === 1 && r === 0x3a) || (i === 2 && (r === 0x3d || r === 0x2d || r === 0x3f || r === 0x2b));
const acceptReplaceFunc: Accept = (r, i) => (i === 1 && r === 0x2f) || (i === 2 && (r === 0x2f || r === 0x23 || r === 0x25));
const acceptOneEqual: Accept = (r, i) => i === 1 && r === 0x3d;
const acceptOneColon: Accept = (r, i) => i === 1 && r === 0x3a;
const rejectColonClose: Accept = (r) => r !== 0x3a && r !== 0x7d;
const acceptSlash: Accept = (r) => r === 0x2f;
const acceptNotSlash: Accept = (r) => r !== 0x2f;
const acceptCasingFunc: Accept = (r, i) => (r === 0x2c || r === 0x5e) && i < 3;

/** envsubst's syntax errors, with Go's texts. */
export class EnvsubstSyntaxError extends Error {}
const badSubstitution = () => new EnvsubstSyntaxError('bad substitution');
const missingClosingBrace = () => new EnvsubstSyntaxError('missing closing brace');
const parseVariableName = () => new EnvsubstSyntaxError('unable to parse variable name');
const parseFuncSubstitution = () => new EnvsubstSyntaxError('unable to parse substitution within function');
const parseDefaultFunction = () => new EnvsubstSyntaxError('unable to parse default function');

/**
 * The scanner of Flux's envsubst, over the UTF-8 bytes as Go scans them (positions and widths in
 * bytes). Go removes the first character of an escape pair (`$$`, `\/`) by rebuilding its string;
 * here the byte is marked deleted instead, which keeps a text of many escapes linear.
 */
class Scanner {
  readonly b: Uint8Array;
  private readonly del: Uint8Array;
  pos = 0;
  start = 0;
  width = 0;
  private deletedInToken = 0;
  mode = 0;
  escapeChars = 0;
  accept: Accept = acceptRune;
  constructor(text: string) {
    this.b = Buffer.from(text, 'utf8');
    this.del = new Uint8Array(this.b.length);
  }

  read(): number {
    while (this.pos < this.b.length && this.del[this.pos] === 1) this.pos++;
    if (this.pos >= this.b.length) {
      this.width = 0;
      return EOF;
    }
    const b = this.b;
    const p = this.pos;
    const c0 = b[p] as number;
    let r = 0xfffd;
    let w = 1;
    if (c0 < 0x80) {
      r = c0;
    } else if (c0 >= 0xc2 && c0 < 0xe0 && p + 1 < b.length) {
      r = ((c0 & 0x1f) << 6) | ((b[p + 1] as number) & 0x3f);
      w = 2;
    } else if (c0 >= 0xe0 && c0 < 0xf0 && p + 2 < b.length) {
      r = ((c0 & 0x0f) << 12) | (((b[p + 1] as number) & 0x3f) << 6) | ((b[p + 2] as number) & 0x3f);
      w = 3;
    } else if (c0 >= 0xf0 && c0 < 0xf5 && p + 3 < b.length) {
      r = ((c0 & 0x07) << 18) | (((b[p + 1] as number) & 0x3f) << 12) | (((b[p + 2] as number) & 0x3f) << 6) | ((b[p + 3] as number) & 0x3f);
      w = 4;
    }
    this.width = w;
    this.pos += w;
    return r;
  }
  /** Goes back `width` bytes (of the text as Go holds it, without the removed ones). */
  unread(): void {
    let n = this.width;
    while (n > 0 && this.pos > 0) {
      this.pos--;
      if (this.del[this.pos] !== 1) n--;
    }
  }
  /**
   * Removes the character just read (the first of an escape pair, one byte). Go keeps its
   * position number in the shortened string, which steps over the next byte (the second of the
   * pair, taken into the token unchecked): here the byte is marked and the position moves on one.
   */
  skip(): void {
    let p = this.pos - 1;
    while (p >= 0 && this.del[p] === 1) p--;
    if (p >= 0) {
      this.del[p] = 1;
      this.deletedInToken++;
    }
    while (this.pos < this.b.length && this.del[this.pos] === 1) this.pos++;
    if (this.pos < this.b.length) this.pos++;
  }
  peek(): number {
    const r = this.read();
    this.unread();
    return r;
  }
  /** Bytes of the current token as Go counts them (pos - start in its rebuilt string). */
  offset(): number {
    return this.pos - this.start - this.deletedInToken;
  }
  string(): string {
    if (this.deletedInToken === 0) return Buffer.from(this.b.buffer, this.b.byteOffset + this.start, this.pos - this.start).toString('utf8');
    const kept: number[] = [];
    for (let i = this.start; i < this.pos; i++) if (this.del[i] !== 1) kept.push(this.b[i] as number);
    return Buffer.from(kept).toString('utf8');
  }
  scan(): Tok {
    this.start = this.pos;
    this.deletedInToken = 0;
    const r = this.read();
    if (r === EOF) return Tok.EOF; // the end, or a NUL byte (which ends the text, as in Go)
    if (this.scanLbrack(r)) return Tok.Lbrack;
    if (this.scanRbrack(r)) return Tok.Rbrack;
    if (this.scanIdent(r)) return Tok.Ident;
    return Tok.Illegal;
  }
  private scanIdent(first: number): boolean {
    if ((this.mode & SCAN_IDENT) === 0) return false;
    if (this.scanEscaped(first)) this.skip();
    else if (!this.accept(first, this.offset())) return false;
    for (;;) {
      const r = this.read();
      if (r === EOF) {
        this.unread();
        break;
      }
      if (this.scanLbrack(r)) {
        this.unread();
        this.unread();
        break;
      }
      if (this.scanEscaped(r)) {
        this.skip();
        continue;
      }
      if (!this.accept(r, this.offset())) {
        this.unread();
        break;
      }
    }
    return true;
  }
  private scanLbrack(r: number): boolean {
    if ((this.mode & SCAN_LBRACK) === 0) return false;
    if (r === 0x24) {
      if (this.read() === 0x7b) return true;
      this.unread();
    }
    return false;
  }
  private scanRbrack(r: number): boolean {
    return (this.mode & SCAN_RBRACK) !== 0 && r === 0x7d;
  }
  private scanEscaped(r: number): boolean {
    if ((this.mode & SCAN_ESCAPE) === 0) return false;
    if (r === 0x24 && (this.escapeChars & ESC_DOLLAR) !== 0 && this.peek() === 0x24) return true;
    if (r === 0x5c && (this.escapeChars & ESC_BACKSLASH) !== 0) {
      const p = this.peek();
      return p === 0x2f || p === 0x5c;
    }
    return false;
  }
}

class Parser {
  private s: Scanner;
  private depth = 0;
  constructor(text: string) {
    this.s = new Scanner(text);
  }

  parse(): Node {
    // Go's parseAny recurses once per token; a loop builds the same list without a deep stack.
    const nodes: Node[] = [];
    for (;;) {
      this.s.accept = acceptRune;
      this.s.mode = SCAN_IDENT | SCAN_LBRACK | SCAN_ESCAPE;
      this.s.escapeChars = ESC_DOLLAR;
      const tok = this.s.scan();
      if (tok === Tok.Ident) nodes.push({ t: 'text', value: this.s.string() });
      else if (tok === Tok.EOF) break;
      else if (tok === Tok.Lbrack) nodes.push(this.parseFunc());
      else throw badSubstitution();
    }
    return nodes.length === 1 ? (nodes[0] as Node) : { t: 'list', nodes };
  }

  private parseFunc(): Node {
    if (++this.depth > MAX_NESTING) throw new EnvsubstSyntaxError(`expressions nested more than ${MAX_NESTING} deep`);
    try {
      return this.parseFuncInner();
    } finally {
      this.depth--;
    }
  }

  private parseFuncInner(): Node {
    const s = this.s;
    s.escapeChars = ESC_ALL;
    if (s.peek() === 0x23) return this.parseLenFunc();
    s.accept = acceptIdent;
    s.mode = SCAN_IDENT;
    if (s.scan() !== Tok.Ident) throw parseVariableName();
    const name = s.string();
    switch (s.peek()) {
      case 0x3a:
        return this.parseDefaultOrSubstr(name);
      case 0x3d:
        return this.parseDefaultFunc(name);
      case 0x2c:
      case 0x5e:
        return this.parseCasingFunc(name);
      case 0x2f:
        return this.parseReplaceFunc(name);
      case 0x23:
        return this.parseRemoveFunc(name, acceptHashFunc);
      case 0x25:
        return this.parseRemoveFunc(name, acceptPercentFunc);
    }
    s.accept = acceptIdent;
    s.mode = SCAN_RBRACK;
    if (s.scan() !== Tok.Rbrack) throw missingClosingBrace();
    return { t: 'func', param: name, name: '', args: [] };
  }

  private parseParam(accept: Accept, mode: number): Node {
    const s = this.s;
    s.accept = accept;
    s.mode = mode | SCAN_LBRACK;
    switch (s.scan()) {
      case Tok.Lbrack:
        return this.parseFunc();
      case Tok.Ident:
      case Tok.Rbrack:
        return { t: 'text', value: s.string() };
      default:
        throw parseFuncSubstitution();
    }
  }

  private parseDefaultOrSubstr(name: string): Node {
    const s = this.s;
    s.read();
    const r = s.peek();
    s.unread();
    if (r === 0x3d || r === 0x2d || r === 0x3f || r === 0x2b) return this.parseDefaultFunc(name);
    return this.parseSubstrFunc(name);
  }

  private parseSubstrFunc(name: string): Node {
    const s = this.s;
    const node = { t: 'func' as const, param: name, name: '', args: [] as Node[] };
    s.accept = acceptOneColon;
    s.mode = SCAN_IDENT;
    if (s.scan() !== Tok.Ident) throw badSubstitution();
    node.name = s.string();
    node.args.push(this.parseParam(rejectColonClose, SCAN_IDENT));
    s.accept = acceptColon;
    s.mode = SCAN_IDENT | SCAN_RBRACK;
    const tok = s.scan();
    if (tok === Tok.Rbrack) return node;
    if (tok !== Tok.Ident) throw badSubstitution();
    node.args.push(this.parseParam(acceptNotClosing, SCAN_IDENT));
    this.consumeRbrack();
    return node;
  }

  private parseRemoveFunc(name: string, accept: Accept): Node {
    const s = this.s;
    s.accept = accept;
    s.mode = SCAN_IDENT;
    if (s.scan() !== Tok.Ident) throw badSubstitution();
    const node = { t: 'func' as const, param: name, name: s.string(), args: [this.parseParam(acceptNotClosing, SCAN_IDENT)] };
    this.consumeRbrack();
    return node;
  }

  private parseReplaceFunc(name: string): Node {
    const s = this.s;
    s.accept = acceptReplaceFunc;
    s.mode = SCAN_IDENT;
    if (s.scan() !== Tok.Ident) throw badSubstitution();
    const node = { t: 'func' as const, param: name, name: s.string(), args: [this.parseParam(acceptNotSlash, SCAN_IDENT | SCAN_ESCAPE)] };
    s.accept = acceptSlash;
    s.mode = SCAN_IDENT;
    if (s.scan() !== Tok.Ident) throw badSubstitution();
    if (s.peek() === 0x7d) {
      this.consumeRbrack();
      return node;
    }
    node.args.push(this.parseParam(acceptNotClosing, SCAN_IDENT | SCAN_ESCAPE));
    this.consumeRbrack();
    return node;
  }

  private parseDefaultFunc(name: string): Node {
    const s = this.s;
    s.accept = s.peek() === 0x3d ? acceptOneEqual : acceptDefaultFunc;
    s.mode = SCAN_IDENT;
    if (s.scan() !== Tok.Ident) throw parseDefaultFunction();
    const node = { t: 'func' as const, param: name, name: s.string(), args: [] as Node[] };
    for (;;) {
      if (s.peek() === 0x7d) {
        this.consumeRbrack();
        return node;
      }
      node.args.push(this.parseParam(acceptNotClosing, SCAN_IDENT));
    }
  }

  private parseCasingFunc(name: string): Node {
    const s = this.s;
    s.accept = acceptCasingFunc;
    s.mode = SCAN_IDENT;
    if (s.scan() !== Tok.Ident) throw badSubstitution();
    const node = { t: 'func' as const, param: name, name: s.string(), args: [] };
    this.consumeRbrack();
    return node;
  }

  private parseLenFunc(): Node {
    const s = this.s;
    s.accept = acceptOneHash;
    s.mode = SCAN_IDENT;
    if (s.scan() !== Tok.Ident) throw badSubstitution();
    const name = s.string();
    s.accept = acceptIdent;
    s.mode = SCAN_IDENT;
    if (s.scan() !== Tok.Ident) throw badSubstitution();
    const node = { t: 'func' as const, param: s.string(), name, args: [] };
    this.consumeRbrack();
    return node;
  }

  private consumeRbrack(): void {
    this.s.mode = SCAN_RBRACK;
    if (this.s.scan() !== Tok.Rbrack) throw badSubstitution();
  }
}

/** A variable referenced without a default while unset, in strict mode. */
export class EnvsubstUnsetError extends Error {
  constructor(readonly variable: string) {
    super(`variable not set (strict mode): ${JSON.stringify(variable)}`);
  }
}

/** The text grew past the limit, or a pattern took too many steps. */
export class EnvsubstLimitError extends Error {}

const DEFAULT_OPS = new Set(['-', '+', '=', '?', ':-', ':+', ':=', ':?']);

interface EvalState {
  lookup: (name: string) => string | undefined;
  size: number;
  maxChars: number;
  steps: { left: number };
}

/**
 * Expands the `${...}` expressions of `text`. `lookup` returns undefined for an unset variable:
 * that is an error for a bare reference or a string function (strict mode), and reads as empty
 * for the default-giving forms. For non-strict expansion, return '' instead of undefined.
 */
export function envsubst(text: string, lookup: (name: string) => string | undefined, limits: { maxChars?: number; maxMatchSteps?: number } = {}): string {
  const tree = new Parser(text).parse();
  const st: EvalState = { lookup, size: 0, maxChars: limits.maxChars ?? MAX_SUBSTITUTED_CHARS, steps: { left: limits.maxMatchSteps ?? MAX_MATCH_STEPS } };
  return evalNode(tree, st);
}

function grow(st: EvalState, n: number): void {
  st.size += n;
  if (st.size > st.maxChars) throw new EnvsubstLimitError(`the substituted text exceeds ${st.maxChars} characters`);
}

function evalNode(node: Node, st: EvalState): string {
  switch (node.t) {
    case 'text':
      grow(st, node.value.length);
      return node.value;
    case 'list': {
      let out = '';
      for (const n of node.nodes) out += evalNode(n, st);
      return out;
    }
    case 'func': {
      const args = node.args.map((a) => evalNode(a, st));
      const v = st.lookup(node.param);
      if (v === undefined && !DEFAULT_OPS.has(node.name)) throw new EnvsubstUnsetError(node.param);
      const out = applyFunc(node.name, v ?? '', args, st.steps, st.maxChars - st.size);
      grow(st, out.length);
      return out;
    }
  }
}

function applyFunc(name: string, s: string, args: string[], steps: { left: number }, room: number): string {
  switch (name) {
    case ',':
      return mapFirst(s, 'lower');
    case ',,':
      return mapAll(s, 'lower');
    case '^':
      return mapFirst(s, 'upper');
    case '^^':
      return mapAll(s, 'upper');
    case '#':
      return args.length === 0 ? String(Buffer.byteLength(s, 'utf8')) : args[0] !== undefined ? trimShortest(s, args[0], steps) : s;
    case '##':
      return args[0] !== undefined ? trimLongest(s, args[0], steps) : s;
    case '%':
      return args[0] !== undefined ? reverse(trimShortest(reverse(s), reverse(args[0]), steps)) : s;
    case '%%':
      return args[0] !== undefined ? reverse(trimLongest(reverse(s), reverse(args[0]), steps)) : s;
    case ':':
      return substr(s, args);
    case '/#':
      if (args.length !== 2) return s;
      return s.startsWith(args[0] as string) ? goReplace(s, args[0] as string, args[1] as string, 1, room) : s;
    case '/%':
      if (args.length !== 2) return s;
      return s.endsWith(args[0] as string) ? s.slice(0, s.length - (args[0] as string).length) + (args[1] as string) : s;
    case '/':
      return args.length === 0 ? s : goReplace(s, args[0] as string, args[1] ?? '', 1, room);
    case '//':
      return args.length === 0 ? s : goReplace(s, args[0] as string, args[1] ?? '', -1, room);
    default:
      // every default-giving form, and a bare ${var}: the value, or the arguments when it is empty
      return s.length === 0 && args.length > 0 ? args.join('') : s;
  }
}

/** Go's unicode.ToUpper/ToLower of one rune: a mapping to several characters is not applied. */
function mapRune(ch: string, how: 'lower' | 'upper'): string {
  const m = how === 'lower' ? ch.toLowerCase() : ch.toUpperCase();
  return Array.from(m).length === 1 ? m : ch;
}
function mapFirst(s: string, how: 'lower' | 'upper'): string {
  if (s === '') return s;
  const first = String.fromCodePoint(s.codePointAt(0) ?? 0);
  return mapRune(first, how) + s.slice(first.length);
}
function mapAll(s: string, how: 'lower' | 'upper'): string {
  let out = '';
  for (const ch of s) out += mapRune(ch, how);
  return out;
}

/** strings.Replace: an empty `old` matches before every rune and at the end. Refuses to build more than `room` characters. */
function goReplace(s: string, old: string, rep: string, n: number, room: number): string {
  if (old === rep || n === 0) return s;
  const tooBig = (size: number) => {
    if (size > room) throw new EnvsubstLimitError(`the substituted text exceeds the limit (a replacement would make ${size} characters)`);
  };
  if (old === '') {
    if (n === 1) return rep + s;
    const runes = Array.from(s);
    tooBig(s.length + (runes.length + 1) * rep.length);
    return rep + runes.join(rep) + (s === '' ? '' : rep);
  }
  if (n < 0) {
    const parts = s.split(old);
    tooBig(s.length + (parts.length - 1) * (rep.length - old.length));
    return parts.join(rep);
  }
  const i = s.indexOf(old);
  return i < 0 ? s : s.slice(0, i) + rep + s.slice(i + old.length);
}

function reverse(s: string): string {
  return Array.from(s).reverse().join('');
}

/** strconv.Atoi: optional sign, decimal digits, within int64. */
function atoi(s: string): number | undefined {
  if (!/^[+-]?[0-9]+$/.test(s)) return undefined;
  const v = BigInt(s);
  if (v < -(2n ** 63n) || v > 2n ** 63n - 1n) return undefined;
  return Number(v);
}

/** ${var:pos} and ${var:pos:len}, counted in UTF-8 bytes as Go counts them. */
function substr(value: string, args: string[]): string {
  if (args.length === 0) return value;
  const b = Buffer.from(value, 'utf8');
  let pos = atoi(args[0] as string);
  if (pos === undefined) return value;
  if (pos < 0) pos = Math.max(0, b.length + pos);
  if (args.length === 1) return pos < b.length ? b.subarray(pos).toString('utf8') : '';
  const length = atoi(args[1] as string);
  if (length === undefined) return value;
  if (length < 0) {
    const end = b.length + length;
    if (end < pos) return '';
    return b.subarray(pos, end).toString('utf8');
  }
  if (pos + length >= b.length) return pos < b.length ? b.subarray(pos).toString('utf8') : '';
  return b.subarray(pos, pos + length).toString('utf8');
}

function step(steps: { left: number }): void {
  if (--steps.left < 0) throw new EnvsubstLimitError('a ${var#pattern} or ${var%pattern} expression takes too many steps');
}

function trimShortest(s: string, pattern: string, steps: { left: number }): string {
  let shortest = '';
  for (let i = 0; i < s.length; i++) {
    step(steps);
    const prefix = s.slice(0, s.length - i);
    const m = globMatch(pattern, prefix, steps);
    if (m === undefined) return s;
    if (m) shortest = prefix;
  }
  return shortest !== '' && s.startsWith(shortest) ? s.slice(shortest.length) : s;
}

function trimLongest(s: string, pattern: string, steps: { left: number }): string {
  for (let i = 0; i < s.length; i++) {
    step(steps);
    const prefix = s.slice(0, s.length - i);
    const m = globMatch(pattern, prefix, steps);
    if (m === undefined) return s;
    if (m) return s.slice(prefix.length);
  }
  return s;
}

/**
 * The envsubst fork's path.Match: `*` matches any run (slashes included, a trailing `*` the rest),
 * `?` one character, `[...]`/`[^...]` a class, `\` escapes. undefined for a malformed pattern.
 */
function globMatch(pattern: string, name: string, steps: { left: number }): boolean | undefined {
  let p = pattern;
  let n = name;
  outer: while (p.length > 0) {
    let star = false;
    while (p.length > 0 && p[0] === '*') {
      p = p.slice(1);
      star = true;
    }
    let inrange = false;
    let i = 0;
    for (; i < p.length; i++) {
      const c = p[i];
      if (c === '\\') {
        if (i + 1 < p.length) i++;
      } else if (c === '[') inrange = true;
      else if (c === ']') inrange = false;
      else if (c === '*' && !inrange) break;
    }
    const chunk = p.slice(0, i);
    p = p.slice(i);
    if (star && chunk === '') return true;
    const first = matchChunk(chunk, n, steps);
    if (first.ok && (first.rest.length === 0 || p.length > 0)) {
      n = first.rest;
      continue;
    }
    if (first.err) return undefined;
    if (star) {
      for (let j = 0; j < n.length; j++) {
        const t = matchChunk(chunk, n.slice(j + 1), steps);
        if (t.ok) {
          if (p.length === 0 && t.rest.length > 0) continue;
          n = t.rest;
          continue outer;
        }
        if (t.err) return undefined;
      }
    }
    return false;
  }
  return n.length === 0;
}

function matchChunk(chunk: string, str: string, steps: { left: number }): { ok: boolean; rest: string; err?: boolean } {
  let c = chunk;
  let s = str;
  while (c.length > 0) {
    step(steps);
    if (s.length === 0) return { ok: false, rest: s };
    const c0 = c[0];
    if (c0 === '[') {
      const r = s.codePointAt(0) ?? 0;
      s = s.slice(r > 0xffff ? 2 : 1);
      c = c.slice(1);
      let negated = false;
      if (c.length > 0 && c[0] === '^') {
        negated = true;
        c = c.slice(1);
      }
      let match = false;
      let nrange = 0;
      for (;;) {
        if (c.length > 0 && c[0] === ']' && nrange > 0) {
          c = c.slice(1);
          break;
        }
        const lo = getEsc(c);
        if (!lo) return { ok: false, rest: s, err: true };
        c = lo.rest;
        let hi = lo.r;
        if (c[0] === '-') {
          const h = getEsc(c.slice(1));
          if (!h) return { ok: false, rest: s, err: true };
          c = h.rest;
          hi = h.r;
        }
        if (lo.r <= r && r <= hi) match = true;
        nrange++;
      }
      if (match === negated) return { ok: false, rest: s };
    } else if (c0 === '?') {
      const r = s.codePointAt(0) ?? 0;
      s = s.slice(r > 0xffff ? 2 : 1);
      c = c.slice(1);
    } else {
      if (c0 === '\\') {
        c = c.slice(1);
        if (c.length === 0) return { ok: false, rest: s, err: true };
      }
      if (c[0] !== s[0]) return { ok: false, rest: s };
      s = s.slice(1);
      c = c.slice(1);
    }
  }
  return { ok: true, rest: s };
}

function getEsc(chunk: string): { r: number; rest: string } | undefined {
  let c = chunk;
  if (c.length === 0 || c[0] === '-' || c[0] === ']') return undefined;
  if (c[0] === '\\') {
    c = c.slice(1);
    if (c.length === 0) return undefined;
  }
  const r = c.codePointAt(0) ?? 0;
  const rest = c.slice(r > 0xffff ? 2 : 1);
  if (rest.length === 0) return undefined;
  return { r, rest };
}

// ---------------------------------------------------------------------------------------------
// Reading the substituted YAML back as sigs.k8s.io/yaml (go-yaml v2) reads it

const V2_MAP: Record<string, unknown> = {};
for (const s of ['y', 'Y', 'yes', 'Yes', 'YES', 'true', 'True', 'TRUE', 'on', 'On', 'ON']) V2_MAP[s] = true;
for (const s of ['n', 'N', 'no', 'No', 'NO', 'false', 'False', 'FALSE', 'off', 'Off', 'OFF']) V2_MAP[s] = false;
for (const s of ['', '~', 'null', 'Null', 'NULL']) V2_MAP[s] = null;
for (const s of ['.nan', '.NaN', '.NAN']) V2_MAP[s] = NaN;
for (const s of ['.inf', '.Inf', '.INF', '+.inf', '+.Inf', '+.INF']) V2_MAP[s] = Infinity;
for (const s of ['-.inf', '-.Inf', '-.INF']) V2_MAP[s] = -Infinity;

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;
const V2_FLOAT = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/;

/** After substitution Flux decodes the object from JSON into Go interface{} values: every number becomes a float64. */
function intValue(v: bigint): number {
  return Number(v);
}

/** strconv.ParseInt/ParseUint with base 0 (the value has had its underscores removed). */
function goParseInt(s: string): bigint | undefined {
  const m = /^([-+]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$/.exec(s);
  if (!m) return undefined;
  const body = m[2] ?? '';
  let v: bigint;
  if (/^0[xXoObB]/.test(body)) v = BigInt('0' + body.slice(1, 2).toLowerCase() + body.slice(2));
  else if (body.length > 1 && body.startsWith('0')) v = BigInt('0o' + body.slice(1));
  else v = BigInt(body);
  if (m[1] === '-') v = -v;
  if (v < INT64_MIN || v > UINT64_MAX) return undefined;
  if (m[1] === '+' && v > INT64_MAX) return undefined; // ParseUint takes no sign
  return v;
}

/**
 * go-yaml v2's resolution of a plain scalar, then what Flux's JSON steps make of it: numbers are
 * float64 (integers past 2^53 lose precision), timestamps stay strings (sigs.k8s.io/yaml keeps
 * them as written).
 */
export function resolvePlainV2(s: string): unknown {
  if (Object.prototype.hasOwnProperty.call(V2_MAP, s)) return V2_MAP[s];
  const c = s[0] ?? '';
  if (c === '.') {
    if (/^\.[0-9]+([eE][-+]?[0-9]+)?$/.test(s)) return Number(s);
    return s;
  }
  if (!/[0-9+-]/.test(c)) return s;
  const plain = s.replace(/_/g, '');
  const i = goParseInt(plain);
  if (i !== undefined) return intValue(i);
  if (V2_FLOAT.test(plain)) {
    const f = Number(plain);
    if (Number.isFinite(f)) return f;
    return s;
  }
  if (/^-0b[01]+$/.test(plain)) {
    const v = -BigInt('0b' + plain.slice(3));
    if (v >= INT64_MIN) return intValue(v);
  }
  return s;
}

const v2Plain: ScalarTag = {
  tag: 'tag:yaml.org,2002:lading-go-yaml-v2',
  default: true,
  test: /^(?!<<$)[\s\S]*$/,
  resolve: (str: string) => resolvePlainV2(str),
};

function jsonable(v: unknown, where: string, depth = 0): unknown {
  if (depth > 200) throw new Error(`${where}: nested too deeply`);
  if (typeof v === 'number' && !Number.isFinite(v)) throw new Error(`json: unsupported value: ${Number.isNaN(v) ? 'NaN' : v > 0 ? '+Inf' : '-Inf'}`);
  if (Array.isArray(v)) return v.map((x) => jsonable(x, where, depth + 1));
  if (v instanceof Map) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of v) Object.defineProperty(out, keyString(k), { value: jsonable(x, where, depth + 1), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return v;
}

function keyString(k: unknown): string {
  if (typeof k === 'string') return k;
  if (typeof k === 'boolean' || typeof k === 'bigint') return String(k);
  if (typeof k === 'number') return Number.isInteger(k) ? String(k) : String(Math.fround(k));
  if (k === null) return 'null';
  return String(k);
}

/** Reads one object's substituted YAML as Flux does (YAMLToJSON, then the object from JSON). */
export function readSubstitutedYaml(text: string): KubeObject {
  const doc = parseDocument(text, { schema: 'failsafe', customTags: [v2Plain], merge: true, uniqueKeys: false, prettyErrors: false, strict: false, keepSourceTokens: false });
  const err = doc.errors[0];
  // Only the kind and place of the error: the parser's message may quote the text (and a value).
  if (err) throw new Error(`yaml: ${err.code}${err.linePos ? ` at line ${err.linePos[0].line}, column ${err.linePos[0].col}` : ''}`);
  // Keys keep their resolved types (mapAsMap) so that `on:` becomes "true" as sigs.k8s.io/yaml writes it.
  const value = jsonable(doc.toJS({ mapAsMap: true, maxAliasCount: 100 }), 'substituted YAML');
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('the substituted YAML is not a mapping');
  return value as KubeObject;
}

// ---------------------------------------------------------------------------------------------
// Objects

function ownString(obj: unknown, key: string): string | undefined {
  if (obj === null || typeof obj !== 'object' || !Object.prototype.hasOwnProperty.call(obj, key)) return undefined;
  const v = (obj as Record<string, unknown>)[key];
  return typeof v === 'string' ? v : undefined;
}

/** Whether the object opts out with `kustomize.toolkit.fluxcd.io/substitute: disabled` (label or annotation). */
export function substitutionDisabled(obj: KubeObject): boolean {
  const meta = obj['metadata'];
  const key = KustomizeObjectAnnotations.substitute;
  const labels = meta && typeof meta === 'object' ? (meta as Record<string, unknown>)['labels'] : undefined;
  const annotations = meta && typeof meta === 'object' ? (meta as Record<string, unknown>)['annotations'] : undefined;
  return ownString(labels, key) === 'disabled' || ownString(annotations, key) === 'disabled';
}

function describe(obj: KubeObject): string {
  const kind = ownString(obj, 'kind') ?? '?';
  const apiVersion = ownString(obj, 'apiVersion') ?? '';
  const meta = obj['metadata'];
  const name = ownString(meta, 'name') ?? '?';
  const ns = ownString(meta, 'namespace');
  const group = apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '';
  return `${kind}${group ? '.' + group : ''} ${ns ? ns + '/' : ''}${name}`;
}

/**
 * Checks the variable names and removes newlines from the values, as Flux loads them.
 * `from` names where the variables come from, for errors.
 */
export function normaliseVariables(vars: Record<string, string>, from: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(vars)) {
    if (!VARIABLE_NAME.test(k)) {
      throw new FluxBuildError('SUBSTITUTE_FAILED', `${from}: variable name ${JSON.stringify(k)} is invalid, must match '^[_[:alpha:]][_[:alpha:][:digit:]]*$'`);
    }
    out.set(k, v.replace(/\n/g, ''));
  }
  return out;
}

/**
 * Runs postBuild substitution over built objects (in place of each substituted object, a new
 * one; the others are returned as they are). `vars` are the merged variables (see
 * loadVariables); names are checked here as Flux checks them before each substitution.
 */
export function substitute(objects: readonly KubeObject[], vars: Map<string, string> | Record<string, string>, opts: SubstituteOptions = {}): KubeObject[] {
  const strict = opts.strict ?? true;
  const map = vars instanceof Map ? vars : new Map(Object.entries(vars));
  for (const k of map.keys()) {
    if (!VARIABLE_NAME.test(k)) throw new FluxBuildError('SUBSTITUTE_FAILED', `postBuild: variable name ${JSON.stringify(k)} is invalid, must match '^[_[:alpha:]][_[:alpha:][:digit:]]*$'`);
  }
  if (map.size === 0 && !opts.always) return [...objects];
  const lookup = strict ? (n: string) => map.get(n) : (n: string) => map.get(n) ?? '';
  let total = 0;
  return objects.map((obj) => {
    if (substitutionDisabled(obj)) return obj;
    const what = describe(obj);
    let text: string;
    try {
      text = envsubst(formatManifests([obj]), lookup, { maxChars: Math.min(MAX_SUBSTITUTED_CHARS, MAX_SUBSTITUTED_TOTAL - total) });
      total += text.length;
    } catch (err) {
      if (err instanceof EnvsubstUnsetError) {
        throw new FluxBuildError('SUBSTITUTE_FAILED', `post build failed for '${what}': variable ${JSON.stringify(err.variable)} is not set (strict mode) and has no default`, { cause: err });
      }
      const msg = err instanceof Error ? err.message : String(err);
      throw new FluxBuildError('SUBSTITUTE_FAILED', `post build failed for '${what}': variable substitution failed: ${msg}`, { cause: err });
    }
    try {
      return readSubstitutedYaml(text);
    } catch (err) {
      // The parser's message may quote the text, and the text may hold a Secret's value: only the kind of failure is kept.
      const msg = err instanceof Error ? err.message : 'invalid YAML';
      throw new FluxBuildError('SUBSTITUTE_FAILED', `post build failed for '${what}': the substituted object is not valid YAML (${msg}); check the values substituted into it`);
    }
  });
}
