// `npm run build:demo`: writes the demo page (index.html, demo.css, the bundled demo.js) to dist/demo/,
// where the compiled server (dist/main.js) serves it from when SERVE_DEMO is on.
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { bundleDemoScript } from '../src/transport/demo-assets.js';

const out = new URL('../dist/demo/', import.meta.url);
const src = new URL('../src/demo/', import.meta.url);
const started = performance.now();
await mkdir(out, { recursive: true });
const script = await bundleDemoScript();
await writeFile(new URL('demo.js', out), script);
await copyFile(new URL('index.html', src), new URL('index.html', out));
await copyFile(new URL('demo.css', src), new URL('demo.css', out));
console.log(`dist/demo/: demo.js ${(script.length / 1024).toFixed(1)} KiB, index.html, demo.css (${Math.round(performance.now() - started)} ms)`);
