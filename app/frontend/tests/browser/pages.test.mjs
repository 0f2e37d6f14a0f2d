// Browser tests: the built pages in headless Debian Chromium against the real
// auth service. Run by `npm test` after `npm run build`.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  CLIENT_ID,
  CLIENT_SECRET,
  INVITE,
  PASSWORD,
  assertClean,
  freshIp,
  freshUsername,
  openPage,
  pkcePair,
  startStack,
} from './harness.mjs';

let stack;

before(async () => {
  stack = await startStack();
});

after(async () => {
  await stack?.stop();
});

async function registerViaApi(username, ip = freshIp()) {
  const r = await fetch(`${stack.backendUrl}/register`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Forwarded-For': ip },
    body: JSON.stringify({ username, password: PASSWORD, invite_code: INVITE }),
  });
  assert.equal(r.status, 201, await r.text());
  return username;
}

function loginUrl(challenge, state = 'st-' + Math.random().toString(36).slice(2)) {
  const q = new URLSearchParams({
    client_id: CLIENT_ID,
    redirect_uri: stack.redirectUri,
    response_type: 'code',
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  });
  return { url: `${stack.origin}/login?${q}`, state };
}

async function fillRegister(page, { username, password, invite }) {
  await page.fill('#username', username);
  await page.fill('#password', password);
  await page.fill('#invite_code', invite);
  await page.click('button[type="submit"]');
}

/** Submit and wait for the auth service's answer to reach the page. */
async function submitAndWait(page, path, fill) {
  const response = page.waitForResponse((r) => new URL(r.url()).pathname === path);
  await fill();
  return response;
}

describe('landing page', () => {
  it('is zh-CN by default, says what the platform offers, leads into the hub', async () => {
    const { page, context, problems } = await openPage(stack);
    await page.goto(`${stack.origin}/`);
    assert.equal(await page.getAttribute('html', 'lang'), 'zh-CN');
    assert.match(await page.title(), /CFPS Hub/);
    const text = await page.innerText('main');
    for (const word of ['CFPS', 'JupyterLab', '每人一个容器', 'pandas', 'numpy', 'matplotlib', 'pyecharts', 'sql(', '安全登录']) {
      assert.ok(text.includes(word), `landing page lacks ${word}`);
    }
    assert.equal(await page.getAttribute('#open-hub', 'href'), '/jupyter/');
    await page.click('#open-hub');
    await page.waitForURL(`${stack.origin}/jupyter/`);
    assertClean(problems);
    await context.close();
  });

  it('switches to English and remembers it across pages and reloads', async () => {
    const { page, context, problems } = await openPage(stack);
    await page.goto(`${stack.origin}/`);
    await page.click('#lang-switch');
    assert.equal(await page.getAttribute('html', 'lang'), 'en');
    assert.match(await page.innerText('main'), /One container per user/);
    await page.reload();
    assert.equal(await page.getAttribute('html', 'lang'), 'en');
    assert.match(await page.title(), /China Family Panel Studies/);
    await page.goto(`${stack.origin}/register`);
    assert.equal(await page.innerText('label[for="invite_code"]'), 'Invite code');
    await page.click('#lang-switch');
    assert.equal(await page.innerText('label[for="invite_code"]'), '邀请码');
    await page.goto(`${stack.origin}/`);
    assert.equal(await page.getAttribute('html', 'lang'), 'zh-CN');
    assertClean(problems);
    await context.close();
  });
});

describe('register', () => {
  it('creates the account with an invite code and sends the user to the hub login', async () => {
    const { page, context, problems } = await openPage(stack);
    await page.goto(`${stack.origin}/register`);
    const username = freshUsername('reg');
    const response = await submitAndWait(page, '/api/register', () =>
      fillRegister(page, { username, password: PASSWORD, invite: INVITE }),
    );
    assert.equal(response.status(), 201);
    await page.waitForURL(/\/jupyter\/hub\/oauth_login\?next=%2Fjupyter%2Fhub%2F$/);
    // The account is real: the auth service lets it log in.
    const { challenge } = pkcePair();
    const r = await fetch(`${stack.backendUrl}/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Forwarded-For': freshIp() },
      body: JSON.stringify({ username, password: PASSWORD, ...Object.fromEntries(new URL(loginUrl(challenge).url).searchParams) }),
    });
    assert.equal(r.status, 200, await r.text());
    assertClean(problems);
    await context.close();
  });

  const cases = {
    'zh-CN': {
      invite: '邀请码无效、已过期或已用完。',
      taken: '该用户名已被注册。',
      common: '密码过于常见，请换一个更难猜的密码。',
      short: '密码太短，至少需要 8 个字符。',
      name: '用户名须为 4–16 位小写字母、数字或下划线。',
    },
    en: {
      invite: 'The invite code is invalid, expired or used up.',
      taken: 'This username is already taken.',
      common: 'This password is too common; choose a harder one.',
      short: 'Password too short: at least 8 characters.',
      name: 'Username must be 4-16 characters: a-z, 0-9 or _.',
    },
  };

  for (const [lang, want] of Object.entries(cases)) {
    it(`shows the server's message under the field (${lang})`, async () => {
      const { page, context, problems } = await openPage(stack);
      await page.goto(`${stack.origin}/register`);
      if (lang === 'en') await page.click('#lang-switch');
      assert.equal(await page.getAttribute('html', 'lang'), lang);

      // Bad invite code: the server's message, under the invite field.
      let res = await submitAndWait(page, '/api/register', () =>
        fillRegister(page, { username: freshUsername('inv'), password: PASSWORD, invite: 'not-a-real-invite' }),
      );
      assert.equal(res.status(), 400);
      await page.waitForFunction((t) => document.getElementById('invite_code-error')?.textContent === t, want.invite);
      assert.equal(await page.getAttribute('#invite_code', 'aria-invalid'), 'true');
      assert.equal(await page.evaluate(() => document.activeElement?.id), 'invite_code');

      // Taken name.
      const taken = await registerViaApi(freshUsername('tkn'));
      res = await submitAndWait(page, '/api/register', () => fillRegister(page, { username: taken, password: PASSWORD, invite: INVITE }));
      assert.equal(res.status(), 400);
      await page.waitForFunction((t) => document.getElementById('username-error')?.textContent === t, want.taken);
      assert.equal(await page.textContent('#invite_code-error'), '', 'old errors are cleared');
      assert.equal(await page.getAttribute('#invite_code', 'aria-invalid'), null);

      // Common password: only the server knows the list.
      res = await submitAndWait(page, '/api/register', () =>
        fillRegister(page, { username: freshUsername('cmn'), password: 'password123', invite: INVITE }),
      );
      assert.equal(res.status(), 400);
      await page.waitForFunction((t) => document.getElementById('password-error')?.textContent === t, want.common);

      // Short password and bad name: caught in the page, no request sent.
      let posted = 0;
      page.on('request', (r) => {
        if (new URL(r.url()).pathname === '/api/register') posted += 1;
      });
      await fillRegister(page, { username: 'Bad-Name', password: 'short', invite: INVITE });
      assert.equal(await page.textContent('#password-error'), want.short);
      assert.equal(await page.textContent('#username-error'), want.name);
      assert.equal(await page.evaluate(() => document.activeElement?.id), 'username');
      assert.equal(posted, 0);
      assertClean(problems, [400]);
      await context.close();
    });
  }

  it('is usable from the keyboard alone, with labelled fields and live error regions', async () => {
    const { page, context, problems } = await openPage(stack);
    await page.goto(`${stack.origin}/register/`);
    for (const id of ['username', 'password', 'invite_code']) {
      assert.ok(await page.$(`label[for="${id}"]`), `label for ${id}`);
      assert.equal(await page.getAttribute(`#${id}-error`, 'aria-live'), 'polite');
      assert.match(await page.getAttribute(`#${id}`, 'aria-describedby'), new RegExp(`${id}-error`));
    }
    assert.equal(await page.getAttribute('[data-form-status]', 'role'), 'alert');
    await page.focus('#username');
    await page.keyboard.type(freshUsername('kbd'));
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'password');
    await page.keyboard.type(PASSWORD);
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'invite_code');
    await page.keyboard.type(INVITE);
    const response = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/register');
    await page.keyboard.press('Enter');
    assert.equal((await response).status(), 201);
    await page.waitForURL(/\/jupyter\/hub\/oauth_login/);
    assertClean(problems);
    await context.close();
  });
});

describe('login', () => {
  it('posts the credentials with the OAuth parameters and follows the redirect to redirect_uri with code and state', async () => {
    const username = await registerViaApi(freshUsername('lgn'));
    const { verifier, challenge } = pkcePair();
    const { url, state } = loginUrl(challenge);
    const { page, context, problems } = await openPage(stack);
    await page.goto(url);
    await page.fill('#username', username);
    await page.fill('#password', PASSWORD);
    await page.click('button[type="submit"]');
    await page.waitForURL((u) => u.href.startsWith(stack.redirectUri));
    const landed = new URL(page.url());
    assert.equal(landed.searchParams.get('state'), state);
    const code = landed.searchParams.get('code');
    assert.ok(code && code.length > 20, 'a code came back');
    assert.ok(stack.callbacks.some((u) => u.searchParams.get('code') === code));
    // The code is a real one: the hub can redeem it once, with the PKCE verifier.
    const token = await fetch(`${stack.backendUrl}/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'X-Forwarded-For': freshIp() },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        redirect_uri: stack.redirectUri,
        code_verifier: verifier,
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
      }),
    });
    const tokenBody = await token.text();
    assert.equal(token.status, 200, tokenBody);
    const info = await fetch(`${stack.backendUrl}/userinfo`, {
      headers: { Authorization: `Bearer ${JSON.parse(tokenBody).access_token}` },
    });
    assert.equal((await info.json()).username, username);
    assertClean(problems);
    await context.close();
  });

  it('shows a wrong password under the password field, in the chosen language', async () => {
    const { challenge } = pkcePair();
    const { page, context, problems } = await openPage(stack);
    await page.goto(loginUrl(challenge).url);
    await page.fill('#username', 'nobody_here');
    await page.fill('#password', 'wrong-password-1');
    let res = await submitAndWait(page, '/api/login', () => page.click('button[type="submit"]'));
    assert.equal(res.status(), 401);
    await page.waitForFunction(() => document.getElementById('password-error')?.textContent === '用户名或密码错误。');
    await page.click('#lang-switch');
    res = await submitAndWait(page, '/api/login', () => page.click('button[type="submit"]'));
    assert.equal(res.status(), 401);
    await page.waitForFunction(() => document.getElementById('password-error')?.textContent === 'Wrong username or password.');
    assertClean(problems, [401]);
    await context.close();
  });

  it('without OAuth parameters sends the visitor to the hub login', async () => {
    const { page, context, problems } = await openPage(stack);
    await page.goto(`${stack.origin}/login`);
    await page.waitForURL(`${stack.origin}/jupyter/hub/oauth_login?next=%2Fjupyter%2Fhub%2F`);
    assertClean(problems);
    await context.close();
  });

  it('shows the rate limit with the Retry-After delay and blocks the button', async () => {
    const ip = freshIp();
    const { challenge } = pkcePair();
    const { url } = loginUrl(challenge);
    const params = Object.fromEntries(new URL(url).searchParams);
    // Use up this address's login attempts (10 a minute) straight at the service.
    let status = 0;
    for (let i = 0; i < 12 && status !== 429; i += 1) {
      const r = await fetch(`${stack.backendUrl}/login`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-Forwarded-For': ip },
        body: JSON.stringify({ username: 'nobody_here', password: 'wrong-password-1', ...params }),
      });
      status = r.status;
    }
    assert.equal(status, 429);
    const { page, context, problems } = await openPage(stack, ip);
    await page.goto(url);
    await page.fill('#username', 'nobody_here');
    await page.fill('#password', 'wrong-password-1');
    const res = await submitAndWait(page, '/api/login', () => page.click('button[type="submit"]'));
    assert.equal(res.status(), 429);
    const retryAfter = Number(res.headers()['retry-after']);
    assert.ok(retryAfter > 0);
    await page.waitForFunction(() => /尝试次数过多/.test(document.querySelector('[data-form-status]')?.textContent ?? ''));
    const status429 = await page.textContent('[data-form-status]');
    assert.match(status429, /请在 \d+ 秒后重试。/);
    const shown = Number(/请在 (\d+) 秒后重试/.exec(status429)[1]);
    assert.ok(Math.abs(shown - retryAfter) <= 1, `shown ${shown}, header ${retryAfter}`);
    assert.equal(await page.isDisabled('button[type="submit"]'), true);
    await page.click('#lang-switch');
    assert.match(await page.textContent('[data-form-status]'), /Try again in \d+ seconds\./);
    assertClean(problems, [429]);
    await context.close();
  });
});

describe('password page', () => {
  it('changes the password with the current one; then only the new one logs in', async () => {
    const username = await registerViaApi(freshUsername());
    const { page, context, problems } = await openPage(stack);
    await page.goto(`${stack.origin}/password`);
    assert.equal(await page.title(), '修改密码 — CFPS Hub');
    await page.fill('#username', username);
    await page.fill('#password', 'not-the-password-1');
    await page.fill('#new_password', 'Survey-Waves-2010-2022');
    let res = await submitAndWait(page, '/api/password', () => page.click('button[type="submit"]'));
    assert.equal(res.status(), 401);
    await page.waitForFunction(() => document.getElementById('password-error')?.textContent === '用户名或密码错误。');
    await page.fill('#password', PASSWORD);
    await page.fill('#new_password', 'jupyterhub1');
    res = await submitAndWait(page, '/api/password', () => page.click('button[type="submit"]'));
    assert.equal(res.status(), 400);
    await page.waitForFunction(() => /本站名称/.test(document.getElementById('new_password-error')?.textContent ?? ''));
    await page.fill('#new_password', 'Survey-Waves-2010-2022');
    res = await submitAndWait(page, '/api/password', () => page.click('button[type="submit"]'));
    assert.equal(res.status(), 200);
    await page.waitForFunction(() => /密码已修改/.test(document.querySelector('[data-form-status]')?.textContent ?? ''));
    assert.equal(await page.inputValue('#password'), '');
    assertClean(problems, [400, 401]);
    await context.close();

    const { challenge } = pkcePair();
    const params = Object.fromEntries(new URL(loginUrl(challenge).url).searchParams);
    for (const [password, want] of [
      [PASSWORD, 401],
      ['Survey-Waves-2010-2022', 200],
    ]) {
      const r = await fetch(`${stack.backendUrl}/login`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-Forwarded-For': freshIp() },
        body: JSON.stringify({ username, password, ...params }),
      });
      assert.equal(r.status, want);
    }
  });
});
