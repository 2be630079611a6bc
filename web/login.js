// Logging in with a phone: the phone screen, then the code screen (where the code went, a
// countdown to the next one, attempts left), then the access token.

import { NetworkError, checkInviteCode, requestCode, session, verifyCode } from './api.js';
import { clearText, formatDuration, setText } from './i18n.js';
import { forgetInvite, pendingInvite } from './invite.js';
import { $, clearFieldError, countdown, notify, showFieldError, showScreen, whileBusy } from './ui.js';

const SENT_TO = {
  log: 'web-code-sent-log',
  chat: 'web-code-sent-chat',
  telegram_gateway: 'web-code-sent-telegram',
};

let site = null; // GET /api/web-app/
let loggedIn = null; // called with {created} once a token is in the session
let attempt = { phone: '' }; // the phone the code screen is about
let stopResendCountdown = () => {};
let resendReady = true; // the cooldown of the last code is over

/** Wire the login screens once: `loggedIn({created})` runs after a successful verification. */
export function setUpLogin(webApp, whenLoggedIn) {
  site = webApp;
  loggedIn = whenLoggedIn;
  $('phone-form').addEventListener('submit', submitPhone);
  $('code-form').addEventListener('submit', submitCode);
  $('resend').addEventListener('click', resendCode);
  $('change-phone').addEventListener('click', () => showPhoneScreen({ phone: attempt.phone }));
  $('have-code').addEventListener('click', () => {
    const phone = $('phone').value.trim();
    showCodeScreen({ phone, resendAfter: Number($('have-code').dataset.wait ?? 0) });
  });
  const code = $('code');
  code.maxLength = site.code_length;
  code.pattern = `[0-9]{${site.code_length}}`;
}

/** The phone screen; `invite` is what a `?ref=` link brought (`{code}` or `{malformed}`). */
export function showPhoneScreen({ phone = '', invite = null, focus = true } = {}) {
  stopResendCountdown();
  const input = $('phone');
  input.value = phone;
  clearFieldError(input, $('phone-error'));
  $('have-code').hidden = true;
  const banner = $('ref-banner');
  const code = invite?.code ?? pendingInvite();
  banner.hidden = true;
  if (invite?.malformed) {
    setText(banner, 'web-ref-malformed');
    banner.hidden = false;
  } else if (code) {
    describeInvite(code);
  }
  showScreen('phone', { focus: focus ? input : null });
}

/** The banner about a link's code, once the server said whether it exists: a code nobody has (or
 * a suspended one) is dropped at once rather than promised. */
async function describeInvite(code) {
  const banner = $('ref-banner');
  const answer = await checkInviteCode(code).catch(() => null);
  if (answer?.status === 200 && !answer.body.suspended) {
    setText(banner, 'web-ref-owner', { code, owner: answer.body.owner });
  } else if (answer?.status === 200 || answer?.status === 404) {
    forgetInvite();
    setText(banner, answer.status === 404 ? 'web-ref-unknown' : 'web-ref-suspended', { code });
  } else {
    setText(banner, 'web-ref-banner', { code }); // no answer: the code is checked on joining
  }
  banner.hidden = false;
}

function failed(error, input, errorLine) {
  const key = error instanceof NetworkError ? 'web-network-error' : 'web-server-error';
  showFieldError(input, errorLine, key);
  if (!(error instanceof NetworkError)) throw error;
}

async function submitPhone(event) {
  event.preventDefault();
  const input = $('phone');
  const errorLine = $('phone-error');
  const phone = input.value.trim();
  clearFieldError(input, errorLine);
  $('have-code').hidden = true;
  if (!phone) {
    showFieldError(input, errorLine, 'web-phone-empty');
    input.focus();
    return;
  }
  const button = event.submitter ?? event.target.querySelector('[type=submit]');
  await whileBusy(button, async () => {
    let answer;
    try {
      answer = await requestCode(phone);
    } catch (error) {
      failed(error, input, errorLine);
      return;
    }
    if (answer.status === 200) {
      showCodeScreen({ phone: answer.body.phone, sent: answer.body });
      return;
    }
    if (answer.status === 400) {
      showFieldError(input, errorLine, 'web-phone-invalid');
    } else if (answer.status === 429) {
      // A recent code, the hourly limit or this address's limit: in each case wait, and a code
      // that already came may still be entered.
      const wait = answer.retryAfter ?? 60;
      showFieldError(input, errorLine, 'web-phone-wait', { time: formatDuration(wait) });
      $('have-code').dataset.wait = String(wait);
      $('have-code').hidden = false;
    } else if (answer.status === 503) {
      showFieldError(input, errorLine, 'web-delivery-failed');
    } else {
      showFieldError(input, errorLine, 'web-server-error');
    }
    input.focus();
  });
}

/** The code screen for `phone`: `sent` is the login answer when a code was just sent. */
function showCodeScreen({ phone, sent = null, resendAfter = 0 }) {
  attempt = { phone };
  const input = $('code');
  input.value = '';
  markCodeDead(false);
  clearFieldError(input, $('code-error'));
  const where = $('code-where');
  const valid = $('code-valid');
  const demo = $('code-demo');
  if (sent) {
    setText(where, SENT_TO[site.code_delivery] ?? SENT_TO.log, {
      phone,
      length: site.code_length,
    });
    if (sent.expires_in % 60 === 0) {
      setText(valid, 'web-code-valid-minutes', { count: sent.expires_in / 60 });
    } else {
      setText(valid, 'web-code-valid-seconds', { count: sent.expires_in });
    }
  } else {
    setText(where, 'web-code-enter-earlier', { phone });
    clearText(valid);
  }
  if (sent?.code) setText(demo, 'web-code-demo', { code: sent.code });
  demo.hidden = !sent?.code;
  startResendCountdown(sent ? sent.resend_after : resendAfter);
  showScreen('code', { focus: input });
}

function startResendCountdown(seconds) {
  stopResendCountdown();
  const button = $('resend');
  const wait = $('resend-wait');
  stopResendCountdown = countdown(seconds, (left) => {
    resendReady = left === 0;
    button.disabled = !resendReady;
    if (left > 0) setText(wait, 'web-resend-wait', { time: formatDuration(left) });
    else clearText(wait);
  });
}

/** A dead code: the field and Log in are disabled, the validity hint goes, and the next code's
 * countdown (`resendAfter`, the server's Retry-After, when given) says when to ask for it. */
function markCodeDead(dead, resendAfter = null) {
  $('code').disabled = dead;
  $('code-form').querySelector('[type=submit]').disabled = dead;
  if (!dead) return;
  clearText($('code-valid'));
  if (resendAfter !== null) startResendCountdown(resendAfter);
}

async function submitCode(event) {
  event.preventDefault();
  const input = $('code');
  const errorLine = $('code-error');
  const code = input.value.replace(/\s+/g, '');
  clearFieldError(input, errorLine);
  if (!new RegExp(`^[0-9]{${site.code_length}}$`).test(code)) {
    showFieldError(input, errorLine, 'web-code-malformed', { count: site.code_length });
    input.focus();
    return;
  }
  const button = event.submitter ?? event.target.querySelector('[type=submit]');
  let dead = null; // {resendAfter} when the answer says the code is dead
  await whileBusy(button, async () => {
    let answer;
    try {
      answer = await verifyCode(attempt.phone, code);
    } catch (error) {
      failed(error, input, errorLine);
      return;
    }
    if (answer.status === 200 || answer.status === 201) {
      stopResendCountdown();
      session.start(answer.body.token);
      await loggedIn({ created: answer.status === 201 });
      return;
    }
    if (answer.status === 400 && Number.isInteger(answer.body?.attempts_left)) {
      showFieldError(input, errorLine, 'web-code-wrong', { count: answer.body.attempts_left });
    } else if (answer.status === 400) {
      showFieldError(input, errorLine, 'web-code-dead');
      dead = { resendAfter: null };
    } else if (answer.status === 429 && answer.body?.attempts_left === 0) {
      showFieldError(input, errorLine, 'web-code-too-many');
      dead = { resendAfter: answer.retryAfter };
    } else if (answer.status === 429 && answer.retryAfter) {
      const time = formatDuration(answer.retryAfter);
      showFieldError(input, errorLine, 'web-too-many-requests', { time });
    } else if (answer.status === 429) {
      showFieldError(input, errorLine, 'web-code-too-many');
    } else {
      showFieldError(input, errorLine, 'web-server-error');
    }
    if (!dead) {
      input.select();
      input.focus();
    }
  });
  // After whileBusy, which enables the button again: a dead code keeps it disabled.
  if (dead) {
    markCodeDead(true, dead.resendAfter);
    $(resendReady ? 'resend' : 'change-phone').focus();
  }
}

async function resendCode(event) {
  const input = $('code');
  const errorLine = $('code-error');
  clearFieldError(input, errorLine);
  await whileBusy(event.currentTarget, async () => {
    let answer;
    try {
      answer = await requestCode(attempt.phone);
    } catch (error) {
      failed(error, input, errorLine);
      return;
    }
    if (answer.status === 200) {
      showCodeScreen({ phone: answer.body.phone, sent: answer.body });
      notify('web-code-resent');
    } else if (answer.status === 429) {
      const wait = answer.retryAfter ?? 60;
      showFieldError(input, errorLine, 'web-phone-wait', { time: formatDuration(wait) });
      startResendCountdown(wait);
    } else if (answer.status === 503) {
      showFieldError(input, errorLine, 'web-delivery-failed');
    } else {
      showFieldError(input, errorLine, 'web-server-error');
    }
  });
  $('resend').disabled = !resendReady; // the countdown decides, not the finished request
}
