import { describe, expect, it } from 'vitest';
import { describeError } from '../errors.js';
import { retentionChange } from './retention.jsx';

const settings = {
  version: 3,
  kinds: {
    raw_events: { days: 30, configurable: false },
    timeline: { days: 730, configurable: true },
    exports: { days: 7, configurable: true },
  },
};

describe('retention changes', () => {
  it('sends the version read and only the configurable kinds that changed', () => {
    expect(retentionChange(settings, { raw_events: '10', timeline: '540', exports: '7' })).toEqual({ version: 3, days: { timeline: 540 } });
    expect(retentionChange(settings, { timeline: '730' })).toEqual({ version: 3, days: {} });
  });

  it('names a kind whose days are not a whole number', () => {
    expect(retentionChange(settings, { timeline: '1.5' })).toEqual({ invalid: 'timeline' });
    expect(retentionChange(settings, { exports: '' })).toEqual({ invalid: 'exports' });
  });

  it('words the API refusals', () => {
    const bounds = { status: 400, code: 'retention_out_of_bounds', details: { field: 'days.timeline', min_days: 366, max_days: 3650 } };
    expect(describeError(bounds, 'en')).toBe('Timeline events can be kept from 366 to 3650 days.');
    expect(describeError(bounds, 'zh-TW')).toBe('行為時間軸事件的保存天數須介於 366 到 3650 天。');
    expect(describeError({ status: 409, code: 'retention_version_conflict' }, 'en')).toMatch(/Someone else changed/);
  });
});
