"""`fabkube console`'s HTTP server without a network: who is served what (loopback Host names only
without a token; with one, the token or its cookie on every request), and the CLI's refusals."""

import http.client
import threading

import pytest
from conftest import run_cli

from fabkube.monitoring.console import make_server

TOKEN = "s3cret-token-0123456789"


class FakeState:
    def snapshot(self) -> dict:
        return {"network": "n", "components": [], "channels": {}, "history": [], "errors": []}

    def log(self, name: str, lines: int) -> str | None:
        return "a line\n" if name == "orderer0" else None


@pytest.fixture()
def serve():
    servers = []

    def start(token=None):
        server = make_server(FakeState(), "127.0.0.1", 0, token)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server.server_address[1]

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


def get(port: int, path: str, host: str | None = None, cookie: str | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    headers = {"Host": host or f"127.0.0.1:{port}"}
    if cookie:
        headers["Cookie"] = cookie
    conn.request("GET", path, headers=headers)
    resp = conn.getresponse()
    return resp.status, resp.read(), resp.getheader("Set-Cookie")


def test_without_a_token_only_loopback_host_names_are_served(serve):
    port = serve()
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"):
        status, body, _ = get(port, "/", host)
        assert status == 200 and b"fabkube console" in body, host
    assert get(port, "/api/state")[0] == 200
    assert get(port, "/api/logs?name=orderer0")[1] == b"a line\n"
    assert get(port, "/api/logs?name=../../etc/passwd")[0] == 404
    # A page elsewhere that rebinds its own name to 127.0.0.1 sends its own Host: refused.
    for path in ("/", "/api/state", "/api/logs?name=orderer0"):
        status, body, _ = get(port, path, f"evil.example:{port}")
        assert status == 401 and b"fabkube console" not in body and b"a line" not in body


def test_with_a_token_every_request_needs_it_or_its_session_cookie(serve):
    port = serve(TOKEN)
    for path in ("/", "/api/state", "/api/logs?name=orderer0", "/?token=wrong-token-0123456789", "/?token=%C3%A9"):
        status, body, _ = get(port, path)
        assert status == 401 and b"a line" not in body and b"<html" not in body, path
    # The token in the URL once: a session cookie of this console's own (not the token), and the
    # token out of the address bar.
    status, body, cookie = get(port, f"/?token={TOKEN}")
    assert status == 303 and TOKEN not in cookie
    name, value = cookie.split(";")[0].split("=", 1)
    assert name == f"fabkube_console_{port}" and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    # Another site's malformed cookie beside it hides nothing.
    jar = f'x={{"a": 1}}; {name}={value}; a=b c'
    assert get(port, "/", cookie=jar)[0] == 200 and b"fabkube console" in get(port, "/", cookie=jar)[1]
    assert get(port, "/api/state", cookie=jar)[0] == 200
    assert get(port, "/api/logs?name=orderer0&lines=abc", cookie=jar)[1] == b"a line\n"
    assert get(port, "/api/state", cookie=f"{name}={TOKEN}")[0] == 401
    assert get(port, "/api/state", cookie=f"fabkube_console_1={value}")[0] == 401


def test_ipv6_loopback_is_served_to_its_own_host_name():
    server = make_server(FakeState(), "::1", 0, None)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        conn = http.client.HTTPConnection("::1", port, timeout=5)
        conn.request("GET", "/api/state", headers={"Host": f"[::1]:{port}"})
        assert conn.getresponse().status == 200
    finally:
        server.shutdown()
        server.server_close()


def test_the_cli_refuses_a_non_loopback_address_without_a_token_and_short_tokens(tmp_path):
    home = tmp_path / "home"
    refused = run_cli("console", "--host", "10.9.9.9", home=home, check=False)
    assert refused.returncode == 2
    assert "--host 10.9.9.9: not a loopback address; serving the console beyond this machine needs --token" in (
        refused.stderr
    )
    for bad in ("abc", "sixteen chars&more+"):
        short = run_cli("console", "--token", bad, home=home, check=False)
        assert short.returncode == 2 and "--token: at least 16 characters of letters" in short.stderr
