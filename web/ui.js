// What every screen does with the page: show one screen, say something, copy, count down.

import { clearText, setText } from './i18n.js';

export const $ = (id) => document.getElementById(id);

/** Show the screen `name` (the section #screen-<name>) and hide the others and the last notice.
 * `focus` gets the keyboard focus, so that keyboard and screen-reader users land where work goes
 * on. */
export function showScreen(name, { focus = null } = {}) {
  clearNotice();
  for (const screen of document.querySelectorAll('main > .screen')) {
    screen.hidden = screen.id !== `screen-${name}`;
  }
  document.body.dataset.screen = name;
  if (focus) focus.focus({ preventScroll: false });
}

/** A line for the person at the top of the page (logged out, data deleted...). */
export function notify(key, params = {}) {
  const notice = $('notice');
  setText(notice, key, params);
  notice.hidden = false;
}

export function clearNotice() {
  const notice = $('notice');
  clearText(notice);
  notice.hidden = true;
}

/** An error under a form field; the field is marked invalid for assistive technology. */
export function showFieldError(input, error, key, params = {}) {
  setText(error, key, params);
  error.hidden = false;
  input.setAttribute('aria-invalid', 'true');
}

export function clearFieldError(input, error) {
  clearText(error);
  error.hidden = true;
  input.removeAttribute('aria-invalid');
}

/** A status line (an <output>): `kind` is 'success' or 'error', for colour only. */
export function say(output, key, params = {}, kind = 'success') {
  setText(output, key, params);
  output.dataset.kind = kind;
}

/** Run `work` with `button` disabled and marked busy, so that a double click sends one request. */
export async function whileBusy(button, work) {
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}

/** Copy `text` to the clipboard; false when the browser allows neither way. */
export async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // fall through: permissions differ between browsers and webviews
    }
  }
  const scratch = document.createElement('textarea');
  scratch.value = text;
  scratch.setAttribute('readonly', '');
  scratch.className = 'visually-hidden';
  document.body.append(scratch);
  scratch.select();
  let copied = false;
  try {
    copied = document.execCommand('copy');
  } catch {
    copied = false;
  }
  scratch.remove();
  return copied;
}

/** Call `tick(secondsLeft)` now and every second until zero; returns a function that stops it. */
export function countdown(seconds, tick) {
  const ends = Date.now() + seconds * 1000;
  let timer = null;
  const step = () => {
    const left = Math.max(0, Math.ceil((ends - Date.now()) / 1000));
    tick(left);
    // Wake when the shown number changes: the remainder of a second left over.
    if (left > 0) timer = setTimeout(step, (ends - Date.now()) % 1000 || 1000);
  };
  step();
  return () => clearTimeout(timer);
}
