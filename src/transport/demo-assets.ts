// The demo page's files, read once at start from dist/demo/, where the build (`npm run build`, run by
// `npm install`'s prepare and by `npm start`) bundles them. Nothing here builds: the server runs the same
// from source (tsx: tests, dev) and compiled, and never needs esbuild.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

export interface DemoAssets {
  readonly html: string;
  readonly css: string;
  /** The page script bundled for browsers (an IIFE). */
  readonly script: string;
}

/** dist/demo/ of this checkout, whether this module runs from src/transport/ or dist/transport/. */
const DEMO_DIR = new URL(import.meta.url.endsWith('.ts') ? '../../dist/demo/' : '../demo/', import.meta.url);

export async function loadDemoAssets(wsPath: string): Promise<DemoAssets> {
  const read = (file: string) => readFile(new URL(file, DEMO_DIR), 'utf8');
  let html: string, css: string, script: string;
  try {
    [html, css, script] = await Promise.all([read('index.html'), read('demo.css'), read('demo.js')]);
  } catch (error) {
    throw new Error(`SERVE_DEMO is on but the demo page is not built (no ${fileURLToPath(DEMO_DIR)}demo.js): run "npm run build" (or set SERVE_DEMO=false)`, { cause: error });
  }
  // WS_PATH is validated to URL path characters only: safe inside an attribute.
  return { html: html.replace('{{WS_PATH}}', wsPath), css, script };
}
