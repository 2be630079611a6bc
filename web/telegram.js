// Inside Telegram, as a Mini App: Telegram's own script, loaded from telegram.org and only there
// (a plain browser never asks telegram.org for anything), its theme, and what it knows of the
// person. Logging in with its signed initData is app.js's; the checking is the server's.

const SCRIPT = 'https://telegram.org/js/telegram-web-app.js';
const SEEN_KEY = 'referral.telegram';
const LOAD_TIMEOUT_MS = 10000;

/** Telegram opens a Mini App with its launch parameters in the address's fragment; a reload
 * inside Telegram keeps them in sessionStorage (as Telegram's script does). */
export function insideTelegram() {
  if (/(?:^#|&)tgWebAppData=/.test(location.hash)) {
    sessionStorage.setItem(SEEN_KEY, '1');
    return true;
  }
  return sessionStorage.getItem(SEEN_KEY) === '1';
}

/** Load Telegram's script; its `Telegram.WebApp`, ready and expanded, with the page in its theme
 * (the script sets the --tg-theme-* properties that styles.css reads). */
export function startTelegram() {
  return new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = SCRIPT;
    const timer = setTimeout(() => reject(new Error(`${SCRIPT} did not load in time`)), LOAD_TIMEOUT_MS);
    script.addEventListener('load', () => {
      clearTimeout(timer);
      const app = window.Telegram?.WebApp;
      if (!app) {
        reject(new Error(`${SCRIPT} defined no Telegram.WebApp`));
        return;
      }
      document.documentElement.dataset.telegram = '';
      const followScheme = () => {
        document.documentElement.style.colorScheme = app.colorScheme === 'dark' ? 'dark' : 'light';
      };
      followScheme();
      app.onEvent?.('themeChanged', followScheme);
      app.ready();
      app.expand?.();
      resolve(app);
    });
    script.addEventListener('error', () => {
      clearTimeout(timer);
      reject(new Error(`${SCRIPT} did not load`));
    });
    document.head.append(script);
  });
}

/** The person's Telegram language ('' when Telegram does not say). */
export const telegramLanguage = (app) => app.initDataUnsafe?.user?.language_code ?? '';

/** What a `t.me/<bot>/<app>?startapp=` link carried, if anything. */
export const startParameter = (app) => app.initDataUnsafe?.start_param ?? '';

/** Open the bot's chat, with `start` as the /start payload when given. */
export function openBot(app, botUsername, start = '') {
  const payload = start ? `?start=${encodeURIComponent(start)}` : '';
  app.openTelegramLink(`https://t.me/${botUsername}${payload}`);
}

/** Telegram's own share dialog for `link`. */
export function shareInTelegram(app, link, text) {
  const query = `url=${encodeURIComponent(link)}&text=${encodeURIComponent(text)}`;
  app.openTelegramLink(`https://t.me/share/url?${query}`);
}
