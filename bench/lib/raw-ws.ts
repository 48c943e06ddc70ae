// A minimal WebSocket client on a bare TCP socket, for holding thousands of idle connections.
//
// Why not `ws`: each `ws` client costs tens of KB of JS objects and timers, so 19000 of them would
// make the generator, not the server, the thing we measure (and slow the connect rate). This one
// does the upgrade by hand, reads frames just enough to see `ready`, answers pings (the server
// pings idle sockets), and closes politely. Text frames from the server only; no fragmentation
// support beyond what a `ready` frame needs (it is a few dozen bytes).

import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

export interface RawWsOptions {
  host: string;
  port: number;
  path: string;
  /** Source address (127.0.0.x) to spread connections over more address/port pairs. */
  localAddress?: string;
  token: string;
  timeoutMs: number;
  /** Every text frame after `ready` (the payload is a view into the read buffer: copy what you keep). */
  onText?: (payload: Buffer) => void;
}

export interface RawWs {
  socket: Socket;
  /** Text frames received so far (only kept until `ready`, to keep idle connections small). */
  frames: number;
  /** Close code from the server, if it closed first. */
  serverClose?: number;
  close(timeoutMs: number): Promise<void>;
  /** Sends one text frame (under 64 KiB). */
  send(text: string): void;
}

const OP_TEXT = 0x1;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;

/** A client → server frame: always masked (RFC 6455 §5.3). Payloads under 64 KiB only. */
function maskedFrame(opcode: number, payload: Buffer): Buffer {
  const mask = randomBytes(4);
  const head = payload.length < 126 ? Buffer.from([0x80 | opcode, 0x80 | payload.length]) : Buffer.from([0x80 | opcode, 0x80 | 126, payload.length >> 8, payload.length & 0xff]);
  const body = Buffer.alloc(payload.length);
  for (let i = 0; i < payload.length; i++) body[i] = payload[i]! ^ mask[i & 3]!;
  return Buffer.concat([head, mask, body]);
}

/** Opens, upgrades and resolves once the server's `ready` frame arrived. */
export function openRawWs(o: RawWsOptions, onClosedLater: (code: number | undefined) => void): Promise<RawWs> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: o.host, port: o.port, localAddress: o.localAddress, noDelay: true });
    let buf: Buffer = Buffer.alloc(0);
    let upgraded = false;
    let settled = false;
    let closing: (() => void) | undefined;
    const conn: RawWs = {
      socket,
      frames: 0,
      send(text) {
        if (!socket.destroyed) socket.write(maskedFrame(OP_TEXT, Buffer.from(text)));
      },
      close(timeoutMs) {
        return new Promise<void>((done) => {
          if (socket.destroyed) return done();
          const t = setTimeout(() => {
            socket.destroy();
            done();
          }, timeoutMs);
          closing = () => {
            clearTimeout(t);
            done();
          };
          socket.write(maskedFrame(OP_CLOSE, Buffer.from([0x03, 0xe8]))); // 1000
        });
      },
    };
    const fail = (e: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(e);
    };
    const timer = setTimeout(() => fail(new Error('timeout waiting for upgrade + ready')), o.timeoutMs);
    socket.once('error', (e) => fail(e));
    socket.on('close', () => {
      if (!settled) return fail(new Error('closed before ready'));
      if (closing) closing();
      else onClosedLater(conn.serverClose);
    });
    socket.on('connect', () => {
      socket.write(
        `GET ${o.path} HTTP/1.1\r\nHost: ${o.host}:${o.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
          `Authorization: Bearer ${o.token}\r\n\r\n`,
      );
    });
    socket.on('data', (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      if (!upgraded) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const status = buf.subarray(0, buf.indexOf('\r\n')).toString();
        if (!status.startsWith('HTTP/1.1 101')) return fail(new Error(`upgrade refused: ${status}`));
        upgraded = true;
        buf = buf.subarray(end + 4);
      }
      // Server frames are unmasked: 2-byte header, then 16- or 64-bit length when needed.
      while (buf.length >= 2) {
        const opcode = buf[0]! & 0x0f;
        let len = buf[1]! & 0x7f;
        let off = 2;
        if (len === 126) {
          if (buf.length < 4) return;
          len = buf.readUInt16BE(2);
          off = 4;
        } else if (len === 127) {
          if (buf.length < 10) return;
          len = Number(buf.readBigUInt64BE(2));
          off = 10;
        }
        if (buf.length < off + len) return;
        const payload = buf.subarray(off, off + len);
        buf = buf.subarray(off + len);
        if (opcode === OP_TEXT) {
          conn.frames++;
          if (settled) o.onText?.(payload);
          else if (payload.includes('"type":"ready"')) {
            settled = true;
            clearTimeout(timer);
            resolve(conn);
          }
        } else if (opcode === OP_PING) {
          socket.write(maskedFrame(OP_PONG, Buffer.from(payload)));
        } else if (opcode === OP_CLOSE) {
          conn.serverClose = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
          if (!closing) socket.write(maskedFrame(OP_CLOSE, Buffer.from(payload.subarray(0, 2))));
          socket.end();
        }
      }
      if (buf.length === 0) buf = Buffer.alloc(0); // drop the reference to the last chunk
    });
  });
}
