// The invite code a link brought (`/?ref=CODE` in a browser, the start parameter inside
// Telegram), kept in sessionStorage through login and used once the person is a member: as a deep
// link does in the bot.

const PENDING_KEY = 'referral.invite';
let shape = { alphabet: '', length: 0 }; // what an invite code looks like: the server says

/** Learn the invite codes' alphabet and length from GET /api/web-app/ (db/codes.py has them). */
export function useInviteShape(site) {
  shape = { alphabet: site.invite_code_alphabet, length: site.invite_code_length };
}

/** The form codes are stored in: no surrounding spaces, upper case, full-width as ASCII. */
export const cleanInviteCode = (raw) => String(raw ?? '').normalize('NFKC').trim().toUpperCase();

/** Whether a cleaned code could still become an invite code with more typing. */
export const mayBecomeInviteCode = (code) =>
  code.length <= shape.length && [...code].every((character) => shape.alphabet.includes(character));

export const isInviteCode = (code) => code.length === shape.length && mayBecomeInviteCode(code);

/** Take `?ref=` off the address (so that a reload or a shared address does not carry it) and keep
 * a well-formed code; `{code}` or `{malformed: true}` for the page to tell, null without one. */
export function takeInviteFromAddress() {
  const address = new URL(location.href);
  if (!address.searchParams.has('ref')) return null;
  const code = cleanInviteCode(address.searchParams.get('ref'));
  address.searchParams.delete('ref');
  history.replaceState(history.state, '', address.pathname + address.search + address.hash);
  return keepInvite(code);
}

/** Keep `code` for after login if it is well formed. */
export function keepInvite(code) {
  if (!isInviteCode(code)) return { malformed: true };
  sessionStorage.setItem(PENDING_KEY, code);
  return { code };
}

export const pendingInvite = () => sessionStorage.getItem(PENDING_KEY);

export const forgetInvite = () => sessionStorage.removeItem(PENDING_KEY);
