// An accessible form: one error line per field (aria-live, tied to the input
// with aria-describedby and aria-invalid), one status region for the form,
// texts kept as keys so they follow a language switch.
import type { ApiResult } from './api';
import { t } from './i18n';
import { lang, onLangChange } from './page';
import type { FieldError } from './validate';

type Message = { key: string; params?: Record<string, string | number> } | { text: string };

function render(message: Message | undefined): string {
  if (!message) return '';
  return 'text' in message ? message.text : t(lang(), message.key, message.params);
}

export class Form {
  readonly el: HTMLFormElement;
  private readonly fields: string[];
  private readonly statusEl: HTMLElement;
  private readonly submit: HTMLButtonElement;
  private readonly submitKey: string;
  private readonly busyKey: string;
  private fieldMessages = new Map<string, Message>();
  private status: Message[] = [];
  private blockedUntil = 0;

  constructor(id: string, fields: string[], submitKey: string, busyKey: string) {
    this.el = document.getElementById(id) as HTMLFormElement;
    this.fields = fields;
    this.statusEl = this.el.querySelector('[data-form-status]') as HTMLElement;
    this.submit = this.el.querySelector('button[type="submit"]') as HTMLButtonElement;
    this.submitKey = submitKey;
    this.busyKey = busyKey;
    onLangChange(() => this.paint());
  }

  /**
   * On submit: clear the messages, read the fields (`values`) and `check`
   * them, then `send` them with the button busy (a network failure is shown
   * as such). `send` returns true when it leaves the page, and the button
   * stays busy.
   */
  onSubmit<V extends Record<string, string>>(check: (values: V) => FieldError[], send: (values: V) => Promise<boolean>): void {
    this.el.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.run(check, send);
    });
  }

  private async run<V extends Record<string, string>>(
    check: (values: V) => FieldError[],
    send: (values: V) => Promise<boolean>,
  ): Promise<void> {
    this.clear();
    const values = this.values() as V;
    const errors = check(values);
    if (errors.length > 0) {
      this.setFieldErrors(errors);
      return;
    }
    this.setBusy(true);
    try {
      if (await send(values)) return;
    } catch {
      this.setStatus({ key: 'error.network' });
    }
    this.setBusy(false);
  }

  /** Every field's value; text fields trimmed, passwords as typed. */
  values(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const field of this.fields) {
      const input = this.input(field);
      out[field] = input.type === 'password' ? input.value : input.value.trim();
    }
    return out;
  }

  input(name: string): HTMLInputElement {
    return this.el.querySelector(`[name="${name}"]`) as HTMLInputElement;
  }

  has(field: string): boolean {
    return this.fields.includes(field);
  }

  clear(): void {
    this.fieldMessages.clear();
    this.status = [];
    this.paint();
  }

  setFieldErrors(errors: FieldError[]): void {
    for (const e of errors) this.fieldMessages.set(e.field, { key: `error.${e.code}`, params: e.params });
    this.paint();
    this.focusFirstInvalid();
  }

  setStatus(...messages: Message[]): void {
    this.status = messages;
    this.paint();
  }

  setBusy(busy: boolean): void {
    this.submit.disabled = busy || Date.now() < this.blockedUntil;
    this.el.setAttribute('aria-busy', String(busy));
    this.submit.textContent = t(lang(), busy ? this.busyKey : this.submitKey);
    this.submit.dataset.i18n = busy ? this.busyKey : this.submitKey;
  }

  /** Show an error answer of the auth service: its message, under its field. */
  showServerError(result: ApiResult): void {
    const { status, body } = result;
    const message = typeof body.message === 'string' && body.message ? body.message : null;
    const code = typeof body.error === 'string' ? body.error : '';
    if (status === 429) {
      const seconds = result.retryAfter;
      const parts: Message[] = [message ? { text: message } : { key: 'error.rate_limited' }];
      if (seconds !== null) {
        parts.push({ key: 'error.retry_after', params: { n: seconds } });
        this.blockFor(seconds);
      }
      this.setStatus(...parts);
      return;
    }
    const field = typeof body.field === 'string' ? body.field : '';
    const text: Message = message ? { text: message } : code ? { key: `error.${code}` } : { key: 'error.server', params: { n: status } };
    if (field && this.has(field)) {
      this.fieldMessages.set(field, text);
      this.paint();
      this.focusFirstInvalid();
    } else {
      this.setStatus(text);
    }
  }

  /** After a 429, keep the button off until Retry-After has passed. */
  private blockFor(seconds: number): void {
    const ms = Math.min(seconds, 600) * 1000;
    this.blockedUntil = Date.now() + ms;
    this.submit.disabled = true;
    window.setTimeout(() => {
      this.submit.disabled = false;
    }, ms);
  }

  private focusFirstInvalid(): void {
    const first = this.fields.find((f) => this.fieldMessages.has(f));
    if (first) this.input(first).focus();
  }

  private paint(): void {
    for (const field of this.fields) {
      const input = this.input(field);
      const errorEl = document.getElementById(`${field}-error`);
      const message = this.fieldMessages.get(field);
      if (errorEl) errorEl.textContent = render(message);
      if (message) input.setAttribute('aria-invalid', 'true');
      else input.removeAttribute('aria-invalid');
    }
    this.statusEl.textContent = this.status.map(render).join(' ');
  }
}
