// Every request the page makes goes through here: the access token, the language of the answers
// and the shape of an answer are decided in one place.
//
// An answer is `{status, body, retryAfter}`: statuses such as 400, 404 or 409 are outcomes the
// screens tell the person about, not failures. Only a request that got no answer at all throws
// `NetworkError`.

const TOKEN_KEY = 'referral.token';

export class NetworkError extends Error {
  constructor(cause) {
    super('no answer from the server', { cause });
    this.name = 'NetworkError';
  }
}

let answerLanguage = 'en';

/** The language the API should answer its messages in (Accept-Language). */
export function setAnswerLanguage(language) {
  answerLanguage = language;
}

/** The access token lives in sessionStorage: it ends with the tab, as the SPEC asks. */
export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  start(token) {
    sessionStorage.setItem(TOKEN_KEY, token);
  },
  end() {
    sessionStorage.removeItem(TOKEN_KEY);
  },
};

async function call(method, path, { json, authorized = false, as = 'json' } = {}) {
  const headers = { 'Accept-Language': answerLanguage };
  if (json !== undefined) headers['Content-Type'] = 'application/json';
  if (authorized) headers.Authorization = `Bearer ${session.token}`;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: json === undefined ? undefined : JSON.stringify(json),
      credentials: 'omit',
    });
  } catch (error) {
    throw new NetworkError(error);
  }
  let body = null;
  try {
    if (response.status !== 204 && response.status !== 304) {
      body = as === 'blob' && response.ok ? await response.blob() : await response.json();
    }
  } catch (error) {
    if (response.ok) throw new NetworkError(error); // a cut-off answer
  }
  const retryAfter = Number.parseInt(response.headers.get('Retry-After') ?? '', 10);
  return {
    status: response.status,
    body,
    retryAfter: Number.isFinite(retryAfter) ? retryAfter : null,
  };
}

/** What the page needs to know about this server (GET /api/web-app/). */
export const readWebApp = () => call('GET', '/api/web-app/');

/** The page's texts in one language; `version` lets the browser keep them until they change. */
export const readTexts = (language, version) =>
  call('GET', `/api/texts/${encodeURIComponent(language)}/?v=${encodeURIComponent(version)}`);

export const requestCode = (phone) => call('POST', '/api/login/', { json: { phone } });

export const verifyCode = (phone, code) =>
  call('POST', '/api/verify/', { json: { phone, code } });

export const telegramLogin = (initData) =>
  call('POST', '/api/telegram/login/', { json: { init_data: initData } });

export function readReferralData({ cursor = null, limit } = {}) {
  const query = new URLSearchParams();
  if (cursor) query.set('cursor', cursor);
  if (limit) query.set('limit', String(limit));
  const text = query.toString();
  const suffix = text ? `?${text}` : '';
  return call('GET', `/api/data/${suffix}`, { authorized: true });
}

/** Whether an invite code exists and whose it is (masked); with a token, `offer` says what
 * registering it would answer now. */
export const checkInviteCode = (code) =>
  call('GET', `/api/invite/${encodeURIComponent(code)}/`, { authorized: Boolean(session.token) });

export const registerInviteCode = (code) =>
  call('POST', '/api/data/', { json: { ref_code: code }, authorized: true });

export const readInviteQr = () =>
  call('GET', '/api/data/qr.svg', { authorized: true, as: 'blob' });

export const readTop = () => call('GET', '/api/top/', { authorized: true });

export const deleteMemberData = () => call('DELETE', '/api/data/', { authorized: true });

/** Keep a signed-in member's language choice on the member: the bot speaks it to them too. */
export const saveLanguage = (language) =>
  call('PUT', '/api/data/language/', { json: { language }, authorized: true });

// Operators (members whose Telegram account is in ADMIN_IDS): everybody else gets 404 here.

export const readAdminStats = () => call('GET', '/api/admin/stats/', { authorized: true });

export const findMembers = (query) =>
  call('GET', `/api/admin/members/?q=${encodeURIComponent(query)}`, { authorized: true });

export const blockMember = (id, reason) =>
  call('POST', `/api/admin/members/${id}/block/`, { json: { reason }, authorized: true });

export const unblockMember = (id) =>
  call('POST', `/api/admin/members/${id}/unblock/`, { authorized: true });

export const exportMembers = () =>
  call('GET', '/api/admin/export.csv', { authorized: true, as: 'blob' });

// The playground's people and their chats (only where the program runs its own stand-in bot).
const person = (id) => `/api/playground/people/${id}`;
export const playground = {
  describe: () => call('GET', '/api/playground/'),
  addPerson: (json) => call('POST', '/api/playground/people/', { json }),
  chats: (id) => call('GET', `${person(id)}/`),
  sendText: (id, text) => call('POST', `${person(id)}/messages/`, { json: { text } }),
  sendContact: (id, phone = null) => call('POST', `${person(id)}/contact/`, { json: { phone } }),
  press: (id, messageId, data) =>
    call('POST', `${person(id)}/press/`, { json: { message_id: messageId, data } }),
  inlineQuery: (id, query) => call('POST', `${person(id)}/inline/`, { json: { query } }),
  sendInlineResult: (id, queryId, resultId, to) =>
    call('POST', `${person(id)}/inline/result/`, {
      json: { query_id: queryId, result_id: resultId, to },
    }),
  share: (id, to, text) => call('POST', `${person(id)}/share/`, { json: { to, text } }),
  setBlocked: (id, blocked) => call('PUT', `${person(id)}/blocked/`, { json: { blocked } }),
  events: (id) => new EventSource(`${person(id)}/events/`),
  fileUrl: (fileId) => `/api/playground/files/${encodeURIComponent(fileId)}`,
};
