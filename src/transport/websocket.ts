// The WebSocket door: authenticated upgrade at WS_PATH, then frames in → protocol.parse → chat services.
import type { HttpRequest, HttpResponse, us_socket_context_t, WebSocket, WebSocketBehavior } from 'uWebSockets.js';
import type { JwtVerifier } from '../auth/jwt.js';
import type { AccessList } from '../auth/access-list.js';
import { authenticate, rejectionError } from '../auth/credentials.js';
import type { Chat } from '../chat/create-chat.js';
import { RateLimiter } from '../chat/rate-limit.js';
import { DEVICE_ID_PATTERN } from '../protocol/ids.js';
import { DEFAULT_DEVICE } from '../store/store.js';
import type { Config } from '../config.js';
import { ChatError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';
import { parseClientFrame, type FrameLimits } from '../protocol/frames.js';
import { CLOSE_BANNED, CLOSE_GOING_AWAY, CLOSE_MESSAGE_TOO_BIG, CLOSE_POLICY_VIOLATION, CLOSE_SLOW_CONSUMER, CLOSE_TOKEN_EXPIRED, SocketConnection, uwsBackpressureLimit, type ConnectionHooks, type SocketData } from './connection.js';
import type { CorsPolicy } from './cors.js';
import { FloodGuard } from './flood-guard.js';
import { FrameBudget } from './frame-budget.js';
import { Exchange, queryParam, remoteAddress, repeatedQueryName } from './http.js';

export interface WebSocketDeps {
  readonly config: Config;
  readonly verifier: JwtVerifier;
  readonly cors: CorsPolicy;
  readonly chat: Chat;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly isShuttingDown: () => boolean;
  /** Bans and revocations: a change closes the user's sockets here whose token it now refuses. */
  readonly access: AccessList;
}

/**
 * Text frames to strings. Straight from uWS's ArrayBuffer, without a Buffer object around it per frame
 * (as `Buffer.from(message).toString()` made); a BOM is kept, as Buffer kept it (and JSON.parse refuses it).
 */
const frameText = new TextDecoder('utf-8', { ignoreBOM: true });
/** Users whose connect and frame buckets are kept; an evicted one only means a full burst again. */
const CONNECT_LIMITER_USERS = 100_000;

export function createWebSocketBehavior(deps: WebSocketDeps): WebSocketBehavior<SocketData> {
  const { config, metrics, log } = deps;
  const limits: FrameLimits = config.limits;
  const connectionsPerIp = new Map<string, number>();
  let connections = 0;

  const countFrameIn = (type: string) => metrics.framesIn.incOne(type);
  const floodGuard = new FloodGuard({
    closeAfter: config.limits.rateLimitedCloseAfter,
    cooldownSec: config.limits.rateLimitedCooldownSec,
    maxUsers: config.limits.maxConnections,
  });
  const hooks: ConnectionHooks = {
    maxBackpressureBytes: config.limits.maxBackpressureBytes,
    // A joined frame's UTF-8 is at most 3 bytes per UTF-16 unit: never larger than the largest single frame.
    maxBatchChars: Math.floor(maxServerFrameBytes(config.limits.maxMessageBytes) / 3),
    onSlowConsumer(connection) {
      metrics.backpressureCloses.inc();
      log.info({ userId: connection.userId, connectionId: connection.id }, 'slow consumer closed (1013); its messages stay pending');
      connection.end(CLOSE_SLOW_CONSUMER, 'slow consumer');
    },
    onFrameOut(type) {
      metrics.framesOut.incOne(type);
    },
    onError(connection, error) {
      // A frame naming a conversation or message the user may not see or touch is useless work too, and
      // each cost a store read: a non-member's watermarks into a 1,000-member group, within the
      // confirmation rate, read its member list every time and stalled everyone's sends on MongoDB.
      if (error.code === 'not_found' || error.code === 'forbidden') frameBudgets.chargeInvalid(connection.frameBudget, 0);
      if (error.code !== 'rate_limited' || !floodGuard.refused(connection.refusals, connection.userId)) return;
      metrics.floodCloses.inc();
      log.info({ userId: connection.userId, connectionId: connection.id }, 'connection kept sending past its rate limits; closed (1008)');
      connection.end(CLOSE_POLICY_VIOLATION, 'rate limit exceeded');
    },
  };

  const reject = (exchange: Exchange, reason: string, code: Parameters<Exchange['errorCode']>[0] | ChatError) => {
    metrics.upgradesRejected.inc({ reason });
    log.debug({ reason }, 'upgrade rejected');
    if (code instanceof ChatError) exchange.error(code); // Retry-After from its retryAfterSec
    else exchange.errorCode(code);
  };

  const connectLimiter = new RateLimiter(config.limits.connectRatePerSec, config.limits.connectBurst, CONNECT_LIMITER_USERS);
  const frameBudgets = new FrameBudget(config.limits.invalidFramesPerSec, config.limits.invalidFramesBurst, CONNECT_LIMITER_USERS);

  // The open connections of each user here, for bans and revocations (which the chat domain does not know of).
  const byUser = new Map<string, Set<SocketConnection>>();
  deps.access.onChange(({ userId }) => {
    for (const connection of byUser.get(userId) ?? []) {
      const refusal = deps.access.refusal(userId, connection.principal.iat);
      if (refusal === undefined) continue;
      log.info({ userId, connectionId: connection.id, reason: refusal }, refusal === 'banned' ? 'banned user: connection closed (4003)' : 'token revoked: connection closed (4001)');
      if (refusal === 'banned') connection.end(CLOSE_BANNED, 'banned');
      else connection.end(CLOSE_TOKEN_EXPIRED, 'token revoked');
    }
  });

  // A connection slot is taken at upgrade time (`open` runs inside res.upgrade and inherits it), so a
  // burst of concurrent upgrades cannot overshoot the limits; `close` gives it back.
  const reserve = (ip: string) => {
    connections++;
    connectionsPerIp.set(ip, (connectionsPerIp.get(ip) ?? 0) + 1);
  };
  const release = (ip: string) => {
    connections--;
    const left = (connectionsPerIp.get(ip) ?? 1) - 1;
    if (left <= 0) connectionsPerIp.delete(ip);
    else connectionsPerIp.set(ip, left);
  };

  // Everything here is synchronous, so the upgrade completes inside uWS's upgrade callback. Completing
  // it later (after an await) hits a uWS bug that can close the new socket right after `open` (see
  // src/auth/jwt.ts); the JWT check is one HMAC, and a cached token not even that.
  const upgrade = (res: HttpResponse, req: HttpRequest, context: us_socket_context_t) => {
    const origin = req.getHeader('origin');
    const authorization = req.getHeader('authorization');
    const cookie = req.getHeader('cookie');
    const exchange = new Exchange(res);
    const ip = remoteAddress(res, req, config.trustProxy);
    // The device (v1.1): read here, while the request is valid (uWS frees it when this callback returns).
    const device = queryParam(req, 'device');
    // v1.2: `?events=1` asks for edit and delete events (message_event frames); without it they are
    // confirmed for the device instead of sent, so a v1 or v1.1 client is never replayed what it ignores.
    const events = queryParam(req, 'events');
    // v1.3: `?ackDelayMs=N` lets DELIVERED acks and receipts wait up to N ms for another frame to this
    // connection and go out in its write (fewer writes for a busy sender); absent or 0: at once.
    const ackDelay = queryParam(req, 'ackDelayMs');
    const ackDelayMs = ackDelay === undefined ? 0 : parseAckDelay(ackDelay, config.limits.ackDelayMaxMs);
    // v1.4: `?batch=1`: frames written together go as one text frame, newline-separated.
    const batch = queryParam(req, 'batch');
    const repeated = repeatedQueryName(req.getQuery() ?? '', UPGRADE_PARAMETERS);

    if (deps.isShuttingDown()) return reject(exchange, 'shutting_down', 'shutting_down');
    if (repeated !== undefined) return reject(exchange, 'repeated', new ChatError('bad_request', `${repeated} is given more than once`));
    if (device !== undefined && !DEVICE_ID_PATTERN.test(device)) {
      return reject(exchange, 'device', new ChatError('bad_request', 'device must be 1-64 characters [A-Za-z0-9_-]'));
    }
    if (!isFlag(events)) return reject(exchange, 'events', new ChatError('bad_request', 'events must be 0 or 1'));
    if (!isFlag(batch)) return reject(exchange, 'batch', new ChatError('bad_request', 'batch must be 0 or 1'));
    if (ackDelayMs === undefined) {
      return reject(exchange, 'ack_delay', new ChatError('bad_request', `ackDelayMs must be a whole number of milliseconds from 0 to ${config.limits.ackDelayMaxMs} (ACK_DELAY_MAX_MS)`));
    }
    if (origin !== '' && !deps.cors.allows(origin)) return reject(exchange, 'origin', 'forbidden');
    if (connections >= config.limits.maxConnections) {
      metrics.rateLimited.inc({ limit: 'connections' });
      // Not the code's default text, which speaks of the store: this instance is full, another may not be.
      return reject(exchange, 'limit', new ChatError('unavailable', `This server holds MAX_CONNECTIONS (${config.limits.maxConnections}) connections: retry later, or elsewhere`, { retryAfterSec: 1 }));
    }
    if ((connectionsPerIp.get(ip) ?? 0) >= config.limits.maxConnectionsPerIp) {
      metrics.rateLimited.inc({ limit: 'connections_per_ip' });
      return reject(exchange, 'limit', new ChatError('rate_limited', `More than MAX_CONNECTIONS_PER_IP (${config.limits.maxConnectionsPerIp}) open connections from this address: close one first`));
    }
    const auth = authenticate(deps.verifier, authorization, cookie, config.cookie.name);
    if ('rejected' in auth) return reject(exchange, auth.rejected, rejectionError(auth.rejected));
    const { principal } = auth;
    const cooldown = floodGuard.cooldownLeftSec(principal.userId);
    if (cooldown > 0) {
      metrics.rateLimited.inc({ limit: 'flood_cooldown' });
      const message = 'This user kept sending after rate_limited answers and was closed (1008): wait Retry-After seconds before connecting again';
      return reject(exchange, 'flood_cooldown', new ChatError('rate_limited', message, { retryAfterSec: cooldown }));
    }
    // Every message to a user is written to each of its connections: without a bound, one user's
    // sockets (from any number of addresses) would multiply every message sent to it. `open` runs
    // inside res.upgrade, so byUser already counts the connections of a burst's earlier upgrades.
    if ((byUser.get(principal.userId)?.size ?? 0) >= config.limits.maxConnectionsPerUser) {
      metrics.rateLimited.inc({ limit: 'connections_per_user' });
      return reject(exchange, 'limit', new ChatError('rate_limited', `More than MAX_CONNECTIONS_PER_USER (${config.limits.maxConnectionsPerUser}) open connections for this user here: close one first`));
    }
    // Each connect replays what is pending for the device, as a `sync` does, and `sync` is limited: a
    // user reconnecting in loops got ~1,070 replays a second, and slowed everyone's sends tenfold.
    const wait = connectLimiter.take(principal.userId);
    if (wait > 0) {
      metrics.rateLimited.inc({ limit: 'connect' });
      return reject(exchange, 'limit', new ChatError('rate_limited', `More than CONNECT_RATE_PER_SEC (${config.limits.connectRatePerSec}) connections a second for this user: retry after Retry-After`, { retryAfterSec: wait }));
    }
    reserve(ip);
    exchange.done = true;
    const frameBudget = frameBudgets.bucketOf(principal.userId);
    // A v1 client names none of these (protocol.md: "v1 clients and groups").
    const directOnly = device === undefined && events === undefined && ackDelay === undefined && batch === undefined;
    const data: SocketData = { principal, ip, deviceId: device ?? DEFAULT_DEVICE, messageEvents: events === '1', directOnly, ackDelayMs, batch: batch === '1', frameBudget };
    res.upgrade(data, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), context);
  };

  /**
   * False, with `rate_limited` answered, when the user spent its budget of useless frame work
   * (src/transport/frame-budget.ts): the frame is refused unread. Unbounded, one socket sending 75,000
   * bad frames a second took others' send p99 from 2 to 305 ms.
   */
  const mayRead = (data: SocketData): boolean => {
    const wait = frameBudgets.refusal(data.frameBudget);
    if (wait === 0) return true;
    metrics.rateLimited.inc({ limit: 'invalid_frames' });
    deps.chat.answerError(data.connection!, new ChatError('rate_limited', 'Too many invalid or padded frames (INVALID_FRAMES_PER_SEC): fix the client', { retryAfterSec: wait }));
    return false;
  };

  const handleFrame = (data: SocketData, text: string) => {
    if (!mayRead(data)) return;
    let command;
    try {
      command = parseClientFrame(text, limits);
    } catch (error) {
      countFrameIn('invalid');
      frameBudgets.chargeInvalid(data.frameBudget, text.length);
      deps.chat.answerError(data.connection!, error);
      return;
    }
    countFrameIn(command.type);
    frameBudgets.chargeExcess(data.frameBudget, command, text.length);
    deps.chat.handle(data.session!, command);
  };

  return {
    // This uWS build drops a connection over maxPayloadLength without a close frame (the client sees
    // 1006). Giving uWS 4x headroom lets the handler close oversized frames with a proper 1009.
    maxPayloadLength: config.limits.maxPayloadBytes * 4,
    // Ours (WS_MAX_BACKPRESSURE_BYTES) is enforced in SocketConnection.flush; uWS's sits above it.
    maxBackpressure: uwsBackpressureLimit(config.limits.maxBackpressureBytes, maxServerFrameBytes(config.limits.maxMessageBytes)),
    closeOnBackpressureLimit: 0,
    idleTimeout: config.limits.idleTimeoutSec,
    sendPingsAutomatically: true,
    upgrade,
    open(ws: WebSocket<SocketData>) {
      const data = ws.getUserData();
      const connection = new SocketConnection(ws, hooks);
      data.connection = connection;
      let mine = byUser.get(connection.userId);
      if (!mine) byUser.set(connection.userId, (mine = new Set()));
      mine.add(connection);
      metrics.connectionsOpen.inc();
      scheduleExpiry(connection, data.principal.exp * 1000);
      data.session = deps.chat.connect(connection);
    },
    message(ws: WebSocket<SocketData>, message: ArrayBuffer, isBinary: boolean) {
      const data = ws.getUserData();
      const connection = data.connection!;
      if (message.byteLength > config.limits.maxPayloadBytes) {
        countFrameIn('oversized');
        connection.end(CLOSE_MESSAGE_TOO_BIG, 'message too big');
        return;
      }
      if (isBinary) {
        countFrameIn('binary');
        if (!mayRead(data)) return;
        frameBudgets.chargeInvalid(data.frameBudget, message.byteLength);
        deps.chat.answerError(connection, new ChatError('bad_request', 'Binary frames are not supported; send JSON text frames'));
        return;
      }
      // The ArrayBuffer is only valid during this callback: decode (copy) it now.
      handleFrame(data, frameText.decode(message));
    },
    drain(ws: WebSocket<SocketData>) {
      ws.getUserData().connection?.drained();
    },
    close(ws: WebSocket<SocketData>, code: number, message: ArrayBuffer) {
      const data = ws.getUserData();
      const connection = data.connection;
      if (!connection) return;
      connection.markClosed();
      const mine = byUser.get(connection.userId);
      if (mine?.delete(connection) && mine.size === 0) byUser.delete(connection.userId);
      if (data.session) deps.chat.disconnect(data.session);
      release(data.ip);
      metrics.connectionsOpen.dec();
      metrics.wsCloses.inc({ reason: closeReason(code, message) });
    },
  };
}

/** The largest frame the server writes: a message whose body is all characters JSON escapes as \uXXXX (6 bytes each). */
function maxServerFrameBytes(maxMessageBytes: number): number {
  return maxMessageBytes * 6 + 1024;
}

/** A fixed-set label for a close: the code, or for uWS's own abnormal closes (1006) the reason it gives. */
export function closeReason(code: number, message: ArrayBuffer): string {
  switch (code) {
    case CLOSE_GOING_AWAY:
      return 'going_away';
    case CLOSE_MESSAGE_TOO_BIG:
      return 'too_big';
    case CLOSE_SLOW_CONSUMER:
      return 'slow_consumer';
    case CLOSE_TOKEN_EXPIRED:
      return Buffer.from(message).toString('utf8') === 'token revoked' ? 'revoked' : 'token_expired';
    case CLOSE_BANNED:
      return 'banned';
    case CLOSE_POLICY_VIOLATION:
      return 'rate_limited';
    case 1006: {
      // uWS closes without a close frame for these, naming the cause in the message.
      const text = Buffer.from(message).toString('utf8');
      if (/timed out/i.test(text)) return 'idle_timeout';
      if (/too big/i.test(text)) return 'too_big';
      if (/UTF-8/i.test(text)) return 'invalid_utf8';
      return 'abnormal';
    }
    default:
      return 'client';
  }
}

function scheduleExpiry(connection: SocketConnection, expiresAtMs: number): void {
  // setTimeout holds at most ~24.8 days: longer tokens are re-armed when that fires.
  const delay = Math.max(0, Math.min(expiresAtMs - Date.now(), 2_147_483_647));
  connection.expiryTimer = setTimeout(() => {
    if (Date.now() >= expiresAtMs) connection.end(CLOSE_TOKEN_EXPIRED, 'token expired');
    else scheduleExpiry(connection, expiresAtMs);
  }, delay);
  connection.expiryTimer.unref();
}

/** The upgrade's query parameters: each may be given once. */
const UPGRADE_PARAMETERS = ['device', 'events', 'ackDelayMs', 'batch'] as const;

/** An on/off query parameter (`events`, `batch`): absent, `0` or `1`. */
function isFlag(value: string | undefined): boolean {
  return value === undefined || value === '0' || value === '1';
}

/** `?ackDelayMs=` as a number of ms, or undefined when it is not a whole number from 0 to `max`. */
function parseAckDelay(value: string, max: number): number | undefined {
  if (!/^\d{1,6}$/.test(value)) return undefined;
  const ms = Number(value);
  return ms <= max ? ms : undefined;
}
