// The demo page in Chromium (playwright-core): the browser, a server with the page, and people using it.
// Shared by the browser tests; each person is one browser context (cookies, storage) and one page (a
// tab, so one device).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type ConsoleMessage, type Page } from 'playwright-core';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { skipReason } from '../../helpers/skips.js';

export const CHROMIUM = '/usr/bin/chromium';
export const ARTIFACTS = fileURLToPath(new URL('../artifacts/', import.meta.url));
const LAUNCH_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];
export const PASSWORD = 'demo password 123';

/** Skips only when Chromium is missing and CI is not set (CI installs it: .ci/run). */
export const browserSkip = !existsSync(CHROMIUM) && !process.env.CI ? skipReason('chromium', `${CHROMIUM} is missing`) : false;

export interface Person {
  readonly name: string;
  readonly context: BrowserContext;
  page: Page;
  /** Console errors, page errors and CSP violations: the page must produce none. */
  readonly problems: string[];
}

export interface DemoBrowser {
  readonly server: TestServer;
  readonly browser: Browser;
  readonly people: Person[];
  /** A new browser context (a person's browser) with one tab on the page. */
  open(name: string): Promise<Person>;
  /** Another tab of the same browser: the same cookie, a new device. */
  newTab(person: Person): Promise<Page>;
  close(): Promise<void>;
}

export async function startDemoBrowser(env: Record<string, string> = {}): Promise<DemoBrowser> {
  // The server reads the page from dist/demo/: bring it up to date with src/demo/ (a no-op when it is).
  execFileSync(process.execPath, ['scripts/build.mjs', '--if-stale', '--only=demo'], { cwd: fileURLToPath(new URL('../../..', import.meta.url)) });
  const server = await startTestServer({ env: { SERVE_DEMO: 'true', AUTH_RATE_PER_IP_PER_MIN: '1000', AUTH_RATE_PER_USER_PER_MIN: '1000', ...env } });
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: LAUNCH_FLAGS });
  mkdirSync(ARTIFACTS, { recursive: true });
  const people: Person[] = [];
  const watch = (page: Page, problems: string[]) => {
    // Chromium logs every HTTP error answer as a console error, the expected ones too: a 401 from GET
    // /api/me (a remembered session that ended) and a 404 from GET /api/users/:id (no such account here).
    page.on('console', (message) => message.type() === 'error' && !expectedHttpError(message) && problems.push(message.text()));
    page.on('pageerror', (error) => problems.push(error.message));
  };
  const tab = async (context: BrowserContext, problems: string[]) => {
    const page = await context.newPage();
    watch(page, problems);
    await page.goto(`${server.httpUrl}/`);
    return page;
  };
  return {
    server,
    browser,
    people,
    async open(name) {
      const context = await browser.newContext({ viewport: { width: 1000, height: 640 } });
      const problems: string[] = [];
      const person = { name, context, page: await tab(context, problems), problems };
      people.push(person);
      return person;
    },
    newTab: (person) => tab(person.context, person.problems),
    async close() {
      await browser.close();
      await server.close();
    },
  };
}

function expectedHttpError(message: ConsoleMessage): boolean {
  const text = message.text();
  return /status of 401/.test(text) || (/status of 404/.test(text) && message.location().url.includes('/api/users/'));
}

export async function signIn(person: Person, kind: 'register' | 'login'): Promise<void> {
  await person.page.fill('#username', person.name);
  await person.page.fill('#password', PASSWORD);
  await person.page.click(kind === 'register' ? '#register' : '#login');
  await person.page.waitForSelector('#connection[data-state="ready"]');
  assert.equal(await person.page.textContent('#whoami'), `signed in as ${person.name}`);
}

/** Opens the direct chat with `peer` through the "Chat with" form. */
export async function chatWith(page: Page, peer: string): Promise<void> {
  await page.fill('#peer', peer);
  await page.click('#peer-form button[type="submit"]');
  await page.waitForSelector('#body:not([disabled])');
}

/** Opens a conversation from the list: a direct one by its peer, a group by its title. */
export async function openFromList(page: Page, which: { peer: string } | { title: string }): Promise<void> {
  const button = 'peer' in which ? page.locator(`#conversations button[data-peer="${which.peer}"]`) : page.locator('#conversations button[data-kind="group"]', { hasText: which.title });
  await button.click();
  await page.waitForSelector('#conversations button[aria-current="true"]');
}

export async function say(page: Page, body: string): Promise<void> {
  await page.fill('#body', body);
  await page.press('#body', 'Enter');
}

export interface ShownMessage {
  readonly from: string | null;
  readonly status: string | null;
  readonly body: string | null | undefined;
  readonly id: string | null;
  readonly seq: number;
}

/** Message elements in the page, in display order. */
export const shown = (page: Page): Promise<ShownMessage[]> =>
  page.$$eval('#messages li.msg', (items) =>
    items.map((li) => ({
      from: li.getAttribute('data-from'),
      status: li.getAttribute('data-status'),
      body: li.querySelector('.body')?.textContent,
      id: li.getAttribute('data-message-id'),
      seq: Number(li.getAttribute('data-seq')),
    })),
  );

/** Waits until the message with `body` is shown with `status`. */
export async function waitForStatus(page: Page, body: string, status: string): Promise<void> {
  await page.locator(`#messages li.msg[data-status="${status}"]`, { hasText: body }).first().waitFor();
}

/** The unread badge of a conversation in the list ('' when there is none). */
export async function badge(page: Page, selector: string): Promise<string> {
  const unread = page.locator(`${selector} .unread`);
  return (await unread.count()) ? ((await unread.textContent()) ?? '') : '';
}

export async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: `${ARTIFACTS}${name}.png` });
}
