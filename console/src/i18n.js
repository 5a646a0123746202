// Two languages: Traditional Chinese (default) and English. Each page module carries its own
// strings as {en: {...}, 'zh-TW': {...}}; translate() falls back to English, then to the key.
export const LANGUAGES = ['zh-TW', 'en'];
export const DEFAULT_LANGUAGE = 'zh-TW';
const LANG_KEY = 'cdp.console.lang'; // a display preference, not a secret

export function initialLanguage() {
  try {
    const saved = localStorage.getItem(LANG_KEY);
    if (LANGUAGES.includes(saved)) return saved;
  } catch {
    /* no storage: default */
  }
  return DEFAULT_LANGUAGE;
}

export function saveLanguage(lang) {
  try {
    localStorage.setItem(LANG_KEY, lang);
  } catch {
    /* not kept */
  }
}

export function translate(strings, lang, key, params) {
  const text = strings?.[lang]?.[key] ?? strings?.en?.[key] ?? key;
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

// t = makeT(strings, lang); t('title'), t('count', {n: 3})
export function makeT(strings, lang) {
  return (key, params) => translate(strings, lang, key, params);
}

export function formatNumber(value, lang, options) {
  if (value === null || value === undefined || Number.isNaN(value)) return '—';
  return new Intl.NumberFormat(lang, options).format(value);
}

export function formatPercent(ratio, lang, digits = 1) {
  if (ratio === null || ratio === undefined || Number.isNaN(ratio)) return '—';
  return new Intl.NumberFormat(lang, { style: 'percent', maximumFractionDigits: digits }).format(ratio);
}

export function formatMoney(value, lang, currency = 'TWD') {
  if (value === null || value === undefined || Number.isNaN(value)) return '—';
  return new Intl.NumberFormat(lang, { style: 'currency', currency, maximumFractionDigits: 0 }).format(value);
}

export function formatDateTime(iso, lang) {
  if (!iso) return '—';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeStyle: 'short', timeZone: 'Asia/Taipei' }).format(date);
}
