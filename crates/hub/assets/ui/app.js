// HyperFed fleet page: reads the hub's REST API with the token the person pastes (kept in
// sessionStorage for this tab only) and renders everything with textContent, never as HTML.
// Polls every few seconds; the cluster table shows one page of 50 rows at a time, so a fleet
// of hundreds of clusters stays light for the browser.
"use strict";

(function () {
  const TOKEN_KEY = "hyperfed.token";
  const POLL_MS = 2000;
  const PAGE_ROWS = 50;
  const VM_PAGE = 50;
  const AUDIT_ROWS = 20;

  const $ = (id) => document.getElementById(id);
  let timer = null;
  let generation = 0;
  let clusterRows = [];
  let clusterPage = 0;
  let vmQuery = null;
  let vmCursor = null;

  function token() {
    return sessionStorage.getItem(TOKEN_KEY);
  }

  class Refused extends Error {}

  async function getJson(path) {
    const resp = await fetch(path, {
      headers: { Authorization: "Bearer " + token(), Accept: "application/json" },
      cache: "no-store",
      credentials: "omit",
    });
    let body = null;
    try {
      body = await resp.json();
    } catch (_) {
      body = null;
    }
    if (resp.status === 401) {
      throw new Refused((body && body.error) || "the hub refused the token");
    }
    if (!resp.ok) {
      throw new Error(path.split("?")[0] + ": " + ((body && body.error) || "HTTP " + resp.status));
    }
    return body;
  }

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  function row(cells, attrs) {
    const tr = document.createElement("tr");
    for (const c of cells) {
      tr.appendChild(c instanceof Node ? c : el("td", c));
    }
    for (const [k, v] of Object.entries(attrs || {})) tr.setAttribute(k, v);
    return tr;
  }

  function bytes(n) {
    if (typeof n !== "number" || !isFinite(n)) return "";
    const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024;
      i += 1;
    }
    return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
  }

  function ago(unixSeconds) {
    if (!unixSeconds) return "never";
    const s = Math.max(0, Math.round(Date.now() / 1000 - unixSeconds));
    if (s < 60) return s + " s ago";
    if (s < 3600) return Math.floor(s / 60) + " min ago";
    if (s < 86400) return Math.floor(s / 3600) + " h ago";
    return Math.floor(s / 86400) + " d ago";
  }

  function pair(obj, a, b) {
    if (!obj || typeof obj !== "object") return "";
    return (obj[a] ?? "?") + " / " + (obj[b] ?? "?");
  }

  function worstSeverity(conditions) {
    const order = ["EMERGENCY", "ALERT", "CRITICAL", "ERROR", "WARNING", "NOTICE", "INFO", "DEBUG"];
    const by = (conditions && conditions.by_severity) || {};
    for (const s of order) if (by[s] > 0) return s;
    return "";
  }

  // ---- login / logout ----------------------------------------------------------------

  function showLogin(message) {
    stop();
    sessionStorage.removeItem(TOKEN_KEY);
    clusterRows = [];
    for (const id of ["cluster-rows", "vm-rows", "audit-rows"]) $(id).replaceChildren();
    $("fleet").hidden = true;
    $("logout").hidden = true;
    $("login-panel").hidden = false;
    $("login-error").textContent = message || "";
    $("updated").textContent = "";
    $("token").value = "";
    $("token").focus();
  }

  function showFleet() {
    $("login-panel").hidden = true;
    $("login-error").textContent = "";
    $("fleet").hidden = false;
    $("logout").hidden = false;
    generation += 1;
    poll(generation);
  }

  function stop() {
    generation += 1;
    if (timer) clearTimeout(timer);
    timer = null;
  }

  async function login(ev) {
    ev.preventDefault();
    const value = $("token").value.trim();
    if (!value) {
      $("login-error").textContent = "Paste a token first.";
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, value);
    $("token").value = "";
    try {
      await getJson("/v1/clusters");
      showFleet();
    } catch (e) {
      showLogin(e instanceof Refused ? "Token refused: " + e.message : "The hub did not answer: " + e.message);
    }
  }

  // ---- polling ------------------------------------------------------------------------

  async function fleetStatus() {
    // Every cluster's row in one or a few pages (limit=1000 per page), totals on the first.
    let out = await getJson("/v1/status?limit=1000");
    const rows = (out.clusters || []).slice();
    let next = out.next_cursor;
    for (let i = 0; next && i < 50; i += 1) {
      const more = await getJson("/v1/status?limit=1000&cursor=" + encodeURIComponent(next));
      rows.push(...(more.clusters || []));
      next = more.next_cursor;
    }
    return { totals: out.totals || {}, rows };
  }

  async function poll(gen) {
    if (gen !== generation || !token()) return;
    const started = Date.now();
    try {
      const [registry, status, audit] = await Promise.all([
        getJson("/v1/clusters"),
        fleetStatus(),
        getJson("/v1/audit?limit=" + AUDIT_ROWS),
      ]);
      if (gen !== generation) return;
      renderFleet(registry.clusters || [], status);
      renderAudit(audit.entries || []);
      $("fetch-error").textContent = "";
      $("updated").textContent = "Updated " + new Date().toLocaleTimeString();
    } catch (e) {
      if (gen !== generation) return;
      if (e instanceof Refused) {
        showLogin("The hub no longer accepts this token: " + e.message);
        return;
      }
      $("fetch-error").textContent = "Could not refresh: " + e.message;
    }
    // A large fleet's status takes longer to gather: never poll more than half the time.
    const wait = Math.max(POLL_MS, 2 * (Date.now() - started));
    if (gen === generation) timer = setTimeout(() => poll(gen), wait);
  }

  // ---- rendering ----------------------------------------------------------------------

  function renderFleet(registry, status) {
    const t = status.totals;
    const byAlias = new Map(status.rows.map((r) => [r.cluster, r]));
    const up = registry.filter((c) => c.state === "up").length;
    $("total-clusters").textContent = String(registry.length);
    $("total-up").textContent = String(up);
    $("total-down").textContent = String(registry.length - up);
    $("total-nodes").textContent = pair(t.nodes, "online", "total");
    $("total-vms").textContent = pair(t.vms, "running", "total");
    $("total-storage").textContent = t.storage
      ? bytes(t.storage.used_bytes) + " of " + bytes(t.storage.total_bytes)
      : "";
    $("total-conditions").textContent = t.conditions ? String(t.conditions.raised) : "";

    // Down and unhealthy first (the status rows' order), then by alias.
    const order = new Map(status.rows.map((r, i) => [r.cluster, i]));
    const rank = (alias) => order.get(alias) ?? status.rows.length;
    const stateRank = { down: 0, reconnecting: 1, up: 2 };
    clusterRows = registry
      .map((c) => ({ reg: c, st: byAlias.get(c.alias) }))
      .sort(
        (a, b) =>
          (stateRank[a.reg.state] ?? 3) - (stateRank[b.reg.state] ?? 3) ||
          rank(a.reg.alias) - rank(b.reg.alias) ||
          a.reg.alias.localeCompare(b.reg.alias),
      );
    renderClusterPage();
  }

  function filteredClusters() {
    const f = $("cluster-filter").value.trim().toLowerCase();
    if (!f) return clusterRows;
    return clusterRows.filter(
      (r) => r.reg.alias.toLowerCase().includes(f) || (r.reg.cluster_name || "").toLowerCase().includes(f),
    );
  }

  function renderClusterPage() {
    const rows = filteredClusters();
    const pages = Math.max(1, Math.ceil(rows.length / PAGE_ROWS));
    clusterPage = Math.min(clusterPage, pages - 1);
    const start = clusterPage * PAGE_ROWS;
    const shown = rows.slice(start, start + PAGE_ROWS);
    const body = document.createDocumentFragment();
    for (const { reg, st } of shown) {
      const state = el("td", reg.state, "state state-" + reg.state);
      let health = st ? st.health || st.status : "";
      if (st && st.status && st.status !== "up") health = st.status;
      const healthCell = el("td", health || "", "health health-" + (health || "unknown"));
      if (st && st.error) healthCell.title = st.error;
      const storage = st && st.storage
        ? bytes(st.storage.used_bytes) + " of " + bytes(st.storage.total_bytes)
        : "";
      const raised = st && st.conditions ? st.conditions.raised ?? 0 : "";
      const worst = st ? worstSeverity(st.conditions) : "";
      const seen = el("td", ago(reg.last_seen));
      if (reg.last_seen) seen.title = new Date(reg.last_seen * 1000).toISOString();
      const name = el("td", reg.alias);
      if (reg.cluster_name && reg.cluster_name !== reg.alias) name.title = reg.cluster_name;
      body.appendChild(
        row(
          [
            name,
            state,
            healthCell,
            st ? pair(st.nodes, "online", "total") : "",
            st ? pair(st.vms, "running", "total") : "",
            storage,
            worst ? raised + " (" + worst + ")" : String(raised),
            seen,
          ],
          { "data-cluster": reg.alias, "data-state": reg.state },
        ),
      );
    }
    $("cluster-rows").replaceChildren(body);
    $("clusters-page").textContent =
      rows.length === 0
        ? "no clusters"
        : "rows " + (start + 1) + "-" + (start + shown.length) + " of " + rows.length +
          " (page " + (clusterPage + 1) + " of " + pages + ")";
    $("clusters-prev").disabled = clusterPage === 0;
    $("clusters-next").disabled = clusterPage >= pages - 1;
  }

  function renderAudit(entries) {
    const body = document.createDocumentFragment();
    for (const e of entries.slice().reverse()) {
      const outcome = el("td", e.outcome, "outcome outcome-" + e.outcome);
      if (e.error) outcome.title = e.error;
      body.appendChild(row([e.time, e.subject, e.cluster, e.exported_tool || e.tool, outcome]));
    }
    $("audit-rows").replaceChildren(body);
  }

  // ---- VM search (on demand, paged by the API's cursor) ---------------------------------

  async function vmSearch(ev, more) {
    if (ev) ev.preventDefault();
    if (!more) {
      const q = new URLSearchParams();
      for (const [key, id] of [["name", "vm-name"], ["state", "vm-state"], ["cluster", "vm-cluster"]]) {
        const v = $(id).value.trim();
        if (v) q.set(key, v);
      }
      q.set("limit", String(VM_PAGE));
      vmQuery = q;
      vmCursor = null;
      $("vm-rows").replaceChildren();
    }
    const q = new URLSearchParams(vmQuery);
    if (more && vmCursor) q.set("cursor", vmCursor);
    $("vm-summary").textContent = "Searching...";
    try {
      const out = await getJson("/v1/vms?" + q.toString());
      const body = document.createDocumentFragment();
      for (const vm of out.vms || []) {
        const tags = Array.isArray(vm.tags) ? vm.tags.join(", ") : vm.tags || "";
        body.appendChild(
          row([vm.cluster, vm.name, vm.state, vm.vcpus ?? "", bytes(vm.mem_bytes), tags], {
            "data-vm": vm.uuid || "",
          }),
        );
      }
      $("vm-rows").appendChild(body);
      vmCursor = out.next_cursor || null;
      $("vm-more").hidden = !vmCursor;
      const shown = $("vm-rows").childElementCount;
      let text = shown + " of " + out.total + " VMs";
      if (out.complete === false) {
        text += "; clusters not answering: " + (out.unanswered || []).map((u) => u.cluster || u).join(", ");
      }
      $("vm-summary").textContent = text;
    } catch (e) {
      if (e instanceof Refused) {
        showLogin("The hub no longer accepts this token: " + e.message);
        return;
      }
      $("vm-summary").textContent = "Search failed: " + e.message;
    }
  }

  // ---- wiring -------------------------------------------------------------------------

  document.addEventListener("DOMContentLoaded", () => {
    $("login").addEventListener("submit", login);
    $("logout").addEventListener("click", () => showLogin("Logged out."));
    $("clusters-prev").addEventListener("click", () => {
      clusterPage = Math.max(0, clusterPage - 1);
      renderClusterPage();
    });
    $("clusters-next").addEventListener("click", () => {
      clusterPage += 1;
      renderClusterPage();
    });
    $("cluster-filter").addEventListener("input", () => {
      clusterPage = 0;
      renderClusterPage();
    });
    $("vm-search").addEventListener("submit", (ev) => vmSearch(ev, false));
    $("vm-more").addEventListener("click", () => vmSearch(null, true));
    if (token()) showFleet();
    else showLogin("");
  });
})();
