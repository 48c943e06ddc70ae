// One POST to the webhook: global fetch, a timeout, and the server's shutdown signal. A 2xx is
// success; anything else (another status, a timeout, a network error) is a failure to retry.
import { SIGNATURE_HEADER, signatureHeader } from './signature.js';
import type { PushPayload } from './notification.js';

export type PostResult = { readonly ok: true } | { readonly ok: false; readonly reason: 'status' | 'timeout' | 'network' | 'aborted'; readonly status?: number };

export interface WebhookTarget {
  readonly url: string;
  readonly secret: string;
  readonly timeoutMs: number;
}

export async function postPush(target: WebhookTarget, payload: PushPayload, closing: AbortSignal, fetchImpl: typeof fetch = fetch): Promise<PostResult> {
  const body = JSON.stringify(payload);
  const timeout = AbortSignal.timeout(target.timeoutMs);
  try {
    const response = await fetchImpl(target.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signatureHeader(target.secret, body, Math.floor(Date.now() / 1000)) },
      body,
      signal: AbortSignal.any([timeout, closing]),
      redirect: 'manual',
    });
    // The body is not needed and is never read: a receiver answering 200 with 500 MB would otherwise be
    // buffered whole. Cancelling it costs the connection's reuse, not memory.
    await response.body?.cancel().catch(() => {});
    return response.status >= 200 && response.status < 300 ? { ok: true } : { ok: false, reason: 'status', status: response.status };
  } catch {
    if (closing.aborted) return { ok: false, reason: 'aborted' };
    return { ok: false, reason: timeout.aborted ? 'timeout' : 'network' };
  }
}
