// The Glacier console: a read-only view of one account, from the server's /console/api.
// Signing in signs one request with SigV4 in the browser (WebCrypto); the secret is never
// sent and never kept. Every value from the server reaches the page as text (textContent),
// never as markup.
"use strict";

const main = document.getElementById("main");
const who = document.getElementById("who");
const enc = new TextEncoder();
let session = null; // {AccountId, AccessKeyId, Expires}
let refreshTimer = null;

// ---- small DOM helpers ----

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "style") el.style.cssText = v; // CSSOM: the page's CSP refuses style attributes
    else el.setAttribute(k, v === true ? "" : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

const SVG = "http://www.w3.org/2000/svg";
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  append(el, children);
  return el;
}

function show(...children) {
  main.replaceChildren(...children.flat().filter(Boolean));
}

// ---- formatting ----

function size(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  let v = Number(n);
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${Math.round(v)} B` : `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[i]}`;
}

// The smallest of 1, 2, 5 × 10^k (in the unit of 1024^n that suits bytes) at or above n.
function niceBytes(n) {
  let unit = 1;
  while (n / unit >= 1024) unit *= 1024;
  const v = n / unit;
  const p = 10 ** Math.floor(Math.log10(v));
  const m = [1, 2, 5, 10].find((f) => f * p >= v);
  return m * p * unit;
}

function count(n) {
  return Number(n).toLocaleString("en-US");
}

function date(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

function relative(iso) {
  const secs = Math.round((new Date(iso) - Date.now()) / 1000);
  const abs = Math.abs(secs);
  const [n, unit] =
    abs < 60 ? [abs, "s"] : abs < 3600 ? [Math.round(abs / 60), "min"]
      : abs < 86400 ? [Math.round(abs / 3600), "h"] : [Math.round(abs / 86400), "d"];
  return secs >= 0 ? `in ${n} ${unit}` : `${n} ${unit} ago`;
}

function short(id) {
  return id.length > 20 ? `${id.slice(0, 10)}…${id.slice(-8)}` : id;
}

// A long id, shown cut short but whole in the page (selecting it copies all of it), and a
// button that copies it.
function idCopy(id, more) {
  const text = h("span", { class: "id mono", title: more ? `${id}\n${more}` : id }, id);
  const button = h("button", { class: "copy", type: "button", title: "Copy the whole id" }, "Copy");
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(id);
    } catch {
      // No clipboard (a page not on HTTPS or localhost): select it for Ctrl-C instead.
      getSelection().selectAllChildren(text);
    }
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = "Copy"; }, 1500);
  });
  return h("span", { class: "id-copy" }, text, button);
}

function pretty(json) {
  try {
    return JSON.stringify(JSON.parse(json), null, 2);
  } catch {
    return json;
  }
}

// ---- the API ----

class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

async function call(method, path, headers) {
  let resp;
  try {
    resp = await fetch(path, {
      method,
      credentials: "same-origin",
      headers: { "x-glacier-console": "1", ...(headers || {}) },
    });
  } catch (e) {
    throw new ApiError(0, "NetworkError", `The server did not answer (${e.message})`);
  }
  if (resp.status === 204) return null;
  const text = await resp.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!resp.ok) {
    throw new ApiError(resp.status, body && body.code, body ? body.message : text);
  }
  return body;
}

async function api(path) {
  try {
    return await call("GET", `api/${path}`);
  } catch (e) {
    if (e.code === "MissingAuthenticationTokenException") {
      session = null;
      signInPage(e.message);
      throw new Error("signed out");
    }
    throw e;
  }
}

// ---- SigV4 in the browser, for the one sign-in request ----

function hex(buf) {
  return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function sha256(text) {
  return hex(await crypto.subtle.digest("SHA-256", enc.encode(text)));
}

async function hmac(key, text) {
  const k = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", k, enc.encode(text)));
}

// Signs POST /console/api/session as AWS Signature Version 4 does any Glacier request.
async function signedSessionRequest(accessKey, secret, region) {
  const path = new URL("api/session", location.href).pathname;
  const amzDate = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d+/, "");
  const day = amzDate.slice(0, 8);
  const payload = await sha256("");
  const signedHeaders = "host;x-amz-content-sha256;x-amz-date";
  const canonical = [
    "POST", path, "",
    `host:${location.host}`, `x-amz-content-sha256:${payload}`, `x-amz-date:${amzDate}`, "",
    signedHeaders, payload,
  ].join("\n");
  const scope = `${day}/${region}/glacier/aws4_request`;
  const toSign = ["AWS4-HMAC-SHA256", amzDate, scope, await sha256(canonical)].join("\n");
  let key = enc.encode(`AWS4${secret}`);
  for (const part of [day, region, "glacier", "aws4_request"]) key = await hmac(key, part);
  const signature = hex(await hmac(key, toSign));
  return {
    path,
    headers: {
      "x-amz-date": amzDate,
      "x-amz-content-sha256": payload,
      authorization: `AWS4-HMAC-SHA256 Credential=${accessKey}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`,
    },
  };
}

// What a failed sign-in means, in a sentence.
function signInError(e) {
  switch (e.code) {
    case "UnrecognizedClientException":
      return "This server has no such access key.";
    case "InvalidSignatureException":
      return /expired|not yet current/.test(e.message)
        ? "This computer's clock is more than 15 minutes from the server's; correct it and try again."
        : "The secret access key is not the one of this access key.";
    default:
      return e.message;
  }
}

function signInPage(notice) {
  stopRefresh();
  who.replaceChildren();
  const error = h("p", { id: "signin-error", class: "error", role: "alert" }, notice || "");
  if (!notice) error.hidden = true;
  if (!window.crypto || !crypto.subtle) {
    show(h("section", { class: "card signin" },
      h("h1", {}, "Sign in"),
      h("p", { class: "error", id: "signin-error" },
        "The console signs in with your browser's Web Crypto, which browsers give only to HTTPS "
        + "pages and to localhost. Start glacier serve with --tls-cert and --tls-key, or open the "
        + "console on localhost (an SSH tunnel will do).")));
    return;
  }
  const key = h("input", { id: "access-key", name: "access-key", autocomplete: "username", required: true, spellcheck: "false" });
  const secret = h("input", { id: "secret-key", name: "secret-key", type: "password", autocomplete: "current-password", required: true });
  const button = h("button", { type: "submit", id: "signin" }, "Sign in");
  const form = h("form", { id: "signin-form", class: "card signin" },
    h("h1", {}, "Sign in"),
    h("p", { class: "muted" },
      "With an access key of this server. Your browser signs the sign-in request; the secret key is never sent."),
    h("label", {}, "Access key ID", key),
    h("label", {}, "Secret access key", secret),
    error,
    button);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    button.disabled = true;
    error.hidden = true;
    try {
      const info = await call("GET", "api/info");
      const req = await signedSessionRequest(key.value.trim(), secret.value, info.Region);
      session = await call("POST", req.path, req.headers);
      secret.value = "";
      if (!location.hash || location.hash === "#/signin") location.hash = "#/";
      route();
    } catch (e) {
      error.textContent = signInError(e);
      error.hidden = false;
    } finally {
      button.disabled = false;
    }
  });
  show(form);
  key.focus();
}

function header() {
  who.replaceChildren(
    h("span", { class: "muted" }, "Account "),
    h("strong", { id: "account" }, session.AccountId),
    h("span", { class: "muted" }, ` · ${session.AccessKeyId} · session ends ${relative(session.Expires)} `),
    h("button", {
      class: "link", id: "signout", onclick: async () => {
        try { await call("DELETE", "api/session"); } catch { /* signed out anyway */ }
        session = null;
        location.hash = "#/";
        signInPage("Signed out.");
      },
    }, "Sign out"));
}

// ---- graphs (SVG, drawn here) ----

// A graph of `points` over the window [from, to] (the days chosen, whatever the points
// cover), dated along its axis; `bucket` (ms): bars, one per bucket.
function graph({ id, title, points, value, label, from, to, bucket }) {
  const W = 560, H = 180, L = 64, R = 12, T = 12, B = 28;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "graph", role: "img", "aria-label": title, id });
  const xs = points.map((p) => new Date(p.Date).getTime());
  const ys = points.map(value);
  const x0 = new Date(from).getTime(), x1 = new Date(to).getTime();
  // At least 1 KiB tall, so that an empty account's axis reads 0 B, 512 B, 1 KiB.
  const top = niceBytes(Math.max(...ys, 1024));
  const X = (x) => L + ((Math.min(Math.max(x, x0), x1) - x0) / Math.max(x1 - x0, 1)) * (W - L - R);
  const Y = (y) => T + (1 - y / top) * (H - T - B);
  for (const f of [0, 0.5, 1]) {
    svg.append(
      s("line", { x1: L, x2: W - R, y1: Y(top * f), y2: Y(top * f), class: "grid" }),
      s("text", { x: L - 6, y: Y(top * f) + 4, class: "axis", "text-anchor": "end" }, label(top * f)));
  }
  const long = x1 - x0 > 2 * 86400e3;
  const when = (t) => new Date(t).toLocaleString(undefined, long
    ? { month: "short", day: "numeric" }
    : { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  [[x0, "start"], [(x0 + x1) / 2, "middle"], [x1, "end"]].forEach(([t, anchor], i) =>
    svg.append(s("text", { x: X(t), y: H - 8, class: "axis tick", "text-anchor": anchor, id: `${id}-tick-${i}` }, when(t))));
  if (!points.length) return svg;
  if (bucket) {
    const w = Math.max(1, X(x0 + bucket) - X(x0) - 1);
    points.forEach((p, i) => {
      if (!ys[i]) return;
      svg.append(s("rect", { x: X(xs[i]), y: Y(ys[i]), width: w, height: Y(0) - Y(ys[i]), class: "bar" },
        s("title", {}, `${when(xs[i])}: ${label(ys[i])} in ${p.Retrievals} retrieval${p.Retrievals === 1 ? "" : "s"}`)));
    });
  } else {
    // A step line: the total holds until the next sample.
    let d = `M${X(xs[0])},${Y(ys[0])}`;
    for (let i = 1; i < xs.length; i++) d += `H${X(xs[i])}V${Y(ys[i])}`;
    svg.append(
      s("path", { d: `${d}V${Y(0)}H${X(xs[0])}Z`, class: "area" }),
      s("path", { d, class: "line" }));
    points.forEach((p, i) => svg.append(
      s("circle", { cx: X(xs[i]), cy: Y(ys[i]), r: 2.5, class: "dot" },
        s("title", {}, `${when(xs[i])}: ${label(ys[i])} in ${count(p.NumberOfArchives)} archives`))));
  }
  return svg;
}

async function usageCard(days) {
  const card = h("section", { class: "card", id: "usage" });
  const pick = h("div", { class: "segmented" }, [1, 7, 30, 90].map((d) =>
    h("button", {
      class: d === days ? "on" : "", onclick: async () => card.replaceWith(await usageCard(d)),
    }, d === 1 ? "1 day" : `${d} days`)));
  const u = await api(`usage?days=${days}`);
  const retrieved = u.Retrievals.reduce((a, p) => a + p.Bytes, 0);
  const per = u.BucketHours === 1 ? "hour" : "day";
  const span = { from: u.From, to: u.To };
  card.append(
    h("div", { class: "card-head" }, h("h2", {}, "Usage"), pick),
    h("div", { class: "graphs" },
      h("figure", {},
        h("figcaption", {}, "Stored bytes"),
        graph({ id: "graph-stored", title: "Stored bytes over time", points: u.Stored, value: (p) => p.SizeInBytes, label: size, ...span })),
      h("figure", {},
        h("figcaption", {}, `Archive retrievals started, per ${per} `,
          h("span", { id: "retrieved" }, `(${size(retrieved)} since ${date(u.From)})`)),
        graph({
          id: "graph-retrievals", title: `Archive retrieval bytes per ${per}`, points: u.Retrievals,
          value: (p) => p.Bytes, label: size, bucket: u.BucketHours * 3600e3, ...span,
        }))));
  return card;
}

// ---- pages ----

function stat(label, value, id, kind) {
  return h("div", { class: "stat" }, h("div", { class: "muted" }, label), h("div", { class: `value ${kind || ""}`, id }, value));
}

function lockBadge(state) {
  if (!state) return null;
  return h("span", { class: `badge ${state === "Locked" ? "locked" : "trial"}` },
    state === "Locked" ? "Locked" : "Lock in progress");
}

async function overviewPage() {
  const o = await api("overview");
  const rows = o.Vaults.map((v) =>
    h("tr", {},
      h("td", {}, h("a", { href: `#/vault/${encodeURIComponent(v.VaultName)}` }, v.VaultName), " ", lockBadge(v.LockState)),
      h("td", { class: "num" }, count(v.NumberOfArchives)),
      h("td", { class: "num" }, size(v.SizeInBytes)),
      h("td", { class: "wide" }, date(v.CreationDate)),
      h("td", { class: "wide" }, v.LastInventoryDate ? date(v.LastInventoryDate) : "never")));
  show(
    h("div", { class: "stats" },
      stat("Vaults", count(o.Vaults.length), "total-vaults"),
      stat("Archives", count(o.NumberOfArchives), "total-archives"),
      stat("Stored", size(o.SizeInBytes), "total-size")),
    await usageCard(7),
    h("section", { class: "card" },
      h("h2", {}, "Vaults"),
      o.Vaults.length
        ? h("div", { class: "scroll" }, h("table", { id: "vaults" },
          h("thead", {}, h("tr", {}, ["Vault", "Archives", "Size", "Created", "Last inventory"].map((c, i) =>
            h("th", { class: i === 1 || i === 2 ? "num" : i > 2 ? "wide" : null }, c)))),
          h("tbody", {}, rows)))
        : h("p", { class: "muted" }, "No vaults yet. Create one with glacier vault create NAME, or any Glacier client.")));
}

const TABS = ["archives", "jobs", "uploads", "policies"];

async function vaultPage(name, tab) {
  const v = await api(`vaults/${encodeURIComponent(name)}`);
  const base = `#/vault/${encodeURIComponent(name)}`;
  const tabs = h("nav", { class: "tabs" }, TABS.map((t) => {
    const n = t === "jobs" ? v.Jobs.filter((j) => !j.Completed).length
      : t === "uploads" ? v.Uploads.length : null;
    return h("a", { href: `${base}/${t}`, class: t === tab ? "on" : "", id: `tab-${t}` },
      t[0].toUpperCase() + t.slice(1), n ? h("span", { class: "pill" }, n) : null);
  }));
  const body = {
    archives: () => archivesTab(name),
    jobs: () => jobsTab(v),
    uploads: () => uploadsTab(v),
    policies: () => policiesTab(v),
  }[tab]();
  show(
    h("p", { class: "crumbs" }, h("a", { href: "#/" }, "Vaults"), " / ", h("strong", {}, name), " ", lockBadge(v.Lock && v.Lock.State)),
    h("div", { class: "stats" },
      stat("Archives", count(v.Vault.NumberOfArchives), "vault-archives"),
      stat("Stored", size(v.Vault.SizeInBytes), "vault-size"),
      stat("Created", date(v.Vault.CreationDate), null, "date"),
      stat("Last inventory", v.Vault.LastInventoryDate ? date(v.Vault.LastInventoryDate) : "never", null, "date")),
    h("p", { class: "muted arn" }, v.Vault.VaultARN),
    tabs,
    await body);
  if (tab === "jobs" && v.Jobs.some((j) => !j.Completed)) {
    refreshTimer = setTimeout(route, 3000);
  }
}

function archivesTab(name) {
  const input = h("input", { id: "archive-search", type: "search", placeholder: "Search descriptions and paths", autocomplete: "off", spellcheck: "false" });
  const tbody = h("tbody", {});
  const table = h("table", { id: "archives", hidden: true },
    h("thead", {}, h("tr", {}, ["Archive", "Size", "Uploaded", "Id"].map((c, i) => h("th", { class: i === 1 ? "num" : i === 2 ? "wide" : null }, c)))),
    tbody);
  const status = h("p", { class: "muted", id: "archive-status" });
  const more = h("button", { id: "archive-more", hidden: true }, "Load more");
  let generation = 0;
  let next = null;
  async function load(reset) {
    const mine = reset ? ++generation : generation;
    const q = new URLSearchParams({ search: input.value, limit: "50" });
    if (!reset && next) q.set("after", next);
    status.textContent = "Searching…";
    let page;
    try {
      page = await api(`vaults/${encodeURIComponent(name)}/archives?${q}`);
    } catch (e) {
      status.textContent = e.message;
      return;
    }
    if (mine !== generation) return; // a newer search is on its way
    if (reset) tbody.replaceChildren();
    for (const a of page.Archives) {
      tbody.append(h("tr", { class: "archive" },
        h("td", {},
          a.Path ? h("div", { class: "path" }, a.Path) : h("div", {}, a.ArchiveDescription || h("span", { class: "muted" }, "(no description)")),
          a.Path ? h("div", { class: "muted small" }, `mt2 · modified ${date(a.LastModified)}`) : null),
        h("td", { class: "num" }, size(a.Size)),
        h("td", { class: "wide" }, date(a.CreationDate)),
        h("td", { class: "id-cell" }, idCopy(a.ArchiveId, `tree hash ${a.SHA256TreeHash}`))));
    }
    next = page.Next;
    more.hidden = !next;
    const shown = tbody.children.length;
    table.hidden = shown === 0;
    status.textContent = shown
      ? `${count(shown)} archive${shown === 1 ? "" : "s"}${input.value ? ` matching “${input.value}”` : ""}${next ? ", more to load" : ""}`
      : input.value ? `No archive matches “${input.value}”${next ? " yet; load more to search further" : ""}.` : "This vault holds no archives.";
  }
  let timer = null;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => load(true), 200);
  });
  more.addEventListener("click", () => load(false));
  load(true);
  return h("section", { class: "card" },
    input, status,
    h("div", { class: "scroll" }, table),
    more,
    h("p", { class: "muted small" }, "Archives as the server holds them now; an inventory job reports the same list."));
}

function denied(v, op) {
  return v.Denied.includes(op) ? h("p", { class: "muted" }, `Your keys may not read this (${op}).`) : null;
}

function jobsTab(v) {
  if (v.Denied.includes("ListJobs")) return h("section", { class: "card" }, denied(v, "ListJobs"));
  if (!v.Jobs.length) return h("section", { class: "card" }, h("p", { class: "muted" }, "No jobs in progress or finished recently."));
  return h("section", { class: "card" }, h("div", { class: "scroll" },
    h("table", { id: "jobs" },
      h("thead", {}, h("tr", {}, ["Job", "Status", "Progress", "Started", "What"].map((c) => h("th", {}, c)))),
      h("tbody", {}, v.Jobs.map((j) => {
        const pct = Math.round(j.Progress * 100);
        return h("tr", {},
          h("td", {}, j.Action === "ArchiveRetrieval" ? "Archive retrieval" : "Inventory",
            j.JobDescription ? h("div", { class: "muted small" }, j.JobDescription) : null),
          h("td", {}, h("span", { class: `badge ${j.StatusCode.toLowerCase()}` }, j.StatusCode)),
          h("td", {},
            h("div", { class: "bar-track", title: `${pct}%` }, h("div", { class: "bar-fill", style: `width:${pct}%` })),
            h("div", { class: "muted small" }, j.Completed ? `done ${relative(j.CompletionDate)}` : `ready ${relative(j.DueDate)}`)),
          h("td", {}, date(j.CreationDate)),
          h("td", { class: "small" }, j.Action === "ArchiveRetrieval"
            ? [`${j.Tier} · bytes ${j.RetrievalByteRange} of `, h("span", { class: "mono", title: j.ArchiveId }, short(j.ArchiveId))]
            : `${(j.InventoryRetrievalParameters || {}).Format || "JSON"}${j.InventorySizeInBytes ? ` · ${size(j.InventorySizeInBytes)}` : ""}`));
      })))));
}

function uploadsTab(v) {
  if (v.Denied.includes("ListMultipartUploads")) return h("section", { class: "card" }, denied(v, "ListMultipartUploads"));
  if (!v.Uploads.length) return h("section", { class: "card" }, h("p", { class: "muted" }, "No multipart uploads in progress."));
  return h("section", { class: "card" }, h("div", { class: "scroll" },
    h("table", { id: "uploads" },
      h("thead", {}, h("tr", {}, ["Upload", "Description", "Part size", "Started"].map((c, i) => h("th", { class: i === 2 ? "num" : null }, c)))),
      h("tbody", {}, v.Uploads.map((u) => h("tr", {},
        h("td", { class: "id-cell" }, idCopy(u.MultipartUploadId)),
        h("td", {}, u.ArchiveDescription || ""),
        h("td", { class: "num" }, size(u.PartSizeInBytes)),
        h("td", {}, date(u.CreationDate))))))),
    v.MoreUploads ? h("p", { class: "muted" }, "More uploads than these are in progress.") : null);
}

function policiesTab(v) {
  const lock = v.Lock;
  return h("div", { class: "policies" },
    h("section", { class: "card", id: "lock" },
      h("h2", {}, "Vault Lock"),
      denied(v, "GetVaultLock") || (lock
        ? [h("p", {}, lockBadge(lock.State), " since ", date(lock.CreationDate),
          lock.ExpirationDate ? ` · must be completed ${relative(lock.ExpirationDate)}` : ""),
        h("pre", {}, pretty(lock.Policy))]
        : h("p", { class: "muted" }, "No vault lock."))),
    h("section", { class: "card", id: "access-policy" },
      h("h2", {}, "Access policy"),
      denied(v, "GetVaultAccessPolicy") || (v.AccessPolicy
        ? h("pre", {}, pretty(v.AccessPolicy))
        : h("p", { class: "muted" }, "No access policy: only this account may use the vault."))),
    h("section", { class: "card", id: "notifications" },
      h("h2", {}, "Notifications"),
      denied(v, "GetVaultNotifications") || (v.Notifications
        ? h("p", {}, (v.Notifications.Events || []).join(", "), " → ", h("span", { class: "mono" }, v.Notifications.SNSTopic))
        : h("p", { class: "muted" }, "No notifications."))),
    h("section", { class: "card", id: "tags" },
      h("h2", {}, "Tags"),
      denied(v, "ListTagsForVault") || (v.Tags && Object.keys(v.Tags).length
        ? h("table", {}, h("tbody", {}, Object.entries(v.Tags).map(([k, val]) => h("tr", {}, h("th", {}, k), h("td", {}, val)))))
        : h("p", { class: "muted" }, "No tags."))));
}

// ---- routing ----

function stopRefresh() {
  clearTimeout(refreshTimer);
  refreshTimer = null;
}

async function route() {
  stopRefresh();
  if (!session) {
    // Answered 200 with SignedIn false when there is no session: no refused request to log.
    let s;
    try {
      s = await call("GET", "api/session");
    } catch (e) {
      signInPage(e.message);
      return;
    }
    if (!s.SignedIn) {
      signInPage("");
      return;
    }
    session = s;
  }
  header();
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  try {
    if (parts[0] === "vault" && parts[1]) {
      await vaultPage(parts[1], TABS.includes(parts[2]) ? parts[2] : "archives");
    } else {
      await overviewPage();
    }
  } catch (e) {
    if (e.message === "signed out") return;
    show(h("section", { class: "card" }, h("p", { class: "error", role: "alert" }, e.message), h("p", {}, h("a", { href: "#/" }, "Back to the vaults"))));
  }
}

window.addEventListener("hashchange", route);
route();
