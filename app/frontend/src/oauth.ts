// The OAuth2 parameters JupyterHub's GenericOAuthenticator sends through
// /api/authorize to /login, and where a visitor goes without them.

export const OAUTH_PARAMS = [
  'client_id',
  'redirect_uri',
  'response_type',
  'state',
  'code_challenge',
  'code_challenge_method',
] as const;

export type OAuthParam = (typeof OAUTH_PARAMS)[number];
export type OAuthParams = Partial<Record<OAuthParam, string>>;

/** Where the hub starts its OAuth login; it comes back to /login with the parameters. */
export const HUB_LOGIN_URL = '/jupyter/hub/oauth_login?next=%2Fjupyter%2Fhub%2F';
export const HUB_URL = '/jupyter/';

/** The OAuth parameters present in a query string (others are ignored). */
export function readOAuthParams(search: string): OAuthParams {
  const query = new URLSearchParams(search);
  const out: OAuthParams = {};
  for (const name of OAUTH_PARAMS) {
    const value = query.get(name);
    if (value !== null && value !== '') out[name] = value;
  }
  return out;
}

/** A login can only complete for a client that said where to come back to. */
export function hasAuthorizationRequest(params: OAuthParams): boolean {
  return Boolean(params.client_id && params.redirect_uri);
}

/**
 * The URL from the auth service's {"redirect": …}, if it is safe to follow:
 * an http(s) URL (never javascript: or data:). The service only ever returns
 * a redirect_uri registered for the client, with code and state appended.
 */
export function safeRedirect(redirect: unknown, base: string): string | null {
  if (typeof redirect !== 'string' || redirect.length === 0) return null;
  let url: URL;
  try {
    url = new URL(redirect, base);
  } catch {
    return null;
  }
  return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : null;
}

/** Seconds from a Retry-After header (delta-seconds or an HTTP date), at least 1. */
export function retryAfterSeconds(header: string | null, now: number = Date.now()): number | null {
  if (header === null || header.trim() === '') return null;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Math.max(1, Number(value));
  const when = Date.parse(value);
  if (Number.isNaN(when)) return null;
  return Math.max(1, Math.ceil((when - now) / 1000));
}
