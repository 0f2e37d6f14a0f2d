// Calls to the auth service, mounted by nginx at /api/ on the same origin.
import { acceptLanguage, type Lang } from './i18n';
import { retryAfterSeconds } from './oauth';

export interface ApiResult {
  status: number;
  body: Record<string, unknown>;
  retryAfter: number | null;
}

export async function postJson(path: string, data: Record<string, string>, lang: Lang): Promise<ApiResult> {
  const response = await fetch(path, {
    method: 'POST',
    credentials: 'same-origin',
    cache: 'no-store',
    headers: {
      'Content-Type': 'application/json',
      Accept: 'application/json',
      'Accept-Language': acceptLanguage(lang),
    },
    body: JSON.stringify(data),
  });
  let body: Record<string, unknown> = {};
  try {
    const parsed: unknown = await response.json();
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) body = parsed as Record<string, unknown>;
  } catch {
    // not JSON (a proxy error page): the status code alone speaks
  }
  return { status: response.status, body, retryAfter: retryAfterSeconds(response.headers.get('Retry-After')) };
}
