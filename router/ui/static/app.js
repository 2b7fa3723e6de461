// freerouter console: polls /status and /status/requests, and drives the playground over
// /v1/chat/completions. No framework, no build step; every value from the server is put into
// the page as text (textContent), never as markup: request ids and error messages are chosen by
// clients and upstreams.
"use strict";

(() => {
  const KEY_STORE = "freerouter.key";
  const POLL_MS = 1500;          // the contract asks for at least every 2 s
  const MAX_BACKOFF_MS = 15000;  // after repeated errors
  const REQUESTS_SHOWN = 100;
  const STATE_ORDER = ["healthy", "degraded", "half_open", "cooling"];
  const KNOWN_BACKEND_FIELDS = new Set([
    "id", "provider", "state", "score", "latency_ms_p50", "error_rate", "cooldown_s",
    "cooldown_reason", "budget", "requests", "failures", "inflight",
  ]);

  const $ = (id) => document.getElementById(id);
  const el = (tag, attrs, ...children) => {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "className") node.className = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  };

  // ---- the client key: in this tab's sessionStorage only, sent as a Bearer header ----------
  const auth = {
    key: sessionStorage.getItem(KEY_STORE) || "",
    set(key) {
      this.key = key;
      if (key) sessionStorage.setItem(KEY_STORE, key);
      else sessionStorage.removeItem(KEY_STORE);
      $("forget-key").hidden = !key;
    },
    headers(extra) {
      const headers = Object.assign({}, extra);
      if (this.key) headers.Authorization = "Bearer " + this.key;
      return headers;
    },
  };

  // The message of an error body in either API's shape, else a plain description.
  const errorMessage = (body, status) => {
    const message = body && body.error && body.error.message;
    return typeof message === "string" && message ? message : `HTTP ${status}`;
  };

  async function getJSON(path) {
    const response = await fetch(path, {
      headers: auth.headers({ Accept: "application/json" }), cache: "no-store",
    });
    let body = null;
    try { body = await response.json(); } catch (_) { body = null; }
    return { status: response.status, ok: response.ok, body };
  }

  // ---- locking: the page asks for a key when the router answers 401 -------------------------
  let locked = false;

  function lock(message) {
    locked = true;
    $("main").hidden = true;
    const form = $("key-form");
    form.hidden = false;
    const error = $("key-error");
    error.hidden = !message;
    error.textContent = message || "";
    setLive("locked", "Waiting for a client key");
    $("key").focus();
  }

  function unlock() {
    if (!locked && !$("main").hidden) return;
    locked = false;
    $("key-form").hidden = true;
    $("main").hidden = false;
  }

  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $("key");
    const key = input.value.trim();
    if (!key) return;
    input.value = "";
    auth.set(key);
    locked = false;
    models.loaded = false;
    poll.now();
  });

  $("forget-key").addEventListener("click", () => {
    auth.set("");
    models.loaded = false;
    poll.now();
  });

  // ---- the live indicator --------------------------------------------------------------------
  function setLive(state, text) {
    $("live").dataset.live = state;
    $("live-text").textContent = text;
  }

  // ---- formatting ----------------------------------------------------------------------------
  const dash = "—";
  const num = (value, digits) => (typeof value === "number" && isFinite(value)
    ? value.toLocaleString(undefined, { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : dash);
  const ms = (value) => (typeof value === "number" ? (value >= 1000
    ? `${num(value / 1000, 2)} s` : `${num(value, 0)} ms`) : dash);
  const percent = (value) => (typeof value === "number" ? `${num(value * 100, 1)} %` : dash);
  const label = (state) => String(state).replace(/_/g, " ");
  const clock = (iso) => {
    const date = new Date(iso);
    return isNaN(date) ? String(iso) : date.toLocaleTimeString(undefined, { hour12: false });
  };
  const scalar = (value) => (value === null || value === undefined ? dash
    : typeof value === "object" ? JSON.stringify(value) : String(value));

  // ---- backends --------------------------------------------------------------------------------
  const rows = new Map(); // backend id -> <tr>, reused so focus and selection survive a refresh
  let lastStates = new Map();

  function budgetCell(budget) {
    const cell = el("td", { className: "budget" });
    const entries = Object.entries(budget || {}).filter(([name]) => name.endsWith("_left"));
    const limited = entries.filter(([, value]) => value !== null && value !== undefined);
    if (!limited.length) {
      cell.append(el("span", { className: "muted" }, "no limit"));
      return cell;
    }
    for (const [name, value] of limited) {
      const unit = name.slice(0, -"_left".length);
      cell.append(el("span", { className: value <= 0 ? "chip chip-empty" : "chip", title: `${unit} left` },
        el("span", { className: "chip-key" }, unit), " ", num(value, 0)));
    }
    return cell;
  }

  function scoreCell(score) {
    const bar = el("span", { className: "meter", "aria-hidden": "true" }, el("span"));
    if (typeof score === "number") bar.firstChild.style.width = `${Math.max(0, Math.min(1, score)) * 100}%`;
    return el("td", { className: "num score" }, bar, " ", num(score, 2));
  }

  function backendRow(backend) {
    const extras = Object.entries(backend).filter(([name]) => !KNOWN_BACKEND_FIELDS.has(name));
    const name = el("td", { className: "id" }, el("span", { className: "mono" }, backend.id));
    if (extras.length) {
      name.append(el("span", { className: "muted extra" },
        extras.map(([k, v]) => `${k}: ${scalar(v)}`).join(" · ")));
    }
    const cooling = typeof backend.cooldown_s === "number" && backend.cooldown_s > 0;
    const cooldown = el("td", { className: "cooldown" }, cooling
      ? el("span", {}, `${num(backend.cooldown_s, 1)} s`, " ",
        el("span", { className: "reason" }, backend.cooldown_reason ? label(backend.cooldown_reason) : ""))
      : el("span", { className: "muted" }, dash));
    return [
      name,
      el("td", {}, el("span", { className: "state", "data-state": backend.state }, label(backend.state))),
      scoreCell(backend.score),
      el("td", { className: "num" }, ms(backend.latency_ms_p50)),
      el("td", { className: "num" }, percent(backend.error_rate)),
      cooldown,
      budgetCell(backend.budget),
      el("td", { className: "num" }, num(backend.requests, 0)),
      el("td", { className: "num" }, num(backend.failures, 0)),
      el("td", { className: "num" }, num(backend.inflight, 0)),
    ];
  }

  function renderBackends(backends) {
    const body = $("backends").tBodies[0];
    const seen = new Set();
    backends.forEach((backend, index) => {
      seen.add(backend.id);
      let row = rows.get(backend.id);
      if (!row) {
        row = el("tr", { "data-backend": backend.id });
        rows.set(backend.id, row);
      }
      row.dataset.state = backend.state;
      row.replaceChildren(...backendRow(backend));
      if (body.children[index] !== row) body.insertBefore(row, body.children[index] || null);
    });
    for (const [id, row] of rows) {
      if (!seen.has(id)) { row.remove(); rows.delete(id); }
    }
    lastStates = new Map(backends.map((b) => [b.id, b.state]));
  }

  function renderSummary(backends) {
    const counts = new Map(STATE_ORDER.map((s) => [s, 0]));
    let inflight = 0;
    let requests = 0;
    for (const b of backends) {
      counts.set(b.state, (counts.get(b.state) || 0) + 1);
      inflight += b.inflight || 0;
      requests += b.requests || 0;
    }
    const tiles = [el("li", { className: "tile" }, el("strong", {}, String(backends.length)), " backends")];
    for (const [state, count] of counts) {
      if (!count && state !== "healthy") continue;
      tiles.push(el("li", { className: "tile", "data-state": state },
        el("strong", {}, String(count)), " ", label(state)));
    }
    tiles.push(el("li", { className: "tile" }, el("strong", {}, num(inflight, 0)), " in flight"));
    tiles.push(el("li", { className: "tile" }, el("strong", {}, num(requests, 0)), " requests"));
    $("summary").replaceChildren(...tiles);
  }

  // Whatever else /status carries at its top level (a shared store's health, a replica id...).
  function renderExtras(status) {
    const parts = Object.entries(status)
      .filter(([name]) => name !== "backends" && name !== "routes")
      .map(([name, value]) => (value && typeof value === "object" && !Array.isArray(value)
        ? `${label(name)}: ${Object.entries(value).map(([k, v]) => `${label(k)} ${scalar(v)}`).join(", ")}`
        : `${label(name)}: ${scalar(value)}`));
    $("extras").textContent = parts.join(" · ");
  }

  function renderRoutes(routes) {
    const items = routes.map((route) => el("li", { className: "route", "data-route": route.name },
      el("div", { className: "route-head" },
        el("span", { className: "mono route-name" }, route.name),
        el("span", { className: "muted" }, `${route.strategy} · ${route.backends.length} backends`)),
      el("ul", { className: "members" }, ...route.backends.map((id) => el("li", {
        className: "member", "data-state": lastStates.get(id) || "unknown",
        title: lastStates.has(id) ? label(lastStates.get(id)) : "",
      }, id)))));
    $("routes").replaceChildren(...(items.length ? items : [el("li", { className: "muted" }, "No routes.")]));
  }

  function renderRequests(entries) {
    const statusClass = (status) => (status >= 500 ? "bad" : status >= 400 ? "warn" : "good");
    const trs = entries.map((e) => el("tr", { "data-request": e.request_id },
      el("td", { className: "mono", title: e.time }, clock(e.time)),
      el("td", {}, el("span", { className: `code ${statusClass(e.status)}` }, String(e.status))),
      el("td", {}, e.api),
      el("td", { className: "mono" }, e.route),
      el("td", { className: "mono" }, e.backend || dash),
      el("td", { className: "num" }, num(e.attempts, 0)),
      el("td", { className: "num" }, ms(e.duration_ms)),
      el("td", { className: "num" }, ms(e.ttft_ms)),
      el("td", {}, e.stream ? "stream" : dash),
      el("td", {}, e.client || dash),
      el("td", { className: "mono rid", title: e.request_id }, e.request_id)));
    $("requests").tBodies[0].replaceChildren(...trs);
    $("requests-empty").hidden = entries.length > 0;
  }

  // ---- polling: every POLL_MS, backing off on errors, paused while the tab is hidden ----------
  const poll = {
    timer: null,
    delay: POLL_MS,
    running: false,
    schedule(delay) {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.tick(), delay);
    },
    now() { this.schedule(0); },
    async tick() {
      this.timer = null;
      if (document.hidden || this.running) return;
      this.running = true;
      try {
        const [status, recent] = await Promise.all([
          getJSON("/status"), getJSON(`/status/requests?limit=${REQUESTS_SHOWN}`),
        ]);
        if (status.status === 401 || recent.status === 401) {
          const body = status.status === 401 ? status.body : recent.body;
          lock(auth.key ? `That key was not accepted: ${errorMessage(body, 401)}` : "");
          return; // no polling until a key is given
        }
        if (!status.ok) throw new Error(errorMessage(status.body, status.status));
        unlock();
        const backends = Array.isArray(status.body.backends) ? status.body.backends : [];
        renderBackends(backends);
        renderSummary(backends);
        renderRoutes(Array.isArray(status.body.routes) ? status.body.routes : []);
        renderExtras(status.body);
        if (recent.ok && recent.body && Array.isArray(recent.body.requests)) renderRequests(recent.body.requests);
        if (!models.loaded) models.load();
        setLive("live", `Live · ${new Date().toLocaleTimeString(undefined, { hour12: false })}`);
        this.delay = POLL_MS;
        this.schedule(this.delay);
      } catch (error) {
        this.delay = Math.min(this.delay * 2, MAX_BACKOFF_MS);
        setLive("error", `Cannot reach the router (${error.message}); retrying in ${Math.round(this.delay / 1000)} s`);
        this.schedule(this.delay);
      } finally {
        this.running = false;
      }
    },
  };

  document.addEventListener("visibilitychange", () => {
    if (document.hidden) {
      clearTimeout(poll.timer);
      setLive("paused", "Paused while the tab is hidden");
    } else if (!locked) {
      poll.now();
    }
  });

  // ---- the playground --------------------------------------------------------------------------
  const models = {
    loaded: false,
    async load() {
      this.loaded = true;
      let listing;
      try { listing = await getJSON("/v1/models"); } catch (_) { this.loaded = false; return; }
      if (!listing.ok || !listing.body || !Array.isArray(listing.body.data)) { this.loaded = false; return; }
      const select = $("model");
      const previous = select.value;
      const routes = listing.body.data.filter((m) => m.owned_by === "freerouter");
      const backends = listing.body.data.filter((m) => m.owned_by !== "freerouter");
      const group = (name, entries) => el("optgroup", { label: name },
        ...entries.map((m) => el("option", { value: m.id }, m.id)));
      select.replaceChildren(group("Routes", routes), group("Backends", backends));
      const ids = listing.body.data.map((m) => m.id);
      select.value = ids.includes(previous) ? previous : (ids.includes("free") ? "free" : ids[0] || "");
    },
  };

  let inFlight = null; // the AbortController of the answer being streamed

  function setBusy(busy) {
    $("send").disabled = busy;
    $("stop").hidden = !busy;
    $("answer").setAttribute("aria-busy", busy ? "true" : "false");
  }

  function showError(message) {
    const error = $("play-error");
    error.hidden = !message;
    error.textContent = message || "";
  }

  // Calls onData with the data of every server-sent event of a fetch body, until onData says
  // it wants no more. The body is read to its end all the same: hanging up early would make
  // the router see a client that went away (499) instead of an answered request.
  async function readEvents(body, onData) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let wanted = true;
    for (;;) {
      const { value, done } = await reader.read();
      buffer += decoder.decode(value || new Uint8Array(), { stream: !done });
      const frames = buffer.split(/\r?\n\r?\n/);
      buffer = done ? "" : frames.pop();
      for (const frame of frames) {
        const data = frame.split(/\r?\n/).filter((line) => line.startsWith("data:"))
          .map((line) => line.slice(5).replace(/^ /, "")).join("\n");
        if (data && wanted) wanted = onData(data) !== false;
      }
      if (done) return;
    }
  }

  async function send() {
    const model = $("model").value;
    const prompt = $("prompt").value;
    if (!model || !prompt.trim() || inFlight) return;
    const controller = new AbortController();
    inFlight = controller;
    setBusy(true);
    showError("");
    const answer = $("answer");
    answer.textContent = "";
    $("served-by").textContent = "…";
    $("attempts").textContent = "…";
    try {
      const response = await fetch("/v1/chat/completions", {
        method: "POST",
        headers: auth.headers({ "Content-Type": "application/json", Accept: "text/event-stream" }),
        body: JSON.stringify({ model, stream: true, messages: [{ role: "user", content: prompt }] }),
        signal: controller.signal,
        cache: "no-store",
      });
      $("served-by").textContent = response.headers.get("x-freerouter-backend") || dash;
      $("attempts").textContent = response.headers.get("x-freerouter-attempts") || dash;
      if (!response.ok) {
        let body = null;
        try { body = await response.json(); } catch (_) { body = null; }
        showError(errorMessage(body, response.status));
        if (response.status === 401) lock(`That key was not accepted: ${errorMessage(body, 401)}`);
        return;
      }
      await readEvents(response.body, (data) => {
        if (data === "[DONE]") return false;
        let event;
        try { event = JSON.parse(data); } catch (_) { return true; }
        if (event.error) { showError(errorMessage(event, response.status)); return false; }
        for (const choice of event.choices || []) {
          const text = choice.delta && choice.delta.content;
          if (typeof text === "string") answer.append(text);
        }
        return true;
      });
    } catch (error) {
      if (error.name === "AbortError") showError("Stopped.");
      else showError(`The request failed: ${error.message}`);
    } finally {
      inFlight = null;
      setBusy(false);
      poll.now(); // show the request in the recent list at once
    }
  }

  $("play-form").addEventListener("submit", (event) => { event.preventDefault(); send(); });
  $("prompt").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); send(); }
  });
  $("stop").addEventListener("click", () => { if (inFlight) inFlight.abort(); });

  auth.set(auth.key);
  poll.now();
})();
