// Test harness for the browser tests: the built site (dist/) behind a small
// static server that answers like nginx (/login -> login/index.html, /api/ ->
// the auth service with the prefix stripped), a REAL auth service
// (cfps-backend from the repository's venv, temp SQLite DB), a stand-in for
// the hub's OAuth callback on another port, and headless Debian Chromium.
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request as httpRequest, createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = dirname(fileURLToPath(import.meta.url));
export const APP = resolve(HERE, '../..');
export const DIST = join(APP, 'dist');
const REPO = resolve(APP, '../..');

export const INVITE = 'frontend-test-invite-1';
export const PASSWORD = 'Correct-Horse-Battery-9';
export const CLIENT_ID = 'jupyterhub';
export const CLIENT_SECRET = 'hub-secret-0123456789abcdef';

// What nginx would send with the pages; a violation shows up as a console error.
const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml' };

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

function listen(server) {
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(server.address().port)));
}

function freePort() {
  const s = createServer();
  return listen(s).then((port) => new Promise((ok) => s.close(() => ok(port))));
}

function backendBin() {
  const candidates = [process.env.CFPS_BACKEND_BIN, join(REPO, '.venv/bin/cfps-backend')].filter(Boolean);
  for (const c of candidates) if (existsSync(c)) return c;
  const which = spawnSync('sh', ['-c', 'command -v cfps-backend'], { encoding: 'utf8' });
  if (which.status === 0) return which.stdout.trim();
  throw new Error('cfps-backend not found: create the venv (scripts/test does) or set CFPS_BACKEND_BIN');
}

function serveStatic(req, res, pathname) {
  let file = resolve(DIST, '.' + decodeURIComponent(pathname));
  if (file !== DIST && !file.startsWith(DIST + sep)) {
    res.writeHead(400).end();
    return;
  }
  // try_files $uri $uri/index.html
  if (existsSync(file) && statSync(file).isDirectory()) file = join(file, 'index.html');
  if (!existsSync(file) || !statSync(file).isFile()) {
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
    return;
  }
  res.writeHead(200, {
    'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
    'Content-Security-Policy': CSP,
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
  });
  res.end(readFileSync(file));
}

function stubPage(res, title) {
  res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Security-Policy': CSP });
  res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>${title}</title></head><body><p>${title}</p></body></html>`);
}

export async function startStack() {
  if (!existsSync(join(DIST, 'index.html'))) throw new Error('dist/ is missing: run `npm run build` first');
  const state = { backendPort: 0, callbacks: [] };

  const web = createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname.startsWith('/api/')) {
      const upstream = httpRequest(
        {
          host: '127.0.0.1',
          port: state.backendPort,
          method: req.method,
          path: url.pathname.slice(4) + url.search,
          headers: { ...req.headers, host: `127.0.0.1:${state.backendPort}` },
        },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      upstream.on('error', () => res.writeHead(502).end());
      req.pipe(upstream);
      return;
    }
    if (url.pathname.startsWith('/jupyter/')) {
      stubPage(res, 'hub stub');
      return;
    }
    serveStatic(req, res, url.pathname);
  });
  const webPort = await listen(web);

  // The hub's OAuth callback stand-in: records what the browser brought.
  const callback = createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    state.callbacks.push(url);
    stubPage(res, 'callback');
  });
  const callbackPort = await listen(callback);

  const tmp = mkdtempSync(join(tmpdir(), 'cfps-frontend-test-'));
  const config = join(tmp, 'config.toml');
  const origin = `http://127.0.0.1:${webPort}`;
  const redirectUri = `http://127.0.0.1:${callbackPort}/jupyter/hub/oauth_callback`;
  state.backendPort = await freePort();
  writeFileSync(
    config,
    [
      `secret_key = "frontend-test-secret-0123456789abcdef-0123"`,
      `database_url = "sqlite:///${join(tmp, 'cfps.db')}"`,
      `public_url = "${origin}"`,
      `invite_codes = ["${INVITE}"]`,
      `rate_limit = "10/minute"`,
      `workers = 1`,
      `userinfo_cache_seconds = 0`,
      `[[clients]]`,
      `client_id = "${CLIENT_ID}"`,
      `client_secret = "${CLIENT_SECRET}"`,
      `redirect_uris = ["${redirectUri}"]`,
      '',
    ].join('\n'),
  );
  const bin = backendBin();
  const env = { ...process.env, CFPS_BACKEND_CONFIG: config };
  const upgrade = spawnSync(bin, ['db', 'upgrade'], { env, encoding: 'utf8' });
  if (upgrade.status !== 0) throw new Error(`cfps-backend db upgrade failed: ${upgrade.stdout}${upgrade.stderr}`);
  const logFile = join(tmp, 'backend.log');
  const log = [];
  const backend = spawn(bin, ['serve', '--port', String(state.backendPort), '--workers', '1'], { env });
  backend.stdout.on('data', (d) => log.push(String(d)));
  backend.stderr.on('data', (d) => log.push(String(d)));
  const backendUrl = `http://127.0.0.1:${state.backendPort}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (backend.exitCode !== null) throw new Error(`cfps-backend exited: ${log.join('')}`);
    try {
      if ((await fetch(`${backendUrl}/health`)).ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`cfps-backend did not start: ${log.join('')}`);
    await new Promise((ok) => setTimeout(ok, 200));
  }

  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
  });

  return {
    origin,
    redirectUri,
    backendUrl,
    browser,
    callbacks: state.callbacks,
    backendLog: () => log.join(''),
    async stop() {
      await browser.close().catch(() => {});
      backend.kill('SIGTERM');
      await new Promise((ok) => (backend.exitCode !== null ? ok() : backend.once('exit', ok)));
      web.closeAllConnections?.();
      callback.closeAllConnections?.();
      await new Promise((ok) => web.close(ok));
      await new Promise((ok) => callback.close(ok));
      writeFileSync(logFile, log.join(''));
      rmSync(tmp, { recursive: true, force: true });
    },
  };
}

let ipCounter = 0;
/** A fresh client address per test, so per-IP rate limits never leak between tests. */
export function freshIp() {
  ipCounter += 1;
  return `198.51.100.${ipCounter}`;
}

let userCounter = 0;
export function freshUsername(prefix = 'fe') {
  userCounter += 1;
  return `${prefix}${process.pid % 10000}_${userCounter}${randomBytes(2).toString('hex')}`.slice(0, 16);
}

export function pkcePair() {
  const verifier = randomBytes(48).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}

/**
 * A page that records console errors, uncaught exceptions and any request to
 * another host. `ip` becomes X-Forwarded-For (the stand-in nginx passes it on).
 */
export async function openPage(stack, ip = freshIp()) {
  const context = await stack.browser.newContext({ extraHTTPHeaders: { 'X-Forwarded-For': ip } });
  const page = await context.newPage();
  const problems = { console: [], pageErrors: [], foreign: [] };
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.console.push({ text: msg.text(), url: msg.location().url });
  });
  page.on('pageerror', (err) => problems.pageErrors.push(String(err)));
  page.on('request', (req) => {
    const url = new URL(req.url());
    if (!['http:', 'data:'].includes(url.protocol) || (url.protocol === 'http:' && url.hostname !== '127.0.0.1')) {
      problems.foreign.push(req.url());
    }
  });
  return { page, context, problems, ip };
}

/**
 * No console error, no uncaught exception, no foreign request. `expectedApi`
 * lists HTTP statuses the test itself provokes from /api/ (Chromium logs every
 * fetch answered 4xx as "Failed to load resource"); only those are let through.
 */
export function assertClean(problems, expectedApi = []) {
  const unexpected = problems.console.filter((c) => {
    const m = /^Failed to load resource: the server responded with a status of (\d{3})/.exec(c.text);
    return !(m && expectedApi.includes(Number(m[1])) && new URL(c.url).pathname.startsWith('/api/'));
  });
  if (unexpected.length || problems.pageErrors.length || problems.foreign.length) {
    throw new Error(`page problems: ${JSON.stringify({ ...problems, console: unexpected }, null, 2)}`);
  }
}
