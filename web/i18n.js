// The page's texts come from the server's catalogs (locales/<language>/LC_MESSAGES/web.po), never
// from this code. An element shows a text by naming it: `data-i18n="web-login-title"` in the HTML,
// or `setText(element, key, params)` from a screen, which records the key and its parameters on
// the element, so that switching the language redraws every text on the page at once.
//
// A parameter named `count` picks the plural form with Intl.PluralRules; numbers are formatted
// for the language, and so are dates (`<time data-i18n-date>`).

import { readTexts, saveLanguage, session, setAnswerLanguage } from './api.js';

export const LANGUAGES = ['en', 'ru'];
const CHOICE_KEY = 'referral.language';
// The assets' version is in this module's own address (/web/<version>/i18n.js); the texts carry
// the same version, so the browser may keep them as long as it keeps this module.
const VERSION = new URL(import.meta.url).pathname.split('/').at(-2) ?? '';

const loaded = new Map();
let language = 'en';
let texts = {};

export const currentLanguage = () => language;

/** The person's own choice, else Telegram's language (inside Telegram) or the browser's, else
 * `fallback` (the server's default; null: the caller asks the server first). */
export function pickLanguage({ telegramLanguage = null, fallback = 'en' } = {}) {
  const chosen = localStorage.getItem(CHOICE_KEY);
  if (LANGUAGES.includes(chosen)) return chosen;
  const preferred = telegramLanguage !== null ? [telegramLanguage] : navigator.languages ?? [];
  for (const tag of preferred) {
    const base = String(tag ?? '').toLowerCase().split('-')[0];
    if (LANGUAGES.includes(base)) return base;
  }
  if (fallback === null) return null;
  return LANGUAGES.includes(fallback) ? fallback : 'en';
}

/** Load a language's texts (once) and redraw the page in it. */
export async function useLanguage(wanted) {
  if (!loaded.has(wanted)) {
    const answer = await readTexts(wanted, VERSION);
    if (answer.status !== 200) throw new Error(`texts of ${wanted}: HTTP ${answer.status}`);
    loaded.set(wanted, answer.body.texts);
  }
  language = wanted;
  texts = loaded.get(wanted);
  setAnswerLanguage(wanted);
  document.documentElement.lang = wanted;
  document.title = t('web-app-name');
  for (const button of document.querySelectorAll('[data-lang]')) {
    button.setAttribute('aria-pressed', String(button.dataset.lang === wanted));
  }
  redraw(document);
}

/** The language switch: remembered in this browser. */
export async function chooseLanguage(wanted) {
  localStorage.setItem(CHOICE_KEY, wanted);
  await useLanguage(wanted);
  if (session.token) await saveLanguage(wanted); // a member's choice is kept on the member
}

/** A member's language, kept on the server, unless this browser has a choice of its own. */
export async function adoptMemberLanguage(memberLanguage) {
  if (localStorage.getItem(CHOICE_KEY) || !LANGUAGES.includes(memberLanguage)) return;
  if (memberLanguage !== language) await useLanguage(memberLanguage);
}

export function formatNumber(value) {
  return new Intl.NumberFormat(language).format(value);
}

export function formatDate(iso) {
  return new Intl.DateTimeFormat(language, { dateStyle: 'medium' }).format(new Date(iso));
}

/** Seconds as a countdown: 0:42, 4:05, 1:00:00. */
export function formatDuration(seconds) {
  const total = Math.max(0, Math.ceil(seconds));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const rest = String(total % 60).padStart(2, '0');
  return hours ? `${hours}:${String(minutes).padStart(2, '0')}:${rest}` : `${minutes}:${rest}`;
}

function fill(template, params) {
  return template.replace(/\{(\w+)\}/g, (whole, name) => {
    if (!(name in params)) return whole;
    const value = params[name];
    return typeof value === 'number' ? formatNumber(value) : String(value);
  });
}

/** The text `key` with its `{placeholders}` filled; a plural text when `params.count` is set. */
export function t(key, params = {}) {
  const text = texts[key];
  if (text === undefined) return key; // a missing text shows its key: the catalog tests catch it
  if (typeof text === 'string') return fill(text, params);
  const category = new Intl.PluralRules(language).select(params.count ?? 0);
  return fill(text[category] ?? text.other ?? Object.values(text)[0], params);
}

/** Show the text `key` in `element`, and keep showing it in whichever language is chosen. */
export function setText(element, key, params = {}) {
  element.dataset.i18n = key;
  if (Object.keys(params).length) element.dataset.i18nParams = JSON.stringify(params);
  else delete element.dataset.i18nParams;
  drawText(element);
}

/** Empty `element` and forget its text. */
export function clearText(element) {
  delete element.dataset.i18n;
  delete element.dataset.i18nParams;
  element.textContent = '';
}

function drawText(element) {
  // Before any texts arrive (the server could not be reached), the HTML's English stays.
  if (!(element.dataset.i18n in texts)) return;
  const params = element.dataset.i18nParams ? JSON.parse(element.dataset.i18nParams) : {};
  element.textContent = t(element.dataset.i18n, params);
}

const ATTRIBUTES = { i18nAriaLabel: 'aria-label', i18nAlt: 'alt', i18nPlaceholder: 'placeholder' };

/** Draw every text under `root` in the current language. */
export function redraw(root) {
  for (const element of root.querySelectorAll('[data-i18n]')) drawText(element);
  for (const [data, attribute] of Object.entries(ATTRIBUTES)) {
    const selector = `[data-${data.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}]`;
    for (const element of root.querySelectorAll(selector)) {
      element.setAttribute(attribute, t(element.dataset[data]));
    }
  }
  for (const element of root.querySelectorAll('time[data-i18n-date]')) {
    element.textContent = formatDate(element.dateTime);
  }
}
