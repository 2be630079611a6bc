// The page's start: in a browser (phone login) or inside Telegram (its signed initData), then
// the member page. The screens themselves are login.js and member.js.

import { NetworkError, readWebApp, session, telegramLogin } from './api.js';
import { chooseLanguage, pickLanguage, setText, useLanguage } from './i18n.js';
import { keepInvite, pendingInvite, takeInviteFromAddress, useInviteShape } from './invite.js';
import { setUpLogin, showPhoneScreen } from './login.js';
import { setUpMember, showMember } from './member.js';
import {
  insideTelegram,
  openBot,
  shareInTelegram,
  startParameter,
  startTelegram,
  telegramLanguage,
} from './telegram.js';
import { $, notify, showScreen } from './ui.js';

let site = null; // GET /api/web-app/
let telegram = null; // Telegram.WebApp inside Telegram
let retryFailed = () => {};

/** The failure screen, with a button that runs `retry`. */
function showFailure(retry, key = 'web-network-error') {
  retryFailed = retry;
  setText($('failed-text'), key);
  showScreen('failed', { focus: $('failed-retry') });
}

/** The server's description and the texts, in parallel when the language is already known. */
async function load() {
  if (insideTelegram()) telegram = await startTelegram();
  const spoken = telegram ? telegramLanguage(telegram) : null;
  const known = pickLanguage({ telegramLanguage: spoken, fallback: null });
  const texts = known ? useLanguage(known) : null;
  const answer = await readWebApp();
  if (answer.status !== 200) throw new Error(`GET /api/web-app/: HTTP ${answer.status}`);
  site = answer.body;
  useInviteShape(site);
  await (texts ?? useLanguage(pickLanguage({ telegramLanguage: spoken, fallback: site.default_language })));
}

let admin = null; // the operators' view (admin.js), fetched only once an operator has logged in

/** The way into the operators' view, for an operator (`operator` in the member's own data): the
 * view is loaded then, so that nobody else fetches it or asks an /api/admin/ path. */
async function offerAdmin(operator) {
  if (operator && !admin) {
    admin = await import('./admin.js');
    admin.setUpAdmin({ back: () => loggedIn({ created: false }) });
  }
  $('admin-open').hidden = !operator;
  document.body.dataset.operator = operator ? 'yes' : 'no';
}

function hideAdmin() {
  admin?.forgetStats();
  $('admin-open').hidden = true;
  delete document.body.dataset.operator;
}

async function loggedIn({ created }) {
  $('logout').hidden = Boolean(telegram); // inside Telegram the account is Telegram's
  const shown = await showMember({ created });
  if (shown) await offerAdmin(shown.operator);
}

async function signedOut(noticeKey) {
  $('logout').hidden = true;
  hideAdmin();
  if (telegram) {
    await signInWithTelegram();
    if (document.body.dataset.screen !== 'member') notify(noticeKey);
    return;
  }
  showPhoneScreen();
  notify(noticeKey);
}

function showTelegramScreen(titleKey, textKey, { bot = false, retry = false } = {}) {
  setText($('telegram-title'), titleKey);
  setText($('telegram-text'), textKey);
  $('telegram-open-bot').hidden = !(bot && site.bot_username);
  $('telegram-retry').hidden = !retry;
  showScreen('telegram', { focus: $('telegram-title') });
}

/** Log in with the initData Telegram signed: a token when this Telegram account is a member's. */
async function signInWithTelegram() {
  showScreen('loading');
  let answer;
  try {
    answer = await telegramLogin(telegram.initData ?? '');
  } catch (error) {
    if (!(error instanceof NetworkError)) throw error;
    showFailure(signInWithTelegram);
    return;
  }
  if (answer.status === 200) {
    session.start(answer.body.token);
    await loggedIn({ created: false });
  } else if (answer.status === 403) {
    showTelegramScreen('web-tg-not-linked-title', 'web-tg-not-linked', { bot: true, retry: true });
  } else if (answer.status === 401) {
    showTelegramScreen('web-tg-invalid-title', 'web-tg-invalid');
  } else {
    showTelegramScreen('web-tg-unavailable-title', 'web-tg-unavailable', { retry: true });
  }
}

function wire() {
  setUpLogin(site, loggedIn);
  setUpMember(site, {
    signedOut,
    failed: showFailure,
    share: telegram ? (link, text) => (shareInTelegram(telegram, link, text), true) : null,
  });
  for (const button of document.querySelectorAll('[data-lang]')) {
    button.addEventListener('click', () =>
      chooseLanguage(button.dataset.lang)
        .then(() => admin?.redrawAdmin())
        .catch(() => notify('web-network-error')),
    );
  }
  $('logout').addEventListener('click', () => {
    session.end();
    hideAdmin();
    $('logout').hidden = true;
    showPhoneScreen();
    notify('web-logged-out');
  });
  $('telegram-open-bot').addEventListener('click', () =>
    openBot(telegram, site.bot_username, pendingInvite() ?? ''),
  );
  $('telegram-retry').addEventListener('click', signInWithTelegram);
}

async function start() {
  try {
    await load();
  } catch (error) {
    console.error(error);
    showFailure(() => location.reload()); // the address keeps its ?ref= for the reload
    return;
  }
  const invite = takeInviteFromAddress();
  wire();
  if (telegram) {
    const carried = startParameter(telegram);
    if (carried) keepInvite(carried.trim().toUpperCase());
    await signInWithTelegram();
  } else if (session.token) {
    await loggedIn({ created: false });
  } else {
    showPhoneScreen({ invite, focus: false });
  }
}

$('failed-retry').addEventListener('click', () => retryFailed());
start();
