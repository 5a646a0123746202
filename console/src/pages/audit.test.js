import { describe, expect, it } from 'vitest';
import { auditQuery, outcome } from './audit.jsx';

describe('audit log filters', () => {
  it('sends only the filters given, dates as whole Taiwan days with `to` included', () => {
    expect(auditQuery({ actor: ' amy@brand.example ', target: '', from: '2026-12-01', to: '2026-12-31' })).toEqual({
      limit: 50,
      actor: 'amy@brand.example',
      from: '2026-12-01T00:00:00+08:00',
      to: '2027-01-01T00:00:00+08:00',
    });
    expect(auditQuery({})).toEqual({ limit: 50 });
    expect(auditQuery({ from: 'yesterday' })).toEqual({ limit: 50 });
  });

  it('words a status as its outcome', () => {
    expect(outcome(201)).toBe('ok');
    expect(outcome(403)).toBe('refused');
    expect(outcome(409)).toBe('failed');
  });
});
