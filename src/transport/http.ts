// HTTP helpers for uWS. The uWS discipline lives here: onAborted before any await, headers read before
// the first await (the request object dies with the callback), onData chunks copied, writes corked.
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import type { Metrics } from '../metrics/registry.js';
import { clientAddress, type ProxyTrust } from './proxy-trust.js';
import { ChatError, ERROR_CODES, type ErrorCode } from '../errors.js';

const STATUS_TEXT: Record<number, string> = {
  200: '200 OK', 201: '201 Created', 204: '204 No Content', 400: '400 Bad Request', 401: '401 Unauthorized',
  403: '403 Forbidden', 404: '404 Not Found', 405: '405 Method Not Allowed', 408: '408 Request Timeout',
  409: '409 Conflict', 413: '413 Payload Too Large', 415: '415 Unsupported Media Type', 426: '426 Upgrade Required', 429: '429 Too Many Requests',
  500: '500 Internal Server Error', 503: '503 Service Unavailable',
};

/** A header given as an array is written once per value (two Set-Cookie lines, say). */
export type Headers = Readonly<Record<string, string | readonly string[]>>;

/** Makes an Exchange for a route; `head`: the request was HEAD (answers carry headers only). */
export type ExchangeFactory = (res: HttpResponse, route: string, head?: boolean) => Exchange;

/**
 * GET and HEAD on one pattern: RFC 9110 has a general-purpose server answer HEAD wherever it answers
 * GET (uptime checkers send it), with the same status and headers and no body (Exchange's `head`).
 */
export function getAndHead(app: TemplatedApp, pattern: string, handler: (res: HttpResponse, req: HttpRequest, head: boolean) => void): void {
  app.get(pattern, (res, req) => handler(res, req, false));
  app.head(pattern, (res, req) => handler(res, req, true));
}

/** Registers a JSON API route's handler for its method; a GET answers HEAD too (getAndHead). */
export function onRoute(app: TemplatedApp, method: 'get' | 'post' | 'patch' | 'del', pattern: string, handler: (res: HttpResponse, req: HttpRequest, head: boolean) => void): void {
  if (method === 'get') getAndHead(app, pattern, handler);
  else app[method](pattern, (res, req) => handler(res, req, false));
}

/**
 * Makes Exchanges that count every status they write in chat_http_requests_total{route,status}, and
 * the connections they close for pipelining without reading in chat_http_unread_closes_total.
 */
export function countingExchanges(metrics: Metrics): ExchangeFactory {
  const countUnreadClose = () => metrics.httpUnreadCloses.inc();
  // HotCounter.cell keeps the bound cell per (route, status): the per-request cost is a lookup and an increment.
  return (res, route, head = false) => new Exchange(res, (status) => metrics.httpRequests.cell(route, String(status)).value++, head, countUnreadClose);
}

/**
 * One HTTP exchange: tracks whether the client went away so nothing is written to a dead response.
 *
 * Every answer's body goes out with tryEnd, never `end`: `end` hands uWS whatever the socket cannot take,
 * and uWS keeps parsing and answering pipelined requests, so a client that sent 100 000 `GET /healthz`
 * and read nothing had every answer kept in the server's memory (no login needed). A client that waits
 * for each answer has nothing of ours left unsent when its next request comes (it read the last answer
 * to the end first): an answer of which not one byte goes out means answers are piling up unread, and
 * the connection is closed. Part of one going out is a slow reader: the rest follows as it reads, the
 * response stays pending meanwhile, and uWS closes a connection that sends another request before
 * reading it (it never keeps two pending responses, so their one onWritable per socket is never shared).
 * What one connection can make the server hold: the kernel's socket buffers, uWS's 16 KiB cork buffer,
 * one answer's headers, and the answer being written. Not answers without a body (HEAD, 204, an empty
 * body): this uWS build's tryEnd skips the write of an empty chunk, so nothing tells whether earlier
 * answers are still waiting, and their headers pile up like before (docs/reliability.md, "What uWS …").
 */
export class Exchange {
  aborted = false;
  done = false;
  private onAbortHandlers: (() => void)[] = [];

  /**
   * `onStatus` sees every status written (the HTTP requests metric). `head`: answer a HEAD request,
   * headers and Content-Length only; a body would be read by a keep-alive client as the next response.
   * `onUnreadClose`: the connection was closed for pipelining without reading (see above).
   */
  constructor(
    readonly res: HttpResponse,
    private readonly onStatus?: (status: number) => void,
    private readonly head = false,
    private readonly onUnreadClose?: () => void,
  ) {
    res.onAborted(() => {
      this.aborted = true;
      for (const handler of this.onAbortHandlers) handler();
    });
  }

  onAbort(handler: () => void): void {
    this.onAbortHandlers.push(handler);
  }

  /** Writes a whole response, corked; a no-op if the client went away or a response was already written. */
  respond(status: number, body: string, headers: Headers = {}, closeConnection = false): void {
    if (this.aborted || this.done) return;
    this.done = true;
    this.onStatus?.(status);
    this.res.cork(() => {
      this.res.writeStatus(STATUS_TEXT[status] ?? `${status} Unknown`);
      for (const key in headers) {
        const value = headers[key]!;
        if (typeof value === 'string') this.res.writeHeader(key, value);
        else for (const line of value) this.res.writeHeader(key, line);
      }
      // One answer, then the connection closes: bounded, and uWS must write it all before closing.
      if (closeConnection) this.res.end(this.head ? '' : body, true);
      else if (!this.head) this.send(body);
      else {
        // The GET's length, no body. Not endWithoutBody(length): in this uWS build that leaves the
        // response pending (waiting for `length` bytes), and the connection's next request then kills it.
        this.res.writeHeader('content-length', String(Buffer.byteLength(body)));
        this.res.endWithoutBody();
      }
    });
  }

  /**
   * Writes what the socket takes now and the rest as the client reads it; closes the connection when
   * not one byte goes out (earlier answers still unread: see the class comment).
   */
  private send(body: string): void {
    const start = this.res.getWriteOffset();
    const size = Buffer.byteLength(body);
    const [, done] = this.res.tryEnd(body, size);
    if (done) return;
    if (this.res.getWriteOffset() === start) {
      this.onUnreadClose?.();
      this.res.close();
      return;
    }
    // Only a slow reader's answer is copied to bytes, to go on from the offset the socket reached.
    const data = Buffer.from(body);
    this.res.onWritable((offset) => {
      if (this.aborted) return true;
      const [ok] = this.res.tryEnd(data.subarray(offset - start), data.length);
      return ok;
    });
  }

  json(status: number, value: unknown, headers: Headers = {}): void {
    this.respond(status, JSON.stringify(value), { ...headers, 'content-type': 'application/json' });
  }

  /** `closeConnection`: by default after an error whose request body may still be arriving (413, 408). */
  error(error: ChatError, headers: Headers = {}, closeConnection = error.status === 413 || error.status === 408): void {
    const extra: Record<string, string | readonly string[]> = { ...headers };
    if (error.retryAfterSec !== undefined) extra['retry-after'] = String(error.retryAfterSec);
    // retryAfter in the body too (since 2026-12-07), as in the WebSocket's error frames.
    const retry = error.retryAfterSec !== undefined ? { retryAfter: error.retryAfterSec } : {};
    const users = error.users !== undefined ? { users: error.users } : {};
    const body = { error: { code: error.code, message: error.message, ...(error.messageId ? { messageId: error.messageId } : {}), ...retry, ...users } };
    this.respond(error.status, JSON.stringify(body), { ...extra, 'content-type': 'application/json' }, closeConnection);
  }

  errorCode(code: ErrorCode, headers: Headers = {}, message?: string): void {
    this.error(new ChatError(code, message ?? ERROR_CODES[code].message), headers);
  }
}

/** A body's deadlines: in all (HTTP_BODY_TIMEOUT_MS), and without a byte (HTTP_BODY_STALL_MS). */
export interface BodyTimeouts {
  readonly httpBodyTimeoutMs: number;
  readonly httpBodyStallMs: number;
}

/**
 * Reads a request body up to `maxBytes`, refusing early on a declared Content-Length over the limit
 * and never buffering past it; rejects with too_large, timeout (in all, or stalled), or when the
 * client aborts.
 */
export function readBody(exchange: Exchange, declaredLength: string, maxBytes: number, timeouts: BodyTimeouts): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (declaredLength !== '' && !(Number(declaredLength) <= maxBytes)) {
      reject(new ChatError('too_large', `Request body exceeds ${maxBytes} bytes`));
      return;
    }
    let chunks: Buffer[] | undefined;
    let size = 0;
    const started = Date.now();
    const read: PendingRead = {
      deadline: started + timeouts.httpBodyTimeoutMs,
      stallDeadline: started + timeouts.httpBodyStallMs,
      finish(error, body) {
        if (read.done) return;
        read.done = true;
        bodyDeadlines.delete(read);
        if (error) reject(error);
        else resolve(body!);
      },
      done: false,
    };
    bodyDeadlines.add(read);
    exchange.onAbort(() => read.finish(new Error('aborted')));
    exchange.res.onData((chunk, isLast) => {
      if (read.done) return;
      if (!isLast) read.stallDeadline = Date.now() + timeouts.httpBodyStallMs; // (a last chunk ends the read: no clock read)
      size += chunk.byteLength;
      if (size > maxBytes) {
        read.finish(new ChatError('too_large', `Request body exceeds ${maxBytes} bytes`));
        return;
      }
      // uWS reuses the chunk's memory after this callback returns: copy it (once).
      const copy = Buffer.from(chunk.slice(0));
      if (isLast && chunks === undefined) return read.finish(undefined, copy);
      (chunks ??= []).push(copy);
      if (isLast) read.finish(undefined, Buffer.concat(chunks, size));
    });
  });
}

interface PendingRead {
  readonly deadline: number;
  /** Moved on by every chunk: a body that stalls is answered before uWS's idle close, which answers nothing. */
  stallDeadline: number;
  done: boolean;
  finish(error: Error | undefined, body?: Buffer): void;
}

/**
 * Body timeouts without a timer per request: one coarse sweep (every 250 ms) over the reads in
 * progress, armed only while there are any. A timer per POST showed up in the send path's profile.
 */
class BodyDeadlines {
  private readonly reads = new Set<PendingRead>();
  private timer: NodeJS.Timeout | undefined;

  add(read: PendingRead): void {
    this.reads.add(read);
    this.timer ??= setInterval(() => this.sweep(), 250).unref();
  }

  delete(read: PendingRead): void {
    this.reads.delete(read);
  }

  private sweep(): void {
    const now = Date.now();
    for (const read of this.reads) if (read.deadline <= now || read.stallDeadline <= now) read.finish(new ChatError('timeout'));
    if (this.reads.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}

const bodyDeadlines = new BodyDeadlines();

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * A request body as text, refusing (400) bytes that are not valid UTF-8. A lenient decode turns each
 * invalid sequence into U+FFFD: a message would not come back as sent, and different passwords
 * (8 × 0xFF, 8 × 0xFE, "\ufffd" × 8) would hash the same.
 */
export function decodeUtf8Body(raw: Buffer): string {
  try {
    return utf8.decode(raw);
  } catch {
    throw new ChatError('bad_request', 'Body is not valid UTF-8');
  }
}

/**
 * Why a request body will not be read as JSON, or undefined when it will: its Content-Type must be
 * `application/json` (parameters allowed, charset=utf-8), and it must not be compressed. A gzip body
 * read as it is would be answered "malformed JSON" and send its client looking in the wrong place.
 */
export function jsonBodyRefusal(contentType: string, contentEncoding: string): ChatError | undefined {
  if (!/^application\/json\s*(;|$)/i.test(contentType)) return new ChatError('unsupported_media_type');
  if (contentEncoding !== '' && !/^\s*identity\s*$/i.test(contentEncoding)) {
    return new ChatError('unsupported_media_type', 'Content-Encoding is not supported: send the body uncompressed');
  }
  return undefined;
}

/**
 * Request headers a handler needs, read synchronously before the request object is gone. A header
 * that was not sent is left out; one that was sent empty is '' (so is one of only non-ASCII bytes:
 * uWS drops those from a value). getHeader alone answers '' for both, and a client that sent a bad
 * Idempotency-Key must be told so, not served as if it sent none.
 */
export function readHeaders(req: HttpRequest, names: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  let sentEmpty: Set<string> | undefined;
  for (const name of names) {
    const value = req.getHeader(name);
    if (value !== '') {
      out[name] = value;
      continue;
    }
    if (sentEmpty === undefined) {
      sentEmpty = new Set();
      req.forEach((key, sent) => {
        if (sent === '') sentEmpty!.add(key);
      });
    }
    if (sentEmpty.has(name)) out[name] = '';
  }
  return out;
}

/**
 * A query parameter: undefined when the URL does not name it, '' when it names it empty (`?device=`,
 * `?device`). uWS's getQuery(name) answers '' for both, and an empty device id taken as "no device"
 * would put a client on the shared v1 device without a word.
 */
export function queryParam(req: HttpRequest, name: string): string | undefined {
  const value = req.getQuery(name);
  if (value) return value;
  const raw = req.getQuery() ?? '';
  if (raw === '') return undefined;
  for (const pair of raw.split('&')) if (pair === name || pair.startsWith(`${name}=`)) return '';
  return undefined;
}

/**
 * The first of `names` that the raw query string names more than once (`?device=a&device=b`), if any.
 * Which of two values counts would be a guess, and a proxy or cache in front may guess the other one.
 */
export function repeatedQueryName(rawQuery: string, names: readonly string[]): string | undefined {
  if (rawQuery === '') return undefined;
  const query = new URLSearchParams(rawQuery); // names decoded, as the HTTP routes read them
  return names.find((name) => query.getAll(name).length > 1);
}

/** The client address per-address limits key on (src/transport/proxy-trust.ts); read before any await. */
export function remoteAddress(res: HttpResponse, req: HttpRequest, trustProxy: ProxyTrust): string {
  const forwardedFor: string[] = [];
  // Every X-Forwarded-For line (getHeader gives only the first), only when some peer may be believed.
  if (trustProxy !== false) req.forEach((name, value) => name === 'x-forwarded-for' && forwardedFor.push(value));
  return clientAddress(Buffer.from(res.getRemoteAddressAsText()).toString(), forwardedFor, trustProxy);
}
