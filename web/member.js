// The member page: their code, invite link, its QR code and sharing; the code they joined with,
// or a form to enter one; who joined with theirs, page by page; deleting their data.

import {
  NetworkError,
  checkInviteCode,
  deleteMemberData,
  readInviteQr,
  readTop,
  readReferralData,
  registerInviteCode,
  session,
} from './api.js';
import { adoptMemberLanguage, clearText, formatDate, setText, t } from './i18n.js';
import {
  cleanInviteCode,
  forgetInvite,
  isInviteCode,
  mayBecomeInviteCode,
  pendingInvite,
} from './invite.js';
import { $, copyText, say, showScreen, whileBusy } from './ui.js';

const PAGE_SIZE = 20;

let site = null; // GET /api/web-app/
let hooks = null; // {signedOut(noticeKey), failed(retry), share(link, text) -> handled?}
let member = null; // {ref, invited, link}
let nextCursor = null;
let shown = 0;
let qrAddress = null;

/** Wire the member page once. */
export function setUpMember(webApp, callbacks) {
  site = webApp;
  hooks = callbacks;
  $('copy-code').addEventListener('click', () => copy(member.ref, 'web-copied-code'));
  $('copy-link').addEventListener('click', () => copy(member.link, 'web-copied-link'));
  $('share').addEventListener('click', share);
  $('invite-form').addEventListener('submit', submitInviteCode);
  $('invite-code').addEventListener('input', checkInviteCodeShape);
  $('join-confirm-yes').addEventListener('click', acceptPendingInvite);
  $('join-confirm-no').addEventListener('click', declinePendingInvite);
  $('refs-more').addEventListener('click', showMoreReferrals);
  $('delete-open').addEventListener('click', openDeleteDialog);
  $('delete-confirm').addEventListener('click', deleteData);
}

/** Load and show the member page; `created` tells a new member (their link's code is applied at
 * once) from a returning one (who is asked first). `{operator}` once shown, else undefined. */
export async function showMember({ created = false } = {}) {
  drawLoading();
  showScreen('member', { focus: $('member-title') });
  let answer;
  try {
    answer = await readReferralData({ limit: PAGE_SIZE });
  } catch (error) {
    if (!(error instanceof NetworkError)) throw error;
    hooks.failed(() => showMember({ created }));
    return;
  }
  if (signedOutBy(answer)) return;
  if (answer.status !== 200) {
    hooks.failed(() => showMember({ created }), 'web-server-error');
    return;
  }
  await adoptMemberLanguage(answer.body.language).catch(() => {});
  draw(answer.body);
  loadQr();
  loadLeaders();
  await applyPendingInvite(created);
  return { operator: answer.body.operator };
}

/** Ends the session when the answer says it is over; true if it did. */
function signedOutBy(answer) {
  if (answer.status === 401) {
    session.end();
    hooks.signedOut('web-session-ended');
    return true;
  }
  if (answer.status === 404) {
    session.end();
    hooks.signedOut('web-member-gone');
    return true;
  }
  return false;
}

function skeleton(className) {
  const placeholder = document.createElement('span');
  placeholder.className = `skeleton ${className}`;
  return placeholder;
}

function drawLoading() {
  $('screen-member').querySelector('.member-grid').setAttribute('aria-busy', 'true');
  const ownCode = $('own-code');
  clearText(ownCode);
  ownCode.replaceChildren(skeleton('skeleton-code'));
  $('invite-link').value = '';
  const count = $('refs-count');
  clearText(count);
  count.replaceChildren(skeleton('skeleton-line'));
  $('refs-list').replaceChildren();
  $('refs-empty').hidden = true;
  $('refs-more').hidden = true;
  $('refs-footer').hidden = true;
  for (const id of ['copy-status', 'invite-result', 'refs-status', 'refs-shown']) clearText($(id));
  $('joined-with').hidden = true;
  $('join-confirm').hidden = true;
  $('invite-form').hidden = true;
  $('invite-code').value = '';
  $('qr').removeAttribute('src');
}

function draw(data) {
  member = {
    ref: data.ref,
    invited: data.invited,
    link: site.invite_link.replace('{code}', encodeURIComponent(data.ref)),
  };
  $('own-code').textContent = data.ref;
  $('invite-link').value = member.link;
  setText($('invite-link-kind'), site.bot_username ? 'web-link-kind-bot' : 'web-link-kind-web');
  drawInviter();
  $('refs-list').replaceChildren();
  shown = 0;
  addReferrals(data);
  $('screen-member').querySelector('.member-grid').setAttribute('aria-busy', 'false');
}

/** The code the member joined with, in one line: a live region, so that joining is heard there
 * and not said twice. */
function drawInviter() {
  const joined = $('joined-with');
  joined.hidden = !member.invited;
  if (member.invited) setText(joined, 'web-joined-with', { code: member.invited });
  $('invite-form').hidden = Boolean(member.invited) || !$('join-confirm').hidden;
}

function addReferrals(data) {
  const list = $('refs-list');
  for (const referral of data.referrals) {
    const item = document.createElement('li');
    const phone = document.createElement('span');
    phone.className = 'ref-phone';
    if (referral.phone) phone.textContent = referral.phone;
    else setText(phone, 'web-deleted-member');
    const joined = document.createElement('time');
    joined.dateTime = referral.joined_at;
    joined.dataset.i18nDate = ''; // redrawn when the language changes
    joined.textContent = formatDate(referral.joined_at);
    item.append(phone, joined);
    list.append(item);
  }
  const next = data.milestone_next;
  if (next) setText($('milestone'), 'web-milestone', { count: next - data.users_total, next });
  else clearText($('milestone'));
  shown += data.referrals.length;
  nextCursor = data.next;
  const total = data.users_total;
  const count = $('refs-count');
  count.replaceChildren();
  if (total) setText(count, 'web-refs-count', { count: total });
  count.hidden = !total;
  list.hidden = !total;
  $('refs-empty').hidden = Boolean(total);
  if (nextCursor) setText($('refs-shown'), 'web-refs-shown', { shown, total });
  else clearText($('refs-shown'));
  $('refs-more').hidden = !nextCursor;
  $('refs-footer').hidden = !nextCursor;
}

async function showMoreReferrals(event) {
  const status = $('refs-status');
  clearText(status);
  const firstNew = $('refs-list').children.length;
  await whileBusy(event.currentTarget, async () => {
    let answer;
    try {
      answer = await readReferralData({ cursor: nextCursor, limit: PAGE_SIZE });
    } catch (error) {
      if (!(error instanceof NetworkError)) throw error;
      say(status, 'web-network-error', {}, 'error');
      return;
    }
    if (signedOutBy(answer)) return;
    if (answer.status !== 200) {
      say(status, 'web-server-error', {}, 'error');
      return;
    }
    addReferrals(answer.body);
  });
  // Keyboard users continue from the first new entry.
  const next = $('refs-list').children[firstNew];
  if (next && $('refs-more').hidden) {
    next.tabIndex = -1;
    next.focus();
  }
}

async function loadQr() {
  const image = $('qr');
  let answer;
  try {
    answer = await readInviteQr();
  } catch {
    return; // the link and its buttons are there; the picture is a convenience
  }
  if (answer.status !== 200) return;
  if (qrAddress) URL.revokeObjectURL(qrAddress);
  qrAddress = URL.createObjectURL(answer.body);
  image.src = qrAddress;
}

/** Both boards, the member's own row marked; an empty board says so. Read again after the member
 * joins with a code, whose owner's figure changes. */
async function loadLeaders() {
  const answer = await readTop().catch(() => null);
  if (answer?.status !== 200) return;
  for (const [board, suffix] of [['this_month', ''], ['all_time', '-all-time']]) {
    const { leaders, place, referrals } = answer.body[board];
    $(`leaders${suffix}`).replaceChildren(...leaders.map((leader) => {
      const item = document.createElement('li');
      const own = leader.place === place;
      const phone = leader.phone ?? t('web-deleted-member');
      setText(item, own ? 'web-leader-own' : 'web-leader', { phone, count: leader.referrals });
      if (own) {
        item.className = 'leader-own';
        item.setAttribute('aria-current', 'true');
      }
      return item;
    }));
    $(`leaders${suffix}-empty`).hidden = leaders.length > 0;
    const line = $(`place${suffix}`);
    if (!leaders.length) clearText(line);
    else setText(line, place ? 'web-place' : 'web-no-place', { place, count: referrals });
  }
}

async function copy(text, copiedKey) {
  const status = $('copy-status');
  if (await copyText(text)) {
    say(status, copiedKey);
  } else {
    say(status, 'web-copy-failed', {}, 'error');
    if (text === member.link) $('invite-link').select();
  }
}

async function share() {
  const text = t('web-share-text', { code: member.ref });
  if (hooks.share?.(member.link, text)) return;
  if (navigator.share) {
    try {
      await navigator.share({ title: t('web-app-name'), text, url: member.link });
      return;
    } catch (error) {
      if (error.name === 'AbortError') return; // the person closed the share sheet
    }
  }
  await copy(member.link, 'web-copied-link');
}

/** As the person types: a character no code has, or too many, is said at once. */
function checkInviteCodeShape() {
  const input = $('invite-code');
  const result = $('invite-result');
  if (mayBecomeInviteCode(cleanInviteCode(input.value))) {
    if (result.dataset.i18n === 'web-invite-malformed') clearText(result);
    input.removeAttribute('aria-invalid');
  } else {
    say(result, 'web-invite-malformed', {}, 'error');
    input.setAttribute('aria-invalid', 'true');
  }
}

async function submitInviteCode(event) {
  event.preventDefault();
  const input = $('invite-code');
  const code = cleanInviteCode(input.value);
  const result = $('invite-result');
  input.removeAttribute('aria-invalid');
  if (!isInviteCode(code)) {
    say(result, code ? 'web-invite-malformed' : 'web-invite-empty', {}, 'error');
    input.setAttribute('aria-invalid', 'true');
    input.focus();
    return;
  }
  const button = event.submitter ?? event.target.querySelector('[type=submit]');
  await whileBusy(button, () => register(code));
  if (!$('invite-form').hidden) {
    if (result.dataset.kind === 'error') input.setAttribute('aria-invalid', 'true');
    input.focus();
  }
}

/** Register `code` and say what came of it: each outcome of the SPEC's Invitations its own text. */
async function register(code) {
  const result = $('invite-result');
  let answer;
  try {
    answer = await registerInviteCode(code);
  } catch (error) {
    if (!(error instanceof NetworkError)) throw error;
    say(result, 'web-network-error', {}, 'error');
    return;
  }
  switch (answer.status) {
    case 200:
      member.invited = answer.body.invited;
      clearText(result);
      drawInviter();
      loadLeaders();
      break;
    case 409:
      member.invited = answer.body.invited;
      drawInviter();
      say(result, 'web-invite-already', { code: member.invited }, 'error');
      break;
    case 404: {
      // An unknown code, or this member is gone (erased elsewhere): their data tells which.
      const check = await readReferralData({ limit: 1 }).catch(() => ({ status: 0 }));
      if (!signedOutBy(check)) say(result, 'web-invite-unknown', { code }, 'error');
      break;
    }
    case 403:
      // An operator blocked the code's owner (the code is suspended) or this member.
      if (answer.body?.blocked === 'member') say(result, 'web-invite-blocked', {}, 'error');
      else say(result, 'web-invite-suspended', { code }, 'error');
      break;
    case 400:
      // The API's 400 outcomes here are: no code (never sent: see submitInviteCode), the member's
      // own code, and a code whose owner joined through this member (a cycle).
      say(result, code === member.ref ? 'web-invite-own' : 'web-invite-cycle', { code }, 'error');
      break;
    default:
      if (!signedOutBy(answer)) say(result, 'web-server-error', {}, 'error');
  }
}

// Why a link's code cannot be registered (GET /api/invite/<code>/'s `offer`), as register() says
// it; the member's own code or an inviter they already have: the link is dropped without a word.
const OFFER_REFUSED = {
  unknown: 'web-invite-unknown',
  cycle: 'web-invite-cycle',
  code_suspended: 'web-invite-suspended',
  member_blocked: 'web-invite-blocked',
};

/** The code a link brought: applied at once for a new member, asked about for a returning member
 * who has no inviter yet (as the bot asks), dropped otherwise. */
async function applyPendingInvite(created) {
  const code = pendingInvite();
  if (!code) return;
  if (member.invited || code === member.ref) {
    forgetInvite();
    return;
  }
  if (created) {
    forgetInvite();
    await register(code);
    return;
  }
  // Asked only when joining would work: otherwise the reason is said now, not after "Yes".
  const check = await checkInviteCode(code).catch(() => null);
  const refusal = check?.status === 404 ? 'unknown' : check?.body?.offer;
  if (refusal && refusal !== 'activated') {
    forgetInvite();
    if (OFFER_REFUSED[refusal]) say($('invite-result'), OFFER_REFUSED[refusal], { code }, 'error');
    return;
  }
  setText($('join-confirm-text'), 'web-invite-confirm', { code });
  $('join-confirm').hidden = false;
  $('invite-form').hidden = true;
}

async function acceptPendingInvite(event) {
  const code = pendingInvite();
  forgetInvite();
  await whileBusy(event.currentTarget, () => register(code));
  $('join-confirm').hidden = true;
  drawInviter();
}

function declinePendingInvite() {
  forgetInvite();
  $('join-confirm').hidden = true;
  drawInviter();
  $('invite-code').focus();
}

function openDeleteDialog() {
  const error = $('delete-error');
  clearText(error);
  error.hidden = true;
  $('delete-dialog').showModal();
}

async function deleteData(event) {
  const dialog = $('delete-dialog');
  const error = $('delete-error');
  await whileBusy(event.currentTarget, async () => {
    let answer;
    try {
      answer = await deleteMemberData();
    } catch (failure) {
      if (!(failure instanceof NetworkError)) throw failure;
      setText(error, 'web-network-error');
      error.hidden = false;
      return;
    }
    if (answer.status === 204) {
      dialog.close();
      session.end();
      forgetInvite();
      hooks.signedOut('web-delete-done');
    } else if (answer.status === 401) {
      dialog.close();
      session.end();
      hooks.signedOut('web-session-ended');
    } else {
      setText(error, 'web-delete-failed');
      error.hidden = false;
    }
  });
}
