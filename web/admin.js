// The operators' view: the program's figures with a chart drawn in the page, the top inviters,
// member search, the member card with Block / Unblock, and the CSV download. Shown only to a
// member whose own data says `operator` (GET /api/data/; for anybody else every /api/admin/ path
// is 404, and the page shows nothing of this). app.js loads this module only for an operator, so
// a member's first load does not carry it.

import {
  NetworkError,
  blockMember,
  exportMembers,
  findMembers,
  readAdminStats,
  unblockMember,
} from './api.js';
import { clearText, formatDate, formatNumber, setText, t } from './i18n.js';
import { $, say, showScreen, whileBusy } from './ui.js';

const SVG = 'http://www.w3.org/2000/svg';
const CHART = { left: 52, right: 16, top: 12, bottom: 46 }; // px around the plot

let hooks = null; // {failed(retry, key), back()}
let stats = null; // the last answer of GET /api/admin/stats/

/** Wire the view once. */
export function setUpAdmin(callbacks) {
  hooks = callbacks;
  $('admin-open').addEventListener('click', () => showAdmin());
  $('admin-back').addEventListener('click', () => hooks.back());
  $('admin-search').addEventListener('submit', search);
  $('admin-export').addEventListener('click', download);
  $('admin-refresh').addEventListener('click', (event) => whileBusy(event.currentTarget, refresh));
  let resizing = null; // the chart is drawn at its shown size: again when that changes
  window.addEventListener('resize', () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => {
      if (stats && document.body.dataset.screen === 'admin') drawChart(stats.days);
    }, 150);
  });
}

/** On leaving (log out, signed out): the figures read are not kept for the next member. */
export function forgetStats() {
  stats = null;
}

/** After a change of language: the figures and the chart in its numbers and dates. */
export function redrawAdmin() {
  if (stats) drawStats(stats);
}

async function showAdmin() {
  showScreen('admin', { focus: $('admin-title') });
  if (stats) drawStats(stats);
  await refresh();
}

async function refresh() {
  let answer;
  try {
    answer = await readAdminStats();
  } catch (error) {
    if (!(error instanceof NetworkError)) throw error;
    say($('admin-status'), 'web-network-error', {}, 'error');
    return;
  }
  if (answer.status !== 200) {
    hideAdmin(); // no longer an operator (the account unlinked, or the id removed)
    hooks.back();
    return;
  }
  stats = answer.body;
  drawStats(stats);
}

function figure(key, value, params = {}) {
  const item = document.createElement('div');
  const term = document.createElement('dt');
  setText(term, key, params);
  const description = document.createElement('dd');
  description.textContent = value;
  item.append(term, description);
  return item;
}

function drawStats(figures) {
  const share = new Intl.NumberFormat(document.documentElement.lang, {
    style: 'percent',
    maximumFractionDigits: 1,
  }).format(figures.invited_share);
  $('admin-figures').replaceChildren(
    figure('web-admin-members', formatNumber(figures.members)),
    figure('web-admin-joined-today', formatNumber(figures.joined_today)),
    figure('web-admin-joined-7', formatNumber(figures.joined_7_days)),
    figure('web-admin-joined-30', formatNumber(figures.joined_30_days)),
    figure('web-admin-invited', `${formatNumber(figures.invited)} (${share})`),
    figure('web-admin-blocked', formatNumber(figures.blocked)),
  );
  const asOf = new Intl.DateTimeFormat(document.documentElement.lang, {
    dateStyle: 'medium',
    timeStyle: 'short',
    timeZone: 'UTC',
  }).format(new Date(figures.as_of));
  setText($('admin-as-of'), 'web-admin-as-of', { time: asOf });
  drawChart(figures.days);
  drawTop(figures.top_inviters);
  $('admin-stats').setAttribute('aria-busy', 'false');
}

function element(name, attributes = {}, className = null) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (className) node.setAttribute('class', className);
  return node;
}

/** Joins and activations per day as side-by-side bars, with labelled axes of people and of
 * days; drawn as SVG at the size it is shown (one unit a pixel, so the labels stay legible on a
 * phone), with presentation attributes and classes: the CSP allows no inline style. */
function drawChart(days) {
  const { left, right, top, bottom } = CHART;
  const svg = $('admin-chart');
  const width = Math.max(280, Math.round(svg.getBoundingClientRect().width) || 640);
  const height = Math.min(300, Math.max(220, Math.round(width * 0.45)));
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.replaceChildren();
  const most = Math.max(1, ...days.map((day) => Math.max(day.joined, day.activated)));
  const step = niceStep(most);
  const ceiling = Math.ceil(most / step) * step;
  const plotWidth = width - left - right;
  const plotHeight = height - top - bottom;
  const y = (value) => top + plotHeight - (value / ceiling) * plotHeight;
  for (let value = 0; value <= ceiling; value += step) {
    svg.append(element('line', { x1: left, x2: width - right, y1: y(value), y2: y(value) }, 'grid'));
    const label = element('text', { x: left - 6, y: y(value) + 4, 'text-anchor': 'end' }, 'tick');
    label.textContent = formatNumber(value);
    svg.append(label);
  }
  const slot = plotWidth / days.length;
  const bar = Math.max(1, slot * 0.4);
  const every = width < 480 ? 10 : 5; // days between the labels under the bars
  const dayLabel = new Intl.DateTimeFormat(document.documentElement.lang, {
    day: 'numeric',
    month: 'short',
    timeZone: 'UTC',
  });
  days.forEach((day, index) => {
    const x = left + index * slot + slot * 0.1;
    for (const [value, offset, kind, key] of [
      [day.joined, 0, 'bar-joined', 'web-admin-chart-joined'],
      [day.activated, bar, 'bar-activated', 'web-admin-chart-activated'],
    ]) {
      const rect = element(
        'rect',
        { x: x + offset, y: y(value), width: bar, height: y(0) - y(value) },
        kind,
      );
      const title = element('title');
      title.textContent = `${formatDate(day.day)}: ${t(key)} ${formatNumber(value)}`;
      rect.append(title);
      svg.append(rect);
    }
    if ((days.length - 1 - index) % every === 0) {
      const anchor = index === days.length - 1 ? 'end' : 'middle';
      const at = anchor === 'end' ? left + plotWidth : x + bar;
      const label = element('text', { x: at, y: top + plotHeight + 18, 'text-anchor': anchor }, 'tick');
      label.textContent = dayLabel.format(new Date(`${day.day}T00:00:00Z`));
      svg.append(label);
    }
  });
  const dayAxis = element('text', { x: left + plotWidth / 2, y: height - 4, 'text-anchor': 'middle' }, 'axis');
  dayAxis.textContent = t('web-admin-axis-day');
  const peopleAxis = element(
    'text',
    { x: 12, y: top + plotHeight / 2, 'text-anchor': 'middle', transform: `rotate(-90 12 ${top + plotHeight / 2})` },
    'axis',
  );
  peopleAxis.textContent = t('web-admin-axis-people');
  svg.append(dayAxis, peopleAxis);
  const total = (key) => days.reduce((sum, day) => sum + day[key], 0);
  setText($('admin-chart-summary'), 'web-admin-chart-summary', {
    joined: total('joined'),
    activated: total('activated'),
  });
}

function niceStep(most) {
  const rough = most / 4;
  const power = 10 ** Math.floor(Math.log10(rough));
  for (const factor of [1, 2, 5, 10]) if (factor * power >= rough) return factor * power;
  return 10 * power;
}

function drawTop(inviters) {
  const body = $('admin-top').querySelector('tbody');
  body.replaceChildren(
    ...inviters.map((inviter, index) => {
      const row = document.createElement('tr');
      const place = document.createElement('td');
      place.textContent = formatNumber(index + 1);
      const phone = document.createElement('td');
      if (inviter.phone) phone.textContent = inviter.phone;
      else setText(phone, 'web-deleted-member');
      const count = document.createElement('td');
      count.textContent = formatNumber(inviter.referrals);
      row.append(place, phone, count);
      return row;
    }),
  );
  $('admin-top').hidden = !inviters.length;
  $('admin-top-empty').hidden = Boolean(inviters.length);
}

async function search(event) {
  event.preventDefault();
  const input = $('admin-query');
  const status = $('admin-search-status');
  const query = input.value.trim();
  clearText(status);
  $('admin-results').replaceChildren();
  if (!query) {
    say(status, 'web-admin-search-hint', {}, 'error');
    input.focus();
    return;
  }
  const button = event.submitter ?? event.target.querySelector('[type=submit]');
  await whileBusy(button, async () => {
    let answer;
    try {
      answer = await findMembers(query);
    } catch (error) {
      if (!(error instanceof NetworkError)) throw error;
      say(status, 'web-network-error', {}, 'error');
      return;
    }
    if (answer.status === 400) {
      say(status, 'web-admin-search-hint', {}, 'error');
    } else if (answer.status !== 200) {
      say(status, 'web-server-error', {}, 'error');
    } else if (!answer.body.members.length) {
      say(status, 'web-admin-found-none', { query });
    } else {
      say(status, 'web-admin-found', { count: answer.body.members.length });
      $('admin-results').replaceChildren(...answer.body.members.map(card));
    }
  });
}

function row(key, value) {
  const item = document.createElement('div');
  const term = document.createElement('dt');
  setText(term, key);
  const description = document.createElement('dd');
  if (value instanceof Node) description.append(value);
  else description.textContent = value;
  item.append(term, description);
  return item;
}

function time(iso) {
  const node = document.createElement('time');
  node.dateTime = iso;
  node.dataset.i18nDate = '';
  node.textContent = formatDate(iso);
  return node;
}

function none() {
  const node = document.createElement('span');
  setText(node, 'web-admin-none');
  return node;
}

/** A member's card, with Block (and a reason) or Unblock. */
function card(member) {
  const article = document.createElement('article');
  article.className = 'admin-card';
  article.dataset.member = String(member.id);
  const title = document.createElement('h3');
  setText(title, 'web-admin-member-title', { id: member.id });
  const facts = document.createElement('dl');
  facts.className = 'facts';
  const status = document.createElement('span');
  status.className = `member-status member-status-${member.status}`;
  setText(status, member.status === 'blocked' ? 'web-admin-status-blocked' : 'web-admin-status-active');
  facts.append(
    row('web-admin-phone', member.phone),
    row('web-admin-telegram', member.telegram_id ? String(member.telegram_id) : none()),
    row('web-admin-code', member.invite_code),
    row('web-admin-inviter-code', member.inviter_code ?? none()),
    row('web-admin-referrals', formatNumber(member.referrals)),
    row('web-admin-joined', time(member.joined_at)),
    row('web-admin-last-login', time(member.last_login_at)),
    row('web-admin-language', member.language ?? none()),
    row('web-admin-status', status),
  );
  if (member.status === 'blocked') {
    facts.append(row('web-admin-blocked-at', time(member.blocked_at)));
    if (member.block_reason) facts.append(row('web-admin-reason', member.block_reason));
  }
  const result = document.createElement('output');
  result.className = 'status';
  const actions = document.createElement('div');
  actions.className = 'actions';
  if (member.status === 'blocked') {
    const unblock = document.createElement('button');
    unblock.type = 'button';
    unblock.className = 'button button-secondary';
    setText(unblock, 'web-admin-unblock');
    unblock.addEventListener('click', () =>
      whileBusy(unblock, () => change(article, result, () => unblockMember(member.id), false)),
    );
    actions.append(unblock);
  } else {
    const form = document.createElement('form');
    form.className = 'block-form';
    const field = document.createElement('div');
    field.className = 'field';
    const label = document.createElement('label');
    const input = document.createElement('input');
    input.type = 'text';
    input.maxLength = 500;
    input.id = `block-reason-${member.id}`;
    label.htmlFor = input.id;
    setText(label, 'web-admin-reason-label');
    field.append(label, input);
    const block = document.createElement('button');
    block.type = 'submit';
    block.className = 'button button-danger';
    setText(block, 'web-admin-block');
    form.append(field, block);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const reason = input.value.trim() || null;
      whileBusy(block, () => change(article, result, () => blockMember(member.id, reason), true));
    });
    article.append(title, facts, form, result);
    return article;
  }
  article.append(title, facts, actions, result);
  return article;
}

async function change(article, result, request, blocking) {
  let answer;
  try {
    answer = await request();
  } catch (error) {
    if (!(error instanceof NetworkError)) throw error;
    say(result, 'web-network-error', {}, 'error');
    return;
  }
  if (answer.status === 200 || answer.status === 409) {
    const fresh = answer.status === 200 ? answer.body : null;
    const key = blocking ? 'web-admin-block-done' : 'web-admin-unblock-done';
    if (fresh) {
      const replacement = card(fresh);
      article.replaceWith(replacement);
      say(replacement.querySelector('output'), key, { phone: fresh.phone });
      replacement.querySelector('button').focus();
    } else {
      say(result, blocking ? 'web-admin-already-blocked' : 'web-admin-not-blocked', {}, 'error');
    }
  } else if (answer.status === 404) {
    say(result, 'web-admin-member-gone', {}, 'error');
  } else {
    say(result, 'web-server-error', {}, 'error');
  }
}

/** The CSV, fetched with the token (a plain link could not carry it) and saved from a blob. */
async function download(event) {
  const status = $('admin-export-status');
  clearText(status);
  await whileBusy(event.currentTarget, async () => {
    let answer;
    try {
      answer = await exportMembers();
    } catch (error) {
      if (!(error instanceof NetworkError)) throw error;
      say(status, 'web-network-error', {}, 'error');
      return;
    }
    if (answer.status === 409) {
      say(status, 'web-admin-export-busy', {}, 'error');
      return;
    }
    if (answer.status !== 200) {
      say(status, 'web-server-error', {}, 'error');
      return;
    }
    const address = URL.createObjectURL(answer.body);
    const link = document.createElement('a');
    link.href = address;
    link.download = `members-${new Date().toISOString().slice(0, 10)}.csv`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(address), 60_000);
    say(status, 'web-admin-export-done');
  });
}
