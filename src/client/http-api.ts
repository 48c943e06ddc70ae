// The HTTP side of the SDK: the conversation API (docs/protocol.md, "HTTP") at the http(s) twin of the
// WebSocket URL, with the client's credential (Bearer, or the browser's cookies). Calls that failed
// without an answer, or were refused as busy (429, 5xx), are tried again with backoff: every route the
// SDK calls is safe to repeat (group creation carries an Idempotency-Key that its retries reuse). A
// 401 renews the credential once, then tries again.
import { equalJitter, exponentialCeiling } from '../backoff.js';
import { ChatClientError } from './client-error.js';
import type { Session } from './session.js';
import type { ClientErrorCode } from './types.js';

const RETRY_STATUSES = new Set([429, 500, 502, 503, 504]);

export interface ApiRequest {
  readonly method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** From the API root, e.g. `/api/conversations`; path segments already encoded. */
  readonly path: string;
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
}

export class HttpApi {
  constructor(
    private readonly session: Session,
    /** Attempts per call (network errors, 429, 5xx). */
    private readonly attempts: number,
    private readonly retryBaseMs = 250,
  ) {}

  /** The answer's JSON body (undefined for 204); throws ChatClientError with the server's code and the status. */
  async call<T>(request: ApiRequest): Promise<T> {
    const fetch = this.session.fetch;
    if (!fetch) throw new ChatClientError('unavailable', 'No fetch here: pass { fetch } to connect()');
    let renewed = false;
    let lastError: ChatClientError | undefined;
    for (let attempt = 0; attempt < Math.max(1, this.attempts); attempt++) {
      if (attempt > 0) await sleep(equalJitter(exponentialCeiling(this.retryBaseMs, 5000, attempt - 1)));
      const auth = await this.session.requestAuth();
      const headers: Record<string, string> = { ...auth.headers, ...request.headers };
      if (request.body !== undefined) headers['content-type'] = 'application/json';
      let response: Awaited<ReturnType<typeof fetch>>;
      try {
        response = await fetch(this.session.httpUrl + request.path, {
          method: request.method,
          headers,
          ...(auth.credentials ? { credentials: auth.credentials } : {}),
          ...(request.body !== undefined ? { body: JSON.stringify(request.body) } : {}),
        });
      } catch (error) {
        lastError = new ChatClientError('unavailable', `${request.method} ${request.path} failed: ${(error as Error).message}`);
        continue;
      }
      if (response.status === 204) return undefined as T;
      const body = await response.json().catch(() => undefined);
      if (response.status >= 200 && response.status < 300) return body as T;
      const refusal = refusalOf(body, response.status);
      if (response.status === 401 && !renewed) {
        renewed = true;
        if ((await this.session.refresh()) === 'ok') {
          attempt--; // the renewal's retry is not a busy-server retry
          continue;
        }
      }
      if (!RETRY_STATUSES.has(response.status)) throw refusal;
      lastError = refusal;
    }
    throw lastError ?? new ChatClientError('unavailable', `${request.method} ${request.path} failed`);
  }
}

function refusalOf(body: unknown, status: number): ChatClientError {
  const error = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  const code = (typeof error?.code === 'string' ? error.code : status >= 500 ? 'unavailable' : 'bad_request') as ClientErrorCode;
  const message = typeof error?.message === 'string' ? error.message : `HTTP ${status}`;
  return new ChatClientError(code, message, undefined, status);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
