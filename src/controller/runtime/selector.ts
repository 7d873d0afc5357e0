// Kubernetes label selectors as the API server reads them (k8s.io/apimachinery labels.Parse):
// `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x,y)`, `a`, `!a`, joined by commas (AND). Used
// where one cache serves a kind for several readers and a selector must be applied locally (a
// sharded controller reconciles only its shard's objects but reads every source).
import { LadingError } from '../../errors.js';

type Requirement =
  | { key: string; op: 'exists' | 'notexists' }
  | { key: string; op: 'in' | 'notin'; values: Set<string> };

/** Parses a selector into a matcher of label maps; throws INVALID_SELECTOR naming the selector. */
export function labelSelectorMatcher(selector: string): (labels: Record<string, string> | undefined) => boolean {
  const requirements = parseSelector(selector);
  return (labels) => {
    const l = labels ?? {};
    return requirements.every((r) => {
      const has = Object.prototype.hasOwnProperty.call(l, r.key);
      switch (r.op) {
        case 'exists':
          return has;
        case 'notexists':
          return !has;
        case 'in':
          return has && r.values.has(l[r.key] as string);
        case 'notin':
          return !has || !r.values.has(l[r.key] as string);
      }
    });
  };
}

function parseSelector(selector: string): Requirement[] {
  const fail = (why: string): never => {
    throw new LadingError('INVALID_SELECTOR', `label selector "${selector}": ${why}`);
  };
  // Split on commas outside parentheses.
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < selector.length; i++) {
    const ch = selector[i];
    if (ch === '(') depth++;
    else if (ch === ')') depth--;
    else if (ch === ',' && depth === 0) {
      parts.push(selector.slice(start, i));
      start = i + 1;
    }
    if (depth < 0) fail('unbalanced parentheses');
  }
  if (depth !== 0) fail('unbalanced parentheses');
  parts.push(selector.slice(start));
  const key = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
  const value = /^(([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?)$/;
  const checkKey = (k: string): string => (key.test(k) && k.length <= 316 ? k : fail(`invalid key "${k}"`));
  const checkValue = (v: string): string => (value.test(v) && v.length <= 63 ? v : fail(`invalid value "${v}"`));
  const out: Requirement[] = [];
  for (const raw of parts) {
    const p = raw.trim();
    if (p === '') {
      if (parts.length === 1) return [];
      fail('empty requirement');
    }
    let m: RegExpExecArray | null;
    if ((m = /^(\S+?)\s+(in|notin)\s*\(([^()]*)\)$/.exec(p))) {
      const values = new Set((m[3] as string).split(',').map((v) => checkValue(v.trim())));
      out.push({ key: checkKey(m[1] as string), op: m[2] as 'in' | 'notin', values });
    } else if ((m = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(p))) {
      const op = m[2] === '!=' ? 'notin' : 'in';
      out.push({ key: checkKey(m[1] as string), op, values: new Set([checkValue(m[3] as string)]) });
    } else if ((m = /^!\s*(\S+)$/.exec(p))) {
      out.push({ key: checkKey(m[1] as string), op: 'notexists' });
    } else if ((m = /^(\S+)$/.exec(p))) {
      out.push({ key: checkKey(m[1] as string), op: 'exists' });
    } else {
      fail(`cannot read "${p}"`);
    }
  }
  return out;
}
