"""Every shared object of the app, under one typed AppKey each."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from router.access import Access
from router.budget import Budgets
from router.client_limits import ClientLimits
from router.clock import Clock
from router.config import Config
from router.health import HealthTracker
from router.metrics import Metrics
from router.plugins import Plugins
from router.proxy import Proxy
from router.readiness import Readiness
from router.recent import RecentRequests
from router.responses_store import ResponsesStore
from router.runtime import Runtime, RuntimeRef
from router.state.store import StateStore

RUNTIME = web.AppKey("runtime", RuntimeRef)
# The config the app was built with: what a reload cannot change (the [state] store) is its.
STARTUP_CONFIG = web.AppKey("startup_config", Config)
ACCESS = web.AppKey("access", Access)
HEALTH = web.AppKey("health", HealthTracker)
BUDGETS = web.AppKey("budgets", Budgets)
STORE: web.AppKey[StateStore] = web.AppKey("state_store")
METRICS = web.AppKey("metrics", Metrics)
PROXY = web.AppKey("proxy", Proxy)
READINESS = web.AppKey("readiness", Readiness)
PLUGINS = web.AppKey("plugins", Plugins)
CLOCK = web.AppKey("clock", Clock)
CLIENT_LIMITS = web.AppKey("client_limits", ClientLimits)
RESPONSES_STORE = web.AppKey("responses_store", ResponsesStore)  # stored Responses API answers
STARTED_AT = web.AppKey("started_at", int)  # epoch seconds: the `created` of every listed model
RECENT = web.AppKey("recent_requests", RecentRequests)
# Builds a fresh Runtime from the config source (SIGHUP reload); raises ConfigError.
RELOADER: web.AppKey[Callable[[], Runtime]] = web.AppKey("reloader")
