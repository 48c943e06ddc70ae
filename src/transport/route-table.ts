// Which methods each registered path answers. A known path asked with a method it does not answer
// gets 405 and an `Allow` header (RFC 9110, 15.5.6) instead of 404: a client that PUTs to
// /api/messages learns it has the method wrong, not the path. A GET without the upgrade on the
// WebSocket path gets 426 (`Upgrade: websocket`). Paths not registered (the server API while it is
// off) stay 404 like any unknown path.
import type { TemplatedApp } from 'uWebSockets.js';
import { interceptRoutes } from './intercept-routes.js';

/** uWS's route methods, as HTTP names. `any` and `options` (the catch-alls) are not a path's own. */
const METHODS: Readonly<Record<string, string>> = { get: 'GET', head: 'HEAD', post: 'POST', put: 'PUT', patch: 'PATCH', del: 'DELETE', ws: 'GET' };

interface Route {
  /** The pattern's segments: literal, `:param` (one non-empty segment) or a final `*` (the rest). */
  readonly segments: readonly string[];
  readonly method: string;
  readonly websocket: boolean;
}

export interface PathMethods {
  /** The `Allow` header's value: the methods registered for the path, then OPTIONS (every path answers CORS preflights). */
  readonly allow: string;
  /** The path is the WebSocket endpoint (its GET is an upgrade). */
  readonly websocket: boolean;
}

export class RouteTable {
  private readonly routes: Route[] = [];

  /** The app, recording every pattern registered through it (its own methods otherwise). */
  record(app: TemplatedApp): TemplatedApp {
    return interceptRoutes(app, (key, pattern, handler) => {
      const method = METHODS[key];
      if (method !== undefined) this.routes.push({ segments: pattern.split('/'), method, websocket: key === 'ws' });
      return handler;
    });
  }

  /** What `path` (no query) answers, or undefined when no route has it. */
  methodsFor(path: string): PathMethods | undefined {
    const segments = path.split('/');
    const methods = new Set<string>();
    let websocket = false;
    for (const route of this.routes) {
      if (!matches(route.segments, segments)) continue;
      methods.add(route.method);
      websocket ||= route.websocket;
    }
    if (methods.size === 0) return undefined;
    return { allow: [...methods, 'OPTIONS'].join(', '), websocket };
  }
}

function matches(pattern: readonly string[], path: readonly string[]): boolean {
  for (let i = 0; i < pattern.length; i++) {
    const part = pattern[i]!;
    if (part === '*' && i === pattern.length - 1) return true;
    const segment = path[i];
    if (segment === undefined) return false;
    if (part.startsWith(':') ? segment === '' : part !== segment) return false;
  }
  return pattern.length === path.length;
}
