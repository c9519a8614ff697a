// End-to-end tests of the web console: a real fieldlog-server with seeded
// data, Debian's chromium (headless) driven by Playwright. Screenshots go to
// $FIELDLOG_ARTIFACTS (default build/web-artifacts).
//
//   FIELDLOG_BIN_DIR=build/bin node --test tests/web/console.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const bin = process.env.FIELDLOG_BIN_DIR || 'build/bin';
const artifacts = process.env.FIELDLOG_ARTIFACTS || 'build/web-artifacts';
const browserPath = process.env.FIELDLOG_CHROMIUM || '/usr/bin/chromium';
mkdirSync(artifacts, { recursive: true });

let server, dataDir, grpcAddress, httpUrl, keys, browser;

function cli(args, input) {
  const result = spawnSync(join(bin, 'fieldlog'), ['--server', grpcAddress, ...args], {
    input, encoding: 'utf8', timeout: 60000,
  });
  assert.equal(result.status, 0, `fieldlog ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

function jsonl(lines) { return lines.map((l) => JSON.stringify(l)).join('\n') + '\n'; }

async function signIn(page, url = httpUrl) {
  await page.goto(url);
  await page.getByLabel('Read token').fill(keys.read_token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#console').waitFor({ state: 'visible' });
}

async function openUser(page, user) {
  await page.getByLabel('User id, e-mail, device id or issue link').fill(user);
  await page.keyboard.press('Enter');
  await page.locator('.row[role=option]').first().waitFor();
}

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'fieldlog-web-'));
  const listenFile = join(dataDir, 'listen');
  server = spawn(join(bin, 'fieldlog-server'), ['--data-dir', dataDir, '--grpc-listen', '127.0.0.1:0',
    '--http-listen', '127.0.0.1:0', '--device-rate-limit', '0', '--listen-file', listenFile],
  { stdio: 'ignore' });
  for (let i = 0; i < 200 && !existsSync(listenFile); ++i) await new Promise((r) => setTimeout(r, 50));
  [grpcAddress, httpUrl] = readFileSync(listenFile, 'utf8').trim().split('\n');
  httpUrl = `http://${httpUrl}/`;
  const admin = readFileSync(join(dataDir, 'admin_token'), 'utf8').trim();
  keys = JSON.parse(cli(['--token', admin, 'apps', 'create', 'shop', '-o', 'json']));

  // Alice: two devices over the last hours, with errors and a timeout to find.
  const now = Date.now();
  for (const device of ['pixel-8', 'ipad-2']) {
    const lines = [];
    for (let i = 0; i < 1500; ++i) {
      lines.push({
        time: new Date(now - (1500 - i) * 7000).toISOString(),
        level: i % 10 === 0 ? 'error' : i % 3 === 0 ? 'warn' : 'info',
        tag: ['Checkout', 'Network', 'UI'][i % 3],
        message: i % 10 === 0 ? `PaymentTimeout after ${i} ms` : `step ${i} on ${device}`,
        attributes: { 'app.version': i % 2 ? '3.2.1' : '3.1.0' },
      });
    }
    cli(['send', '--key', keys.ingest_key, '--device', device, '--user', 'alice@example.com',
      '--format', 'jsonl'], jsonl(lines));
  }
  // A big customer: 100,000 lines in the last 24 hours on one device.
  const big = [];
  for (let i = 0; i < 100000; ++i) {
    big.push({ time: new Date(now - (100000 - i) * 800).toISOString(), level: 'info', tag: 'Feed',
      message: `item ${i} rendered` });
  }
  cli(['send', '--key', keys.ingest_key, '--device', 'big-tablet', '--user', 'big@example.com',
    '--format', 'jsonl'], jsonl(big));

  browser = await chromium.launch({
    executablePath: browserPath,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  if (browser) await browser.close();
  if (server) {
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill('SIGTERM');
    await exited;
  }
  rmSync(dataDir, { recursive: true, force: true });
});

test('sign in, search a user, see her devices and lines', async () => {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  await signIn(page);
  assert.equal(await page.locator('#app-name').textContent(), 'shop');
  await openUser(page, 'alice@example.com');
  const devices = page.locator('#devices .device');
  await devices.nth(1).waitFor();
  assert.equal(await devices.count(), 2);
  assert.match(await page.locator('#devices').textContent(), /pixel-8/);
  assert.match(await page.locator('#devices').textContent(), /1500 lines/);
  const first = await page.locator('.row[role=option]').first().textContent();
  assert.match(first, /step 1 on|PaymentTimeout after 0|step 0 on/);
  await page.screenshot({ path: join(artifacts, 'user-timeline.png') });

  // Details of a line, by keyboard.
  await page.locator('#timeline').focus();
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Enter');
  await page.locator('#details').waitFor({ state: 'visible' });
  const details = await page.locator('#details-list').textContent();
  assert.match(details, /device time/);
  assert.match(details, /@app\.version/);
  await page.screenshot({ path: join(artifacts, 'line-details.png') });
  await page.keyboard.press('Escape');
  assert.equal(await page.locator('#details').isVisible(), false);
  await page.close();
});

test('filter by level and text; a permalink reopens the same view', async () => {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  await signIn(page);
  await openUser(page, 'alice@example.com');
  await page.getByLabel('Level', { exact: true }).selectOption('error');
  await page.getByLabel('Text', { exact: true }).fill('paymenttimeout');
  await page.getByRole('button', { name: 'Apply' }).click();
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll('.row[role=option]')];
    return rows.length > 0 && rows.every((r) => r.dataset.level === 'error');
  });
  const rows = page.locator('.row[role=option]');
  const shown = await rows.count();
  assert.ok(shown > 10);
  for (let i = 0; i < Math.min(shown, 20); ++i) {
    assert.match(await rows.nth(i).textContent(), /PaymentTimeout/);
  }
  assert.match(await page.locator('#count').textContent(), /^300 lines$/);  // 150 a device
  const firstRows = await rows.evaluateAll((nodes) => nodes.slice(0, 5).map((n) => n.textContent));
  await page.getByRole('button', { name: 'Copy link' }).click();
  const permalink = page.url();
  assert.match(permalink, /#\/user\/alice%40example\.com\?.*level=error/);
  assert.match(permalink, /from=/);
  assert.doesNotMatch(permalink, /fl_rt_/, 'the token never goes into a URL');
  await page.screenshot({ path: join(artifacts, 'filtered.png') });
  await page.close();

  // A fresh browser context: no session; sign in and land on the same view.
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const fresh = await context.newPage();
  await fresh.goto(permalink);
  await fresh.getByLabel('Read token').fill(keys.read_token);
  await fresh.getByRole('button', { name: 'Sign in' }).click();
  await fresh.locator('.row[role=option]').first().waitFor();
  assert.equal(await fresh.getByLabel('Level', { exact: true }).inputValue(), 'error');
  assert.equal(await fresh.getByLabel('Text', { exact: true }).inputValue(), 'paymenttimeout');
  const reopened = await fresh.locator('.row[role=option]')
    .evaluateAll((nodes) => nodes.slice(0, 5).map((n) => n.textContent));
  assert.deepEqual(reopened, firstRows);
  await fresh.screenshot({ path: join(artifacts, 'permalink.png') });
  await context.close();
});

test('live tail shows a line sent during the test within two seconds', async () => {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  await signIn(page);
  await openUser(page, 'alice@example.com');
  await page.getByRole('button', { name: 'Live tail' }).click();
  await page.waitForFunction(() => document.querySelector('#tail').getAttribute('aria-pressed') === 'true');
  await page.waitForTimeout(300);  // the stream is open
  const text = `checkout retried at ${Date.now()}`;
  const sent = Date.now();
  cli(['send', '--key', keys.ingest_key, '--device', 'pixel-8', '--user', 'alice@example.com',
    '--level', 'warn', '--tag', 'Checkout'], text + '\n');
  await page.getByText(text).waitFor({ timeout: 5000 });
  const delay = Date.now() - sent;
  assert.ok(delay < 2000, `the line took ${delay} ms to appear`);
  await page.screenshot({ path: join(artifacts, 'live-tail.png') });
  await page.getByRole('button', { name: 'Live tail' }).click();
  await page.close();
});

test('export the current view as JSON lines and CSV', async () => {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 }, acceptDownloads: true });
  await signIn(page);
  await openUser(page, 'alice@example.com');
  await page.getByLabel('Level', { exact: true }).selectOption('error');
  await page.getByRole('button', { name: 'Apply' }).click();
  await page.waitForFunction(() => document.querySelector('#count').textContent === '300 lines');
  const [jsonDownload] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Export JSON lines' }).click(),
  ]);
  const exported = readFileSync(await jsonDownload.path(), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(exported.length, 300);
  assert.ok(exported.every((l) => l.level === 'error' && l.user_id === 'alice@example.com'));
  const [csvDownload] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Export CSV' }).click(),
  ]);
  const csv = readFileSync(await csvDownload.path(), 'utf8').trim().split('\n');
  assert.equal(csv[0], 'time,level,device_id,user_id,session_id,seq,tag,message');
  assert.equal(csv.length, 301);
  await page.close();
});

test('a user with 100,000 lines opens in under a second and scrolls', async () => {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  await signIn(page);
  await page.getByLabel('User id, e-mail, device id or issue link').fill('big@example.com');
  const started = Date.now();
  await page.keyboard.press('Enter');
  await page.locator('.row[role=option]').first().waitFor();
  const opened = Date.now() - started;
  assert.ok(opened < 1000, `opened in ${opened} ms`);
  // Scroll through several pages: more lines load, the DOM stays small.
  for (let i = 0; i < 8; ++i) {
    await page.locator('#timeline').evaluate((t) => { t.scrollTop = t.scrollHeight; });
    await page.waitForTimeout(250);
  }
  await page.waitForFunction(() => parseInt(document.querySelector('#count').textContent, 10) >= 2000);
  const domRows = await page.locator('.row').count();
  assert.ok(domRows < 200, `${domRows} rows in the DOM`);
  await page.screenshot({ path: join(artifacts, 'big-user.png') });
  await page.close();
});

test('trends and affected users; dark mode stays readable', async () => {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, colorScheme: 'dark' });
  const page = await context.newPage();
  await signIn(page);
  await page.getByRole('link', { name: 'Trends' }).click();
  await page.locator('#t-tags tr').nth(1).waitFor();
  assert.match(await page.locator('#t-tags').textContent(), /Checkout/);
  await page.getByLabel('Text to find').fill('paymenttimeout');
  await page.getByRole('button', { name: 'Find' }).click();
  await page.locator('#a-users a').first().waitFor();
  assert.match(await page.locator('#a-summary').textContent(), /^300 matching lines from 1 users on 2 devices/);
  const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.equal(background, 'rgb(20, 23, 28)');
  await page.screenshot({ path: join(artifacts, 'trends-dark.png'), fullPage: true });
  await context.close();
});

test('the API refuses a missing or foreign token', async () => {
  const response = await fetch(new URL('api/v1/apps/shop/search?user=alice@example.com', httpUrl));
  assert.equal(response.status, 401);
  assert.equal((await response.json()).code, 'UNAUTHENTICATED');
  const wrong = await fetch(new URL('api/v1/apps/shop/search?user=alice@example.com', httpUrl),
    { headers: { Authorization: 'Bearer ' + keys.ingest_key } });
  assert.equal(wrong.status, 403);
});
