import { describe, expect, it } from 'vitest';
import { edgesOf, layout } from './journeys.jsx';

const CART = {
  start: 'wait_order',
  nodes: {
    wait_order: { type: 'wait_for_event', event: 'Order Completed', timeout: 'PT30M', received: 'done', timed_out: 'remind' },
    remind: { type: 'send', template_id: 'done', channels: ['line'], next: 'done' },
    done: { type: 'exit' },
  },
};

describe('journey graph', () => {
  it('finds every link: named outcomes, next, and split branches by name', () => {
    const ids = new Set(Object.keys(CART.nodes));
    expect(edgesOf(CART.nodes.wait_order, ids)).toEqual([
      { to: 'done', label: 'received' },
      { to: 'remind', label: 'timed_out' },
    ]);
    const split = { type: 'random_split', branches: [{ name: 'a', percent: 50, next: 'remind' }, { name: 'control', percent: 50, holdout: true }] };
    expect(edgesOf(split, ids)).toEqual([{ to: 'remind', label: 'a' }]);
  });

  it('places a node after every node that leads to it, and survives a loop', () => {
    const { position, edges } = layout(CART);
    expect(position.wait_order.x).toBeLessThan(position.remind.x);
    expect(position.remind.x).toBeLessThan(position.done.x);
    expect(edges).toHaveLength(3);
    const loop = { start: 'a', nodes: { a: { type: 'delay', next: 'b' }, b: { type: 'condition', yes: 'a', no: 'c' }, c: { type: 'exit' } } };
    const placed = layout(loop).position;
    expect(Object.keys(placed).sort()).toEqual(['a', 'b', 'c']);
    expect(Number.isFinite(layout(loop).height)).toBe(true);
  });
});
