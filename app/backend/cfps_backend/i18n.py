"""zh-CN / English messages, chosen from Accept-Language (default zh-CN)."""

from __future__ import annotations

MESSAGES: dict[str, tuple[str, str]] = {
    # code: (zh-CN, en)
    "invalid_request": ("请求参数无效。", "The request is invalid."),
    "invalid_client": ("客户端无效或认证失败。", "Unknown client or client authentication failed."),
    "invalid_redirect_uri": ("回调地址与已登记的地址不一致。", "redirect_uri does not match a registered URI."),
    "unsupported_response_type": ("仅支持 response_type=code。", "Only response_type=code is supported."),
    "unsupported_grant_type": ("仅支持 authorization_code 授权方式。", "Only grant_type=authorization_code is supported."),
    "pkce_required": ("需要 PKCE（code_challenge_method=S256）。", "PKCE with code_challenge_method=S256 is required."),
    "invalid_grant": ("授权码无效、已过期或已被使用。", "The authorization code is invalid, expired or already used."),
    "invalid_credentials": ("用户名或密码错误。", "Wrong username or password."),
    "account_disabled": ("该账号已被停用，请联系管理员。", "This account is disabled; contact the administrator."),
    "rate_limited": ("尝试次数过多，请稍后再试。", "Too many attempts; try again later."),
    "forbidden_origin": ("请求来源不被允许。", "Request origin not allowed."),
    "username_invalid": ("用户名须为 4–16 位小写字母、数字或下划线。", "Username must be 4-16 characters: a-z, 0-9 or _."),
    "username_reserved": ("该用户名为系统保留，请换一个。", "This username is reserved; choose another."),
    "username_taken": ("该用户名已被注册。", "This username is already taken."),
    "password_too_short": ("密码太短，至少需要 {n} 个字符。", "Password too short: at least {n} characters."),
    "password_too_long": ("密码太长，最多 {n} 个字符。", "Password too long: at most {n} characters."),
    "password_common": ("密码过于常见，请换一个更难猜的密码。", "This password is too common; choose a harder one."),
    "password_contains_username": ("密码不能包含用户名。", "The password must not contain the username."),
    "password_blank": ("密码不能只由空格组成。", "The password must not be only spaces."),
    "password_repeated": (
        "密码不能是同一个字符或同一段文字的重复。",
        "The password must not be one character or one string repeated.",
    ),
    "password_context": (
        "密码主要由本站名称（如 cfps、jupyter、hub 或网站域名）组成，请换一个。",
        "The password is mostly this site's own words (cfps, jupyter, hub, its domain); choose another.",
    ),
    "password_classes": (
        "密码需包含大写字母、小写字母、数字、符号中的至少三类。",
        "Use at least three of: upper case, lower case, digits, symbols.",
    ),
    "password_changed": (
        "密码已修改；所有已登录的会话都需要用新密码重新登录。",
        "Password changed; every session signed in before must log in again with the new password.",
    ),
    "invite_invalid": ("邀请码无效、已过期或已用完。", "The invite code is invalid, expired or used up."),
    "field_required": ("缺少必填字段。", "A required field is missing."),
    "invalid_token": ("访问令牌无效或已过期。", "The access token is invalid or expired."),
    "not_found": ("未找到。", "Not found."),
    "method_not_allowed": ("不支持该请求方法。", "Method not allowed."),
    "server_error": ("服务器内部错误。", "Internal server error."),
}


def pick_lang(accept_language: str | None) -> str:
    """Return 'zh-CN' or 'en' by the highest-q supported tag; default zh-CN."""
    if not accept_language:
        return "zh-CN"
    best: tuple[float, int, str] | None = None
    for idx, part in enumerate(accept_language.split(",")[:20]):
        bits = part.strip().split(";")
        tag = bits[0].strip().lower()
        q = 1.0
        for b in bits[1:]:
            b = b.strip()
            if b.startswith("q="):
                try:
                    q = float(b[2:])
                except ValueError:
                    q = 0.0
        if tag.startswith("zh"):
            lang = "zh-CN"
        elif tag.startswith("en"):
            lang = "en"
        else:
            continue
        if q > 0 and (best is None or q > best[0]):
            best = (q, -idx, lang)
    return best[2] if best else "zh-CN"


def message(code: str, lang: str, **kw) -> str:
    zh, en = MESSAGES.get(code, MESSAGES["invalid_request"])
    text = en if lang == "en" else zh
    return text.format(**kw) if kw else text
