// What a client asks of the chat domain, already parsed and validated by protocol/ (WebSocket frames,
// HTTP bodies). Defined here, in the domain's terms, so that chat/ never imports protocol/.

export interface SendInput {
  readonly messageId: string;
  readonly to: string;
  readonly body: string;
}

export type ClientCommand =
  | ({ readonly type: 'send' } & SendInput)
  | { readonly type: 'delivered'; readonly messageIds: readonly string[] }
  | { readonly type: 'sync' };
