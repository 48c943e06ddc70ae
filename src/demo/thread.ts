// The open conversation: its messages in seq order (the newest page from history, older pages as the
// user scrolls up, live ones appended), each once, with ticks from acks and receipts. Every message
// element carries data-message-id, data-seq, data-from and data-status for the browser test.
import type { ChatClient, HistoryPage } from '../client/index.js';
import type { Conversation } from './api.js';
import { el, notice, ui, when } from './dom.js';
import { lowestMarks } from './receipts.js';

// The tick of each status (… ✓ ✓✓ !) is drawn by the style sheet from data-status.
type Status = 'sending' | 'sent' | 'delivered' | 'read' | 'received' | 'failed';
const PAGE = 50;

interface Item {
  seq: number | undefined;
  readonly mine: boolean;
  deliveredAck: boolean;
  failed: boolean;
  readonly element: HTMLLIElement;
}

export interface Shown {
  readonly messageId: string;
  readonly conversationId?: string;
  readonly seq?: number;
  readonly from: string;
  readonly body: string;
  readonly ts: number;
  readonly editedAt?: number;
  readonly deleted?: true;
}

/** What the message actions do (page.ts asks the SDK). */
export interface MessageActions {
  edit(messageId: string, current: string): void;
  remove(messageId: string): void;
}

/** A direct chat with a peer not yet written to has no conversationId: its first message or SENT ack gives it. */
export interface Thread {
  conversationId: string | undefined;
  peer: string | undefined;
  conversation: Conversation | undefined;
}

let me = '';
let client: ChatClient;
let pages: AsyncGenerator<HistoryPage, void, undefined> | undefined;
let thread: Thread | undefined;
let generation = 0;
let items = new Map<string, Item>();
let oldest = 0;
let hasMore = false;
let loading = false;
let onSeen: (conversationId: string, seq: number) => void = () => undefined;
let actions: MessageActions | undefined;

export function initThread(userId: string, chat: ChatClient, seen: (conversationId: string, seq: number) => void, messageActions?: MessageActions): void {
  me = userId;
  client = chat;
  onSeen = seen;
  actions = messageActions;
}

export const currentThread = () => thread;

/** Opens `next`; its first page waits for `ticks` (its receipts being read) so that it shows with its ticks. */
export async function openThread(next: Thread, ticks?: Promise<void>): Promise<void> {
  generation++;
  thread = next;
  items = new Map();
  oldest = 0;
  void pages?.return();
  pages = next.conversationId ? client.history(next.conversationId, { limit: PAGE }) : undefined; // newest page first
  ui.messages.replaceChildren();
  ui.typing.textContent = '';
  ui.body.disabled = ui.send.disabled = false;
  if (pages) await nextPage(ticks);
  seen();
}

export function closeThread(): void {
  generation++;
  thread = pages = undefined;
  items = new Map();
  ui.messages.replaceChildren();
  ui.body.disabled = ui.send.disabled = true;
}

/** Older pages as the list nears its top. */
export function loadOlder(): void {
  if (pages && !loading && hasMore && ui.messages.scrollTop < 80) void nextPage();
}

/** The next page back from history, keeping what is on screen where it was (the first one: at the bottom). */
async function nextPage(ticks?: Promise<void>): Promise<void> {
  const mine = generation;
  loading = true;
  try {
    const [page] = await Promise.all([pages!.next(), ticks]);
    const value = page.done ? undefined : page.value;
    if (mine !== generation) return;
    const fromBottom = ui.messages.scrollHeight - ui.messages.scrollTop;
    for (const message of value?.messages ?? []) show(message);
    oldest = value?.messages[0]?.seq ?? oldest;
    ui.messages.dataset.hasMore = String((hasMore = !!value?.hasMore));
    ui.messages.scrollTop = ui.messages.scrollHeight - fromBottom;
  } catch (error) {
    notice(`History could not be loaded: ${(error as Error).message}`, 'warn');
  } finally {
    if (mine === generation) loading = false;
  }
}

/**
 * Messages the socket will not bring (the SDK's `gap`: a new device is replayed only what no device of
 * the user confirmed): fetched from history when they belong to what is on screen.
 */
export async function fillGap(conversationId: string, fromSeq: number, toSeq: number): Promise<void> {
  if (thread?.conversationId !== conversationId || toSeq < oldest) return;
  const from = Math.max(fromSeq, oldest);
  const page = await client.conversations.page(conversationId, { before: toSeq + 1, limit: Math.min(toSeq - from + 1, 200) });
  if (thread?.conversationId === conversationId) for (const message of page.messages) show(message);
}

/** A message of the open conversation (from history, live, or one of ours being sent). */
export function show(message: Shown, sending = false): void {
  const known = items.get(message.messageId);
  if (known) {
    if (known.seq === undefined && message.seq !== undefined) place(known, message.seq);
    return;
  }
  const mine = message.from === me;
  const element = el('li', `msg ${mine ? 'mine' : 'theirs'}`);
  element.dataset.messageId = message.messageId;
  element.dataset.from = message.from;
  if (thread?.conversation?.kind === 'group' && !mine) element.append(el('span', 'from', message.from));
  const meta = el('span', 'meta');
  meta.append(el('time', '', when(message.ts)), el('span', 'edited', 'edited'), el('span', 'tick'));
  element.append(el('span', 'body', message.body), meta); // textContent: bodies are untrusted
  if (message.deleted) markDeleted(element);
  else if (message.editedAt !== undefined) element.dataset.edited = 'true';
  if (!message.deleted && !sending) addActions(element, message.messageId, mine);
  const item: Item = { seq: undefined, mine, deliveredAck: false, failed: false, element };
  items.set(message.messageId, item);
  const atBottom = ui.messages.scrollHeight - ui.messages.scrollTop - ui.messages.clientHeight < 40;
  ui.messages.append(element);
  if (message.seq === undefined || sending) tick(item);
  else place(item, message.seq);
  if (atBottom || sending) ui.messages.scrollTop = ui.messages.scrollHeight;
}

/** Edit (the author) and delete (the author, or a group's owner) buttons on a stored message. */
function addActions(element: HTMLLIElement, messageId: string, mine: boolean): void {
  const owner = thread?.conversation?.kind === 'group' && thread.conversation.ownerId === me;
  if (!actions || (!mine && !owner)) return;
  const bar = el('span', 'actions');
  if (mine) {
    const edit = el('button', 'edit', 'edit');
    edit.addEventListener('click', () => actions?.edit(messageId, element.querySelector('.body')?.textContent ?? ''));
    bar.append(edit);
  }
  const remove = el('button', 'delete', 'delete');
  remove.addEventListener('click', () => actions?.remove(messageId));
  bar.append(remove);
  element.append(bar);
}

function markDeleted(element: HTMLElement): void {
  element.dataset.deleted = 'true';
  delete element.dataset.edited;
  const body = element.querySelector('.body');
  if (body) body.textContent = 'message deleted';
  element.querySelector('.actions')?.remove();
}

/** An edit of a message shown here (ours acked, or another device's or member's event). */
export function edited(messageId: string, body: string): void {
  const item = items.get(messageId);
  if (!item || item.element.dataset.deleted) return;
  const shown = item.element.querySelector('.body');
  if (shown) shown.textContent = body;
  item.element.dataset.edited = 'true';
}

export function deleted(messageId: string): void {
  const item = items.get(messageId);
  if (item) markDeleted(item.element);
}

/** Puts an item where its seq belongs: after every lower seq, before higher ones and unsent ones. */
function place(item: Item, seq: number): void {
  item.seq = seq;
  item.element.dataset.seq = String(seq);
  let after = ui.messages.lastElementChild as HTMLElement | null;
  while (after && (after === item.element || !(Number(after.dataset.seq) <= seq))) after = after.previousElementSibling as HTMLElement | null;
  if (after) after.after(item.element);
  else ui.messages.prepend(item.element);
  tick(item);
}

function statusOf(item: Item): Status {
  if (item.failed) return 'failed';
  if (!item.mine) return 'received';
  if (item.seq === undefined) return 'sending';
  const conversation = thread?.conversation;
  const others = conversation ? conversation.members.filter((member) => member !== me) : thread?.peer ? [thread.peer] : [];
  const marks = lowestMarks(thread?.conversationId ?? '', others);
  if (marks.read >= item.seq) return 'read';
  if (marks.delivered >= item.seq || item.deliveredAck) return 'delivered';
  return 'sent';
}

function tick(item: Item): void {
  const status = statusOf(item);
  item.element.dataset.status = status;
}

export function refreshTicks(): void {
  for (const item of items.values()) if (item.mine) tick(item);
}

export function acked(messageId: string, conversationId: string, seq: number): void {
  const item = items.get(messageId);
  if (thread && !thread.conversationId && thread.peer) thread.conversationId = conversationId;
  if (item && thread?.conversationId === conversationId) {
    place(item, seq);
    if (!item.element.querySelector('.actions')) addActions(item.element, messageId, true);
  }
}

/** One of ours: the recipient's DELIVERED ack, or a send refused for good (`reason`). */
export function update(messageId: string, reason?: string): void {
  const item = items.get(messageId);
  if (!item) return;
  if (reason) item.element.title = reason;
  item[reason ? 'failed' : 'deliveredAck'] = true;
  tick(item);
}

/** The highest seq shown; reported as read while the page is visible. */
export function seen(): void {
  if (!thread?.conversationId || document.visibilityState !== 'visible') return;
  const top = highestSeq();
  if (top) onSeen(thread.conversationId, top);
}

export function highestSeq(): number {
  let top = 0;
  for (const item of items.values()) top = Math.max(top, item.seq ?? 0);
  return top;
}
