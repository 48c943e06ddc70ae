// What a client asks of the chat domain, already parsed and validated by protocol/ (WebSocket frames,
// HTTP bodies). Defined here, in the domain's terms, so that chat/ never imports protocol/.

/** A send names exactly one of `to` (v1: the direct conversation with that user) or `conversationId` (v1.1). */
export type SendInput =
  | { readonly messageId: string; readonly to: string; readonly conversationId?: undefined; readonly body: string }
  | { readonly messageId: string; readonly to?: undefined; readonly conversationId: string; readonly body: string };

/** v1.2: the author replaces a message's body; `editId` makes a retry do nothing twice. */
export interface EditInput {
  readonly messageId: string;
  readonly editId: string;
  readonly body: string;
}

/** v1.2: the author (or a group's owner) deletes a message. */
export interface DeleteInput {
  readonly messageId: string;
}

export type ClientCommand =
  | ({ readonly type: 'send' } & SendInput)
  | ({ readonly type: 'edit' } & EditInput)
  | ({ readonly type: 'delete' } & DeleteInput)
  | { readonly type: 'delivered'; readonly messageIds: readonly string[] }
  /** v1.1: this device has every message of the conversation up to seq. */
  | { readonly type: 'delivered_upto'; readonly conversationId: string; readonly seq: number }
  | { readonly type: 'read'; readonly conversationId: string; readonly seq: number }
  | { readonly type: 'typing'; readonly conversationId: string }
  | { readonly type: 'sync' };

export interface NewGroupInput {
  readonly title: string;
  readonly members: readonly string[];
}
