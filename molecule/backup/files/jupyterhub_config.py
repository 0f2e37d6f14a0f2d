# The backup scenario's JupyterHub: the hub role's pinned version, database
# and cookie secret paths, spawner and authenticator, without the proxy and
# the notebook image (no server is started here). Its API shows what the hub
# knows from its database.
from jupyterhub.proxy import Proxy


class RouteTable(Proxy):
    """No proxy process: routes are only kept in memory."""

    should_start = False
    routes = {}

    async def add_route(self, routespec, target, data):
        self.routes[routespec] = {"routespec": routespec, "target": target, "data": data}

    async def delete_route(self, routespec):
        self.routes.pop(routespec, None)

    async def get_all_routes(self):
        return dict(self.routes)


c = get_config()  # noqa: F821
c.JupyterHub.proxy_class = RouteTable
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = 8081
c.JupyterHub.db_url = "sqlite:////var/lib/jupyterhub/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "/var/lib/jupyterhub/jupyterhub_cookie_secret"
c.JupyterHub.authenticator_class = "generic-oauth"
c.GenericOAuthenticator.allow_all = True
c.JupyterHub.spawner_class = "dockerspawner.DockerSpawner"
c.JupyterHub.allow_named_servers = True
# The tests' API client (a test value).
c.JupyterHub.services = [{"name": "backup-test", "api_token": "backup-test-hub-token-0123456789abcdef"}]
c.JupyterHub.load_roles = [
    {
        "name": "backup-test",
        "services": ["backup-test"],
        "scopes": ["admin:users", "admin:groups", "admin:servers", "admin:server_state", "tokens"],
    }
]
