// Builds dist/: the server and the SDK (`tsc -p tsconfig.build.json`) and the demo page (src/demo/ bundled
// by esbuild into dist/demo/, which the server reads when SERVE_DEMO is on). The only place esbuild runs.
//
//   node scripts/build.mjs              everything, from scratch (`npm run build`)
//   node scripts/build.mjs --if-stale   only the parts whose inputs changed since their last build
//                                       (`prepare`, `npm start`, `npm run start:prod`)
//   --only=server | --only=demo         one part
//
// "Changed" is by content, not mtime: each part's input files (and package-lock.json, tsconfig*.json and
// this script) are hashed and compared with dist/.build-state.json, so a checkout, a touch or a clock
// skew never rebuilds for nothing, and an edit is never missed. An unchanged tree costs ~0.1 s.
//
// Plain JavaScript run by node, so that it can explain itself where the dev dependencies are missing
// (`npm ci --omit=dev`): as `prepare` it then skips with a note; asked to build, it fails saying why.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DIST = join(ROOT, 'dist');
const STATE_FILE = join(DIST, '.build-state.json');
const DEMO_OUT = join(DIST, 'demo');
const DEMO_STATIC = ['index.html', 'demo.css'];
const SHARED_INPUTS = ['package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'scripts/build.mjs'];
const require = createRequire(import.meta.url);

const args = process.argv.slice(2);
const ifStale = args.includes('--if-stale');
const only = args.find((arg) => arg.startsWith('--only='))?.slice('--only='.length);
if (only !== undefined && only !== 'server' && only !== 'demo') fail(`unknown part "${only}": --only=server or --only=demo`);
const parts = only ? [only] : ['server', 'demo'];

const started = performance.now();
const state = readState();
const done = [];
for (const part of parts) {
  const inputs = part === 'server' ? serverInputs() : demoInputs(state.demo?.inputs);
  const hash = hashFiles(inputs);
  if (ifStale && state[part]?.hash === hash && outputsPresent(part)) continue;
  if (!toolsInstalled()) {
    const why = 'typescript and esbuild (dev dependencies) are not installed';
    // `npm ci --omit=dev` runs `prepare` too: there, a missing build tool is expected, not an error.
    if (process.env.npm_lifecycle_event === 'prepare') {
      console.error(`prepare: not building dist/ (${why}); build where they are: npm ci && npm run build`);
      process.exit(0);
    }
    fail(`cannot build dist/: ${why}; run npm ci (or npm install) first`);
  }
  const t0 = performance.now();
  const built = part === 'server' ? buildServer() : await buildDemo();
  state[part] = { hash: part === 'server' ? hash : hashFiles(built.inputs), ...(built.inputs ? { inputs: built.inputs } : {}) };
  writeState(state);
  done.push(`${part} ${Math.round(performance.now() - t0)} ms${built.note ? ` (${built.note})` : ''}`);
}
const ms = Math.round(performance.now() - started);
console.log(done.length ? `dist/ built: ${done.join(', ')}` : `dist/ is up to date (${ms} ms)`);

// --- the server and the SDK -------------------------------------------------------------------------

/** Every file tsc compiles (src/ without the demo page) and the settings it compiles them with. */
function serverInputs() {
  return [...SHARED_INPUTS, ...filesUnder('src').filter((file) => !file.startsWith('src/demo/'))];
}

function buildServer() {
  // From scratch: a source file deleted or renamed leaves nothing behind in dist/.
  for (const entry of existsSync(DIST) ? readdirSync(DIST) : []) {
    if (entry !== 'demo' && entry !== '.build-state.json') rmSync(join(DIST, entry), { recursive: true, force: true });
  }
  const tsc = require.resolve('typescript/bin/tsc');
  const result = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
  if (result.status !== 0) fail(`tsc -p tsconfig.build.json failed (exit ${result.status ?? result.signal})`);
  return {};
}

// --- the demo page ------------------------------------------------------------------------------------

/** What the last bundle was made of (esbuild's own list), or just the page when there was none. */
function demoInputs(bundled) {
  const page = ['src/demo/page.ts', ...DEMO_STATIC.map((file) => `src/demo/${file}`)];
  return [...new Set([...SHARED_INPUTS, ...page, ...(bundled ?? [])])];
}

async function buildDemo() {
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [join(ROOT, 'src/demo/page.ts')],
    absWorkingDir: ROOT,
    bundle: true,
    write: false,
    metafile: true,
    format: 'iife',
    platform: 'browser',
    target: ['chrome100', 'firefox100', 'safari15'],
    minify: true,
    charset: 'utf8',
    legalComments: 'none',
    logLevel: 'silent',
    // Class fields as constructor assignments, not declarations repeated beside them: the SDK's
    // parameter properties would otherwise each appear twice (~0.4 KiB of the 40 KiB budget). Only
    // more permissive than the Node build's define semantics, and the browser test runs this bundle.
    tsconfigRaw: { compilerOptions: { useDefineForClassFields: false } },
  });
  const script = result.outputFiles[0].text;
  mkdirSync(DEMO_OUT, { recursive: true });
  writeFileSync(join(DEMO_OUT, 'demo.js'), script);
  for (const file of DEMO_STATIC) writeFileSync(join(DEMO_OUT, file), readFileSync(join(ROOT, 'src/demo', file)));
  // The bundle's inputs as esbuild saw them (the page, the SDK, protocol types): an edit to any rebuilds it.
  const bundled = Object.keys(result.metafile.inputs).filter((file) => !file.startsWith('node_modules/'));
  return { inputs: demoInputs(bundled), note: `demo.js ${(script.length / 1024).toFixed(1)} KiB` };
}

// --- helpers --------------------------------------------------------------------------------------------

function outputsPresent(part) {
  if (part === 'demo') return ['demo.js', ...DEMO_STATIC].every((file) => existsSync(join(DEMO_OUT, file)));
  // Every compiled module, not just main.js: a half-deleted dist/ must not pass for built.
  return serverInputs()
    .filter((file) => file.startsWith('src/') && file.endsWith('.ts') && !file.endsWith('.d.ts'))
    .every((file) => existsSync(join(DIST, file.slice('src/'.length).replace(/\.ts$/, '.js'))));
}

function toolsInstalled() {
  try {
    require.resolve('typescript/bin/tsc');
    require.resolve('esbuild');
    return true;
  } catch {
    return false;
  }
}

/** Files under a directory of the repository, as sorted repository-relative paths with forward slashes. */
function filesUnder(dir) {
  return readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(ROOT, join(entry.parentPath ?? entry.path, entry.name)).split('\\').join('/'))
    .sort();
}

/** One hash over the paths and contents of `files`; a missing file counts as a change, not an error. */
function hashFiles(files) {
  const hash = createHash('sha256');
  for (const file of [...files].sort()) {
    const path = join(ROOT, file);
    hash.update(`${file}\0`).update(existsSync(path) ? readFileSync(path) : '\u0000missing').update('\0');
  }
  return hash.digest('hex');
}

function readState() {
  try {
    return JSON.parse(readFileSync(STATE_FILE, 'utf8'));
  } catch {
    return {};
  }
}

function writeState(value) {
  mkdirSync(dirname(STATE_FILE), { recursive: true });
  writeFileSync(STATE_FILE, `${JSON.stringify(value, null, 2)}\n`);
}

function fail(message) {
  console.error(`build: ${message}`);
  process.exit(1);
}
