"""Verify the nginx role against a real ACME exchange, inside the instance.

Test scaffolding (prepare.yml): Debian's pebble on 127.0.0.1:14000 (management
15000) validating HTTP-01 on port 80 of this very nginx, hub.example.test
mapped to 127.0.0.1; a websocket echo standing in for configurable-http-proxy
on 127.0.0.1:8000 and an HTTP echo standing in for the auth service on
127.0.0.1:8100; a static site with index.html, login/, register/ and password/.
"""

import json
import shlex
import time

import pytest

from conftest import SCENARIO_DIR
from playbook import assert_check_mode_clean, flat, recap, refused, run_playbook

DOMAIN = "hub.example.test"
CONVERGE = SCENARIO_DIR / "converge.yml"
# The same nginx role and values without common: for the refusals.
NGINX_ONLY = SCENARIO_DIR / "nginx-only.yml"
LIVE = f"/etc/letsencrypt/live/{DOMAIN}"
SITE = "/etc/nginx/sites-available/cfps-hub.conf"
LISTENER_CA = "/etc/pebble/ca.pem"
ROOT_PEM = "/tmp/pebble-root.pem"
INTERMEDIATE_PEM = "/tmp/pebble-intermediate.pem"


@pytest.fixture(scope="module")
def pebble_root(host):
    """Pebble's current root and intermediate, fetched from its management API."""
    host.run_expect([0], f"curl -sSf --cacert {LISTENER_CA} https://127.0.0.1:15000/roots/0 -o {ROOT_PEM}")
    host.run_expect(
        [0], f"curl -sSf --cacert {LISTENER_CA} https://127.0.0.1:15000/intermediates/0 -o {INTERMEDIATE_PEM}"
    )
    return ROOT_PEM


def curl(host, url, *args, ip="127.0.0.1"):
    """Status line + headers (lower-cased names) and body of one request from inside the instance."""
    port = 443 if url.startswith("https") else 80
    cmd = (
        f"curl -sS --max-time 10 --cacert {ROOT_PEM} --resolve {DOMAIN}:{port}:{ip} -D /tmp/h -o /tmp/b "
        f"{' '.join(shlex.quote(a) for a in args)} {shlex.quote(url)} && cat /tmp/h && echo '@@BODY@@' && cat /tmp/b"
    )
    out = host.check_output(cmd)
    head, _, body = out.partition("@@BODY@@")
    lines = head.strip().splitlines()
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return status, headers, body.strip()


def fingerprint_of_file(host, path):
    return host.check_output(f"openssl x509 -in {path} -noout -fingerprint -sha256")


def served_fingerprint(host):
    return host.check_output(
        f"openssl s_client -servername {DOMAIN} -connect 127.0.0.1:443 </dev/null 2>/dev/null"
        " | openssl x509 -noout -fingerprint -sha256"
    )


def served_once_reloaded(host, fingerprint, timeout=30):
    """The certificate nginx serves, once it is fingerprint or timeout seconds passed.

    A reload returns at once; the new workers take over while the old ones finish."""
    deadline = time.monotonic() + timeout
    while (served := served_fingerprint(host)) != fingerprint and time.monotonic() < deadline:
        time.sleep(0.5)
    return served


def instance_ip(host):
    return host.check_output("ip -4 -o addr show dev eth0").split()[3].split("/")[0]


def test_certificate_was_obtained_through_http01_on_this_nginx(host, pebble_root):
    log = host.check_output("journalctl -u pebble --no-pager -o cat")
    assert f"Attempting to validate w/ HTTP: http://{DOMAIN}:80/.well-known/acme-challenge/" in log
    assert "set VALID by completed challenge" in log
    cert = f"{LIVE}/cert.pem"
    assert DOMAIN in host.check_output(f"openssl x509 -in {cert} -noout -ext subjectAltName")
    # Issued by this run's Pebble intermediate, which chains to Pebble's root.
    issuer = host.check_output(f"openssl x509 -in {cert} -noout -issuer -nameopt RFC2253").removeprefix("issuer=")
    subject = host.check_output(f"openssl x509 -in {INTERMEDIATE_PEM} -noout -subject -nameopt RFC2253")
    assert subject.removeprefix("subject=") == issuer
    assert "Pebble Intermediate CA" in issuer
    host.run_expect([0], f"openssl verify -CAfile {ROOT_PEM} -untrusted {INTERMEDIATE_PEM} {cert}")


def test_nginx_serves_the_live_certificate(host, pebble_root):
    assert served_fingerprint(host) == fingerprint_of_file(host, f"{LIVE}/cert.pem")
    # The whole chain verifies against Pebble's root for the domain name.
    status, _, body = curl(host, f"https://{DOMAIN}/")
    assert status == 200 and "landing page" in body


def test_tls_settings(host, pebble_root):
    connect = f"openssl s_client -servername {DOMAIN} -connect 127.0.0.1:443 </dev/null"
    assert host.run(f"{connect} -tls1_3").rc == 0
    assert host.run(f"{connect} -tls1_2 -cipher ECDHE+AESGCM").rc == 0
    assert host.run(f"{connect} -tls1_1").rc != 0
    # No DHE, no CBC.
    assert host.run(f"{connect} -tls1_2 -cipher DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384").rc != 0
    assert host.run(f"{connect} -tls1_2 -cipher ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA").rc != 0
    assert host.check_output(f"{connect} -alpn h2,http/1.1 2>/dev/null | grep -a '^ALPN'") == "ALPN protocol: h2"
    # Session tickets off: the server hands out none.
    assert host.run(f"{connect} -tls1_2 2>/dev/null | grep -a 'session ticket lifetime'").rc != 0


def test_renew_dry_run_passes(host):
    # Without --server a dry run goes to Let's Encrypt staging, by design.
    result = host.run(
        f"REQUESTS_CA_BUNDLE={LISTENER_CA} certbot renew --dry-run --no-random-sleep-on-renew --non-interactive"
        " --server https://localhost:14000/dir"
    )
    assert result.rc == 0, result.stdout + result.stderr
    assert "simulated renewals succeeded" in (result.stdout + result.stderr)


def test_deploy_hook_and_timer(host):
    hook = host.file("/etc/letsencrypt/renewal-hooks/deploy/cfps-hub-reload-nginx")
    assert hook.is_file and hook.user == "root" and hook.mode == 0o755
    assert "nginx -t -q && systemctl reload nginx" in hook.content_string
    timer = host.service("certbot.timer")
    assert timer.is_enabled and timer.is_running
    # The renewal service runs with the drop-in that trusts the ACME server's CA.
    shown = host.check_output("systemctl show certbot.service -p Environment -p DropInPaths -p NeedDaemonReload")
    assert f"REQUESTS_CA_BUNDLE={LISTENER_CA}" in shown
    assert "/etc/systemd/system/certbot.service.d/cfps-hub.conf" in shown
    assert "NeedDaemonReload=no" in shown


def test_scheduled_renewal_renews_and_reloads_nginx(host, pebble_root):
    """certbot.service (what the timer starts) renews the 10-day certificate with the
    drop-in's CA trust, and the deploy hook makes nginx serve the new one."""
    before = fingerprint_of_file(host, f"{LIVE}/cert.pem")
    host.run_expect([0], "systemctl start certbot.service")
    after = fingerprint_of_file(host, f"{LIVE}/cert.pem")
    assert after != before
    assert served_once_reloaded(host, after) == after


def test_http_redirects_to_https_except_acme(host, pebble_root):
    status, headers, _ = curl(host, f"http://{DOMAIN}/login?next=%2Fjupyter%2F")
    assert status == 308
    assert headers["location"] == [f"https://{DOMAIN}/login?next=%2Fjupyter%2F"]
    host.run_expect([0], "mkdir -p /var/www/letsencrypt/.well-known/acme-challenge")
    host.run_expect([0], "echo token-body > /var/www/letsencrypt/.well-known/acme-challenge/probe-token")
    status, _, body = curl(host, f"http://{DOMAIN}/.well-known/acme-challenge/probe-token")
    assert (status, body) == (200, "token-body")
    host.run_expect([0], "rm -f /var/www/letsencrypt/.well-known/acme-challenge/probe-token")


def test_websocket_upgrade_through_jupyter(host, pebble_root):
    script = f"""
import asyncio, ssl, websockets
async def main():
    ctx = ssl.create_default_context(cafile="{ROOT_PEM}")
    url = "wss://{DOMAIN}/jupyter/user/alice/api/kernels/k1/channels"
    async with websockets.connect(url, ssl=ctx) as ws:
        await ws.send("ping")
        print(await asyncio.wait_for(ws.recv(), 10))
asyncio.run(main())
"""
    out = host.check_output(f"timeout 30 python3 -c {shlex.quote(script)}")
    # The echo got the base URL unchanged.
    assert out == "/jupyter/user/alice/api/kernels/k1/channels ping"


def test_api_strips_prefix_and_overwrites_forwarded_for(host, pebble_root):
    # Reach nginx on the instance's own eth0 address: the client address is then
    # that address, not loopback.
    ip = instance_ip(host)
    status, _, body = curl(host, f"https://{DOMAIN}/api/x?q=1", "-H", "X-Forwarded-For: 6.6.6.6", ip=ip)
    assert status == 200
    seen = json.loads(body)
    assert seen["path"] == "/x?q=1"
    assert seen["x_forwarded_for"] == [ip]
    assert seen["x_forwarded_proto"] == "https"
    assert seen["host"] == seen["x_forwarded_host"] == DOMAIN
    assert seen["x_forwarded_port"] == "443"


def test_host_keeps_the_public_port(host, pebble_root):
    # The site reached through a port forward (the local demo: 8443 -> 443).
    # Without the port in Host, the notebook servers refuse every websocket
    # whose Origin carries it.
    status, _, body = curl(host, f"https://{DOMAIN}/api/x", "-H", f"Host: {DOMAIN}:8443")
    assert status == 200
    seen = json.loads(body)
    assert seen["host"] == seen["x_forwarded_host"] == f"{DOMAIN}:8443"
    assert seen["x_forwarded_port"] == "8443"


def test_large_notebook_bodies_are_accepted(host, pebble_root):
    host.run_expect([0], "head -c 3000000 /dev/zero > /tmp/body")
    status, _, _ = curl(host, f"https://{DOMAIN}/api/contents", "-X", "PUT", "--data-binary", "@/tmp/body")
    # The echo answers 501 to PUT: the body got through nginx (1m would give 413).
    assert status == 501


def test_security_headers(host, pebble_root):
    hsts = "max-age=63072000; includeSubDomains"
    status, headers, body = curl(host, f"https://{DOMAIN}/")
    assert status == 200
    assert headers["strict-transport-security"] == [hsts]
    assert headers["x-content-type-options"] == ["nosniff"]
    assert headers["x-frame-options"] == ["DENY"]
    assert headers["cache-control"] == ["no-cache"]
    pages = (
        ("/login", "login page"),
        ("/login/", "login page"),
        ("/register", "register page"),
        ("/password", "password page"),
    )
    for path, marker in pages:
        status, headers, body = curl(host, f"https://{DOMAIN}{path}")
        assert status == 200 and marker in body, path
        csp = headers["content-security-policy"][0]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert headers["referrer-policy"] == ["no-referrer"]
        assert headers["strict-transport-security"] == [hsts]
        assert headers["x-content-type-options"] == ["nosniff"]
    status, headers, _ = curl(host, f"https://{DOMAIN}/assets/app.3f2a1b.js")
    assert status == 200
    assert headers["cache-control"] == ["public, max-age=31536000, immutable"]
    # JupyterHub sends its own CSP: nginx adds none under /jupyter/.
    status, headers, _ = curl(host, f"https://{DOMAIN}/jupyter/hub/", "--http1.1")
    assert "content-security-policy" not in headers
    assert headers["strict-transport-security"] == [hsts]
    assert headers["server"] == ["nginx"]


def test_check_mode_reports_no_changes():
    assert_check_mode_clean()


def nginx_processes(host):
    """The master's PID and its workers' PIDs: a reload replaces the workers."""
    master = host.file("/run/nginx.pid").content_string.strip()
    return master, sorted(host.check_output(f"cat /proc/{master}/task/{master}/children").split())


def test_broken_config_never_reaches_the_running_nginx(host, pebble_root):
    before = host.file(SITE).content_string
    processes = nginx_processes(host)
    result = run_playbook(CONVERGE, extra_vars={"nginx_extra_server_config": "no_such_directive on;"})
    assert result.returncode != 0
    # The role stopped with nginx's own message, naming the culprit.
    assert "unknown directive" in result.stdout and "no_such_directive" in result.stdout
    assert "the previous one was put back" in flat(result.stdout)
    assert recap(result)["failed"] == 1
    # The previous file is back (no backup left over), the whole configuration
    # passes, and nginx was never reloaded: the same workers serve the old site.
    assert host.file(SITE).content_string == before
    assert host.check_output("ls /etc/nginx/sites-available").split() == ["cfps-hub.conf", "default"]
    assert "no_such_directive" not in host.check_output("nginx -T 2>/dev/null")
    assert host.service("nginx").is_running
    assert nginx_processes(host) == processes
    status, _, body = curl(host, f"https://{DOMAIN}/")
    assert status == 200 and "landing page" in body


def test_wrong_tls_mode_is_refused_before_any_change(host):
    before = host.file(SITE).content_string
    result = run_playbook(CONVERGE, extra_vars={"nginx_tls_mode": "letsencrypt-staging"})
    refused(result)
    assert "nginx_tls_mode" in result.stdout
    assert host.file(SITE).content_string == before


def test_url_as_domain_is_refused(host):
    result = run_playbook(CONVERGE, extra_vars={"nginx_domain": f"https://{DOMAIN}/"})
    out = refused(result)
    assert "nginx_domain must be a DNS name" in out


LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
LETS_ENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"


NOT_A_DNS_NAME = "nginx_domain must be a DNS name"


def not_for_lets_encrypt(name):
    return f"nginx_domain {name} cannot get a certificate from"


@pytest.mark.parametrize(
    "server, name, message",
    [
        (LETS_ENCRYPT, "hub", NOT_A_DNS_NAME),
        (LETS_ENCRYPT, "hub.localhost", not_for_lets_encrypt("hub.localhost")),
        (LETS_ENCRYPT, DOMAIN, not_for_lets_encrypt(DOMAIN)),
        (LETS_ENCRYPT, "cfps.example", not_for_lets_encrypt("cfps.example")),
        (LETS_ENCRYPT, "hub.invalid", not_for_lets_encrypt("hub.invalid")),
        (LETS_ENCRYPT, "hub.local", not_for_lets_encrypt("hub.local")),
        (LETS_ENCRYPT, "hub.example.org", not_for_lets_encrypt("hub.example.org")),
        (LETS_ENCRYPT_STAGING, "hub.localhost", not_for_lets_encrypt("hub.localhost")),
        (LETS_ENCRYPT, "192.0.2.10", NOT_A_DNS_NAME),
        (LETS_ENCRYPT, "2001:db8::10", NOT_A_DNS_NAME),
    ],
)
def test_lets_encrypt_with_a_private_name_is_refused_before_any_change(host, server, name, message):
    """Let's Encrypt certifies public DNS names only: refused before certbot is ever asked.
    A private ACME server takes any name: this scenario's converge gets its
    certificate for hub.example.test (a reserved name) from Pebble."""
    before = host.file(SITE).content_string
    live = host.check_output("ls /etc/letsencrypt/live")
    result = run_playbook(NGINX_ONLY, extra_vars={"nginx_acme_server": server, "nginx_domain": name})
    out = refused(result)
    assert message in out
    assert host.file(SITE).content_string == before
    assert host.check_output("ls /etc/letsencrypt/live") == live


def test_lets_encrypt_contact_at_a_reserved_domain_is_refused(host):
    extra_vars = {
        "nginx_acme_server": LETS_ENCRYPT,
        "nginx_domain": "hub.cfps-survey.org",
        "nginx_acme_email": "ops@example.org",
    }
    result = run_playbook(NGINX_ONLY, extra_vars=extra_vars)
    out = refused(result)
    assert "nginx_acme_email ops@example.org is at a reserved domain" in out


def test_quote_in_the_auth_pages_policy_is_refused_before_any_change(host):
    before = host.file(SITE).content_string
    result = run_playbook(NGINX_ONLY, extra_vars={"nginx_auth_pages_csp": 'default-src "self"'})
    out = refused(result)
    assert "nginx_auth_pages_csp must be one non-empty line without double quotes" in out
    assert host.file(SITE).content_string == before
