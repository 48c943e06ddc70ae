// The conversation list: fetched from the API (so it survives a reload), kept current from live
// messages and receipts between fetches, most recent activity first, direct chats and groups together.
import type { ConversationsApi } from '../client/index.js';
import type { Conversation } from './api.js';
import { el, ui, when } from './dom.js';

let me = '';
let sdk: ConversationsApi;
let conversations: Conversation[] = [];
let openId: string | undefined;
let onOpen: (conversation: Conversation) => void = () => undefined;

export function initList(userId: string, api: ConversationsApi, open: (conversation: Conversation) => void): void {
  me = userId;
  sdk = api;
  onOpen = open;
  conversations = [];
  openId = undefined;
  ui.conversations.replaceChildren();
}

export const findConversation = (id: string) => conversations.find((c) => c.conversationId === id);
export const findDirect = (peer: string) => conversations.find((c) => c.kind === 'direct' && c.peer === peer);
export const titleOf = (c: Conversation) => (c.kind === 'direct' ? (c.peer ?? '') : (c.title ?? 'group'));

/** The 100 most recently active conversations (a demo shows no more). */
const listAll = async () => (await sdk.list({ limit: 100 })).conversations as Conversation[];

let reloading: Promise<void> | undefined;
let again = false;

/** Fetches the list; calls during a fetch coalesce into one more fetch after it (a replay of 500 messages is two fetches). */
export function reloadList(): Promise<void> {
  if (reloading) {
    again = true;
    return reloading;
  }
  reloading = (async () => {
    do {
      again = false;
      conversations = await listAll();
      renderList();
    } while (again);
  })().finally(() => (reloading = undefined));
  return reloading;
}

/** Left or removed: gone from the list without asking the server (which would answer 404). */
export function dropConversation(id: string): void {
  conversations = conversations.filter((c) => c.conversationId !== id);
  renderList();
}

export function setOpen(id: string | undefined): void {
  openId = id;
  if (id) sessionStorage.setItem('demo.open', id); // a reload of this tab reopens it
  const open = id && findConversation(id);
  if (open) open.unread = 0;
  renderList();
}

/** A live message: the preview, the order and the unread badge move without a fetch. */
export function messageArrived(m: { conversationId: string; seq: number; messageId: string; from: string; body: string; ts: number }, readNow: boolean): boolean {
  const c = findConversation(m.conversationId);
  if (!c) return false;
  const counted = m.seq <= c.lastSeq; // replayed, and already in the fetched unread count
  if (!counted) {
    c.lastSeq = m.seq;
    c.lastMessage = { messageId: m.messageId, from: m.from, body: m.body, ts: m.ts, seq: m.seq };
  }
  if (readNow) c.readSeq = Math.max(c.readSeq, m.seq);
  else if (!counted && m.from !== me && m.seq > c.readSeq) c.unread = Math.min(999, c.unread + 1);
  renderList();
  return true;
}

/** The user read up to `seq` (on this device or another): the badge clears when that is everything. */
export function readUpTo(id: string, seq: number): void {
  const c = findConversation(id);
  if (!c || seq <= c.readSeq) return;
  c.readSeq = seq;
  if (seq >= c.lastSeq) {
    c.unread = 0;
    renderList();
  } else void reloadList(); // read part of it elsewhere: the server counts what is left
}

const activity = (c: Conversation) => c.lastMessage?.ts ?? c.createdAt;

export function renderList(): void {
  conversations.sort((a, b) => activity(b) - activity(a));
  ui.conversations.replaceChildren(
    ...conversations.map((c) => {
      const button = el('button');
      button.dataset.conversationId = c.conversationId;
      button.dataset.kind = c.kind; // a group is labelled by the style sheet
      if (c.peer) button.dataset.peer = c.peer;
      button.setAttribute('aria-current', String(c.conversationId === openId));
      const last = c.lastMessage;
      button.append(
        el('span', 'name', titleOf(c)),
        el('time', '', last ? when(last.ts) : ''),
        el('span', 'preview', last ? `${last.from === me ? 'You' : last.from}: ${last.deleted ? 'message deleted' : last.body}` : 'No messages yet'),
      );
      if (c.unread > 0) button.append(el('span', 'unread', c.unread >= 999 ? '999+' : String(c.unread)));
      button.addEventListener('click', () => onOpen(c));
      const li = el('li');
      li.append(button);
      return li;
    }),
  );
}
