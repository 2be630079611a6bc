// The invite code a link brought (`/?ref=CODE` in a browser, the start parameter inside
// Telegram), kept in sessionStorage through login and used once the person is a member: as a deep
// link does in the bot.

const PENDING_KEY = 'referral.invite';
// What an invite code looks like (db/codes.py): 6 of A-Z and 2-9 without O and I.
const INVITE_CODE = /^[A-HJ-NP-Z2-9]{6}$/;

/** The form codes are stored in: no surrounding spaces, upper case. */
export const cleanInviteCode = (raw) => String(raw ?? '').trim().toUpperCase();

export const isInviteCode = (code) => INVITE_CODE.test(code);

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
