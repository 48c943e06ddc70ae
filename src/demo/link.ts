// The page's socket while the SDK (src/client/) learns protocol v1.1 on branch conv-sdk: the same
// shape as its announced API (connect({url, device}), send({conversationId}|{to}, body), markRead,
// typing, events message/receipt/typing/conversation/delivered/ready/state), so switching is an
// import. What it keeps of the SDK's promises: sends retried with the same messageId on every new
// socket until their SENT ack, repeats dropped by messageId, confirmations batched per tick, read
// marks coalesced (the latest wins) and sent again after a reconnect.

export type Target = { readonly conversationId: string } | { readonly to: string };
export type LinkState = 'connecting' | 'open' | 'ready' | 'reconnecting' | 'offline' | 'closed';

export interface LinkMessage {
  readonly messageId: string;
  readonly conversationId: string;
  readonly seq: number;
  readonly from: string;
  readonly to?: string;
  readonly body: string;
  readonly ts: number;
}
export interface LinkAck {
  readonly messageId: string;
  readonly conversationId: string;
  readonly seq: number;
  readonly ts: number;
}
export interface LinkReceipt {
  readonly conversationId: string;
  readonly userId: string;
  readonly deliveredSeq?: number;
  readonly readSeq?: number;
}
export interface LinkEvents {
  message: LinkMessage;
  delivered: { readonly messageId: string };
  receipt: LinkReceipt;
  typing: { readonly conversationId: string; readonly userId: string };
  conversation: { readonly event: string; readonly conversation: { readonly conversationId: string } };
  ready: { readonly replayed: number };
  state: LinkState;
  error: { readonly code: string; readonly message: string; readonly messageId?: string };
}

interface Pending {
  readonly frame: string;
  resolve(ack: LinkAck): void;
  reject(error: Error): void;
}

const SEEN_MAX = 5000;

export class ChatLink {
  state: LinkState = 'connecting';
  private socket: WebSocket | undefined;
  private closed = false;
  private attempt = 0;
  private readonly listeners = new Map<keyof LinkEvents, Set<(event: never) => void>>();
  private readonly outbox = new Map<string, Pending>();
  private readonly seen = new Set<string>();
  private readonly toConfirm: string[] = [];
  private readonly reads = new Map<string, { seq: number; sent: boolean }>();
  private flushQueued = false;

  constructor(private readonly url: string) {
    addEventListener('offline', () => this.socket?.close());
    addEventListener('online', () => this.state === 'offline' && this.open());
    queueMicrotask(() => this.open());
  }

  on<K extends keyof LinkEvents>(type: K, listener: (event: LinkEvents[K]) => void): () => void {
    let set = this.listeners.get(type);
    if (!set) this.listeners.set(type, (set = new Set()));
    set.add(listener as (event: never) => void);
    return () => set.delete(listener as (event: never) => void);
  }

  /** Resolves once the server stored the message (SENT); retried with the same id until then. */
  send(target: Target, body: string, options: { messageId: string }): Promise<LinkAck> {
    const frame = JSON.stringify({ type: 'send', messageId: options.messageId, ...target, body });
    return new Promise((resolve, reject) => {
      this.outbox.set(options.messageId, { frame, resolve, reject });
      this.write(frame);
    });
  }

  /** The user has read up to `seq`; coalesced, never backwards, sent again after a reconnect. */
  markRead(conversationId: string, seq: number): void {
    const mark = this.reads.get(conversationId);
    if (mark && mark.seq >= seq) return;
    this.reads.set(conversationId, { seq, sent: false });
    this.schedule();
  }

  typing(conversationId: string): void {
    if (this.state === 'ready') this.write(JSON.stringify({ type: 'typing', conversationId }));
  }

  close(): void {
    this.closed = true;
    this.socket?.close();
    this.setState('closed');
    for (const pending of this.outbox.values()) pending.reject(new Error('closed'));
    this.outbox.clear();
  }

  private emit<K extends keyof LinkEvents>(type: K, event: LinkEvents[K]): void {
    for (const listener of this.listeners.get(type) ?? []) (listener as (event: LinkEvents[K]) => void)(event);
  }

  private setState(state: LinkState): void {
    if (state === this.state) return;
    this.state = state;
    this.emit('state', state);
  }

  private open(): void {
    if (this.closed) return;
    if (!navigator.onLine) return this.setState('offline');
    this.setState(this.attempt === 0 ? 'connecting' : 'reconnecting');
    const socket = new WebSocket(this.url);
    this.socket = socket;
    socket.onopen = () => {
      this.attempt = 0;
      this.setState('open');
      for (const pending of this.outbox.values()) this.write(pending.frame);
      for (const mark of this.reads.values()) mark.sent = false;
      this.schedule();
    };
    socket.onmessage = (event) => this.route(JSON.parse(String(event.data)) as Record<string, unknown>);
    socket.onclose = () => {
      if (this.socket !== socket || this.closed) return;
      this.socket = undefined;
      if (!navigator.onLine) return this.setState('offline');
      this.setState('reconnecting');
      const delay = Math.min(250 * 2 ** this.attempt++, 10_000) * (0.5 + Math.random() / 2);
      setTimeout(() => this.open(), delay);
    };
  }

  private write(frame: string): void {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(frame);
  }

  private schedule(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    setTimeout(() => {
      this.flushQueued = false;
      if (this.socket?.readyState !== WebSocket.OPEN) return;
      if (this.toConfirm.length) this.write(JSON.stringify({ type: 'delivered', messageIds: this.toConfirm.splice(0, 1000) }));
      for (const [conversationId, mark] of this.reads) {
        if (!mark.sent) this.write(JSON.stringify({ type: 'read', conversationId, seq: mark.seq }));
        mark.sent = true;
      }
    }, 20);
  }

  private route(frame: Record<string, unknown>): void {
    switch (frame.type) {
      case 'ack': {
        const messageId = String(frame.messageId);
        if (frame.status === 'DELIVERED') return this.emit('delivered', { messageId });
        const pending = this.outbox.get(messageId);
        this.outbox.delete(messageId);
        pending?.resolve(frame as unknown as LinkAck);
        return;
      }
      case 'message': {
        const message = frame as unknown as LinkMessage;
        this.toConfirm.push(message.messageId);
        this.schedule();
        if (this.seen.has(message.messageId)) return;
        this.seen.add(message.messageId);
        if (this.seen.size > SEEN_MAX) this.seen.delete(this.seen.values().next().value!);
        return this.emit('message', message);
      }
      case 'receipt':
        return this.emit('receipt', frame as unknown as LinkReceipt);
      case 'typing':
        return this.emit('typing', frame as unknown as LinkEvents['typing']);
      case 'conversation':
        return this.emit('conversation', frame as unknown as LinkEvents['conversation']);
      case 'ready':
        this.setState('ready');
        return this.emit('ready', { replayed: Number(frame.replayed) || 0 });
      case 'error': {
        const error = frame as unknown as LinkEvents['error'];
        const pending = error.messageId ? this.outbox.get(error.messageId) : undefined;
        const retry = error.code === 'rate_limited' || error.code === 'unavailable' || error.code === 'internal';
        if (pending && !retry) {
          this.outbox.delete(error.messageId!);
          pending.reject(new Error(error.message));
        } else if (pending) {
          setTimeout(() => this.outbox.has(error.messageId!) && this.write(pending.frame), 1000 * (Number(frame.retryAfter) || 1));
        }
        return this.emit('error', error);
      }
    }
  }
}

export function connect(options: { url: string; device: string }): ChatLink {
  const url = new URL(options.url);
  url.searchParams.set('device', options.device);
  return new ChatLink(url.toString());
}

export function newMessageId(): string {
  return crypto.randomUUID().replaceAll('-', '');
}
