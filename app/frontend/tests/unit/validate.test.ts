import { describe, expect, it } from 'vitest';
import {
  checkInviteCode,
  checkLogin,
  checkPassword,
  checkPasswordChange,
  checkRegistration,
  checkUsername,
  codePoints,
} from '../../src/validate';

describe('username (4-16 of [a-z0-9_], as the server)', () => {
  it.each(['abcd', 'user_01', 'a_b_c_d_e_f_g_h1', '1234'])('accepts %s', (name) => {
    expect(checkUsername(name)).toBeNull();
  });
  it.each(['abc', 'a'.repeat(17), 'Alice', 'bob-smith', 'zhang san', '张三四五', 'user.name'])('refuses %s', (name) => {
    expect(checkUsername(name)).toEqual({ field: 'username', code: 'username_invalid' });
  });
  it('asks for a missing one', () => {
    expect(checkUsername('')?.code).toBe('username_required');
  });
});

describe('password (8-128 characters)', () => {
  it('accepts the bounds', () => {
    expect(checkPassword('x'.repeat(8))).toBeNull();
    expect(checkPassword('x'.repeat(128))).toBeNull();
  });
  it('refuses short and long ones with the limit', () => {
    expect(checkPassword('x'.repeat(7))).toEqual({ field: 'password', code: 'password_too_short', params: { n: 8 } });
    expect(checkPassword('x'.repeat(129))).toEqual({ field: 'password', code: 'password_too_long', params: { n: 128 } });
    expect(checkPassword('')?.code).toBe('password_required');
  });
  it('counts code points like the server, not UTF-16 units', () => {
    expect(codePoints('😀😀😀😀')).toBe(4);
    expect(checkPassword('😀'.repeat(4))?.code).toBe('password_too_short');
    expect(checkPassword('密码密码密码密码')).toBeNull();
  });
});

describe('forms', () => {
  it('reports every registration problem at once', () => {
    const errors = checkRegistration({ username: 'AB', password: 'short', invite_code: ' ' });
    expect(errors.map((e) => e.field)).toEqual(['username', 'password', 'invite_code']);
    expect(checkInviteCode('team-2024-abcdefgh')).toBeNull();
  });
  it('passes a valid registration', () => {
    expect(checkRegistration({ username: 'alice_1', password: 'Correct-Horse-9', invite_code: 'abc' })).toEqual([]);
  });
  it('login only needs both fields (old names may predate the rules)', () => {
    expect(checkLogin({ username: 'Old.Name', password: 'x' })).toEqual([]);
    expect(checkLogin({ username: '', password: '' }).map((e) => e.code)).toEqual(['username_required', 'password_required']);
  });
});

describe('password change', () => {
  it('needs every field and puts the new password\'s problems under it', () => {
    expect(checkPasswordChange({ username: '', password: '', new_password: '' }).map((e) => e.field)).toEqual([
      'username',
      'password',
      'new_password',
    ]);
    expect(checkPasswordChange({ username: 'alice_1', password: 'old', new_password: 'short' })).toEqual([
      { field: 'new_password', code: 'password_too_short', params: { n: 8 } },
    ]);
    expect(checkPasswordChange({ username: 'alice_1', password: 'old', new_password: 'Correct-Horse-9' })).toEqual([]);
  });
});
