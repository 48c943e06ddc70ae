// The demo page's files. Compiled (dist/): served from dist/demo/, written by `npm run build:demo`
// (prestart runs it), so production never needs esbuild. From source (tsx: tests, dev): the page
// script is bundled in memory with esbuild on first request, so it can never be stale.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

export interface DemoAssets {
  readonly html: string;
  readonly css: string;
  /** The page script bundled for browsers (an IIFE). */
  script(): Promise<string>;
}

const FROM_SOURCE = import.meta.url.endsWith('.ts');
/** src/demo/ when running from source, dist/demo/ when compiled. */
const DEMO_DIR = new URL('../demo/', import.meta.url);

export async function loadDemoAssets(wsPath: string): Promise<DemoAssets> {
  let html: string, css: string, script: () => Promise<string>;
  try {
    html = await readFile(new URL('index.html', DEMO_DIR), 'utf8');
    css = await readFile(new URL('demo.css', DEMO_DIR), 'utf8');
    if (FROM_SOURCE) {
      let bundled: Promise<string> | undefined;
      script = () => {
        bundled ??= bundleDemoScript();
        bundled.catch(() => (bundled = undefined)); // a failed bundle is retried on the next request
        return bundled;
      };
    } else {
      const built = await readFile(new URL('demo.js', DEMO_DIR), 'utf8');
      script = () => Promise.resolve(built);
    }
  } catch (error) {
    throw new Error(`SERVE_DEMO is on but the demo files are missing in ${fileURLToPath(DEMO_DIR)}: run "npm run build:demo" (or set SERVE_DEMO=false)`, { cause: error });
  }
  // WS_PATH is validated to URL path characters only: safe inside an attribute.
  return { html: html.replace('{{WS_PATH}}', wsPath), css, script };
}

/** Bundles src/demo/page.ts (and the SDK it imports) for browsers. Needs esbuild (a dev dependency). */
export async function bundleDemoScript(): Promise<string> {
  const esbuild = await import('esbuild');
  const entry = fileURLToPath(new URL('../demo/page.ts', FROM_SOURCE ? import.meta.url : new URL('../../src/transport/', import.meta.url)));
  const result = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    target: ['chrome100', 'firefox100', 'safari15'],
    minify: true,
    charset: 'utf8',
    legalComments: 'none',
    logLevel: 'silent',
  });
  return result.outputFiles[0]!.text;
}
