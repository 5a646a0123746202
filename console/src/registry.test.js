import { describe, expect, it } from 'vitest';
import { PAGES, parseRoute, roleAllows, visiblePages } from './registry.js';

describe('pages by role', () => {
  const ids = (role) => visiblePages(role).map((p) => p.id);

  it('shows the audit log and data retention to admins only', () => {
    expect(ids('admin')).toEqual(PAGES.map((p) => p.id));
    for (const role of ['viewer', 'marketer']) {
      expect(ids(role)).not.toContain('audit');
      expect(ids(role)).not.toContain('retention');
      expect(ids(role)).toContain('people');
    }
  });

  it('leaves role pages out until the role is known', () => {
    expect(ids(undefined)).not.toContain('audit');
    expect(ids(undefined)).toContain('dashboard');
  });

  it('orders the roles', () => {
    expect(roleAllows('admin', 'marketer')).toBe(true);
    expect(roleAllows('marketer', 'admin')).toBe(false);
    expect(roleAllows('viewer', undefined)).toBe(true);
    expect(roleAllows(undefined, 'admin')).toBe(true); // not read yet: the API decides
  });

  it('routes to the new pages', () => {
    expect(parseRoute('#/audit?target=p_1')).toMatchObject({ page: 'audit', query: { target: 'p_1' } });
    expect(parseRoute('#/retention').page).toBe('retention');
  });
});
