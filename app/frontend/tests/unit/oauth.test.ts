import { describe, expect, it } from 'vitest';
import { HUB_LOGIN_URL, hasAuthorizationRequest, readOAuthParams, retryAfterSeconds, safeRedirect } from '../../src/oauth';

const full =
  '?client_id=jupyterhub&redirect_uri=https%3A%2F%2Fhub.example.org%2Fjupyter%2Fhub%2Foauth_callback' +
  '&response_type=code&state=abc%3D%3D&code_challenge=xyz_-123&code_challenge_method=S256';

describe('OAuth parameters', () => {
  it('reads all six, decoded', () => {
    expect(readOAuthParams(full)).toEqual({
      client_id: 'jupyterhub',
      redirect_uri: 'https://hub.example.org/jupyter/hub/oauth_callback',
      response_type: 'code',
      state: 'abc==',
      code_challenge: 'xyz_-123',
      code_challenge_method: 'S256',
    });
  });
  it('ignores unknown and empty parameters', () => {
    expect(readOAuthParams('?client_id=hub&state=&next=/evil&username=x')).toEqual({ client_id: 'hub' });
  });
  it('needs client_id and redirect_uri to post a login', () => {
    expect(hasAuthorizationRequest(readOAuthParams(full))).toBe(true);
    expect(hasAuthorizationRequest(readOAuthParams(''))).toBe(false);
    expect(hasAuthorizationRequest(readOAuthParams('?client_id=hub'))).toBe(false);
    expect(hasAuthorizationRequest(readOAuthParams('?redirect_uri=https%3A%2F%2Fx'))).toBe(false);
  });
  it('sends visitors without parameters to the hub login', () => {
    expect(HUB_LOGIN_URL.startsWith('/jupyter/hub/oauth_login')).toBe(true);
    expect(new URL(HUB_LOGIN_URL, 'https://h.example').searchParams.get('next')).toBe('/jupyter/hub/');
  });
});

describe('following the returned redirect', () => {
  const base = 'https://hub.example.org/login?client_id=x';
  it('accepts http(s) URLs', () => {
    expect(safeRedirect('https://hub.example.org/cb?code=c&state=s', base)).toBe('https://hub.example.org/cb?code=c&state=s');
    expect(safeRedirect('http://127.0.0.1:9/cb?code=c', base)).toBe('http://127.0.0.1:9/cb?code=c');
  });
  it('refuses script and data URLs and junk', () => {
    expect(safeRedirect('javascript:alert(1)', base)).toBeNull();
    expect(safeRedirect('data:text/html,x', base)).toBeNull();
    expect(safeRedirect('', base)).toBeNull();
    expect(safeRedirect(42, base)).toBeNull();
    expect(safeRedirect('http://[::1', base)).toBeNull();
  });
});

describe('Retry-After', () => {
  it('reads seconds and HTTP dates', () => {
    expect(retryAfterSeconds('37')).toBe(37);
    expect(retryAfterSeconds('0')).toBe(1);
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(retryAfterSeconds('Wed, 01 Jan 2025 00:00:30 GMT', now)).toBe(30);
  });
  it('ignores missing or bad values', () => {
    expect(retryAfterSeconds(null)).toBeNull();
    expect(retryAfterSeconds('soon')).toBeNull();
  });
});
