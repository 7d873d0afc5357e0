// Label selectors applied locally (a sharded controller's own kind, cached unfiltered because
// another controller reads it): the grammar of k8s.io/apimachinery labels.Parse.
import { describe, expect, it } from 'vitest';
import { labelSelectorMatcher } from '../../src/controller/runtime/selector.js';

describe('labelSelectorMatcher', () => {
  const cases: Array<[string, Record<string, string>, boolean]> = [
    ['sharding.fluxcd.io/key=shard1', { 'sharding.fluxcd.io/key': 'shard1' }, true],
    ['sharding.fluxcd.io/key=shard1', { 'sharding.fluxcd.io/key': 'shard2' }, false],
    ['sharding.fluxcd.io/key==shard1', { 'sharding.fluxcd.io/key': 'shard1' }, true],
    ['sharding.fluxcd.io/key!=shard1', {}, true],
    ['sharding.fluxcd.io/key!=shard1', { 'sharding.fluxcd.io/key': 'shard1' }, false],
    ['sharding.fluxcd.io/key in (shard1, shard2)', { 'sharding.fluxcd.io/key': 'shard2' }, true],
    ['sharding.fluxcd.io/key in (shard1,shard2)', { 'sharding.fluxcd.io/key': 'shard3' }, false],
    ['sharding.fluxcd.io/key notin (shard1)', { 'sharding.fluxcd.io/key': 'shard3' }, true],
    ['sharding.fluxcd.io/key notin (shard1)', {}, true],
    ['!sharding.fluxcd.io/key', {}, true],
    ['!sharding.fluxcd.io/key', { 'sharding.fluxcd.io/key': '' }, false],
    ['sharding.fluxcd.io/key', { 'sharding.fluxcd.io/key': '' }, true],
    ['app=web,tier in (front),!canary', { app: 'web', tier: 'front' }, true],
    ['app=web,tier in (front),!canary', { app: 'web', tier: 'front', canary: 'yes' }, false],
    ['', { anything: 'x' }, true],
  ];
  for (const [selector, labels, expected] of cases) {
    it(`${JSON.stringify(selector)} on ${JSON.stringify(labels)} → ${expected}`, () => {
      expect(labelSelectorMatcher(selector)(labels)).toBe(expected);
    });
  }

  it('refuses what the API server refuses, naming the selector', () => {
    for (const bad of ['a in (b', 'a=b,,c=d', 'a b', 'a=b c', '-a=b']) {
      expect(() => labelSelectorMatcher(bad), bad).toThrow(/label selector/);
    }
  });
});
