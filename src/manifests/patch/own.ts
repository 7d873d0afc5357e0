/**
 * Sets an own, enumerable property even for the key `__proto__`, which plain assignment would
 * turn into a prototype change. Keys come from user YAML, so every dynamic key goes through here.
 */
export function setOwn(o: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    o[key] = value;
  }
}
