// The character-loop syntax checks of src/oci/syntax.ts and src/oci/remote/http1.ts against the
// regular expressions they stand for: edge cases, then many random strings over the alphabets
// that matter (each function's answer must equal its pattern's).
import { describe, expect, it } from 'vitest';
import { isDigestSyntax, isDigits, isHostLabel, isLoopbackIPv4, isLowerHex, isPathComponent, isTagSyntax } from '../../src/oci/syntax.js';

const patterns: Array<[string, (s: string) => boolean, RegExp, string[]]> = [
  ['isDigits', isDigits, /^[0-9]+$/, ['', '0', '0123456789', '1a', ' 1', '١']],
  ['isLowerHex 4', (s) => isLowerHex(s, 4), /^[a-f0-9]{4}$/, ['', 'abcd', '0f9a', 'ABCD', 'abc', 'abcde', 'abcg']],
  ['isTagSyntax', isTagSyntax, /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/, ['', 'latest', '_x', '.x', '-x', 'x.', 'x-', 'a'.repeat(128), 'a'.repeat(129), 'v1.0.0-rc.1', 'a b', 'ä']],
  ['isHostLabel', isHostLabel, /^(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])$/, ['', 'a', '-', 'a-', '-a', 'a-b', 'a--b', 'A1', 'a_b', '127']],
  [
    'isPathComponent',
    isPathComponent,
    /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/,
    ['', 'a', 'a.b', 'a..b', 'a_b', 'a__b', 'a___b', 'a-b', 'a---b', 'a.', '.a', 'a-', '_a', 'a._b', 'a-_b', 'A', 'a/b'],
  ],
  [
    'isDigestSyntax',
    isDigestSyntax,
    /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/,
    ['', ':', 'a:', ':a', 'sha256:abc', 'sha256+b64u:AB=_-', 'a..b:x', 'a.b:x', '.a:x', 'a.:x', 'a:b:c', 'A:x', 'a:x y'],
  ],
  ['isLoopbackIPv4', isLoopbackIPv4, /^127\.[0-9]+\.[0-9]+\.[0-9]+$/, ['', '127.0.0.1', '127.1', '127.0.0.1.1', '127..0.1', '128.0.0.1', '127.0.0.a', '127.255.255.255']],
];

/** A deterministic generator (mulberry32), so a failure names a string that can be reproduced. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('syntax checks written as loops', () => {
  for (const [name, fn, pattern, cases] of patterns) {
    it(`${name} agrees with ${pattern.source} on edge cases`, () => {
      for (const s of cases) expect([s, fn(s)]).toEqual([s, pattern.test(s)]);
    });

    it(`${name} agrees with ${pattern.source} on random strings`, () => {
      const next = random(name.length * 7919);
      const alphabet = 'ab09AZfg._-+_=:/ 7\u00e4';
      let matched = 0;
      for (let n = 0; n < 20000; n++) {
        const length = Math.floor(next() * 12);
        let s = '';
        for (let i = 0; i < length; i++) s += alphabet[Math.floor(next() * alphabet.length)];
        // Loopback addresses and hex need their own shapes to match at all.
        if (name === 'isLoopbackIPv4' && n % 2 === 0) s = `127.${[...s].map((c) => '0123.45a.'[c.charCodeAt(0) % 9]).join('')}`;
        if (name.startsWith('isLowerHex') && n % 2 === 0) s = s.replace(/[^0-9a-f]/g, 'f').slice(0, 5);
        const want = pattern.test(s);
        if (want) matched++;
        if (fn(s) !== want) expect([s, fn(s)]).toEqual([s, want]);
      }
      // The random strings exercise both answers.
      expect(matched).toBeGreaterThan(20);
    });
  }
});
