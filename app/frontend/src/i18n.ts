// Two languages: zh-CN (default) and English. The choice is kept in
// localStorage; the HTML carries the zh-CN text, so nothing flickers.

export type Lang = 'zh-CN' | 'en';
export const LANGS: readonly Lang[] = ['zh-CN', 'en'];
export const DEFAULT_LANG: Lang = 'zh-CN';
export const STORAGE_KEY = 'cfps-hub.lang';

type Dict = Record<string, string>;

const zh: Dict = {
  'site.name': 'CFPS Hub',
  'lang.switch': 'English',
  'lang.switch.label': 'Switch to English',
  'nav.skip': '跳到正文',
  'nav.home': '首页',
  'nav.login': '登录',
  'nav.register': '注册',
  'landing.title': 'CFPS Hub — 中国家庭追踪调查数据分析平台',
  'landing.heading': '中国家庭追踪调查（CFPS）数据分析平台',
  'landing.lead': '在浏览器里打开 JupyterLab，直接分析 CFPS 数据：无需安装任何软件，团队共享同一份数据。',
  'landing.cta': '进入平台',
  'landing.register': '用邀请码注册',
  'landing.features': '平台提供',
  'feature.data.title': 'CFPS 数据',
  'feature.data.body': 'CFPS 调查数据以只读方式挂载在每个工作区的 data 文件夹中，另有团队共享文件夹。',
  'feature.lab.title': 'JupyterLab',
  'feature.lab.body': '完整的 JupyterLab 环境：笔记本、终端、文件浏览器。',
  'feature.container.title': '每人一个容器',
  'feature.container.body': '每位用户拥有独立的容器和私有主目录，重启后文件仍在。',
  'feature.libs.title': '预装常用库',
  'feature.libs.body': '已预装 pandas、numpy、matplotlib、pyecharts，打开即可使用。',
  'feature.sql.title': 'SQL 查询',
  'feature.sql.body': '在笔记本中调用 sql("SELECT …") 即可通过只读账号查询 CFPS 数据库。',
  'feature.secure.title': '安全登录',
  'feature.secure.body': '邀请码注册，密码以 argon2id 加密存储，登录使用 OAuth2 授权码与 PKCE。',
  'landing.footer': '中国家庭追踪调查（China Family Panel Studies）研究团队内部使用。',
  'login.title': '登录 — CFPS Hub',
  'login.heading': '登录',
  'login.submit': '登录',
  'login.busy': '正在登录…',
  'login.noaccount': '还没有账号？',
  'login.toregister': '用邀请码注册',
  'login.redirecting': '正在跳转到平台登录…',
  'login.topassword': '修改密码',
  'password.title': '修改密码 — CFPS Hub',
  'password.heading': '修改密码',
  'password.submit': '修改密码',
  'password.busy': '正在修改…',
  'password.done': '密码已修改。已登录的会话需要用新密码重新登录。',
  'password.tologin': '用新密码登录',
  'field.current_password': '当前密码',
  'field.new_password': '新密码',
  'error.new_password_required': '请输入新密码。',
  'register.title': '注册 — CFPS Hub',
  'register.heading': '注册账号',
  'register.submit': '注册',
  'register.busy': '正在注册…',
  'register.haveaccount': '已有账号？',
  'register.tologin': '去登录',
  'register.done': '注册成功，正在跳转到登录页…',
  'field.username': '用户名',
  'field.username.hint': '4–16 位小写字母、数字或下划线',
  'field.password': '密码',
  'field.password.hint': '8–128 个字符，不要使用常见密码',
  'field.invite_code': '邀请码',
  'field.invite_code.hint': '向团队管理员索取',
  'error.username_required': '请输入用户名。',
  'error.username_invalid': '用户名须为 4–16 位小写字母、数字或下划线。',
  'error.password_required': '请输入密码。',
  'error.password_too_short': '密码太短，至少需要 {n} 个字符。',
  'error.password_too_long': '密码太长，最多 {n} 个字符。',
  'error.invite_code_required': '请输入邀请码。',
  'error.rate_limited': '尝试次数过多，请稍后再试。',
  'error.retry_after': '请在 {n} 秒后重试。',
  'error.network': '无法连接服务器，请检查网络后重试。',
  'error.server': '服务器出错（{n}），请稍后再试。',
  'error.bad_redirect': '服务器返回的跳转地址无效。',
  'error.form': '请更正标出的错误后再提交。',
};

const en: Dict = {
  'site.name': 'CFPS Hub',
  'lang.switch': '中文',
  'lang.switch.label': '切换到中文',
  'nav.skip': 'Skip to content',
  'nav.home': 'Home',
  'nav.login': 'Log in',
  'nav.register': 'Register',
  'landing.title': 'CFPS Hub — China Family Panel Studies analysis platform',
  'landing.heading': 'China Family Panel Studies (CFPS) analysis platform',
  'landing.lead': 'Open JupyterLab in your browser and analyse the CFPS data right away: nothing to install, one shared copy of the data for the whole team.',
  'landing.cta': 'Open the platform',
  'landing.register': 'Register with an invite code',
  'landing.features': 'What you get',
  'feature.data.title': 'CFPS data',
  'feature.data.body': 'The CFPS survey data, mounted read-only in the data folder of every workspace, plus a folder shared by the team.',
  'feature.lab.title': 'JupyterLab',
  'feature.lab.body': 'A full JupyterLab: notebooks, terminal, file browser.',
  'feature.container.title': 'One container per user',
  'feature.container.body': 'Each user gets a container of their own and a private home folder that survives restarts.',
  'feature.libs.title': 'Preloaded libraries',
  'feature.libs.body': 'pandas, numpy, matplotlib and pyecharts are installed and ready.',
  'feature.sql.title': 'SQL access',
  'feature.sql.body': 'Call sql("SELECT …") in a notebook to query the CFPS database through a read-only account.',
  'feature.secure.title': 'Secure login',
  'feature.secure.body': 'Registration by invite code, passwords hashed with argon2id, login with OAuth2 authorization code and PKCE.',
  'landing.footer': 'For research teams working with the China Family Panel Studies.',
  'login.title': 'Log in — CFPS Hub',
  'login.heading': 'Log in',
  'login.submit': 'Log in',
  'login.busy': 'Logging in…',
  'login.noaccount': 'No account yet?',
  'login.toregister': 'Register with an invite code',
  'login.redirecting': 'Taking you to the platform login…',
  'login.topassword': 'Change password',
  'password.title': 'Change password — CFPS Hub',
  'password.heading': 'Change password',
  'password.submit': 'Change password',
  'password.busy': 'Changing…',
  'password.done': 'Password changed. Sessions signed in before must log in again with the new password.',
  'password.tologin': 'Log in with the new password',
  'field.current_password': 'Current password',
  'field.new_password': 'New password',
  'error.new_password_required': 'Enter a new password.',
  'register.title': 'Register — CFPS Hub',
  'register.heading': 'Create an account',
  'register.submit': 'Register',
  'register.busy': 'Registering…',
  'register.haveaccount': 'Already registered?',
  'register.tologin': 'Log in',
  'register.done': 'Account created; taking you to the login page…',
  'field.username': 'Username',
  'field.username.hint': '4–16 characters: a–z, 0–9 or _',
  'field.password': 'Password',
  'field.password.hint': '8–128 characters; avoid common passwords',
  'field.invite_code': 'Invite code',
  'field.invite_code.hint': 'Ask your team administrator',
  'error.username_required': 'Enter a username.',
  'error.username_invalid': 'Username must be 4-16 characters: a-z, 0-9 or _.',
  'error.password_required': 'Enter a password.',
  'error.password_too_short': 'Password too short: at least {n} characters.',
  'error.password_too_long': 'Password too long: at most {n} characters.',
  'error.invite_code_required': 'Enter your invite code.',
  'error.rate_limited': 'Too many attempts; try again later.',
  'error.retry_after': 'Try again in {n} seconds.',
  'error.network': 'Cannot reach the server; check your connection and try again.',
  'error.server': 'Server error ({n}); try again later.',
  'error.bad_redirect': 'The server returned an invalid redirect address.',
  'error.form': 'Correct the marked fields and submit again.',
};

export const MESSAGES: Record<Lang, Dict> = { 'zh-CN': zh, en };

export function isLang(value: unknown): value is Lang {
  return typeof value === 'string' && (LANGS as readonly string[]).includes(value);
}

/** The message for key in lang, with {name} placeholders filled in. */
export function t(lang: Lang, key: string, params: Record<string, string | number> = {}): string {
  const text = MESSAGES[lang][key] ?? MESSAGES[DEFAULT_LANG][key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name: string) => (name in params ? String(params[name]) : whole));
}

/** Minimal Storage surface, so tests can pass a Map-backed fake. */
export interface KeyValueStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

/** The remembered language, else zh-CN (the platform's audience). */
export function storedLang(store: KeyValueStore | null): Lang {
  try {
    const value = store?.getItem(STORAGE_KEY);
    return isLang(value) ? value : DEFAULT_LANG;
  } catch {
    return DEFAULT_LANG; // storage disabled (privacy mode)
  }
}

export function rememberLang(store: KeyValueStore | null, lang: Lang): void {
  try {
    store?.setItem(STORAGE_KEY, lang);
  } catch {
    // storage disabled: the switch still works for this page
  }
}

export function otherLang(lang: Lang): Lang {
  return lang === 'en' ? 'zh-CN' : 'en';
}

/** Accept-Language for the auth service, so its messages match the page. */
export function acceptLanguage(lang: Lang): string {
  return lang === 'en' ? 'en' : 'zh-CN,zh;q=0.9';
}
