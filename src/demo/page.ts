// The demo chat page: log in or register (the server sets the HttpOnly session cookie), then chat
// through the SDK over one WebSocket. Bundled for the browser by esbuild (src/transport/demo-routes.ts);
// no framework. Every message element carries data-message-id / data-status for the browser test.
import { connect, newMessageId, type ChatClient, type ChatMessage, type ClientState } from '../client/index.js';

type Status = 'sending' | 'sent' | 'delivered' | 'received' | 'failed';
const RANK: Record<Status, number> = { failed: 0, sending: 1, sent: 2, delivered: 3, received: 3 };
const TICK: Record<Status, string> = { sending: '…', sent: '✓', delivered: '✓✓', received: '', failed: '!' };

interface Item {
  readonly messageId: string;
  readonly peer: string;
  readonly mine: boolean;
  status: Status;
  readonly element: HTMLLIElement;
}

const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const ui = {
  connection: byId<HTMLSpanElement>('connection'),
  whoami: byId<HTMLSpanElement>('whoami'),
  logout: byId<HTMLButtonElement>('logout'),
  auth: byId<HTMLElement>('auth'),
  authForm: byId<HTMLFormElement>('auth-form'),
  username: byId<HTMLInputElement>('username'),
  password: byId<HTMLInputElement>('password'),
  register: byId<HTMLButtonElement>('register'),
  authError: byId<HTMLParagraphElement>('auth-error'),
  chat: byId<HTMLElement>('chat'),
  peerForm: byId<HTMLFormElement>('peer-form'),
  peer: byId<HTMLInputElement>('peer'),
  peers: byId<HTMLUListElement>('peers'),
  title: byId<HTMLHeadingElement>('conversation-title'),
  notice: byId<HTMLParagraphElement>('notice'),
  messages: byId<HTMLOListElement>('messages'),
  composer: byId<HTMLFormElement>('composer'),
  body: byId<HTMLInputElement>('body'),
  send: byId<HTMLButtonElement>('send'),
};

const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${document.body.dataset.wsPath || '/ws'}`;
let client: ChatClient | undefined;
let me = '';
let current: string | undefined;
const items = new Map<string, Item>();
const unread = new Map<string, number>();

// ---- accounts ----------------------------------------------------------------------------------

async function api(path: string, body?: object): Promise<{ status: number; data: Record<string, unknown>; retryAfter: string | null }> {
  const response = await fetch(path, {
    method: body ? 'POST' : 'GET',
    credentials: 'same-origin',
    ...(body ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  return { status: response.status, data: text ? (JSON.parse(text) as Record<string, unknown>) : {}, retryAfter: response.headers.get('retry-after') };
}

async function authenticate(kind: 'login' | 'register'): Promise<void> {
  ui.authError.textContent = '';
  if (!ui.authForm.reportValidity()) return;
  try {
    const { status, data, retryAfter } = await api(`/api/auth/${kind}`, { username: ui.username.value, password: ui.password.value });
    if (status === 200 || status === 201) return start(String(data.userId));
    const message = (data.error as { message?: string } | undefined)?.message ?? `HTTP ${status}`;
    ui.authError.textContent = status === 429 && retryAfter ? `${message} (in ${retryAfter} s)` : message;
  } catch {
    ui.authError.textContent = 'The server cannot be reached';
  }
}

function start(userId: string): void {
  me = userId;
  ui.password.value = '';
  ui.auth.hidden = true;
  ui.chat.hidden = false;
  ui.whoami.hidden = ui.logout.hidden = false;
  ui.whoami.textContent = `signed in as ${me}`;
  client = connect({ url: wsUrl });
  client.on('state', showState);
  client.on('message', received);
  client.on('delivered', ({ messageId }) => advance(messageId, 'delivered'));
  client.on('ready', ({ replayed }) => {
    if (replayed > 0) ui.notice.textContent = `Caught up: ${replayed} missed message${replayed === 1 ? '' : 's'} arrived`;
  });
  client.on('error', (event) => {
    if (event.code === 'unauthorized') signedOut('Your session ended; log in again');
  });
  ui.peer.focus();
}

function signedOut(reason = ''): void {
  client?.close();
  client = undefined;
  me = '';
  current = undefined;
  items.clear();
  unread.clear();
  ui.messages.replaceChildren();
  ui.peers.replaceChildren();
  ui.chat.hidden = true;
  ui.auth.hidden = false;
  ui.whoami.hidden = ui.logout.hidden = true;
  ui.authError.textContent = reason;
  showState('signed out');
}

function showState(state: ClientState | 'signed out'): void {
  ui.connection.dataset.state = state === 'signed out' ? 'signed-out' : state;
  ui.connection.textContent = state === 'ready' ? 'online' : state;
}

// ---- conversations -----------------------------------------------------------------------------

function open(peer: string): void {
  current = peer;
  unread.delete(peer);
  ui.title.textContent = `Chat with ${peer}`;
  ui.body.disabled = ui.send.disabled = false;
  for (const item of items.values()) item.element.hidden = item.peer !== peer;
  renderPeers();
  ui.body.focus();
}

function renderPeers(): void {
  const peers = new Set<string>([...items.values()].map((item) => item.peer));
  if (current) peers.add(current);
  ui.peers.replaceChildren(
    ...[...peers].sort().map((peer) => {
      const button = document.createElement('button');
      button.type = 'button';
      button.dataset.peer = peer;
      button.setAttribute('aria-current', String(peer === current));
      button.append(peer);
      const count = unread.get(peer);
      if (count) {
        const badge = document.createElement('span');
        badge.className = 'unread';
        badge.textContent = String(count);
        button.append(badge);
      }
      button.addEventListener('click', () => open(peer));
      const li = document.createElement('li');
      li.append(button);
      return li;
    }),
  );
}

function addItem(messageId: string, peer: string, from: string, body: string, ts: number, status: Status): Item {
  const element = document.createElement('li');
  element.className = `msg ${from === me ? 'mine' : 'theirs'}`;
  element.dataset.messageId = messageId;
  element.dataset.from = from;
  element.dataset.status = status;
  const text = document.createElement('span');
  text.className = 'body';
  text.textContent = body; // never innerHTML: bodies are untrusted
  const meta = document.createElement('span');
  meta.className = 'meta';
  const time = document.createElement('time');
  time.textContent = new Date(ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  const tick = document.createElement('span');
  tick.className = 'tick';
  tick.textContent = TICK[status];
  meta.append(time, tick);
  element.append(text, meta);
  element.hidden = peer !== current;
  const item: Item = { messageId, peer, mine: from === me, status, element };
  items.set(messageId, item);
  ui.messages.append(element);
  element.scrollIntoView({ block: 'end' });
  return item;
}

/** Statuses only move forward: a late SENT never undoes a DELIVERED. */
function advance(messageId: string, status: Status, title?: string): void {
  const item = items.get(messageId);
  if (!item || RANK[status] < RANK[item.status] || (item.status === 'failed' && status !== 'failed')) return;
  item.status = status;
  item.element.dataset.status = status;
  item.element.querySelector('.tick')!.textContent = TICK[status];
  if (title) item.element.title = title;
}

function received(message: ChatMessage): void {
  if (items.has(message.messageId)) return; // the SDK already drops repeats; this guards the page too
  addItem(message.messageId, message.from, message.from, message.body, message.ts, 'received');
  if (!current) open(message.from);
  else if (message.from !== current) unread.set(message.from, (unread.get(message.from) ?? 0) + 1);
  renderPeers();
}

function sendCurrent(): void {
  const body = ui.body.value;
  if (!client || !current || body.trim() === '') return;
  ui.body.value = '';
  const messageId = newMessageId();
  addItem(messageId, current, me, body, Date.now(), 'sending');
  renderPeers();
  client.send(current, body, { messageId }).then(
    () => advance(messageId, 'sent'),
    (error: Error) => advance(messageId, 'failed', error.message),
  );
}

ui.authForm.addEventListener('submit', (event) => {
  event.preventDefault();
  void authenticate('login');
});
ui.register.addEventListener('click', () => void authenticate('register'));
ui.logout.addEventListener('click', async () => {
  await api('/api/auth/logout', {}).catch(() => undefined);
  signedOut();
});
ui.peerForm.addEventListener('submit', (event) => {
  event.preventDefault();
  if (ui.peerForm.reportValidity()) open(ui.peer.value.trim());
});
ui.composer.addEventListener('submit', (event) => {
  event.preventDefault();
  sendCurrent();
});

void api('/api/me').then(
  ({ status, data }) => (status === 200 ? start(String(data.userId)) : signedOut()),
  () => signedOut('The server cannot be reached'),
);
