// Regenerates docs/demo.png, the README's picture of the demo page: three users in a group and a direct
// chat, with read ticks, an unread badge and "typing…". Needs Chromium (/usr/bin/chromium), as the
// browser test does. Run: node --import tsx scripts/demo-screenshot.ts
import { fileURLToPath } from 'node:url';
import { chatWith, openFromList, say, signIn, startDemoBrowser, waitForStatus } from '../test/e2e/helpers/browser.js';

const OUT = fileURLToPath(new URL('../docs/demo.png', import.meta.url));
const demo = await startDemoBrowser();
const [ann, ben, cat] = [await demo.open('ann'), await demo.open('ben'), await demo.open('cat')];
for (const p of [ann, ben, cat]) await signIn(p, 'register');
await chatWith(ben.page, 'ann');
await say(ben.page, 'Lunch at 12?');
await ann.page.click('#new-group summary');
await ann.page.fill('#group-title', 'Launch team');
await ann.page.fill('#group-members', 'ben, cat');
await ann.page.click('#group-form button[type="submit"]');
await ann.page.waitForSelector('#conversation-title >> text=Launch team (3)');
await openFromList(ben.page, { title: 'Launch team' });
await openFromList(cat.page, { title: 'Launch team' });
await say(ann.page, 'Welcome! The release goes out on Friday.');
await waitForStatus(ann.page, 'Welcome!', 'read');
await say(cat.page, 'Docs are ready for review <b>(draft)</b>');
await ann.page.waitForSelector('#messages li.msg.theirs >> text=Docs are ready');
await say(ben.page, 'Load test passed: 40k msg/s');
await ann.page.waitForSelector('#messages li.msg.theirs >> text=Load test');
await say(ann.page, 'Great work, both of you');
await waitForStatus(ann.page, 'Great work', 'read');
await cat.page.waitForTimeout(2500); // cat typed 'Docs…' just now: one typing notice per 2 s (SDK and server)
await cat.page.type('#body', 'ship', { delay: 30 });
await ann.page.waitForSelector('#typing >> text=cat is typing…');
await ann.page.screenshot({ path: OUT });
await demo.close();
