// The demo chat page: log in or register (the server sets the HttpOnly session cookie), then chat over
// one WebSocket per tab. Each tab is a device (its id in sessionStorage: two tabs differ, a reload keeps
// it). The conversation list and history come from the API, live traffic from the socket. Bundled for
// the browser by esbuild (scripts/build.mjs); no framework, text only through textContent.
import { connect, newMessageId, type ChatClient, type ChatMessage, type ClientState } from '../client/index.js';
import { account, type Conversation } from './api.js';
import { el, notice, ui } from './dom.js';
import { dropConversation, findConversation, findDirect, initList, messageArrived, readUpTo, reloadList, setOpen, titleOf } from './list.js';
import { clearReceipts, fetchReceipts, recordReceipt } from './receipts.js';
import * as thread from './thread.js';

const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${document.body.dataset.wsPath || '/ws'}`;
const TYPING_SHOWN_MS = 3500;
let client: ChatClient | undefined;
let me = '';
let typingTimer: ReturnType<typeof setTimeout> | undefined;

function deviceId(): string {
  let id = sessionStorage.getItem('demo.device');
  if (!id) sessionStorage.setItem('demo.device', (id = `tab${newMessageId()}`));
  return id;
}

/** Shows the chat (signed in) or the login form (signed out). */
function signedIn(yes: boolean): void {
  ui.auth.hidden = yes;
  ui.chat.hidden = ui.whoami.hidden = ui.logout.hidden = !yes;
}

// ---- accounts ----------------------------------------------------------------------------------

const UNREACHABLE = 'The server cannot be reached';

async function authenticate(kind: 'login' | 'register'): Promise<void> {
  ui.authError.textContent = '';
  if (!ui.authForm.reportValidity()) return;
  try {
    const { ok, data, error } = await account(`/api/auth/${kind}`, { username: ui.username.value, password: ui.password.value });
    if (ok) start(String(data.userId));
    else ui.authError.textContent = error;
  } catch {
    ui.authError.textContent = UNREACHABLE;
  }
}

function start(userId: string): void {
  me = userId;
  ui.password.value = '';
  signedIn(true);
  ui.whoami.textContent = `signed in as ${me}`;
  remember(me);
  clearReceipts();
  const chat = (client = connect({ url: wsUrl, device: deviceId() }));
  initList(me, chat.conversations, (conversation) => void openConversation(conversation));
  // Read marks come back as receipts to every device of this user, this one too: they clear the badges.
  thread.initThread(me, chat, (conversationId, seq) => chat.markRead(conversationId, seq), {
    edit: (messageId, current) => {
      const body = window.prompt('Edit message', current);
      if (body === null || body === '' || body === current) return;
      chat.edit(messageId, body).then(() => thread.edited(messageId, body), (error: Error) => notice(error.message, 'warn'));
    },
    remove: (messageId) => {
      if (!window.confirm('Delete this message for everyone?')) return;
      chat.deleteMessage(messageId).then(() => thread.deleted(messageId), (error: Error) => notice(error.message, 'warn'));
    },
  });
  chat.on('edited', ({ messageId, body }) => thread.edited(messageId, body ?? ''));
  chat.on('deleted', ({ messageId }) => thread.deleted(messageId));
  chat.on('state', showState);
  chat.on('ready', ({ replayed }) => {
    if (replayed > 0) notice(`Caught up: ${replayed} missed message${replayed === 1 ? '' : 's'} arrived`);
    const open = thread.currentThread()?.conversationId;
    if (open) void fetchReceipts(open).then(thread.refreshTicks); // receipts sent while offline
    // Conversation events are live only: the list is fetched after every (re)connect. The first time,
    // the conversation this tab had open before a reload opens again.
    reloadList().then(
      () => {
        const last = findConversation(sessionStorage.getItem('demo.open') ?? '');
        if (last && !thread.currentThread()) void openConversation(last);
      },
      () => notice('The conversation list could not be loaded', 'warn'),
    );
  });
  chat.on('message', received);
  chat.on('gap', ({ conversationId, fromSeq, toSeq }) => void thread.fillGap(conversationId, fromSeq, toSeq));
  chat.on('delivered', ({ messageId }) => thread.update(messageId));
  chat.on('receipt', ({ conversationId, userId: who, deliveredSeq, readSeq }) => {
    if (recordReceipt(conversationId, who, deliveredSeq, readSeq) && thread.currentThread()?.conversationId === conversationId) thread.refreshTicks();
    if (who === me && readSeq) readUpTo(conversationId, readSeq); // read on another device: clear the badge here
  });
  chat.on('typing', ({ conversationId, userId: who }) => {
    if (thread.currentThread()?.conversationId !== conversationId || who === me) return;
    ui.typing.textContent = `${who} is typing…`;
    clearTimeout(typingTimer);
    typingTimer = setTimeout(() => (ui.typing.textContent = ''), TYPING_SHOWN_MS);
  });
  chat.on('conversation', ({ conversation: { conversationId, members, memberCount } }) => {
    const gone = memberCount <= members.length && !members.includes(me); // members holds the first 100 only
    void conversationChanged(conversationId, gone);
  });
  chat.on('error', (event) => {
    if (event.code === 'unauthorized') signedOut('Your session ended; log in again');
  });
  ui.peer.focus();
}

function signedOut(reason = ''): void {
  client?.close();
  client = undefined;
  me = '';
  thread.closeThread();
  ui.conversations.replaceChildren();
  signedIn(false);
  ui.authError.textContent = reason;
  showState('signed-out');
}

function showState(state: ClientState | 'signed-out'): void {
  ui.connection.dataset.state = state;
  ui.connection.textContent = state === 'ready' ? 'online' : state.replace('-', ' ');
}

// ---- conversations -----------------------------------------------------------------------------

async function openConversation(conversation: Conversation): Promise<void> {
  notice('');
  showHeader(conversation);
  setOpen(conversation.conversationId);
  await thread.openThread({ conversationId: conversation.conversationId, peer: conversation.peer, conversation }, fetchReceipts(conversation.conversationId));
  ui.body.focus();
}

/** A direct chat by user id: the existing conversation, or a new one that the first message creates. */
async function openPeer(typed: string): Promise<void> {
  const known = findDirect(typed);
  if (known) return openConversation(known);
  thread.closeThread();
  setOpen(undefined);
  notice('');
  ui.conversationTitle.textContent = `Chat with ${typed}`;
  ui.groupPanel.hidden = true;
  // GET /api/users/:id ignores case and answers the id as registered ("Bob" is bob). A 404 is a
  // warning, not a refusal: tokens from other issuers are valid, so that user may still connect.
  const answer = await account(`/api/users/${encodeURIComponent(typed)}`).catch(() => undefined);
  if (thread.currentThread()) return; // another conversation was opened meanwhile
  const peer = answer?.ok ? String(answer.data.userId) : typed;
  const existing = findDirect(peer);
  if (existing) return openConversation(existing);
  ui.conversationTitle.textContent = `Chat with ${peer}`;
  const waits = `messages are stored and wait for ${peer} to connect`;
  if (answer?.ok) notice(`New conversation with ${peer}`);
  else notice(answer?.status === 404 ? `${peer} has no account on this server (a token from elsewhere still works): ${waits}.` : `Could not check that ${peer} has an account: ${waits}.`, 'warn');
  await thread.openThread({ conversationId: undefined, peer, conversation: undefined });
  ui.body.focus();
}

function showHeader(conversation: Conversation): void {
  ui.conversationTitle.textContent = conversation.kind === 'group' ? `${titleOf(conversation)} (${conversation.memberCount})` : `Chat with ${titleOf(conversation)}`;
  ui.groupPanel.hidden = conversation.kind !== 'group';
  if (conversation.kind !== 'group') return;
  const owner = conversation.ownerId === me;
  ui.addForm.hidden = !owner;
  ui.members.replaceChildren(
    ...conversation.members.map((member) => {
      const li = el('li', '', member === conversation.ownerId ? `${member} (owner)` : member);
      li.dataset.member = member;
      if (owner && member !== me) {
        const remove = el('button', 'link', '✕');
        remove.title = `Remove ${member}`;
        remove.addEventListener('click', () => void changeMembers(() => client!.conversations.removeMember(conversation.conversationId, member)));
        li.append(remove);
      }
      return li;
    }),
  );
}

async function changeMembers(change: () => Promise<unknown>, gone = false): Promise<void> {
  const id = thread.currentThread()?.conversationId;
  try {
    await change();
    if (id) await conversationChanged(id, gone);
  } catch (error) {
    notice((error as Error).message, 'warn');
  }
}

/** Members or title changed, or we joined, left or were removed: refetch it, and the header if it is open. */
async function conversationChanged(id: string, gone = false): Promise<void> {
  if (gone) dropConversation(id);
  else await reloadList();
  const open = thread.currentThread();
  const fresh = findConversation(id);
  if (open?.conversationId !== id) return;
  if (gone) {
    thread.closeThread();
    ui.groupPanel.hidden = true;
    ui.conversationTitle.textContent = 'Pick a conversation';
    notice('You are no longer a member of that group');
  } else if (fresh) {
    open.conversation = fresh;
    showHeader(fresh);
    thread.refreshTicks();
  }
}

function received(chatMessage: ChatMessage): void {
  const { conversationId, seq, from, to } = chatMessage;
  if (conversationId === undefined || seq === undefined) return; // a v1 server: this page needs v1.1
  const message = { ...chatMessage, conversationId, seq };
  const open = thread.currentThread();
  // A direct chat opened before its first message takes its id from the first one between the two.
  if (open && !open.conversationId && to !== undefined && [from, to].includes(open.peer!) && [from, to].includes(me)) open.conversationId = conversationId;
  const here = open?.conversationId === conversationId;
  if (here && from === open.peer) notice(''); // the peer wrote: the account notice is moot
  if (here) thread.show(message);
  const readNow = here && document.visibilityState === 'visible';
  listed(message, readNow);
  if (readNow) thread.seen();
}

/** A message received, or one of ours stored: the list entry moves, or a new conversation is fetched. */
function listed(message: Parameters<typeof messageArrived>[0], readNow: boolean): void {
  if (messageArrived(message, readNow)) return;
  void reloadList().then(() => {
    const fresh = findConversation(message.conversationId);
    const open = thread.currentThread();
    if (fresh && open?.conversationId === message.conversationId && !open.conversation) {
      open.conversation = fresh;
      setOpen(fresh.conversationId);
      thread.refreshTicks();
    }
  });
}

function sendCurrent(): void {
  const open = thread.currentThread();
  const body = ui.body.value;
  if (!client || !open || body.trim() === '') return;
  ui.body.value = '';
  const messageId = newMessageId();
  thread.show({ messageId, from: me, body, ts: Date.now() }, true);
  client.send(open.conversationId ? { conversationId: open.conversationId } : { to: open.peer! }, body, { messageId }).then(
    ({ conversationId, seq, ts }) => {
      if (conversationId === undefined || seq === undefined) return;
      thread.acked(messageId, conversationId, seq);
      listed({ conversationId, seq, ts, messageId, from: me, body }, true);
    },
    (error: Error) => thread.update(messageId, error.message),
  );
}

// ---- one browser, one cookie ------------------------------------------------------------------

// Every tab of a browser profile sends the same HttpOnly cookie: a login, register or logout in another
// tab changes whom this tab's HTTP calls run as, while its socket stays the old user's. Each tab writes
// whom it signed in as ('' on logout); the other tabs reload and start as the cookie now says.
const SIGNED_IN = 'demo.user';

function remember(userId: string): void {
  try {
    localStorage.setItem(SIGNED_IN, userId);
  } catch {
    // Storage disabled: other tabs are not told.
  }
}

addEventListener('storage', (event) => {
  if (event.key === SIGNED_IN && event.newValue !== me) location.reload();
});

// ---- wiring ------------------------------------------------------------------------------------

const onSubmit = (form: HTMLFormElement, handler: () => void) =>
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (form.reportValidity()) handler();
  });

onSubmit(ui.authForm, () => void authenticate('login'));
ui.register.addEventListener('click', () => void authenticate('register'));
ui.logout.addEventListener('click', async () => {
  await account('/api/auth/logout', {}).catch(() => undefined);
  remember('');
  signedOut();
});
onSubmit(ui.peerForm, () => void openPeer(ui.peer.value.trim()));
onSubmit(ui.groupForm, () => {
  const members = ui.groupMembers.value.split(/[\s,]+/).filter((member) => member && member !== me);
  client?.conversations.create({ title: ui.groupTitle.value.trim(), members }).then(
    async ({ conversationId }) => {
      ui.groupForm.reset();
      ui.newGroup.open = false;
      await reloadList();
      const group = findConversation(conversationId);
      if (group) await openConversation(group);
    },
    (error: Error) => notice(`The group was not created: ${error.message}`, 'warn'),
  );
});
onSubmit(ui.addForm, () => {
  const id = thread.currentThread()?.conversationId;
  if (id) void changeMembers(() => client!.conversations.addMembers(id, [ui.addMember.value.trim()])).then(() => ui.addForm.reset());
});
ui.leave.addEventListener('click', () => {
  const id = thread.currentThread()?.conversationId;
  if (id) void changeMembers(() => client!.conversations.leave(id), true);
});
onSubmit(ui.composer, sendCurrent);
ui.body.addEventListener('input', () => {
  const id = thread.currentThread()?.conversationId;
  if (id && ui.body.value) client?.typing(id); // the SDK throttles it to the server's 2 s rule
});
ui.messages.addEventListener('scroll', thread.loadOlder);
document.addEventListener('visibilitychange', thread.seen);

// The cookie is HttpOnly, so only GET /api/me can tell whether there is a session, and without one its
// 401 shows in the console. Where no tab of this browser signed in (or the last one logged out), the
// page does not ask.
let signedInHere: string | null = null;
try {
  signedInHere = localStorage.getItem(SIGNED_IN);
} catch {
  signedInHere = '?'; // storage disabled: ask
}
if (!signedInHere) signedOut();
else
  void account('/api/me').then(
    ({ ok, data }) => (ok ? start(String(data.userId)) : signedOut()),
    () => signedOut(UNREACHABLE),
  );
