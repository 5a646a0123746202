import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  AGGREGATES, ATTRIBUTE_OPS, CHANNELS, EVENT_OPS, KINDS,
  appendAt, getAt, newCondition, parseValue, problems, removeAt, setAt, setGroupKind, toggleNot, withAggregate, withOperator,
} from './rules.js';

describe('rule builder <-> JSON', () => {
  it('builds the S1 step 5 rule the docs show', () => {
    let rule = { and: [] };
    rule = appendAt(rule, [], newCondition('event'));
    rule = toggleNot(rule, ['and', 0]);
    rule = appendAt(rule, [], newCondition('reachable'));
    expect(rule).toEqual({ and: [{ not: { event: { name: 'Order Completed' } } }, { reachable: { channel: 'line' } }] });
    expect(problems(rule)).toEqual([]);
  });

  it('builds the VIP rule with an aggregate and a where filter', () => {
    let rule = appendAt({ and: [] }, [], newCondition('event'));
    rule = setAt(rule, ['and', 0, 'event', 'within'], { last: { days: 30 } });
    rule = setAt(rule, ['and', 0, 'event'], withAggregate(getAt(rule, ['and', 0, 'event']), 'sum'));
    rule = setAt(rule, ['and', 0, 'event', 'value'], parseValue('3000', 'gt'));
    rule = setAt(rule, ['and', 0, 'event', 'op'], 'gt');
    expect(rule.and[0].event).toEqual({ name: 'Order Completed', within: { last: { days: 30 } }, aggregate: 'sum', property: 'revenue', op: 'gt', value: 3000 });
    expect(withAggregate(rule.and[0].event, 'count')).toEqual({ name: 'Order Completed', within: { last: { days: 30 } }, aggregate: 'count', op: 'gt', value: 3000 });
  });

  it('edits nested groups without touching other branches', () => {
    const rule = { and: [{ tag: { name: 'vip' } }, { or: [{ identifier: { type: 'line' } }] }] };
    const changed = setGroupKind(appendAt(rule, ['and', 1], newCondition('tag')), ['and', 1], 'and');
    expect(changed.and[1]).toEqual({ and: [{ identifier: { type: 'line' } }, { tag: { name: '' } }] });
    expect(changed.and[0]).toBe(rule.and[0]);
    expect(removeAt(changed, ['and', 0])).toEqual({ and: [changed.and[1]] });
    expect(problems(changed)).toEqual(['/and/1/and/1/tag']);
    expect(toggleNot(toggleNot(rule, ['and', 0]), ['and', 0])).toEqual(rule);
  });

  it('reads typed values the way the API compares them', () => {
    expect(parseValue('42', 'eq')).toBe(42);
    expect(parseValue('true', 'eq')).toBe(true);
    expect(parseValue('Taipei', 'eq')).toBe('Taipei');
    expect(parseValue('Taipei, 12, ', 'in')).toEqual(['Taipei', 12]);
  });

  it('gives each operator the value it needs', () => {
    const a = { field: 'traits.city', op: 'eq', value: 'Taipei' };
    expect(withOperator(a, 'exists')).toEqual({ field: 'traits.city', op: 'exists' });
    expect(withOperator(a, 'in')).toEqual({ field: 'traits.city', op: 'in', value: ['Taipei'] });
    expect(withOperator(a, 'within_last')).toEqual({ field: 'traits.city', op: 'within_last', value: { days: 30 } });
    expect(withOperator({ field: 'traits.x', op: 'in', value: [1, 2] }, 'eq')).toEqual({ field: 'traits.x', op: 'eq', value: 1 });
  });

  it('finds what is still empty', () => {
    expect(problems({ and: [] })).toEqual(['/and']);
    expect(problems({ and: [{ attribute: { field: 'traits.', op: 'eq', value: 1 } }] })).toEqual(['/and/0/attribute/field']);
    expect(problems({ and: [{ attribute: { field: 'line_status', op: 'eq', value: 'friend' } }] })).toEqual([]);
  });
});

describe('the builder follows the published rule schema', () => {
  // GET /admin/v1/segments/schema serves this file.
  const schema = JSON.parse(readFileSync(new URL('../../layers/core/python/cdp/segments/segment-rule.schema.json', import.meta.url), 'utf8'));
  const enums = (node) => (node && typeof node === 'object' ? [...(Array.isArray(node.enum) ? [node.enum] : []), ...Object.values(node).flatMap(enums)] : []);

  it('offers exactly the schema operators, aggregates and channels', () => {
    const conditionOps = enums(schema.$defs.condition).flat();
    expect(new Set(ATTRIBUTE_OPS)).toEqual(new Set([...conditionOps, 'in']));
    expect(new Set(EVENT_OPS)).toEqual(new Set(schema.$defs.event.properties.op.enum));
    expect(AGGREGATES).toEqual(schema.$defs.event.properties.aggregate.enum);
    expect(CHANNELS).toEqual(schema.$defs.reachable.properties.channel.enum);
  });

  it('knows every condition node of the schema', () => {
    for (const kind of KINDS) expect(schema.$defs).toHaveProperty(kind);
    const nodes = Object.keys(schema.$defs).filter((key) => !['rule', 'name', 'keyword', 'text', 'scalar', 'duration', 'condition', 'property_filter'].includes(key));
    expect(new Set(nodes)).toEqual(new Set(KINDS));
  });
});
