// The demo chat page at `/` (SERVE_DEMO: on outside production, off in production). Static files
// from memory, with a strict Content-Security-Policy: only this origin's script, style and sockets.
import type { TemplatedApp } from 'uWebSockets.js';
import type { Metrics } from '../metrics/registry.js';
import type { DemoAssets } from './demo-assets.js';
import { countingExchanges, getAndHead } from './http.js';

export { loadDemoAssets } from './demo-assets.js';

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

export function registerDemoRoutes(app: TemplatedApp, assets: DemoAssets, metrics: Metrics): void {
  const exchangeFor = countingExchanges(metrics);

  getAndHead(app, '/', (res, _req, head) => exchangeFor(res, '/', head).respond(200, assets.html, { ...SECURITY_HEADERS, 'content-type': 'text/html; charset=utf-8' }));
  getAndHead(app, '/demo.css', (res, _req, head) => exchangeFor(res, '/demo.css', head).respond(200, assets.css, { ...SECURITY_HEADERS, 'content-type': 'text/css; charset=utf-8' }));
  getAndHead(app, '/demo.js', (res, _req, head) => exchangeFor(res, '/demo.js', head).respond(200, assets.script, { ...SECURITY_HEADERS, 'content-type': 'text/javascript; charset=utf-8' }));
  getAndHead(app, '/favicon.ico', (res, _req, head) => exchangeFor(res, '/favicon.ico', head).respond(204, '', { 'cache-control': 'max-age=86400' }));
}
