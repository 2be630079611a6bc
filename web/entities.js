// A Telegram message's text with its entities, as Telegram's apps render it: bold, italic,
// underline, strikethrough, spoiler, code, pre, quotes, links, mentions and commands. Offsets
// and lengths are in UTF-16 code units, as JavaScript strings are. Built from DOM nodes (never
// innerHTML), so nothing in a message can run on the page.

const TAGS = {
  bold: 'strong',
  italic: 'em',
  underline: 'u',
  strikethrough: 's',
  spoiler: 'span',
  code: 'code',
  pre: 'pre',
  blockquote: 'blockquote',
  expandable_blockquote: 'blockquote',
  text_link: 'a',
  url: 'a',
  mention: 'span',
  bot_command: 'button',
  hashtag: 'span',
  phone_number: 'span',
  email: 'span',
};

function elementFor(entity, text) {
  const tag = TAGS[entity.type];
  if (!tag) return null;
  const element = document.createElement(tag);
  element.className = `entity-${entity.type}`;
  if (entity.type === 'text_link' || entity.type === 'url') {
    element.href = entity.type === 'url' ? (/^https?:/i.test(text) ? text : `https://${text}`) : entity.url;
    element.rel = 'noopener noreferrer';
    element.target = '_blank';
  } else if (entity.type === 'bot_command') {
    element.type = 'button';
    element.dataset.command = text;
  } else if (entity.type === 'spoiler') {
    element.tabIndex = 0;
  }
  return element;
}

// Links Telegram's apps find in plain text (the server marks them too; the stand-in does not).
const LINK = /\b(?:https?:\/\/|t\.me\/)[^\s<>"]*[^\s<>".,;:!?)]/g;
const NOT_LINKED = new Set(['A', 'CODE', 'PRE', 'BUTTON']);

function appendPlain(parent, text) {
  if (NOT_LINKED.has(parent.nodeName) || text.search(LINK) < 0) {
    parent.append(text);
    return;
  }
  let cursor = 0;
  for (const match of text.matchAll(LINK)) {
    parent.append(text.slice(cursor, match.index));
    const link = elementFor({ type: 'url' }, match[0]);
    link.append(match[0]);
    parent.append(link);
    cursor = match.index + match[0].length;
  }
  parent.append(text.slice(cursor));
}

function render(parent, text, start, end, entities) {
  let cursor = start;
  let index = 0;
  while (index < entities.length) {
    const entity = entities[index];
    const entityEnd = Math.min(entity.offset + entity.length, end);
    // The entities inside this one (the list is sorted by offset, the longer first).
    let inner = index + 1;
    while (inner < entities.length && entities[inner].offset < entityEnd) inner += 1;
    if (entity.offset >= cursor) {
      appendPlain(parent, text.slice(cursor, entity.offset));
      const element = elementFor(entity, text.slice(entity.offset, entityEnd));
      const target = element ?? parent;
      render(target, text, entity.offset, entityEnd, entities.slice(index + 1, inner));
      if (element) parent.append(element);
      cursor = entityEnd;
    }
    index = inner;
  }
  appendPlain(parent, text.slice(cursor, end));
}

/** Append `text` with `entities` to `parent`, nested as Telegram nests them. */
export function renderText(parent, text, entities = []) {
  const sorted = [...entities].sort((a, b) => a.offset - b.offset || b.length - a.length);
  render(parent, text, 0, text.length, sorted);
}
