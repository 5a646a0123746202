import { useApp } from './ui.jsx';
import { translate } from '../i18n.js';

const STRINGS = {
  en: { from: 'From', to: 'To', last7: 'Last 7 days', last30: 'Last 30 days', last90: 'Last 90 days' },
  'zh-TW': { from: '開始', to: '結束', last7: '最近 7 天', last30: '最近 30 天', last90: '最近 90 天' },
};

// Today's date in Asia/Taipei (the reports' default time zone), as YYYY-MM-DD.
export function localToday(now = new Date(), timeZone = 'Asia/Taipei') {
  return new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(now);
}

export function daysBefore(isoDate, days) {
  const date = new Date(`${isoDate}T00:00:00Z`);
  date.setUTCDate(date.getUTCDate() - days);
  return date.toISOString().slice(0, 10);
}

export function lastDays(days, now) {
  const to = localToday(now);
  return { from: daysBefore(to, days - 1), to };
}

/** A date range (inclusive local dates) with quick picks: value {from, to}, onChange. */
export function DateRange({ value, onChange, testid = 'date-range' }) {
  const { lang } = useApp();
  const t = (key) => translate(STRINGS, lang, key);
  return (
    <div class="row" data-testid={testid}>
      <label>
        {t('from')}
        <input type="date" value={value.from} max={value.to} onChange={(e) => onChange({ ...value, from: e.currentTarget.value })} data-testid={`${testid}-from`} />
      </label>
      <label>
        {t('to')}
        <input type="date" value={value.to} min={value.from} onChange={(e) => onChange({ ...value, to: e.currentTarget.value })} data-testid={`${testid}-to`} />
      </label>
      {[7, 30, 90].map((days) => (
        <button type="button" key={days} onClick={() => onChange(lastDays(days))} data-testid={`${testid}-last${days}`}>
          {t(`last${days}`)}
        </button>
      ))}
    </div>
  );
}
