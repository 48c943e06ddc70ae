// A fresh clone, as a user gets it: the repository's files (tracked and new, without dist/ or
// node_modules/) copied to a temporary directory, then `npm ci` there. Proves that the install builds
// dist/ (prepare), that `npm start` does not rebuild an unchanged tree, that `npm run build` then
// `node dist/main.js` starts in development with the demo page, that a missing demo bundle is refused
// with how to build it, and that the SDK imports by package name right after the install: inside the
// repository, from a path, and (CI, or TEST_SDK_GIT_INSTALL=1: ~20 s) from a git URL.
// npm runs from the local cache when it can (--prefer-offline); the first CI step (npm ci) fills it.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { signToken } from '../../src/auth/jwt.js';
import { skipReason } from '../helpers/skips.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CONSUMER = fileURLToPath(new URL('../fixtures/sdk-consumer.mjs', import.meta.url));
const SECRET = 'fresh-clone-test-secret';
const NPM_FLAGS = ['--prefer-offline', '--no-audit', '--no-fund'];
const gitSkip = process.env.CI || process.env.TEST_SDK_GIT_INSTALL === '1' ? false : skipReason('gitInstall');
const run = promisify(execFile);

/** Only PATH and HOME (npm's cache): nothing from the npm process running the tests leaks in. */
const cleanEnv = (extra: Record<string, string> = {}) => ({ PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...extra });

async function sh(cwd: string, command: string, args: readonly string[], env: Record<string, string> = {}): Promise<string> {
  const { stdout, stderr } = await run(command, args, { cwd, env: cleanEnv(env), maxBuffer: 64 * 1024 * 1024 }).catch((error: { stdout?: string; stderr?: string; message: string }) => {
    throw new Error(`${command} ${args.join(' ')} failed in ${cwd}:\n${error.stderr ?? ''}\n${error.stdout ?? ''}\n${error.message}`);
  });
  return stdout + stderr;
}

interface Started {
  readonly port: number;
  readonly output: () => string;
  stop(): Promise<void>;
}

/** Runs a server command in its own process group and resolves once it logs "listening" (rejects if it exits first). */
function startServer(cwd: string, command: string, args: readonly string[], env: Record<string, string>): Promise<Started> {
  const child = spawn(command, args, { cwd, env: cleanEnv(env), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGTERM'); // npm, its shell and node
    await exited;
  };
  return new Promise((resolve, reject) => {
    const onData = (chunk: string) => {
      out += chunk;
      const line = out.split('\n').find((l) => l.includes('"msg":"listening"'));
      if (line) resolve({ port: (JSON.parse(line) as { port: number }).port, output: () => out, stop });
    };
    child.stdout!.setEncoding('utf8').on('data', onData);
    child.stderr!.setEncoding('utf8').on('data', onData);
    void exited.then((code) => reject(new Error(`${command} ${args.join(' ')} exited (${code}) before listening:\n${out}`)));
  });
}

/** The consumer fixture, run from `dir` (so its `uws-chat-backend/client` import resolves there), against a server. */
async function sendThroughSdk(dir: string, port: number): Promise<string> {
  writeFileSync(join(dir, 'sdk-consumer.mjs'), readFileSync(CONSUMER));
  const token = await signToken({ secret: SECRET, userId: 'sdk-user', ttlSec: 300 });
  const out = await sh(dir, process.execPath, ['sdk-consumer.mjs'], { CHAT_WS_URL: `ws://127.0.0.1:${port}/ws`, CHAT_TOKEN: token });
  return (JSON.parse(out.trim().split('\n').at(-1)!) as { sent: string }).sent;
}

/** A project that depends on the package through `spec` (a path, a git URL) and on ws (Node 20 has no WebSocket). */
async function installInto(spec: string): Promise<string> {
  const project = mkdtempSync(join(tmpdir(), 'sdk-consumer-'));
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'sdk-consumer', version: '1.0.0', private: true, type: 'module' }));
  const wsVersion = (JSON.parse(readFileSync(join(ROOT, 'node_modules/ws/package.json'), 'utf8')) as { version: string }).version;
  await sh(project, 'npm', ['install', ...NPM_FLAGS, spec, `ws@${wsVersion}`]);
  return project;
}

describe('a fresh clone', { timeout: 300_000 }, () => {
  let clone: string;
  let installOutput: string;
  let server: Started | undefined;
  const temporary: string[] = [];

  before(async () => {
    clone = mkdtempSync(join(tmpdir(), 'fresh-clone-'));
    temporary.push(clone);
    // What `git clone` would give, but of the working tree (uncommitted edits included): tracked and
    // new files that .gitignore does not exclude.
    const files = (await sh(ROOT, 'git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'])).split('\0');
    for (const file of files) if (file && existsSync(join(ROOT, file))) cpSync(join(ROOT, file), join(clone, file));
    assert.ok(!existsSync(join(clone, 'dist')) && !existsSync(join(clone, 'node_modules')));
    installOutput = await sh(clone, 'npm', ['ci', ...NPM_FLAGS]);
  });
  after(async () => {
    await server?.stop();
    for (const dir of temporary) rmSync(dir, { recursive: true, force: true });
  });

  const serve = async (env: Record<string, string> = {}) => {
    server = await startServer(clone, process.execPath, ['dist/main.js'], { JWT_SECRET: SECRET, PORT: '0', HOST: '127.0.0.1', ...env });
    return server;
  };
  const stopServer = async () => {
    await server?.stop();
    server = undefined;
  };

  it('npm ci builds dist/ (the prepare script): the server, the SDK and the demo page', () => {
    assert.match(installOutput, /dist\/ built: server \d+ ms, demo \d+ ms/);
    for (const file of ['dist/main.js', 'dist/client/index.js', 'dist/client/index.d.ts', 'dist/demo/demo.js', 'dist/demo/index.html', 'dist/demo/demo.css']) {
      assert.ok(existsSync(join(clone, file)), `${file} is missing after npm ci`);
    }
  });

  it('npm start with an unchanged tree starts without building; after an edit it rebuilds first', async (t) => {
    const mainJs = readFileSync(join(clone, 'dist/main.js'));
    const started = performance.now();
    const unchanged = await startServer(clone, 'npm', ['start'], { JWT_SECRET: SECRET, PORT: '0', HOST: '127.0.0.1' });
    const ms = Math.round(performance.now() - started);
    await unchanged.stop();
    assert.match(unchanged.output(), /dist\/ is up to date/);
    assert.doesNotMatch(unchanged.output(), /dist\/ built/);
    assert.deepEqual(readFileSync(join(clone, 'dist/main.js')), mainJs);
    t.diagnostic(`npm start to listening, unchanged tree: ${ms} ms`);

    writeFileSync(join(clone, 'src/log.ts'), `${readFileSync(join(clone, 'src/log.ts'), 'utf8')}\nexport const EDITED_IN_THE_CLONE = true;\n`);
    const edited = await startServer(clone, 'npm', ['start'], { JWT_SECRET: SECRET, PORT: '0', HOST: '127.0.0.1' });
    await edited.stop();
    assert.match(edited.output(), /dist\/ built: server \d+ ms\n/, 'the server part only: the demo page does not import src/log.ts');
    assert.match(readFileSync(join(clone, 'dist/log.js'), 'utf8'), /EDITED_IN_THE_CLONE/);
  });

  it('npm run build, then node dist/main.js, starts in development and serves the demo page', async () => {
    await sh(clone, 'npm', ['run', 'build']);
    const { port, output } = await serve();
    assert.match(output(), /"mode":"development"/);
    const page = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /data-ws-path="\/ws"/);
    const script = await fetch(`http://127.0.0.1:${port}/demo.js`);
    assert.equal(script.status, 200);
    assert.ok((await script.text()).length > 1000);
    await stopServer();
  });

  it('with SERVE_DEMO=true and no built demo page, exits 1 saying how to build it', async () => {
    renameSync(join(clone, 'dist/demo'), join(clone, 'dist/demo.moved'));
    try {
      const refused = await startServer(clone, process.execPath, ['dist/main.js'], { JWT_SECRET: SECRET, PORT: '0', SERVE_DEMO: 'true' }).then(
        () => assert.fail('listened without the demo page'),
        (error: Error) => error.message,
      );
      assert.match(refused, /exited \(1\)/);
      assert.match(refused, /SERVE_DEMO is on but the demo page is not built .*: run \\"npm run build\\" \(or set SERVE_DEMO=false\)/);
    } finally {
      renameSync(join(clone, 'dist/demo.moved'), join(clone, 'dist/demo'));
    }
  });

  it('the SDK imports by package name inside the repository right after npm ci', async () => {
    const { port } = await serve();
    assert.match(await sendThroughSdk(clone, port), /^[0-9A-Z]{26}$/);
    await stopServer();
  });

  it('the SDK works in a project that installed the package from a path', async () => {
    const project = await installInto(clone);
    temporary.push(project);
    const { port } = await serve();
    assert.match(await sendThroughSdk(project, port), /^[0-9A-Z]{26}$/);
    await stopServer();
  });

  it('the SDK works in a project that installed the package from a git URL (npm builds it there: prepare)', { skip: gitSkip }, async () => {
    // A repository of the clone's sources only: npm clones it, installs the dev dependencies, runs
    // prepare, packs `files` (dist/) and installs that, as for `npm install github:owner/repo`.
    const repo = mkdtempSync(join(tmpdir(), 'sdk-git-'));
    temporary.push(repo);
    const files = (await sh(ROOT, 'git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'])).split('\0');
    for (const file of files) if (file && existsSync(join(ROOT, file))) cpSync(join(ROOT, file), join(repo, file));
    await sh(repo, 'git', ['init', '-q']);
    await sh(repo, 'git', ['add', '-A']);
    await sh(repo, 'git', ['-c', 'user.name=test', '-c', 'user.email=test@example.com', 'commit', '-qm', 'fresh']);
    const project = await installInto(`git+file://${repo}`);
    temporary.push(project);
    assert.ok(existsSync(join(project, 'node_modules/uws-chat-backend/dist/client/index.js')), 'the installed package carries its build');
    assert.ok(!existsSync(join(project, 'node_modules/uws-chat-backend/src')), 'and only its build (package.json "files")');
    const { port } = await serve();
    assert.match(await sendThroughSdk(project, port), /^[0-9A-Z]{26}$/);
    await stopServer();
  });
});
