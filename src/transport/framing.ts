// Request framing, checked on every HTTP route and the WebSocket upgrade before any handler runs.
// uWS reads a body by the first Content-Length and decodes any Transfer-Encoding as chunked, then
// parses what follows as the next request on the connection. A proxy in front that reads the same
// bytes another way (the last Content-Length, `gzip` not chunked) forwards a different request than
// the one we answer: request smuggling. So a request whose length is ambiguous is answered 400 and the
// connection closed, whatever route it asked for (a route without a body is as exposed as one with).
//
// What uWS (this build) already refuses itself, closing the connection before any handler runs:
// Content-Length together with Transfer-Encoding, Transfer-Encoding `identity`, and a Content-Length
// that is not all digits (`1x`, `2, 2`, `+2`).
import type { HttpRequest, HttpResponse, TemplatedApp, WebSocketBehavior } from 'uWebSockets.js';
import { ChatError } from '../errors.js';
import type { ExchangeFactory } from './http.js';
import { interceptRoutes } from './intercept-routes.js';

/** Why the request's framing headers are refused, or undefined when they are sound. */
export function framingProblem(req: HttpRequest): string | undefined {
  // getHeader sees only the first of several headers with one name: the duplicates are the danger.
  let contentLength: string | undefined;
  let transferEncodings = 0;
  let problem: string | undefined;
  req.forEach((name, value) => {
    if (problem !== undefined) return;
    if (name === 'content-length') {
      if (!/^\d+$/.test(value)) problem = 'Content-Length must be a number';
      else if (contentLength !== undefined && value !== contentLength) problem = 'Conflicting Content-Length headers';
      contentLength = value;
    } else if (name === 'transfer-encoding') {
      // Only `chunked` alone is a framing uWS and every proxy agree on (names are case-insensitive).
      if (++transferEncodings > 1) problem = 'More than one Transfer-Encoding header';
      else if (value.trim().toLowerCase() !== 'chunked') problem = 'Transfer-Encoding other than chunked';
    }
  });
  if (problem === undefined && contentLength !== undefined && transferEncodings > 0) problem = 'Content-Length with Transfer-Encoding';
  return problem;
}

/** Answers a request refused for its framing. */
export type RefuseFraming = (res: HttpResponse, problem: string) => void;

/**
 * 400 bad_request and the connection closed, answered on the next turn of the event loop, not inside
 * the handler. Inside it uWS is still parsing what the client sent: it would go on to read the bytes
 * behind this request as the next one and answer that too, keeping the connection open despite our
 * `Connection: close` (the next request resets it). While this response is still pending, uWS closes
 * the connection at the next request instead, unanswered: a smuggled request is never served either way.
 */
export function answerBadFraming(exchangeFor: ExchangeFactory): RefuseFraming {
  return (res, problem) => {
    const exchange = exchangeFor(res, 'bad_framing'); // attaches onAborted: uWS lets the response wait
    setImmediate(() => exchange.error(new ChatError('bad_request', problem), {}, true));
  };
}

type Handler = (res: HttpResponse, req: HttpRequest) => void | Promise<void>;

/** The app, with every route registered through it behind the framing check: none can forget it. */
export function guardFraming(app: TemplatedApp, refuse: RefuseFraming): TemplatedApp {
  const guard =
    <Rest extends unknown[]>(handler: (res: HttpResponse, req: HttpRequest, ...rest: Rest) => void | Promise<void>) =>
    (res: HttpResponse, req: HttpRequest, ...rest: Rest) => {
      const problem = framingProblem(req);
      if (problem !== undefined) return refuse(res, problem);
      return handler(res, req, ...rest);
    };
  return interceptRoutes(app, (method, _pattern, handler) => {
    if (method !== 'ws') return guard(handler as Handler);
    // A refused upgrade is an ordinary HTTP answer on a connection that stays open: same danger.
    const behavior = handler as WebSocketBehavior<unknown>;
    return behavior.upgrade ? { ...behavior, upgrade: guard(behavior.upgrade) } : behavior;
  });
}
