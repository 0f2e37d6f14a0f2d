// Client-side checks that mirror the auth service's rules. They only spare a
// round trip: the server checks everything again and has the last word
// (reserved and taken names, common passwords, invite codes).

export const USERNAME_RE = /^[a-z0-9_]{4,16}$/;
export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 128;

export interface FieldError {
  field: string;
  /** i18n key, without the "error." prefix */
  code: string;
  params?: Record<string, number>;
}

/** Length in code points, as the server (Python len) counts it. */
export function codePoints(text: string): number {
  return Array.from(text).length;
}

export function checkUsername(username: string): FieldError | null {
  if (username.length === 0) return { field: 'username', code: 'username_required' };
  if (!USERNAME_RE.test(username)) return { field: 'username', code: 'username_invalid' };
  return null;
}

export function checkPassword(password: string): FieldError | null {
  const n = codePoints(password);
  if (n === 0) return { field: 'password', code: 'password_required' };
  if (n < PASSWORD_MIN) return { field: 'password', code: 'password_too_short', params: { n: PASSWORD_MIN } };
  if (n > PASSWORD_MAX) return { field: 'password', code: 'password_too_long', params: { n: PASSWORD_MAX } };
  return null;
}

export function checkInviteCode(code: string): FieldError | null {
  return code.trim().length === 0 ? { field: 'invite_code', code: 'invite_code_required' } : null;
}

/** Registration: every field is checked, so all problems show at once. */
export function checkRegistration(v: { username: string; password: string; invite_code: string }): FieldError[] {
  return [checkUsername(v.username), checkPassword(v.password), checkInviteCode(v.invite_code)].filter(
    (e): e is FieldError => e !== null,
  );
}

/** Login only needs both fields: old accounts may predate today's rules. */
export function checkLogin(v: { username: string; password: string }): FieldError[] {
  const errors: FieldError[] = [];
  if (v.username.length === 0) errors.push({ field: 'username', code: 'username_required' });
  if (v.password.length === 0) errors.push({ field: 'password', code: 'password_required' });
  return errors;
}

/** Password change: both passwords present; the new one meets the length rules. */
export function checkPasswordChange(v: { username: string; password: string; new_password: string }): FieldError[] {
  const errors = checkLogin(v);
  if (v.new_password.length === 0) {
    errors.push({ field: 'new_password', code: 'new_password_required' });
  } else {
    const problem = checkPassword(v.new_password);
    if (problem) errors.push({ ...problem, field: 'new_password' });
  }
  return errors;
}
