// The playground: the visitor plays people who talk to the real bot through the program's own
// Bot API stand-in. Everything a person does is a request to /api/playground/ (api.js); what
// arrives in their chats comes back as server-sent events, so nothing polls.

import { NetworkError, playground } from './api.js';
import { renderText } from './entities.js';
import { chooseLanguage, pickLanguage, setText, t, useLanguage } from './i18n.js';
import { $, copyText } from './ui.js';

let site = null; // GET /api/playground/
let people = [];
let current = null; // the person played now
let tab = 'bot'; // the chat shown: 'bot', or the id of another played person
let chats = null; // GET .../people/{id}/
let events = null; // the EventSource of the current person
let inline = null; // { queryId, to }: the inline query being answered, and where its card goes
let noticeTimer = null;

const botLink = () =>
  new RegExp(`^(?:https?://)?t\\.me/${site.bot.username}\\?start=([A-Za-z0-9_-]+)$`, 'i');

function toast(text) {
  const notice = $('notice');
  notice.textContent = text;
  notice.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => (notice.hidden = true), 4000);
}

function toastKey(key, params) {
  toast(t(key, params));
}

/** Run a request; a refusal is said in a toast (its message is in the page's language). */
async function ask(request) {
  let answer;
  try {
    answer = await request;
  } catch (error) {
    if (!(error instanceof NetworkError)) throw error;
    toastKey('web-network-error');
    return null;
  }
  if (answer.status >= 400) {
    toast(answer.body?.message ?? `HTTP ${answer.status}`);
    return null;
  }
  return answer.body;
}

// --- the people -------------------------------------------------------------------------------

function drawPeople() {
  const list = $('people-list');
  list.replaceChildren();
  for (const person of people) {
    const item = document.createElement('li');
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'pg-person';
    button.dataset.person = person.id;
    button.setAttribute('aria-pressed', String(current?.id === person.id));
    const name = document.createElement('span');
    name.className = 'pg-person-name';
    name.textContent = person.name;
    const about = document.createElement('span');
    about.className = 'pg-person-about';
    about.textContent = `${person.id} · ${person.language.toUpperCase()} · ${person.phone}`;
    button.append(name, about);
    if (person.operator) {
      const badge = document.createElement('span');
      badge.className = 'pg-badge';
      setText(badge, 'web-pg-operator');
      button.append(badge);
    }
    button.addEventListener('click', () => play(person.id));
    item.append(button);
    list.append(item);
  }
  const free = site.admin_ids.filter((id) => !people.some((person) => person.id === id));
  const options = $('operator-ids');
  options.replaceChildren(
    ...free.map((id) => Object.assign(document.createElement('option'), { value: id })),
  );
  if (site.admin_ids.length) {
    setText($('operator-hint'), 'web-pg-operator-hint', { ids: site.admin_ids.join(', ') });
  } else {
    setText($('operator-hint'), 'web-pg-operator-how');
  }
}

async function addPerson(event) {
  event.preventDefault();
  const form = $('person-form');
  const id = form.elements.id.value.trim();
  const error = $('person-error');
  if (id && !/^\d{1,15}$/.test(id)) {
    setText(error, 'web-pg-id-invalid');
    error.hidden = false;
    return;
  }
  const answer = await playground
    .addPerson({
      name: form.elements.name.value,
      phone: form.elements.phone.value,
      language: form.elements.language.value,
      id: id ? Number(id) : null,
    })
    .catch(() => null);
  if (!answer || answer.status !== 201) {
    error.textContent = answer?.body?.message ?? t('web-network-error');
    error.hidden = false;
    return;
  }
  error.hidden = true;
  form.reset();
  people.push(answer.body);
  await play(answer.body.id);
}

// --- the chat ---------------------------------------------------------------------------------

async function play(personId) {
  const found = people.find((person) => person.id === personId);
  if (!found) return;
  current = found;
  tab = 'bot';
  inline = null;
  chats = null;
  events?.close();
  document.body.classList.remove('pg-people-open');
  $('people-toggle').setAttribute('aria-expanded', 'false');
  drawPeople();
  // The stream first, then the chats as they stand: what arrives meanwhile is applied after
  // them (applying a message twice changes nothing). A stream that reconnects loads again.
  const source = playground.events(personId);
  events = source;
  let waiting = [];
  source.addEventListener('message', (message) => {
    const event = JSON.parse(message.data);
    if (waiting) waiting.push(event);
    else arrived(personId, event);
  });
  const opened = new Promise((resolve) => source.addEventListener('open', resolve, { once: true }));
  source.addEventListener('open', async () => {
    if (waiting) return;
    waiting = [];
    await load(personId, source);
  });
  await opened;
  await load(personId, source);
  $('composer-text').focus();

  async function load(id, stream) {
    const loaded = await ask(playground.chats(id));
    if (events !== stream) return;
    if (loaded) chats = loaded;
    const pending = waiting;
    waiting = null;
    if (!chats) return;
    drawChat();
    for (const event of pending) arrived(id, event);
  }
}

function otherName(id) {
  return people.find((person) => person.id === id)?.name ?? String(id);
}

function drawTabs() {
  const tabs = $('chat-tabs');
  const entries = [['bot', site.bot.name], ...chats.people_chats.map((c) => [c.with, otherName(c.with)])];
  tabs.replaceChildren(
    ...entries.map(([key, label]) => {
      const button = document.createElement('button');
      button.type = 'button';
      button.role = 'tab';
      button.className = 'pg-tab';
      button.textContent = label;
      button.setAttribute('aria-selected', String(key === tab));
      button.addEventListener('click', () => {
        tab = key;
        inline = null;
        drawChat();
      });
      return button;
    }),
  );
}

function shownMessages() {
  if (tab === 'bot') return chats.messages;
  return chats.people_chats.find((chat) => chat.with === tab)?.messages ?? [];
}

function drawChat() {
  const person = current;
  $('composer').hidden = false;
  $('more').hidden = tab !== 'bot';
  if (tab === 'bot') {
    setText($('chat-title'), 'web-pg-chat-with', { name: site.bot.name });
    setText($('chat-subtitle'), 'web-pg-playing', { name: person.name, username: site.bot.username });
  } else {
    setText($('chat-title'), 'web-pg-chat-with', { name: otherName(tab) });
    setText($('chat-subtitle'), 'web-pg-people-chat', { name: person.name });
  }
  $('blocked-banner').hidden = !(tab === 'bot' && chats.blocked);
  setText($('block-toggle'), chats.blocked ? 'web-pg-unblock' : 'web-pg-block');
  const operatorWeb = $('operator-web');
  operatorWeb.hidden = !person.operator;
  if (person.operator) setText(operatorWeb, 'web-pg-operator-web', { phone: person.phone });
  drawTabs();
  const list = $('messages');
  list.replaceChildren(...shownMessages().map(messageItem));
  list.lastElementChild?.scrollIntoView({ block: 'end' });
  drawKeyboard();
  drawMenu();
  drawInline();
}

function fromBot(message) {
  return message.from?.is_bot === true;
}

function messageItem(message) {
  const item = document.createElement('li');
  item.className = `pg-message ${message.from?.id === current.id ? 'pg-out' : 'pg-in'}`;
  item.dataset.messageId = message.message_id;
  if (message.via_bot) {
    const via = document.createElement('p');
    via.className = 'pg-via';
    via.textContent = t('web-pg-via', { name: message.from.first_name, bot: message.via_bot.username });
    item.append(via);
  }
  const photo = message.photo?.at(-1);
  if (photo) {
    const image = document.createElement('img');
    image.src = playground.fileUrl(photo.file_id);
    image.alt = t('web-pg-photo');
    image.className = 'pg-photo';
    if (photo.width && photo.height) Object.assign(image, { width: photo.width, height: photo.height });
    item.append(image);
  }
  if (message.document) {
    const link = document.createElement('a');
    link.className = 'pg-document';
    link.href = playground.fileUrl(message.document.file_id);
    link.download = message.document.file_name;
    link.textContent = `${message.document.file_name} (${Math.ceil(message.document.file_size / 1024)} KB)`;
    item.append(link);
  }
  if (message.contact) {
    const contact = document.createElement('p');
    contact.className = 'pg-contact';
    contact.textContent = t('web-pg-contact', { phone: message.contact.phone_number });
    item.append(contact);
  }
  const text = message.text ?? message.caption;
  if (text) {
    const body = document.createElement('div');
    body.className = 'pg-text';
    renderText(body, text, message.entities ?? message.caption_entities ?? []);
    item.append(body);
  }
  const rows = message.reply_markup?.inline_keyboard;
  if (rows) item.append(inlineKeyboard(message, rows));
  if (message.edit_date) {
    const edited = document.createElement('span');
    edited.className = 'pg-edited';
    setText(edited, 'web-pg-edited');
    item.append(edited);
  }
  return item;
}

function inlineKeyboard(message, rows) {
  const keyboard = document.createElement('div');
  keyboard.className = 'pg-buttons';
  for (const row of rows) {
    const line = document.createElement('div');
    line.className = 'pg-button-row';
    for (const button of row) {
      const element = document.createElement('button');
      element.type = 'button';
      element.className = 'button button-secondary pg-inline-button';
      element.textContent = button.text;
      element.addEventListener('click', () => pressInline(message, button, element));
      line.append(element);
    }
    keyboard.append(line);
  }
  return keyboard;
}

async function pressInline(message, button, element) {
  if (button.callback_data !== undefined && fromBot(message) && tab === 'bot') {
    element.setAttribute('aria-busy', 'true');
    await ask(playground.press(current.id, message.message_id, button.callback_data));
    element.removeAttribute('aria-busy');
  } else if (button.copy_text) {
    toastKey((await copyText(button.copy_text.text)) ? 'web-pg-copied' : 'web-copy-failed');
  } else if (button.url) {
    openLink(button.url);
  } else if (button.switch_inline_query_chosen_chat || button.switch_inline_query !== undefined) {
    const query = button.switch_inline_query_chosen_chat?.query ?? button.switch_inline_query ?? '';
    const to = await pickPerson('web-pg-pick-inline');
    if (to !== null) startInline(query, to);
  } else if (button.web_app) {
    window.open(button.web_app.url, '_blank', 'noopener');
  }
}

/** A link in a message or on a button: the bot's deep link opens as a played person; Telegram's
 * share link opens the share dialog; anything else opens in a new tab. */
async function openLink(url) {
  const deepLink = url.match(botLink());
  if (deepLink) {
    const who = await pickPerson('web-pg-pick-deep-link', { includeCurrent: true });
    if (who === null) return;
    await play(who);
    await send(`/start ${deepLink[1]}`);
    return;
  }
  const share = url.match(/^https:\/\/t\.me\/share\/url\?(.*)$/);
  if (share) {
    const query = new URLSearchParams(share[1]);
    const to = await pickPerson('web-pg-pick-share');
    if (to === null) return;
    const text = [query.get('url'), query.get('text')].filter(Boolean).join('\n');
    if (await ask(playground.share(current.id, to, text))) {
      tab = to;
      await refresh();
    }
    return;
  }
  window.open(url, '_blank', 'noopener');
}

/** Ask which played person: their id, or null. */
function pickPerson(titleKey, { includeCurrent = false } = {}) {
  const dialog = $('pick-dialog');
  setText($('pick-title'), titleKey);
  const choices = people.filter((person) => includeCurrent || person.id !== current.id);
  $('pick-empty').hidden = choices.length > 0;
  $('pick-list').replaceChildren(
    ...choices.map((person) => {
      const item = document.createElement('li');
      const button = document.createElement('button');
      button.className = 'button button-secondary';
      button.value = String(person.id);
      button.textContent = person.name;
      item.append(button);
      return item;
    }),
  );
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener(
      'close',
      () => {
        const value = dialog.returnValue;
        resolve(/^\d+$/.test(value) ? Number(value) : null);
      },
      { once: true },
    );
  });
}

async function startInline(query, to) {
  tab = to;
  if (!chats.people_chats.some((chat) => chat.with === to)) {
    chats.people_chats.push({ with: to, messages: [] });
  }
  const asked = await ask(playground.inlineQuery(current.id, query));
  if (!asked) return;
  inline = { queryId: asked.query_id, to, results: null };
  $('composer-text').value = `@${site.bot.username} ${query}`.trimEnd();
  drawChat();
}

function drawInline() {
  const panel = $('inline-results');
  const shown = inline && inline.to === tab && inline.results;
  panel.hidden = !shown;
  if (!shown) return;
  setText($('inline-title'), 'web-pg-inline-title', { bot: site.bot.username });
  $('inline-list').replaceChildren(
    ...inline.results.map((result) => {
      const item = document.createElement('li');
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'pg-inline-result';
      const title = document.createElement('strong');
      title.textContent = result.title ?? result.id;
      const description = document.createElement('span');
      description.textContent = result.description ?? '';
      button.append(title, description);
      button.addEventListener('click', async () => {
        const { queryId, to } = inline;
        if (await ask(playground.sendInlineResult(current.id, queryId, String(result.id), to))) {
          inline = null;
          $('composer-text').value = '';
          drawChat();
        }
      });
      item.append(button);
      return item;
    }),
  );
}

function drawKeyboard() {
  const area = $('reply-keyboard');
  const keyboard = tab === 'bot' ? chats.keyboard : null;
  area.hidden = !keyboard;
  area.replaceChildren();
  if (!keyboard) return;
  if (keyboard.input_field_placeholder) $('composer-text').placeholder = keyboard.input_field_placeholder;
  for (const row of keyboard.keyboard) {
    const line = document.createElement('div');
    line.className = 'pg-button-row';
    for (const key of row) {
      const button = typeof key === 'string' ? { text: key } : key;
      const element = document.createElement('button');
      element.type = 'button';
      element.className = 'button button-secondary';
      element.textContent = button.text;
      element.addEventListener('click', async () => {
        if (keyboard.one_time_keyboard) area.hidden = true;
        if (button.request_contact) await ask(playground.sendContact(current.id));
        else await send(button.text);
      });
      line.append(element);
    }
    area.append(line);
  }
}

function drawMenu() {
  const menu = $('menu');
  const commands = tab === 'bot' ? chats.menu : [];
  $('menu-button').hidden = commands.length === 0;
  menu.replaceChildren(
    ...commands.map((command) => {
      const item = document.createElement('li');
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'pg-command';
      const name = document.createElement('strong');
      name.textContent = `/${command.command}`;
      const about = document.createElement('span');
      about.textContent = command.description;
      button.append(name, about);
      button.addEventListener('click', () => {
        toggleMenu(false);
        send(`/${command.command}`);
      });
      item.append(button);
      return item;
    }),
  );
}

function toggleMenu(open) {
  $('menu').hidden = !open;
  $('menu-button').setAttribute('aria-expanded', String(open));
  if (open) $('menu').querySelector('button')?.focus();
}

async function send(text) {
  if (!current) return;
  if (tab === 'bot') {
    const sent = await ask(playground.sendText(current.id, text));
    if (sent) arrived(current.id, { type: 'message', message: sent });
    return;
  }
  const mention = `@${site.bot.username}`;
  if (text.startsWith(mention)) {
    await startInline(text.slice(mention.length).trim(), tab);
    return;
  }
  await ask(playground.share(current.id, tab, text));
}

async function refresh() {
  const loaded = await ask(playground.chats(current.id));
  if (loaded) {
    chats = loaded;
    drawChat();
  }
}

/** An event of the person's chats: a message (new, or edited in place), a button's answer, the
 * results of an inline query. */
function arrived(personId, event) {
  if (current?.id !== personId || !chats) return;
  if (event.type === 'toast') {
    toast(event.text);
    return;
  }
  if (event.type === 'inline') {
    if (inline) inline.results = event.results;
    drawChat();
    return;
  }
  const chat = event.with === undefined ? null : event.with;
  let list;
  if (chat === null) {
    list = chats.messages;
    if (event.keyboard !== undefined) chats.keyboard = event.keyboard;
  } else {
    let found = chats.people_chats.find((entry) => entry.with === chat);
    if (!found) {
      found = { with: chat, messages: [] };
      chats.people_chats.push(found);
    }
    list = found.messages;
  }
  const index = list.findIndex((message) => message.message_id === event.message.message_id);
  if (index >= 0) list[index] = event.message;
  else list.push(event.message);
  if (list.length > site.messages_kept) list.shift();
  if (chat === null && fromBot(event.message) && tab !== 'bot' && inline === null) tab = 'bot';
  drawChat();
}

function wire() {
  $('person-form').addEventListener('submit', addPerson);
  $('composer').addEventListener('submit', async (event) => {
    event.preventDefault();
    const field = $('composer-text');
    const text = field.value.trim();
    if (!text) return;
    field.value = '';
    await send(text);
  });
  $('menu-button').addEventListener('click', () => toggleMenu($('menu').hidden));
  $('menu').addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      toggleMenu(false);
      $('menu-button').focus();
    }
  });
  $('messages').addEventListener('click', (event) => {
    const link = event.target.closest('a.entity-url, a.entity-text_link');
    if (link) {
      event.preventDefault();
      openLink(link.getAttribute('href'));
      return;
    }
    const command = event.target.closest('[data-command]');
    if (command && tab === 'bot') send(command.dataset.command);
  });
  $('contact-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const field = $('other-phone');
    if (await ask(playground.sendContact(current.id, field.value))) field.value = '';
  });
  $('block-toggle').addEventListener('click', async () => {
    const answer = await ask(playground.setBlocked(current.id, !chats.blocked));
    if (answer) {
      chats.blocked = answer.blocked;
      drawChat();
    }
  });
  $('people-toggle').addEventListener('click', () => {
    const open = document.body.classList.toggle('pg-people-open');
    $('people-toggle').setAttribute('aria-expanded', String(open));
  });
  for (const button of document.querySelectorAll('[data-lang]')) {
    button.addEventListener('click', () =>
      chooseLanguage(button.dataset.lang).then(() => current && drawChat()),
    );
  }
}

async function start() {
  await useLanguage(pickLanguage());
  document.title = t('web-pg-title');
  const described = await ask(playground.describe());
  if (!described) return;
  site = described;
  people = site.people;
  wire();
  drawPeople();
  document.body.dataset.screen = 'playground';
  $('add-person').open = people.length === 0;
  if (people.length) await play(people[0].id);
  else $('person-name').focus();
}

start();
