// Element lookups and small builders shared by the page's parts. Text goes in through textContent only:
// message bodies, titles and user ids are untrusted.

export const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, className = '', text?: string): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  if (className) element.className = className;
  if (text !== undefined) element.textContent = text;
  return element;
}

/** Time only for today's messages; the date too for older ones. */
export function when(ts: number, withSeconds = false): string {
  const date = new Date(ts);
  const time = date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', ...(withSeconds ? { second: '2-digit' } : {}) });
  if (date.toDateString() === new Date().toDateString()) return time;
  return `${date.toLocaleDateString([], { day: 'numeric', month: 'short', year: 'numeric' })} ${time}`;
}

export const ui = {
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
  newGroup: byId<HTMLDetailsElement>('new-group'),
  groupForm: byId<HTMLFormElement>('group-form'),
  groupTitle: byId<HTMLInputElement>('group-title'),
  groupMembers: byId<HTMLInputElement>('group-members'),
  conversations: byId<HTMLUListElement>('conversations'),
  title: byId<HTMLHeadingElement>('conversation-title'),
  typing: byId<HTMLSpanElement>('typing'),
  groupPanel: byId<HTMLDivElement>('group-panel'),
  members: byId<HTMLUListElement>('members'),
  addForm: byId<HTMLFormElement>('add-form'),
  addMember: byId<HTMLInputElement>('add-member'),
  leave: byId<HTMLButtonElement>('leave'),
  notice: byId<HTMLParagraphElement>('notice'),
  messages: byId<HTMLOListElement>('messages'),
  composer: byId<HTMLFormElement>('composer'),
  body: byId<HTMLInputElement>('body'),
  send: byId<HTMLButtonElement>('send'),
};

export function notice(text: string, kind: 'ok' | 'warn' = 'ok'): void {
  ui.notice.textContent = text;
  ui.notice.dataset.kind = kind;
}
