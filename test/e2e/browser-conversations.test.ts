// The demo page with protocol v1.1 (issue 14) in Chromium: a direct chat that survives a reload with its
// ticks (and shows them in another browser, from the API's receipts), a group of three (delivery to both
// others, read ticks, typing, members), one user on two devices (two browser contexts, or two tabs), the
// account lookup, scrolling back through 500 messages, and two tabs of one browser following its shared
// cookie. Screenshots of every step land in test/e2e/artifacts/ (git-ignored).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { badge, browserSkip, chatWith, openFromList, PASSWORD, say, screenshot, shown, signIn, startDemoBrowser, waitForStatus, type DemoBrowser, type Person } from './helpers/browser.js';

describe('demo page: conversations in Chromium', { skip: browserSkip }, () => {
  let demo: DemoBrowser;
  const suffix = Date.now().toString(36);
  const name = (who: string) => `${who}_${suffix}`;

  before(async () => {
    demo = await startDemoBrowser({ TYPING_INTERVAL_MS: '500' });
  });
  after(async () => {
    await demo?.close();
  });

  /** POST /api/messages as `from` (the HTTP door, with a Bearer token): a third party the test drives. */
  const post = async (from: string, target: { to: string } | { conversationId: string }, body: string, messageId = `m${crypto.randomUUID().replaceAll('-', '')}`) => {
    const response = await fetch(`${demo.server.httpUrl}/api/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await demo.server.token(from)}`, 'content-type': 'application/json' },
      body: JSON.stringify({ messageId, ...target, body }),
    });
    const text = await response.text();
    assert.equal(response.status, 201, text);
    return JSON.parse(text) as { conversationId: string; seq: number };
  };

  it('two people chat, then both reload: the whole conversation, in order, with its ticks', async () => {
    const a = await demo.open(name('ann'));
    const b = await demo.open(name('ben'));
    assert.equal(await a.page.textContent('#connection'), 'signed out', 'the pill reads as the page first drew it');
    await signIn(a, 'register');
    await signIn(b, 'register');
    await chatWith(a.page, b.name.toUpperCase()); // the account lookup ignores case and answers the id as registered
    assert.equal(await a.page.textContent('#conversation-title'), `Chat with ${b.name}`);
    assert.equal(await a.page.textContent('#notice'), `New conversation with ${b.name}`);
    await screenshot(a.page, 'direct-1-new-conversation');

    await say(a.page, 'Hi Ben, this is the first message');
    // Ben never opened the chat: it appears in his list with a badge and the preview.
    const benList = `#conversations button[data-peer="${a.name}"]`;
    await b.page.waitForSelector(`${benList} >> text=first message`);
    assert.equal(await badge(b.page, benList), '1');
    await waitForStatus(a.page, 'first message', 'delivered'); // Ben's device confirmed it, he has not read it
    await screenshot(b.page, 'direct-2-unread-badge');

    await openFromList(b.page, { peer: a.name });
    await waitForStatus(a.page, 'first message', 'read');
    assert.equal(await badge(b.page, benList), '');
    await say(b.page, 'Hello Ann! <img src=x onerror=alert(1)>');
    await say(b.page, 'Second from Ben');
    await say(a.page, 'Third from Ann');
    for (const body of ['Hello Ann!', 'Second from Ben']) await waitForStatus(b.page, body, 'read');
    await waitForStatus(a.page, 'Third from Ann', 'read');
    await screenshot(a.page, 'direct-3-before-reload');

    const expected = ['Hi Ben, this is the first message', 'Hello Ann! <img src=x onerror=alert(1)>', 'Second from Ben', 'Third from Ann'];
    await Promise.all([a.page.reload(), b.page.reload()]);
    for (const [person, own] of [
      [a, a.name],
      [b, b.name],
    ] as const) {
      await person.page.waitForSelector('#connection[data-state="ready"]');
      await person.page.locator('#messages li.msg').nth(expected.length - 1).waitFor();
      const messages = await shown(person.page);
      assert.deepEqual(
        messages.map((m) => m.body),
        expected,
        `${person.name} sees the whole conversation in order`,
      );
      assert.deepEqual(
        messages.map((m) => m.seq),
        [1, 2, 3, 4],
      );
      assert.deepEqual(
        messages.map((m) => (m.from === own ? m.status : 'theirs')),
        messages.map((m) => (m.from === own ? 'read' : 'theirs')),
        `${person.name}'s own messages still show read ticks`,
      );
      assert.equal(await person.page.locator('#messages img').count(), 0, 'bodies are text, never HTML');
    }
    await screenshot(a.page, 'direct-4-after-reload-ann');
    await screenshot(b.page, 'direct-4-after-reload-ben');

    // Another browser that never saw a receipt: the ticks come from GET /api/conversations/:id.
    const elsewhere = await demo.open(a.name);
    await signIn(elsewhere, 'login');
    await openFromList(elsewhere.page, { peer: b.name });
    await elsewhere.page.locator('#messages li.msg').nth(expected.length - 1).waitFor();
    const there = await shown(elsewhere.page);
    assert.deepEqual(
      there.map((m) => (m.from === a.name ? m.status : 'theirs')),
      there.map((m) => (m.from === a.name ? 'read' : 'theirs')),
      'read ticks in a browser that was not there',
    );
  });

  it('three people in a group: every message reaches the other two, read ticks, typing, members', async () => {
    const [a, b] = demo.people as [Person, Person];
    const c = await demo.open(name('cat'));
    await signIn(c, 'register');
    const title = `Team ${suffix}`;

    await a.page.click('#new-group summary');
    await a.page.fill('#group-title', title);
    await a.page.fill('#group-members', `${b.name}, ${c.name}`);
    await a.page.click('#group-form button[type="submit"]');
    await a.page.waitForSelector(`#conversation-title >> text=${title} (3)`);
    // Ben and Cat learn of the group live (a `conversation` frame) and see it in their lists.
    for (const person of [b, c]) await person.page.waitForSelector(`#conversations button[data-kind="group"] >> text=${title}`);
    await openFromList(b.page, { title });

    await say(a.page, 'Welcome to the team');
    await b.page.waitForSelector(`#messages li.msg.theirs[data-from="${a.name}"] >> text=Welcome to the team`);
    // Cat has not opened it: delivered to both (her device confirmed), read by Ben only.
    await waitForStatus(a.page, 'Welcome to the team', 'delivered');
    assert.equal(await badge(c.page, '#conversations button[data-kind="group"]'), '1');
    await screenshot(a.page, 'group-1-delivered-to-all');
    await openFromList(c.page, { title });
    await waitForStatus(a.page, 'Welcome to the team', 'read');
    await screenshot(a.page, 'group-2-read-by-all');

    await b.page.type('#body', 'typing something', { delay: 20 });
    await a.page.waitForSelector(`#typing >> text=${b.name} is typing…`);
    await c.page.waitForSelector(`#typing >> text=${b.name} is typing…`);
    await screenshot(a.page, 'group-3-typing');
    await b.page.press('#body', 'Enter');
    await say(c.page, 'Hello from Cat');
    for (const [person, body] of [
      [a, 'typing something'],
      [c, 'typing something'],
      [a, 'Hello from Cat'],
      [b, 'Hello from Cat'],
    ] as const) {
      await person.page.waitForSelector(`#messages li.msg.theirs >> text=${body}`);
    }
    await waitForStatus(b.page, 'typing something', 'read');
    await waitForStatus(c.page, 'Hello from Cat', 'read');
    await screenshot(b.page, 'group-3-three-voices');
    for (const person of [a, b, c]) {
      assert.deepEqual(
        (await shown(person.page)).map((m) => m.body),
        ['Welcome to the team', 'typing something', 'Hello from Cat'],
        person.name,
      );
    }

    // Members: the owner adds and removes someone; a member leaves.
    const dan = name('dan');
    await a.page.fill('#add-member', dan);
    await a.page.click('#add-form button[type="submit"]');
    await a.page.waitForSelector(`#members li[data-member="${dan}"]`);
    await b.page.waitForSelector(`#members li[data-member="${dan}"]`);
    await screenshot(a.page, 'group-4-member-added');
    await a.page.click(`#members li[data-member="${dan}"] button`);
    await a.page.waitForSelector(`#members li[data-member="${dan}"]`, { state: 'detached' });
    await c.page.click('#leave');
    await c.page.waitForSelector('#notice >> text=You are no longer a member of that group');
    assert.equal(await c.page.locator('#conversations button[data-kind="group"]').count(), 0);
    await a.page.waitForSelector(`#conversation-title >> text=${title} (2)`);
    await screenshot(a.page, 'group-5-after-leave');

    // The owner adds Cat back (she sees the group again, with its history) and then removes her.
    await a.page.fill('#add-member', c.name);
    await a.page.click('#add-form button[type="submit"]');
    await openFromList(c.page, { title });
    await c.page.waitForSelector('#messages li.msg >> text=Hello from Cat');
    await a.page.click(`#members li[data-member="${c.name}"] button`);
    await c.page.waitForSelector('#notice >> text=You are no longer a member of that group');
    assert.equal(await c.page.locator('#conversations button[data-kind="group"]').count(), 0);
  });

  it('one user on two devices: both show every message, a reopened device has what came meanwhile, reading clears the badge on both', async () => {
    const u: Person = await demo.open(name('uma'));
    await signIn(u, 'register');
    const device2 = await demo.open(u.name);
    await signIn(device2, 'login');
    const peer = name('vic'); // no browser: writes through the HTTP door
    const deviceOf = (person: Person) => person.page.evaluate<string | null>('sessionStorage.getItem("demo.device")');
    assert.notEqual(await deviceOf(u), await deviceOf(device2), 'two contexts, two devices');

    await chatWith(u.page, peer);
    await say(u.page, 'Sent from device 1');
    const list = `#conversations button[data-peer="${peer}"]`;
    await device2.page.waitForSelector(`${list} >> text=Sent from device 1`);
    await openFromList(device2.page, { peer });
    await device2.page.waitForSelector('#messages li.msg.mine >> text=Sent from device 1');
    await screenshot(device2.page, 'devices-1-sent-from-the-other');

    // A reload keeps the tab's device id; device 2 closes; a message arrives; device 2 opens again (a new
    // tab: a new device id, the same cookie).
    const firstDevice = await deviceOf(u);
    await u.page.reload();
    await u.page.waitForSelector('#connection[data-state="ready"]');
    assert.equal(await deviceOf(u), firstDevice, 'a reload is the same device');
    const closedDevice = await deviceOf(device2);
    await device2.page.close();
    await post(peer, { to: u.name }, 'While device 2 was closed');
    await u.page.waitForSelector('#messages li.msg.theirs >> text=While device 2 was closed');
    device2.page = await demo.newTab(device2);
    await device2.page.waitForSelector('#connection[data-state="ready"]');
    assert.notEqual(await deviceOf(device2), closedDevice, 'a new tab is a new device');
    await device2.page.waitForSelector(`${list} >> text=While device 2 was closed`);
    await openFromList(device2.page, { peer });
    await device2.page.waitForSelector('#messages li.msg.theirs >> text=While device 2 was closed');
    await screenshot(device2.page, 'devices-2-reopened');

    // Neither device has the conversation open: both show the badge; reading on one clears both.
    for (const page of [u.page, device2.page]) await chatWith(page, name('nobody'));
    assert.match((await u.page.textContent('#notice')) ?? '', /has no account on this server/);
    await post(peer, { to: u.name }, 'Unread on both');
    for (const page of [u.page, device2.page]) await page.waitForSelector(`${list} .unread >> text=1`);
    await screenshot(device2.page, 'devices-3-badge-on-both');
    await openFromList(u.page, { peer });
    await device2.page.waitForSelector(`${list} .unread`, { state: 'detached' });
    assert.equal(await badge(device2.page, list), '');
    await screenshot(device2.page, 'devices-4-read-on-the-other');
  });

  it('edit and delete: the author edits in place and deletes, the other side sees both live and after a reload', async () => {
    const a = await demo.open(name('eve'));
    const b = await demo.open(name('fay'));
    await signIn(a, 'register');
    await signIn(b, 'register');
    await chatWith(a.page, b.name);
    await say(a.page, 'a tpyo in here');
    await say(a.page, 'this one goes away');
    await openFromList(b.page, { peer: a.name });
    await b.page.waitForSelector('#messages li.msg >> text=this one goes away');

    // The author's own message has the actions; edit asks for the new body in a prompt.
    const typo = a.page.locator('#messages li.msg', { hasText: 'a tpyo in here' });
    a.page.once('dialog', (dialog) => void dialog.accept('a typo, fixed'));
    await typo.locator('button.edit').click();
    await b.page.waitForSelector('#messages li.msg[data-edited="true"] >> text=a typo, fixed');
    await a.page.waitForSelector('#messages li.msg[data-edited="true"] >> text=a typo, fixed');
    assert.equal(await b.page.locator('#messages li.msg button.edit').count(), 0, "no edit button on someone else's message");

    const gone = a.page.locator('#messages li.msg', { hasText: 'this one goes away' });
    a.page.once('dialog', (dialog) => void dialog.accept());
    await gone.locator('button.delete').click();
    await b.page.waitForSelector('#messages li.msg[data-deleted="true"] >> text=message deleted');
    await screenshot(b.page, 'edit-delete-1-live');

    await b.page.reload();
    await b.page.waitForSelector('#connection[data-state="ready"]');
    await openFromList(b.page, { peer: a.name });
    await b.page.waitForSelector('#messages li.msg[data-deleted="true"] >> text=message deleted');
    const after = await shown(b.page);
    assert.deepEqual(after.map((m) => m.body), ['a typo, fixed', 'message deleted'], 'history shows the latest version and the tombstone');
    await screenshot(b.page, 'edit-delete-2-after-reload');
  });

  it('scrolling back through 500 messages shows each once, in order', async () => {
    const reader = await demo.open(name('rae'));
    await signIn(reader, 'register');
    const writer = name('wes');
    let conversationId = '';
    for (let i = 1; i <= 500; i++) ({ conversationId } = await post(i % 2 ? writer : reader.name, i % 2 ? { to: reader.name } : { to: writer }, `history ${i}`));
    assert.ok(conversationId);

    await reader.page.reload();
    await openFromList(reader.page, { peer: writer });
    await reader.page.locator('#messages li.msg').nth(49).waitFor();
    assert.equal(await reader.page.locator('#messages li.msg').count(), 50, 'the newest 50 first');
    for (let pages = 0; pages < 20; pages++) {
      const count = await reader.page.locator('#messages li.msg').count();
      if ((await reader.page.getAttribute('#messages', 'data-has-more')) === 'false') break;
      await reader.page.locator('#messages').evaluate((list) => (list.scrollTop = 0));
      await reader.page.waitForSelector(`#messages li.msg:nth-child(${count + 1}), #messages[data-has-more="false"]`);
      if (pages === 2) await screenshot(reader.page, 'history-1-scrolling-back');
    }
    const messages = await shown(reader.page);
    assert.equal(messages.length, 500);
    assert.deepEqual(
      messages.map((m) => m.seq),
      Array.from({ length: 500 }, (_, i) => i + 1),
    );
    assert.deepEqual(
      messages.map((m) => m.body),
      Array.from({ length: 500 }, (_, i) => `history ${i + 1}`),
    );
    assert.equal(new Set(messages.map((m) => m.id)).size, 500);
    await screenshot(reader.page, 'history-2-top');

    // Two days later (the page's clock), the same messages carry their date, not just the time.
    const today = await reader.page.locator('#messages li.msg time').first().textContent();
    await reader.page.clock.setFixedTime(Date.now() + 2 * 86_400_000);
    await openFromList(reader.page, { peer: writer });
    const later = reader.page.locator('#messages li.msg time').last();
    await later.waitFor();
    assert.match((await later.textContent()) ?? '', new RegExp(String(new Date().getFullYear())), 'older than today: the date is shown');
    assert.doesNotMatch(today ?? '', new RegExp(String(new Date().getFullYear())), 'today: the time only');
    await screenshot(reader.page, 'history-3-dates');
  });

  it('one browser, two tabs: a logout or another login in one tab, and the other tab follows the cookie', async () => {
    const first = await demo.open(name('tia'));
    await signIn(first, 'register');
    const second = await demo.newTab(first); // the same cookie: signed in at once
    await second.waitForSelector('#connection[data-state="ready"]');
    await second.click('#logout');
    await first.page.waitForSelector('#auth:not([hidden])');
    assert.equal(await first.page.textContent('#connection'), 'signed out');

    const other = name('tom');
    await second.fill('#username', other);
    await second.fill('#password', PASSWORD);
    await second.click('#register');
    await first.page.waitForSelector(`#whoami >> text=signed in as ${other}`);
    await first.page.waitForSelector('#connection[data-state="ready"]');
  });

  it('the pages logged no errors and no Content-Security-Policy violations', () => {
    for (const person of demo.people) assert.deepEqual(person.problems, [], person.name);
  });
});
