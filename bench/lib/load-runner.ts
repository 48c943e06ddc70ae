// Picks the per-thread runner for a load mode. Kept apart from ws-load.ts so
// worker threads import only what they run.

import { ChatRunner } from './load-chat.js';
import { EchoRunner } from './load-echo.js';
import { SocketIoRunner } from './load-sio.js';
import type { ThreadConfig, ThreadRunner } from './load-types.js';

export function createRunner(cfg: ThreadConfig): ThreadRunner {
  switch (cfg.mode) {
    case 'chat':
      return new ChatRunner(cfg);
    case 'echo':
      return new EchoRunner(cfg);
    case 'socketio':
      return new SocketIoRunner(cfg);
  }
}
