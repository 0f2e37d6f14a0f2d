// What every page shares: the language switch and the translated texts.
import { type Lang, otherLang, rememberLang, storedLang, t } from './i18n';

function storage(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

let current: Lang = storedLang(storage());
const listeners: Array<(lang: Lang) => void> = [];

export function lang(): Lang {
  return current;
}

export function onLangChange(listener: (lang: Lang) => void): void {
  listeners.push(listener);
}

/** Fill in every data-i18n text and data-i18n-<attribute> attribute. */
export function applyLang(next: Lang): void {
  current = next;
  const root = document.documentElement;
  root.lang = next;
  const titleKey = root.dataset.titleKey;
  if (titleKey) document.title = t(next, titleKey);
  for (const el of document.querySelectorAll<HTMLElement>('[data-i18n]')) {
    el.textContent = t(next, el.dataset.i18n ?? '');
  }
  for (const el of document.querySelectorAll<HTMLElement>('[data-i18n-aria-label]')) {
    el.setAttribute('aria-label', t(next, el.dataset.i18nAriaLabel ?? ''));
  }
  const toggle = document.getElementById('lang-switch');
  if (toggle) toggle.setAttribute('lang', otherLang(next));
  for (const listener of listeners) listener(next);
}

export function initPage(): void {
  const toggle = document.getElementById('lang-switch');
  toggle?.addEventListener('click', () => {
    const next = otherLang(current);
    rememberLang(storage(), next);
    applyLang(next);
  });
  applyLang(current);
}
