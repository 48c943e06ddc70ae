// One place where every route registered on the app passes (present and future ones alike), for the
// wrappers that must see them all: the framing guard (framing.ts) and the route table (route-table.ts).
import type { TemplatedApp } from 'uWebSockets.js';

/** uWS's methods that register a route: a pattern and a handler, or for `ws` a behavior. */
const ROUTE_METHODS = new Set(['get', 'post', 'options', 'del', 'patch', 'put', 'head', 'connect', 'trace', 'any', 'ws']);

/**
 * The app, with every route registered through it first handed to `onRoute` (the uWS method's name,
 * the pattern, the handler or behavior), which returns what to register in its place. Everything else
 * (listen, close, ...) is the app's own, bound to it: the native methods need the native object as `this`.
 */
export function interceptRoutes(app: TemplatedApp, onRoute: (method: string, pattern: string, handler: unknown) => unknown): TemplatedApp {
  const intercepted: TemplatedApp = new Proxy(app, {
    get(target, key) {
      const value: unknown = Reflect.get(target, key);
      if (typeof value !== 'function') return value;
      if (typeof key !== 'string' || !ROUTE_METHODS.has(key)) return value.bind(target);
      return (pattern: string, handler: unknown) => {
        value.call(target, pattern, onRoute(key, pattern, handler));
        return intercepted;
      };
    },
  });
  return intercepted;
}
