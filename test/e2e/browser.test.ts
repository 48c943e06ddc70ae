// The demo page in a real browser (Debian's Chromium through playwright-core): two browser contexts
// register two users and chat both ways; one goes offline while the other sends three messages, comes
// back, and shows exactly those three, once each, in order, while the sender's side shows read
// ticks. Screenshots land in test/e2e/artifacts/ (git-ignored) for a person to look at.
// Skips only when Chromium is missing and CI is not set (CI installs it: .ci/run).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { skipReason } from '../helpers/skips.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('./artifacts/', import.meta.url));
const LAUNCH_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];
const skip = !existsSync(CHROMIUM) && !process.env.CI ? skipReason('chromium', `${CHROMIUM} is missing`) : false;

interface Person {
  readonly name: string;
  readonly context: BrowserContext;
  readonly page: Page;
  /** Console errors, page errors and CSP violations: the page must produce none. */
  readonly problems: string[];
}

describe('demo page in Chromium', { skip }, () => {
  let t: TestServer;
  let browser: Browser;
  const people: Person[] = [];
  const suffix = Date.now().toString(36);
  const alice = `alice_${suffix}`;
  const bob = `bob_${suffix}`;

  before(async () => {
    // The server reads the page from dist/demo/: bring it up to date with src/demo/ (a no-op when it is).
    execFileSync(process.execPath, ['scripts/build.mjs', '--if-stale', '--only=demo'], { cwd: fileURLToPath(new URL('../..', import.meta.url)) });
    t = await startTestServer({ env: { SERVE_DEMO: 'true', AUTH_RATE_PER_IP_PER_MIN: '1000', AUTH_RATE_PER_USER_PER_MIN: '1000' } });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: LAUNCH_FLAGS });
  });
  after(async () => {
    await browser?.close();
    await t?.close();
  });

  const open = async (name: string): Promise<Person> => {
    const context = await browser.newContext({ viewport: { width: 1000, height: 640 } });
    const page = await context.newPage();
    const problems: string[] = [];
    // A 401 from GET /api/me is how the page learns a remembered session ended; Chromium logs it as an error.
    page.on('console', (message) => message.type() === 'error' && !/status of 401/.test(message.text()) && problems.push(message.text()));
    page.on('pageerror', (error) => problems.push(error.message));
    await page.goto(`${t.httpUrl}/`);
    const person = { name, context, page, problems };
    people.push(person);
    return person;
  };

  const register = async (person: Person) => {
    await person.page.fill('#username', person.name);
    await person.page.fill('#password', 'demo password 123');
    await person.page.click('#register');
    await person.page.waitForSelector('#connection[data-state="ready"]');
    assert.equal(await person.page.textContent('#whoami'), `signed in as ${person.name}`);
  };

  const chatWith = async (person: Person, peer: string) => {
    await person.page.fill('#peer', peer);
    await person.page.click('#peer-form button[type="submit"]');
    await person.page.waitForSelector('#body:not([disabled])');
  };

  const say = async (person: Person, body: string) => {
    await person.page.fill('#body', body);
    await person.page.press('#body', 'Enter');
  };

  /** Message elements in the page, in display order. */
  const shown = (person: Person) =>
    person.page.$$eval('#messages li.msg', (items) =>
      items.map((li) => ({
        from: li.getAttribute('data-from'),
        status: li.getAttribute('data-status'),
        body: li.querySelector('.body')?.textContent,
        id: li.getAttribute('data-message-id'),
      })),
    );

  /** The tick state of one of `person`'s own messages, once it is shown. */
  const statusOf = async (person: Person, body: string) => {
    const item = person.page.locator('#messages li.msg.mine', { hasText: body });
    await item.waitFor();
    return item.getAttribute('data-status');
  };

  it('two people register, chat both ways, and see SENT then read ticks', async () => {
    const a = await open(alice);
    const b = await open(bob);
    await register(a);
    await register(b);
    await chatWith(a, bob);
    await chatWith(b, alice);

    await say(a, 'Hello Bob — grüß dich');
    await b.page.waitForSelector(`#messages li.msg.theirs[data-from="${alice}"] >> text=Hello Bob — grüß dich`);
    await a.page.waitForSelector('#messages li.msg.mine[data-status="read"] >> text=Hello Bob — grüß dich');

    await say(b, 'Hi Alice! <b>not bold</b>');
    await a.page.waitForSelector(`#messages li.msg.theirs[data-from="${bob}"] >> text=Hi Alice! <b>not bold</b>`);
    await b.page.waitForSelector('#messages li.msg.mine[data-status="read"]');
    assert.equal(await a.page.$$eval('#messages b', (nodes) => nodes.length), 0, 'message bodies are text, never HTML');
  });

  it('one side goes offline; the three messages sent meanwhile arrive once each, in order, after it comes back', async () => {
    const [a, b] = people as [Person, Person];
    await b.context.setOffline(true);
    await b.page.waitForSelector('#connection[data-state="offline"]');

    const missed = ['first while you were away', 'second while you were away', 'third while you were away'];
    for (const body of missed) {
      await say(a, body);
      await a.page.waitForSelector(`#messages li.msg.mine[data-status="sent"] >> text=${body}`);
      assert.equal(await statusOf(a, body), 'sent', `"${body}" is stored (SENT) but not delivered yet`);
    }
    assert.equal((await shown(b)).filter((m) => missed.includes(m.body ?? '')).length, 0, 'nothing arrives while offline');

    await b.context.setOffline(false);
    await b.page.waitForSelector('#connection[data-state="ready"]');
    for (const body of missed) await a.page.waitForSelector(`#messages li.msg.mine[data-status="read"] >> text=${body}`);
    await b.page.waitForSelector('#notice >> text=Caught up: 3 missed messages arrived');

    const fromAlice = (await shown(b)).filter((m) => m.from === alice).map((m) => m.body);
    assert.deepEqual(fromAlice, ['Hello Bob — grüß dich', ...missed], 'exactly those three, once each, in order');
    const ids = (await shown(b)).map((m) => m.id);
    assert.equal(new Set(ids).size, ids.length);
    const mine = (await shown(a)).filter((m) => m.from === alice);
    assert.deepEqual(mine.map((m) => m.status), ['read', 'read', 'read', 'read']);

    // The store agrees: each of them stored once and delivered once.
    for (const id of (await shown(a)).filter((m) => m.from === alice).map((m) => m.id!)) {
      assert.equal((await t.store.deliveryState(id, bob))?.marks, 1);
    }

    mkdirSync(ARTIFACTS, { recursive: true });
    await a.page.screenshot({ path: `${ARTIFACTS}demo-alice.png` });
    await b.page.screenshot({ path: `${ARTIFACTS}demo-bob.png` });
  });

  it('logging out clears the session: a reload shows the login form', async () => {
    const [a] = people as [Person];
    await a.page.click('#logout');
    await a.page.waitForSelector('#auth:not([hidden])');
    await a.page.reload();
    await a.page.waitForSelector('#auth:not([hidden])');
    assert.equal(await a.page.isHidden('#chat'), true);
    const cookies = await a.context.cookies();
    assert.equal(cookies.find((c) => c.name === 'token'), undefined);
    await a.page.screenshot({ path: `${ARTIFACTS}demo-login.png` });
  });

  it('the pages logged no errors and no Content-Security-Policy violations', () => {
    for (const person of people) assert.deepEqual(person.problems, [], person.name);
  });
});
