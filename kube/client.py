"""An asyncio Kubernetes API client on aiohttp: requests, paginated lists, streaming watches, server-side apply.

Why not the official client: it is synchronous (urllib3), so every watch would pin a thread and every reconcile
would hop threads; its models would also drop fields they do not know. The official package is still used for
the one thing it does well, reading a kubeconfig (certificate data, tokens, exec plugins, in-cluster service
account), and its `Configuration` is turned into an `ssl.SSLContext` plus an auth header. Every request is counted
in the metrics (reads and writes by verb and resource), which is how "steady state makes zero writes" is checked.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import aiohttp

from kube.objects import Obj, name_of, namespace_of
from kube.prometheus import ClientMetrics

log = logging.getLogger(__name__)

PatchType = Literal["merge", "json", "strategic", "apply"]
_CONTENT_TYPES: dict[PatchType, str] = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}


class ApiError(Exception):
    """A non-2xx answer from the API server, with the `Status` fields that callers branch on."""

    def __init__(self, status: int, reason: str, message: str, body: Obj | None = None) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.body = body or {}

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409

    @property
    def gone(self) -> bool:
        return self.status == 410


@dataclass(frozen=True)
class ResourceType:
    """What the API path of a kind needs: group, version, plural and scope (the answer of discovery)."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_kind(self) -> str:
        return f"{self.kind}.{self.group}" if self.group else self.kind

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def path(self, namespace: str = "", name: str = "", subresource: str = "") -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name:
            base += f"/{name}"
        if subresource:
            base += f"/{subresource}"
        return base


def _builtin(api_version: str, kind: str, plural: str, namespaced: bool) -> ResourceType:
    group, _, version = api_version.rpartition("/")
    return ResourceType(group, version, kind, plural, namespaced)


NAMESPACES = _builtin("v1", "Namespace", "namespaces", False)
SECRETS = _builtin("v1", "Secret", "secrets", True)
CONFIGMAPS = _builtin("v1", "ConfigMap", "configmaps", True)
SERVICE_ACCOUNTS = _builtin("v1", "ServiceAccount", "serviceaccounts", True)
SERVICES = _builtin("v1", "Service", "services", True)
LIMIT_RANGES = _builtin("v1", "LimitRange", "limitranges", True)
RESOURCE_QUOTAS = _builtin("v1", "ResourceQuota", "resourcequotas", True)
PODS = _builtin("v1", "Pod", "pods", True)
PVCS = _builtin("v1", "PersistentVolumeClaim", "persistentvolumeclaims", True)
REPLICATION_CONTROLLERS = _builtin("v1", "ReplicationController", "replicationcontrollers", True)
NETWORK_POLICIES = _builtin("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies", True)
INGRESSES = _builtin("networking.k8s.io/v1", "Ingress", "ingresses", True)
ROLE_BINDINGS = _builtin("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings", True)
ROLES = _builtin("rbac.authorization.k8s.io/v1", "Role", "roles", True)
CLUSTER_ROLES = _builtin("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", False)
DEPLOYMENTS = _builtin("apps/v1", "Deployment", "deployments", True)
STATEFUL_SETS = _builtin("apps/v1", "StatefulSet", "statefulsets", True)
DAEMON_SETS = _builtin("apps/v1", "DaemonSet", "daemonsets", True)
REPLICA_SETS = _builtin("apps/v1", "ReplicaSet", "replicasets", True)
JOBS = _builtin("batch/v1", "Job", "jobs", True)
CRON_JOBS = _builtin("batch/v1", "CronJob", "cronjobs", True)
HPAS = _builtin("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True)
LEASES = _builtin("coordination.k8s.io/v1", "Lease", "leases", True)
EVENTS = _builtin("events.k8s.io/v1", "Event", "events", True)
CRDS = _builtin("apiextensions.k8s.io/v1", "CustomResourceDefinition", "customresourcedefinitions", False)

BUILTINS: dict[tuple[str, str], ResourceType] = {
    (rt.api_version, rt.kind): rt
    for rt in (
        NAMESPACES,
        SECRETS,
        CONFIGMAPS,
        SERVICE_ACCOUNTS,
        SERVICES,
        LIMIT_RANGES,
        RESOURCE_QUOTAS,
        PODS,
        PVCS,
        REPLICATION_CONTROLLERS,
        NETWORK_POLICIES,
        INGRESSES,
        ROLE_BINDINGS,
        ROLES,
        CLUSTER_ROLES,
        DEPLOYMENTS,
        STATEFUL_SETS,
        DAEMON_SETS,
        REPLICA_SETS,
        JOBS,
        CRON_JOBS,
        HPAS,
        LEASES,
        EVENTS,
        CRDS,
    )
}
"""Kinds every conformant API server serves: resolved without a discovery round trip."""


@dataclass
class Connection:
    """Where the API server is and how to authenticate to it."""

    server: str
    ssl_context: ssl.SSLContext | bool
    auth_header: Callable[[], str | None] = field(default=lambda: None)


def load_connection(kubeconfig: Path | None = None, context: str | None = None) -> Connection:
    """Build a `Connection` from a kubeconfig file, or from the in-cluster service account when none is given."""
    from kubernetes import client as k8s_client
    from kubernetes import config as _k8s_config

    k8s_config: Any = _k8s_config  # its loaders are untyped

    configuration = k8s_client.Configuration()
    if kubeconfig is not None:
        k8s_config.load_kube_config(
            config_file=str(kubeconfig), context=context, client_configuration=configuration, persist_config=False
        )
    else:
        try:
            k8s_config.load_incluster_config(client_configuration=configuration)
        except k8s_config.ConfigException:
            k8s_config.load_kube_config(context=context, client_configuration=configuration, persist_config=False)
    return connection_from_configuration(configuration)


AUTH_REFRESH_SECONDS = 10.0
"""How long an Authorization header is reused before the official client's refresh hook is asked again."""


def connection_from_configuration(
    configuration: Any, clock: Callable[[], float] = time.monotonic, refresh_seconds: float = AUTH_REFRESH_SECONDS
) -> Connection:
    """Turn an official-client `Configuration` into an SSL context and a (refreshing) Authorization header.

    The official client's token refresh hook re-applies the whole kubeconfig on every call, and assigning its
    `host` scans the process environment for proxies: ~1 ms of CPU per request. The header is reused for
    `refresh_seconds`, far below any token's lifetime (expiring tokens are refreshed minutes before they expire).
    """
    ssl_context: ssl.SSLContext | bool
    if configuration.verify_ssl:
        ctx = ssl.create_default_context(cafile=configuration.ssl_ca_cert or None)
    else:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if configuration.cert_file:
        ctx.load_cert_chain(configuration.cert_file, configuration.key_file)
    ssl_context = ctx
    if str(configuration.host).startswith("http://"):
        ssl_context = False

    def current_header() -> str | None:
        settings = configuration.auth_settings()
        bearer = settings.get("BearerToken")
        if bearer and bearer.get("value"):
            return str(bearer["value"])
        basic = configuration.get_basic_auth_token()
        return str(basic) if basic else None

    cached: list[tuple[float, str | None]] = []

    def auth_header() -> str | None:
        now = clock()
        if not cached or now - cached[0][0] >= refresh_seconds:
            cached[:] = [(now, current_header())]
        return cached[0][1]

    return Connection(server=str(configuration.host).rstrip("/"), ssl_context=ssl_context, auth_header=auth_header)


def _resource_label(path: str) -> str:
    """The plural in an API path (`/api/v1/namespaces/x/secrets/y` -> `secrets`), for metric labels."""
    parts = [p for p in path.split("?")[0].split("/") if p]
    if not parts:
        return ""
    start = 2 if parts[0] == "api" else 3
    rest = parts[start:]
    if len(rest) >= 2 and rest[0] == "namespaces":
        rest = rest[2:] if len(rest) > 2 else rest[:1]
    return rest[0] if rest else "discovery"


class KubeClient:
    """One aiohttp session to one API server; every method maps to one HTTP request (lists page through)."""

    def __init__(
        self,
        connection: Connection,
        metrics: ClientMetrics | None = None,
        *,
        user_agent: str,
        field_manager: str,
        request_timeout: float = 30.0,
    ) -> None:
        self.connection = connection
        self.field_manager = field_manager
        """Who owns the fields this client writes (server-side apply), unless a call names another."""
        self.metrics = metrics or ClientMetrics()
        self._user_agent = user_agent
        self._timeout = request_timeout
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> KubeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(ssl=self.connection.ssl_context, limit=200)
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    def _headers(self, content_type: str | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": self._user_agent}
        auth = self.connection.auth_header()
        if auth:
            headers["Authorization"] = auth
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    def _count(self, verb: str, path: str) -> None:
        resource = _resource_label(path)
        if verb in {"get", "list", "watch", "discovery"}:
            self.metrics.api_reads.inc(verb, resource)
        else:
            self.metrics.api_writes.inc(verb, resource)

    async def request(
        self,
        method: str,
        path: str,
        *,
        verb: str,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> Obj:
        """Send one request and decode the JSON answer; a non-2xx answer raises `ApiError`."""
        self._count(verb, path)
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        timeout = aiohttp.ClientTimeout(total=self._timeout)
        async with self.session.request(
            method,
            self.connection.server + path,
            params=dict(params or {}),
            data=data,
            headers=self._headers(content_type if data is not None else None),
            timeout=timeout,
        ) as response:
            raw = await response.read()
            if response.status >= 300:
                raise self._error(response.status, raw)
            if not raw:
                return {}
            decoded = json.loads(raw)
            return decoded if isinstance(decoded, dict) else {"items": decoded}

    def _error(self, status: int, raw: bytes) -> ApiError:
        self.metrics.api_errors.inc(str(status))
        try:
            body = json.loads(raw)
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        return ApiError(
            status,
            str(body.get("reason") or status),
            str(body.get("message") or raw[:200].decode(errors="replace")),
            body,
        )

    # ---- reads ---------------------------------------------------------------------------------------------

    async def get(self, rt: ResourceType, name: str, namespace: str = "") -> Obj | None:
        try:
            return await self.request("GET", rt.path(namespace, name), verb="get")
        except ApiError as error:
            if error.not_found:
                return None
            raise

    async def list(
        self,
        rt: ResourceType,
        namespace: str = "",
        label_selector: str | None = None,
        field_selector: str | None = None,
        page_size: int = 500,
    ) -> tuple[list[Obj], str]:
        """All objects (paged by `limit`/`continue`) and the list's resourceVersion to start a watch from."""
        items: list[Obj] = []
        params: dict[str, str] = {"limit": str(page_size)}
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        while True:
            page = await self.request("GET", rt.path(namespace), verb="list", params=params)
            for item in page.get("items") or []:
                item.setdefault("apiVersion", rt.api_version)
                item.setdefault("kind", rt.kind)
                items.append(item)
            metadata = page.get("metadata") or {}
            token = metadata.get("continue")
            if not token:
                return items, str(metadata.get("resourceVersion", ""))
            params["continue"] = str(token)

    async def watch(
        self,
        rt: ResourceType,
        resource_version: str,
        namespace: str = "",
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout_seconds: int = 300,
    ) -> AsyncIterator[Obj]:
        """Stream watch events (`{"type", "object"}`) with bookmarks, until the server closes the stream.

        A `410 Gone` at the start comes back as a synthetic ERROR event, the same shape the server uses when the
        version expires mid-stream, so the informer has one code path for "relist".
        """
        params = {
            "watch": "1",
            "allowWatchBookmarks": "true",
            "resourceVersion": resource_version,
            "timeoutSeconds": str(timeout_seconds),
        }
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        path = rt.path(namespace)
        self._count("watch", path)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=15, sock_read=timeout_seconds + 30)
        async with self.session.get(
            self.connection.server + path, params=params, headers=self._headers(), timeout=timeout
        ) as response:
            if response.status == 410:
                yield {"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired"}}
                return
            if response.status >= 300:
                raise self._error(response.status, await response.read())
            buffer = bytearray()
            async for chunk in response.content.iter_any():
                buffer += chunk
                while True:
                    newline = buffer.find(b"\n")
                    if newline < 0:
                        break
                    line = bytes(buffer[:newline])
                    del buffer[: newline + 1]
                    if line.strip():
                        event = json.loads(line)
                        if isinstance(event, dict):
                            yield event

    # ---- writes --------------------------------------------------------------------------------------------

    async def apply(self, rt: ResourceType, obj: Obj, field_manager: str | None = None, force: bool = True) -> Obj:
        """Server-side apply: the object as this field manager wants it; fields it stops sending are removed."""
        params = {"fieldManager": field_manager or self.field_manager, "force": "true" if force else "false"}
        return await self.request(
            "PATCH",
            rt.path(namespace_of(obj), name_of(obj)),
            verb="apply",
            params=params,
            body=obj,
            content_type=_CONTENT_TYPES["apply"],
        )

    async def patch(
        self,
        rt: ResourceType,
        name: str,
        patch: Any,
        namespace: str = "",
        patch_type: PatchType = "merge",
        subresource: str = "",
        field_manager: str | None = None,
    ) -> Obj:
        return await self.request(
            "PATCH",
            rt.path(namespace, name, subresource),
            verb="patch",
            params={"fieldManager": field_manager or self.field_manager},
            body=patch,
            content_type=_CONTENT_TYPES[patch_type],
        )

    async def create(self, rt: ResourceType, obj: Obj, field_manager: str | None = None) -> Obj:
        return await self.request(
            "POST",
            rt.path(namespace_of(obj)),
            verb="create",
            params={"fieldManager": field_manager or self.field_manager},
            body=obj,
        )

    async def update(self, rt: ResourceType, obj: Obj, field_manager: str | None = None) -> Obj:
        return await self.request(
            "PUT",
            rt.path(namespace_of(obj), name_of(obj)),
            verb="update",
            params={"fieldManager": field_manager or self.field_manager},
            body=obj,
        )

    async def delete(
        self,
        rt: ResourceType,
        name: str,
        namespace: str = "",
        uid: str | None = None,
        propagation: str = "Background",
    ) -> bool:
        """Delete by name (guarded by uid when given); False when it was already gone."""
        body: Obj = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": propagation}
        if uid:
            body["preconditions"] = {"uid": uid}
        try:
            await self.request("DELETE", rt.path(namespace, name), verb="delete", body=body)
        except ApiError as error:
            if error.not_found:
                return False
            raise
        return True

    async def discover(self, api_version: str) -> Obj | None:
        """The APIResourceList of one group/version, or None when the API server does not serve it."""
        path = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
        try:
            return await self.request("GET", path, verb="discovery")
        except ApiError as error:
            if error.status in (404, 503):
                return None
            raise


class NotServed(Exception):
    """The API server does not serve a kind (its CustomResourceDefinition is not installed)."""

    def __init__(self, api_version: str, kind: str, crd_name: str) -> None:
        super().__init__(f"{kind} ({api_version}) is not served: CustomResourceDefinition {crd_name} is not installed")
        self.api_version = api_version
        self.kind = kind
        self.crd_name = crd_name


def guess_crd_name(api_version: str, kind: str) -> str:
    """The CRD's likely name (`<plural>.<group>`) when discovery cannot say, for a DependencyMissing message."""
    group = api_version.rpartition("/")[0]
    lowered = kind.lower()
    plural = lowered if lowered.endswith("s") else (lowered[:-1] + "ies" if lowered.endswith("y") else lowered + "s")
    return f"{plural}.{group}" if group else plural


class Discovery:
    """Resolves (apiVersion, kind) to a `ResourceType`, caching per group/version.

    A group/version that is not served is asked again only after `retry_after` seconds, so an absent third-party
    CRD costs one discovery request per period rather than one per reconcile, and is noticed when it appears.
    """

    def __init__(
        self,
        client: KubeClient,
        retry_after: float = 30.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._client = client
        self._retry_after = retry_after
        self._clock = clock or time.monotonic
        self._cache: dict[str, tuple[dict[str, ResourceType] | None, float]] = {}
        self._lock = asyncio.Lock()

    def invalidate(self, api_version: str) -> None:
        self._cache.pop(api_version, None)

    def cached(self, api_version: str, kind: str) -> ResourceType | None:
        builtin = BUILTINS.get((api_version, kind))
        if builtin:
            return builtin
        entry = self._cache.get(api_version)
        return entry[0].get(kind) if entry and entry[0] else None

    async def resolve(self, api_version: str, kind: str) -> ResourceType:
        builtin = BUILTINS.get((api_version, kind))
        if builtin is not None:
            return builtin
        resources = await self._resources(api_version)
        if resources is None or kind not in resources:
            raise NotServed(api_version, kind, guess_crd_name(api_version, kind))
        return resources[kind]

    async def _resources(self, api_version: str) -> dict[str, ResourceType] | None:
        now = self._clock()
        entry = self._cache.get(api_version)
        if entry is not None and (entry[0] is not None or now - entry[1] < self._retry_after):
            return entry[0]
        async with self._lock:
            entry = self._cache.get(api_version)
            if entry is not None and (entry[0] is not None or now - entry[1] < self._retry_after):
                return entry[0]
            document = await self._client.discover(api_version)
            resources = None if document is None else parse_resource_list(api_version, document)
            if resources is not None and not resources:
                resources = None
            self._cache[api_version] = (resources, self._clock())
            return resources


def parse_resource_list(api_version: str, document: Mapping[str, Any]) -> dict[str, ResourceType]:
    """kind -> ResourceType from an APIResourceList, skipping subresources (`pods/log`)."""
    group, _, version = api_version.rpartition("/")
    found: dict[str, ResourceType] = {}
    for resource in document.get("resources") or []:
        plural = str(resource.get("name", ""))
        if not plural or "/" in plural:
            continue
        kind = str(resource.get("kind", ""))
        found[kind] = ResourceType(group, version, kind, plural, bool(resource.get("namespaced")))
    return found
