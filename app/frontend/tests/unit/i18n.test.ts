import { describe, expect, it } from 'vitest';
import {
  DEFAULT_LANG,
  MESSAGES,
  STORAGE_KEY,
  acceptLanguage,
  isLang,
  otherLang,
  rememberLang,
  storedLang,
  t,
} from '../../src/i18n';

function fakeStore(initial: Record<string, string> = {}) {
  const data = new Map(Object.entries(initial));
  return { getItem: (k: string) => data.get(k) ?? null, setItem: (k: string, v: string) => void data.set(k, v), data };
}

describe('i18n', () => {
  it('has the same keys in both languages, none empty', () => {
    const zh = Object.keys(MESSAGES['zh-CN']).sort();
    expect(Object.keys(MESSAGES.en).sort()).toEqual(zh);
    for (const lang of ['zh-CN', 'en'] as const) {
      for (const [key, text] of Object.entries(MESSAGES[lang])) expect(text, `${lang} ${key}`).not.toBe('');
    }
  });
  it('defaults to zh-CN', () => {
    expect(DEFAULT_LANG).toBe('zh-CN');
    expect(storedLang(fakeStore())).toBe('zh-CN');
    expect(storedLang(null)).toBe('zh-CN');
    expect(storedLang(fakeStore({ [STORAGE_KEY]: 'fr' }))).toBe('zh-CN');
  });
  it('remembers the choice', () => {
    const store = fakeStore();
    rememberLang(store, 'en');
    expect(store.data.get(STORAGE_KEY)).toBe('en');
    expect(storedLang(store)).toBe('en');
  });
  it('survives a storage that throws', () => {
    const broken = {
      getItem: () => {
        throw new Error('denied');
      },
      setItem: () => {
        throw new Error('denied');
      },
    };
    expect(storedLang(broken)).toBe('zh-CN');
    expect(() => rememberLang(broken, 'en')).not.toThrow();
  });
  it('fills placeholders and falls back to the key', () => {
    expect(t('zh-CN', 'error.password_too_short', { n: 8 })).toBe('密码太短，至少需要 8 个字符。');
    expect(t('en', 'error.retry_after', { n: 42 })).toBe('Try again in 42 seconds.');
    expect(t('en', 'no.such.key')).toBe('no.such.key');
  });
  it('switches and tells the server the language', () => {
    expect(otherLang('zh-CN')).toBe('en');
    expect(otherLang('en')).toBe('zh-CN');
    expect(isLang('en') && isLang('zh-CN') && !isLang('de')).toBe(true);
    expect(acceptLanguage('en')).toBe('en');
    expect(acceptLanguage('zh-CN')).toMatch(/^zh-CN/);
  });
  it('mirrors the server wording for the rules', () => {
    expect(t('zh-CN', 'error.username_invalid')).toBe('用户名须为 4–16 位小写字母、数字或下划线。');
    expect(t('en', 'error.username_invalid')).toBe('Username must be 4-16 characters: a-z, 0-9 or _.');
  });
});
