// The syntax checks of references, digests and descriptors, written as loops over character codes.
// Each regular expression a short command runs costs it a compilation to bytecode and, once it
// has run twice, another to machine code (~0.02-0.05 ms each, several dozen per `lading verify`);
// these functions come compiled from the CLI's code cache. Each names the pattern it implements,
// and test/oci/syntax.test.ts checks it against that pattern.

function isLower(c: number): boolean {
  return c >= 97 && c <= 122;
}

function isUpper(c: number): boolean {
  return c >= 65 && c <= 90;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function isLowerAlnum(c: number): boolean {
  return isLower(c) || isDigit(c);
}

function isAlnum(c: number): boolean {
  return isLower(c) || isUpper(c) || isDigit(c);
}

/** `^[0-9]+$` */
export function isDigits(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (!isDigit(s.charCodeAt(i))) return false;
  return true;
}

/** `^[a-f0-9]{length}$` */
export function isLowerHex(s: string, length: number): boolean {
  if (s.length !== length) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!isDigit(c) && !(c >= 97 && c <= 102)) return false;
  }
  return true;
}

/** A tag: `^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$` */
export function isTagSyntax(s: string): boolean {
  if (s.length === 0 || s.length > 128) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (isAlnum(c) || c === 95 /* _ */) continue;
    if (i > 0 && (c === 46 /* . */ || c === 45) /* - */) continue;
    return false;
  }
  return true;
}

/** A label of a registry host name: `^(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])$` */
export function isHostLabel(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (isAlnum(c)) continue;
    if (c === 45 /* - */ && i > 0 && i < s.length - 1) continue;
    return false;
  }
  return true;
}

/**
 * A repository path component: `^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$` (lowercase letters and
 * digits, separated by one ".", one "_", "__" or any number of "-").
 */
export function isPathComponent(s: string): boolean {
  let i = 0;
  for (;;) {
    const start = i;
    while (i < s.length && isLowerAlnum(s.charCodeAt(i))) i++;
    if (i === start) return false;
    if (i === s.length) return true;
    const c = s.charCodeAt(i);
    if (c === 46 /* . */) i++;
    else if (c === 95 /* _ */) i += s.charCodeAt(i + 1) === 95 ? 2 : 1;
    else if (c === 45 /* - */) while (s.charCodeAt(i) === 45) i++;
    else return false;
  }
}

/**
 * A digest as the OCI image spec writes it: `^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$`
 * (an algorithm, a colon, the encoded value).
 */
export function isDigestSyntax(s: string): boolean {
  const colon = s.indexOf(':');
  if (colon <= 0 || colon === s.length - 1) return false;
  let afterSeparator = true;
  for (let i = 0; i < colon; i++) {
    const c = s.charCodeAt(i);
    if (isLowerAlnum(c)) afterSeparator = false;
    else if ((c === 46 || c === 43 || c === 95 || c === 45) /* . + _ - */ && !afterSeparator) afterSeparator = true;
    else return false;
  }
  if (afterSeparator) return false;
  for (let i = colon + 1; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!isAlnum(c) && c !== 61 /* = */ && c !== 95 /* _ */ && c !== 45 /* - */) return false;
  }
  return true;
}

/** An IPv4 address in the loopback range: `^127\.[0-9]+\.[0-9]+\.[0-9]+$` */
export function isLoopbackIPv4(s: string): boolean {
  if (!s.startsWith('127.')) return false;
  const parts = s.slice(4).split('.');
  return parts.length === 3 && parts.every(isDigits);
}
