// Element lookups and small builders shared by the page's parts. Text goes in through textContent only:
// message bodies, titles and user ids are untrusted.

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, className = '', text?: string): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  if (className) element.className = className;
  if (text !== undefined) element.textContent = text;
  return element;
}

/** Time only for today's messages; the date too for older ones. */
export function when(ts: number): string {
  const date = new Date(ts);
  const today = date.toDateString() === new Date().toDateString();
  return today ? date.toLocaleTimeString([], { timeStyle: 'short' }) : date.toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
}

/** The page's elements by id: `ui.authForm` is #auth-form (looked up once, on first use). */
export const ui = new Proxy({} as Record<string, HTMLElement>, {
  get: (found, key: string) => (found[key] ??= document.getElementById(key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`))!),
}) as unknown as {
  readonly connection: HTMLSpanElement;
  readonly whoami: HTMLSpanElement;
  readonly logout: HTMLButtonElement;
  readonly auth: HTMLElement;
  readonly authForm: HTMLFormElement;
  readonly username: HTMLInputElement;
  readonly password: HTMLInputElement;
  readonly register: HTMLButtonElement;
  readonly authError: HTMLParagraphElement;
  readonly chat: HTMLElement;
  readonly peerForm: HTMLFormElement;
  readonly peer: HTMLInputElement;
  readonly newGroup: HTMLDetailsElement;
  readonly groupForm: HTMLFormElement;
  readonly groupTitle: HTMLInputElement;
  readonly groupMembers: HTMLInputElement;
  readonly conversations: HTMLUListElement;
  readonly conversationTitle: HTMLHeadingElement;
  readonly typing: HTMLSpanElement;
  readonly groupPanel: HTMLDivElement;
  readonly members: HTMLUListElement;
  readonly addForm: HTMLFormElement;
  readonly addMember: HTMLInputElement;
  readonly leave: HTMLButtonElement;
  readonly notice: HTMLParagraphElement;
  readonly messages: HTMLOListElement;
  readonly composer: HTMLFormElement;
  readonly body: HTMLInputElement;
  readonly send: HTMLButtonElement;
};

export function notice(text: string, kind: 'ok' | 'warn' = 'ok'): void {
  ui.notice.textContent = text;
  ui.notice.dataset.kind = kind;
}
