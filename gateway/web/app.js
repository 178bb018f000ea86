/**
 * Despacho's page: places orders through `POST /orders`, follows one order through
 * `GET /orders/{id}/events`, keeps a live list from `GET /orders?watch=true`, and draws the
 * purchase analytics of `GET /analytics/purchases` and its stream. Everything it loads comes from
 * the gateway that served it.
 *
 * Two audiences: anyone places an order and follows it by its tracking link (`/#pedido={id}`);
 * the list and the analytics are for staff, signed in through `POST /sign-in` (the link
 * `deno task start` prints carries the token in its fragment, `/#token=…`, which never reaches a
 * server: the page posts it as the sign-in form would and the answer's cookie does the rest).
 */

/** uPlot, from `/assets/uplot.js` (its IIFE build, loaded before this module). */
const uPlot = /** @type {any} */ (globalThis).uPlot;

const STATES = ["recibido", "preparando", "entregando", "finalizado"];
const FIELDS = ["name", "price", "email"];
const MAX_ORDERS = 20;
const MAX_WINDOWS = 30;

const numero = new Intl.NumberFormat("es-CL");
const pesos = new Intl.NumberFormat("es-CL", {
  style: "currency",
  currency: "CLP",
  maximumFractionDigits: 2,
});
const porcentaje = new Intl.NumberFormat("es-CL", { style: "percent", maximumFractionDigits: 1 });
const minutos = new Intl.NumberFormat("es-CL", { maximumFractionDigits: 1 });
const reloj = new Intl.DateTimeFormat("es-CL", {
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  fractionalSecondDigits: 3,
  hourCycle: "h23",
});
const relojCorto = new Intl.DateTimeFormat("es-CL", {
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  hourCycle: "h23",
});
/** @param {number} seconds */
const horaDe = (seconds) => relojCorto.format(new Date(seconds * 1000));

/** @param {string} selector */
function $(selector) {
  const element = document.querySelector(selector);
  if (element === null) throw new Error(`Cannot find ${selector} on the page`);
  return /** @type {HTMLElement} */ (element);
}

/**
 * @param {string} tag
 * @param {Record<string, string>} [attributes]
 * @param {(Node | string)[]} [children]
 */
function el(tag, attributes = {}, children = []) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  element.append(...children);
  return element;
}

// ── Connection status ────────────────────────────────────────────────────────────────────────

/** @type {Map<string, boolean>} */
const streams = new Map();

/**
 * Opens a Server-Sent Events stream and reflects its health in the header.
 *
 * @param {string} name
 * @param {string} url
 */
function openStream(name, url) {
  const source = new EventSource(url);
  streams.set(name, false);
  source.addEventListener("open", () => {
    streams.set(name, true);
    showConnection();
  });
  source.addEventListener("error", () => {
    streams.set(name, false);
    showConnection();
  });
  return source;
}

function showConnection() {
  const status = $("#conexion");
  const live = [...streams.values()].every(Boolean);
  status.dataset.estado = live ? "en-vivo" : "sin-conexion";
  status.textContent = live ? "En vivo" : "Sin conexión con el gateway; reintentando…";
}

// ── Placing an order ─────────────────────────────────────────────────────────────────────────

const form = /** @type {HTMLFormElement} */ ($("#pedido"));

/** @param {string} field */
function input(field) {
  return /** @type {HTMLInputElement} */ ($(`#${field}`));
}

function clearErrors() {
  for (const field of FIELDS) {
    $(`#${field}-error`).textContent = "";
    input(field).removeAttribute("aria-invalid");
  }
  $("#form-error").textContent = "";
}

/**
 * Shows a problem+json answer: each field error next to its field, the rest above the button.
 *
 * @param {Response} response
 */
async function showProblem(response) {
  /** @type {{ detail?: string, errors?: { field: string, message: string }[] } | null} */
  const problem = await response.json().catch(() => null);
  const byField = new Map();
  const general = [];
  for (const error of problem?.errors ?? []) {
    if (FIELDS.includes(error.field)) {
      byField.set(error.field, [...(byField.get(error.field) ?? []), error.message]);
    } else general.push(`${error.field}: ${error.message}`);
  }
  for (const [field, messages] of byField) {
    $(`#${field}-error`).textContent = messages.join("; ");
    input(field).setAttribute("aria-invalid", "true");
  }
  if (byField.size === 0 || general.length > 0) {
    const retry = response.headers.get("retry-after");
    $("#form-error").textContent = [
      general.length > 0 ? general.join("; ") : problem?.detail ?? `Error ${response.status}`,
      retry ? `Reintenta en ${retry} s.` : "",
    ].filter(Boolean).join(" ");
  }
  const first = FIELDS.find((f) => byField.has(f));
  if (first !== undefined) input(first).focus();
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors();
  /** @type {Record<string, unknown>} */
  const body = { name: input("name").value, email: input("email").value.trim() };
  const price = input("price").value.trim();
  // The API is the one validator: a price that is not a number is sent as typed, and refused.
  if (price !== "") body.price = Number.isFinite(Number(price)) ? Number(price) : price;
  const button = /** @type {HTMLButtonElement} */ (form.querySelector("button"));
  button.disabled = true;
  try {
    const response = await fetch("/orders", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    if (response.status === 202) {
      const accepted = await response.json();
      form.reset();
      track(accepted.id, { name: String(body.name), price: Number(body.price) });
    } else {
      await showProblem(response);
    }
  } catch {
    $("#form-error").textContent = "No se pudo contactar al gateway.";
  } finally {
    button.disabled = false;
  }
});

// ── Following one order ──────────────────────────────────────────────────────────────────────

/**
 * @typedef {{ state: string, seq: number, at: string }} HistoryEntry
 * @typedef {{ state: string, to: string, status: string, attempts: number, at: string, error?: string }} Mail
 * @typedef {{ id: string, order: { name: string, price: number, email?: string }, state: string, history: HistoryEntry[], notifications: Mail[] }} OrderStatus
 */

/** @type {{ id: string, order: { name: string, price: number }, reached: Map<string, string>, mails: Map<string, Mail>, source: EventSource | null } | null} */
let followed = null;

/**
 * Follows order `id` on its event stream.
 *
 * @param {string} id
 * @param {{ name: string, price: number }} order
 */
function track(id, order) {
  followed?.source?.close();
  followed = { id, order, reached: new Map(), mails: new Map(), source: null };
  const known = orders.get(id);
  if (known !== undefined) mergeFollowed(known);
  const source = new EventSource(`/orders/${encodeURIComponent(id)}/events`);
  followed.source = source;
  source.addEventListener("state", (event) => {
    /** @type {HistoryEntry} */
    const entry = JSON.parse(event.data);
    if (followed?.id !== id) return;
    followed.reached.set(entry.state, entry.at);
    renderFollowed();
  });
  source.addEventListener("notification", (event) => {
    /** @type {Mail} */
    const mail = JSON.parse(event.data);
    if (followed?.id !== id) return;
    followed.mails.set(mail.state, mail);
    renderFollowed();
  });
  // The stream ends after finalizado (the server closes it); the last mails then come from the
  // list's stream, which reports every change of every order.
  source.addEventListener("end", () => source.close());
  source.addEventListener("error", () => {
    if (followed?.reached.has("finalizado")) source.close();
  });
  renderFollowed();
  $("#seguimiento-pedido").hidden = false;
  $("#seguimiento-vacio").hidden = true;
}

/** @param {OrderStatus} status */
function mergeFollowed(status) {
  if (followed === null || followed.id !== status.id) return;
  followed.order = status.order;
  for (const entry of status.history) followed.reached.set(entry.state, entry.at);
  for (const mail of status.notifications) followed.mails.set(mail.state, mail);
  renderFollowed();
}

function renderFollowed() {
  if (followed === null) return;
  $("#seg-id").textContent = followed.id;
  const link = /** @type {HTMLAnchorElement} */ ($("#seg-enlace"));
  link.href = `/#pedido=${encodeURIComponent(followed.id)}`;
  link.textContent = link.href;
  $("#seg-producto").textContent = followed.order.name;
  $("#seg-precio").textContent = Number.isFinite(followed.order.price)
    ? pesos.format(followed.order.price)
    : "";
  const latest = STATES.filter((s) => followed?.reached.has(s)).at(-1);
  $("#seg-estado").textContent = latest ?? "aceptado, esperando a recibido";
  for (const item of document.querySelectorAll(".estados li")) {
    const state = /** @type {HTMLElement} */ (item).dataset.estado ?? "";
    const at = followed.reached.get(state);
    item.classList.toggle("hecho", at !== undefined);
    if (state === latest) item.setAttribute("aria-current", "step");
    else item.removeAttribute("aria-current");
    const time = /** @type {HTMLTimeElement} */ (item.querySelector("time"));
    time.textContent = at === undefined ? "" : reloj.format(new Date(at));
    time.dateTime = at ?? "";
  }
  const list = $("#correos");
  list.replaceChildren(
    ...STATES.flatMap((state) => {
      const mail = followed?.mails.get(state);
      if (mail === undefined) return [];
      const sent = mail.status === "sent";
      const attempts = `${mail.attempts} ${mail.attempts === 1 ? "intento" : "intentos"}`;
      return [
        el("li", sent ? {} : { class: "fallido" }, [
          `${state}: ${sent ? "enviado" : "falló"} a ${mail.to} (${attempts}) · `,
          el("time", { datetime: mail.at }, [reloj.format(new Date(mail.at))]),
          sent ? "" : ` · ${mail.error ?? ""}`,
        ]),
      ];
    }),
  );
  $("#correos-vacio").hidden = followed.mails.size > 0;
}

// ── The list of recent orders ────────────────────────────────────────────────────────────────

/** @type {Map<string, OrderStatus>} */
const orders = new Map();
/** @type {Map<string, HTMLTableRowElement>} */
const rows = new Map();

/** @param {OrderStatus} status */
function lastChange(status) {
  const times = [...status.history.map((h) => h.at), ...status.notifications.map((n) => n.at)];
  return times.sort().at(-1);
}

/** @param {OrderStatus} status */
function showOrder(status) {
  orders.set(status.id, status);
  mergeFollowed(status);
  let row = rows.get(status.id);
  if (row === undefined) {
    const follow = el("button", {
      type: "button",
      class: "secundario",
      "aria-label": `Seguir el pedido ${status.order.name}`,
    }, ["Seguir"]);
    follow.addEventListener("click", () => {
      const known = orders.get(status.id) ?? status;
      track(status.id, known.order);
      $("#seguimiento-titulo").scrollIntoView({ block: "nearest" });
    });
    row = /** @type {HTMLTableRowElement} */ (el("tr", { "data-id": status.id }, [
      el("td"),
      el("td", { class: "numero" }),
      el("td"),
      el("td", { class: "numero" }),
      el("td"),
      el("td", {}, [follow]),
    ]));
    rows.set(status.id, row);
    $("#recientes tbody").prepend(row);
    for (const [id, old] of [...rows].slice(0, -MAX_ORDERS)) {
      old.remove();
      rows.delete(id);
      orders.delete(id);
    }
  }
  const state = status.history.at(-1)?.state ?? "aceptado";
  const changed = lastChange(status);
  const cells = row.cells;
  cells[0].textContent = status.order.name;
  cells[1].textContent = pesos.format(status.order.price);
  cells[2].replaceChildren(el("span", { class: "estado", "data-estado": state }, [state]));
  cells[3].textContent = numero.format(
    status.notifications.filter((n) => n.status === "sent").length,
  );
  cells[4].replaceChildren(
    changed === undefined ? "" : el("time", { datetime: changed }, [
      relojCorto.format(new Date(changed)),
    ]),
  );
  row.classList.remove("actualizado");
  void row.offsetWidth; // restart the highlight
  row.classList.add("actualizado");
  $("#recientes-vacio").hidden = rows.size > 0;
}

/** The live list of every order: staff only. */
function watchOrders() {
  // rows is filled newest-first by prepend; its Map keeps first-seen order, oldest first.
  const list = openStream("pedidos", `/orders?watch=true&limit=${MAX_ORDERS}`);
  list.addEventListener("order", (event) => showOrder(JSON.parse(event.data)));
}

// ── Purchase analytics ───────────────────────────────────────────────────────────────────────

/**
 * @typedef {{ events: number, purchases: number, visitsWithoutPurchase: number, conversionRate: number, shortPurchases: number, longPurchases: number, taps: { mean: number, p50: number, p95: number } | null, topProducts: { product: string, purchases: number }[], purchasesByCountry: Record<string, number> }} Report
 * @typedef {Report & { start: string, end: string, partitions: number }} PurchaseWindow
 */

/** @type {Map<string, PurchaseWindow>} */
const windows = new Map();

/** @param {PurchaseWindow} w */
function keepWindow(w) {
  const known = windows.get(w.start);
  if (known !== undefined && known.partitions > w.partitions) return;
  windows.set(w.start, w);
  const starts = [...windows.keys()].sort();
  for (const old of starts.slice(0, -MAX_WINDOWS)) windows.delete(old);
}

/** @param {Report & { late: number }} totals */
function showTotals(totals) {
  /** @type {Record<string, string>} */
  const values = {
    events: numero.format(totals.events),
    purchases: numero.format(totals.purchases),
    visitsWithoutPurchase: numero.format(totals.visitsWithoutPurchase),
    conversionRate: totals.events === 0 ? "–" : porcentaje.format(totals.conversionRate),
    shortPurchases: numero.format(totals.shortPurchases),
    longPurchases: numero.format(totals.longPurchases),
    p50: totals.taps === null ? "–" : minutos.format(totals.taps.p50),
    p95: totals.taps === null ? "–" : minutos.format(totals.taps.p95),
    late: numero.format(totals.late),
  };
  for (const [key, value] of Object.entries(values)) {
    $(`#totales [data-total="${key}"]`).textContent = value;
  }
  showBars(
    $("#productos"),
    totals.topProducts.map((p) => [p.product, p.purchases]),
    "Aún no hay compras.",
  );
  showBars(
    $("#paises"),
    Object.entries(totals.purchasesByCountry).sort((a, b) => b[1] - a[1]).slice(0, 8),
    "Aún no hay compras.",
  );
}

/**
 * @param {HTMLElement} list
 * @param {[string, number][]} entries
 * @param {string} empty
 */
function showBars(list, entries, empty) {
  const max = Math.max(1, ...entries.map(([, n]) => n));
  list.replaceChildren(
    ...(entries.length === 0 ? [el("li", { class: "tenue" }, [empty])] : entries.map(
      ([name, n]) => {
        const bar = el("span", { class: "barra", "aria-hidden": "true" });
        bar.style.width = `${(n / max) * 100}%`;
        return el("li", {}, [
          el("span", {}, [name]),
          el("span", { class: "cuenta" }, [numero.format(n)]),
          bar,
        ]);
      },
    )),
  );
}

function showWindows() {
  const newest = [...windows.values()].sort((a, b) => b.start.localeCompare(a.start));
  $("#ventanas-vacio").hidden = newest.length > 0;
  $("#ventanas tbody").replaceChildren(
    ...newest.slice(0, 12).map((w) =>
      el("tr", { "data-start": w.start }, [
        el("td", {}, [
          `${relojCorto.format(new Date(w.start))}–${relojCorto.format(new Date(w.end))}`,
        ]),
        el("td", { class: "numero" }, [numero.format(w.events)]),
        el("td", { class: "numero" }, [numero.format(w.purchases)]),
        el("td", { class: "numero" }, [numero.format(w.visitsWithoutPurchase)]),
        el("td", { class: "numero" }, [porcentaje.format(w.conversionRate)]),
        el("td", { class: "numero" }, [numero.format(w.shortPurchases)]),
        el("td", { class: "numero" }, [numero.format(w.longPurchases)]),
        el("td", { class: "numero" }, [w.taps === null ? "–" : minutos.format(w.taps.p50)]),
        el("td", { class: "numero" }, [w.taps === null ? "–" : minutos.format(w.taps.p95)]),
      ])
    ),
  );
  drawCharts([...newest].reverse());
}

/** @type {Map<string, any>} */
const charts = new Map();

/**
 * Draws (or updates) a time-series chart in `holder`.
 *
 * @param {HTMLElement} holder
 * @param {{ label: string, stroke: string, dash?: number[] }[]} series
 * @param {(number | null)[][]} data x values (seconds) first, then one array per series
 */
function chart(holder, series, data) {
  let plot = charts.get(holder.id);
  if (data[0].length === 0) {
    if (plot === undefined) {
      holder.replaceChildren(el("p", { class: "vacio tenue" }, ["Sin ventanas todavía."]));
    }
    return;
  }
  if (plot === undefined) {
    holder.replaceChildren();
    plot = new uPlot(
      {
        width: Math.max(240, holder.clientWidth),
        height: 220,
        scales: { x: { time: true } },
        series: [
          {
            label: "Ventana",
            value: (/** @type {unknown} */ _u, /** @type {number} */ x) =>
              x == null ? "–" : horaDe(x),
          },
          ...series.map((s) => ({ ...s, width: 2, points: { show: true, size: 5 } })),
        ],
        axes: [
          { values: (/** @type {unknown} */ _u, /** @type {number[]} */ xs) => xs.map(horaDe) },
          { size: 50 },
        ],
      },
      data,
      holder,
    );
    charts.set(holder.id, plot);
    new ResizeObserver(() =>
      plot?.setSize({ width: Math.max(240, holder.clientWidth), height: 220 })
    )
      .observe(holder);
  } else {
    plot.setData(data);
  }
}

/** @param {PurchaseWindow[]} oldestFirst */
function drawCharts(oldestFirst) {
  const xs = oldestFirst.map((w) => Date.parse(w.start) / 1000);
  chart($("#grafico-eventos"), [
    { label: "Eventos", stroke: "#0b57d0" },
    { label: "Compras", stroke: "#146c2e" },
    { label: "Visitas sin compra", stroke: "#b06000", dash: [6, 4] },
  ], [
    xs,
    oldestFirst.map((w) => w.events),
    oldestFirst.map((w) => w.purchases),
    oldestFirst.map((w) => w.visitsWithoutPurchase),
  ]);
  chart($("#grafico-taps"), [
    { label: "p50", stroke: "#6a1b9a" },
    { label: "p95", stroke: "#c2185b", dash: [6, 4] },
  ], [
    xs,
    oldestFirst.map((w) => w.taps?.p50 ?? null),
    oldestFirst.map((w) => w.taps?.p95 ?? null),
  ]);
}

/** @type {ReturnType<typeof setTimeout> | undefined} */
let totalsTimer;
/** Reads windows and totals again (the stream carries windows only); several calls make one. */
function refreshAnalytics() {
  clearTimeout(totalsTimer);
  totalsTimer = setTimeout(async () => {
    try {
      const response = await fetch(`/analytics/purchases?limit=${MAX_WINDOWS}`);
      if (!response.ok) return;
      const body = await response.json();
      for (const w of body.windows) keepWindow(w);
      showTotals(body.totals);
      showWindows();
    } catch {
      // The connection status already says the gateway is out of reach.
    }
  }, 250);
}

/** The purchase dashboard: staff only. */
function watchAnalytics() {
  // Stream first, then the snapshot: a window closing in between is not missed.
  const analytics = openStream("compras", "/analytics/purchases/events");
  analytics.addEventListener("window", (event) => {
    keepWindow(JSON.parse(event.data));
    showWindows();
    refreshAnalytics();
  });
  analytics.addEventListener("open", refreshAnalytics);
  showWindows();
}

// ── Who is looking ───────────────────────────────────────────────────────────────────────────

/**
 * Signs in with the token of a sign-in link: posted as the sign-in form posts it, so the
 * fragment leaves the address bar and the session cookie comes back with the next page.
 *
 * @param {string} token
 */
function signInWith(token) {
  const post = /** @type {HTMLFormElement} */ (el("form", { method: "post", action: "/sign-in" }, [
    el("input", { type: "hidden", name: "token", value: token }),
  ]));
  document.body.append(post);
  // Out of the history first: the back button (or a synced history) must not hold the token.
  history.replaceState(null, "", location.pathname);
  post.submit();
}

/** Shows the staff parts to staff, and the sign-in card to everyone else. */
async function showAudience() {
  let staff = false;
  try {
    // A staff route that reads no order (the list would leave an audit record of a read nobody
    // sees): the API document, asked for its head only.
    const response = await fetch("/openapi.json", { method: "HEAD" });
    staff = response.ok;
    await response.body?.cancel();
  } catch {
    // The gateway is out of reach: show what a visitor sees.
  }
  for (const part of document.querySelectorAll("[data-personal]")) {
    /** @type {HTMLElement} */ (part).hidden = !staff;
  }
  $("#acceso").hidden = staff;
  if (staff) {
    watchOrders();
    watchAnalytics();
  } else {
    showConnection();
  }
}

/**
 * Acts on the address's fragment: a sign-in link's token, or a tracking link's order.
 *
 * @returns Whether the page is leaving to sign in.
 */
function followFragment() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const token = fragment.get("token");
  if (token !== null) {
    signInWith(token);
    return true;
  }
  const linked = fragment.get("pedido");
  if (linked !== null) followLink(linked);
  return false;
}

// A link pasted into this very tab changes only the fragment: act on it too.
globalThis.addEventListener("hashchange", () => void followFragment());
if (!followFragment()) void showAudience();

/**
 * Follows the order of a tracking link.
 *
 * @param {string} id
 */
async function followLink(id) {
  try {
    const response = await fetch(`/orders/${encodeURIComponent(id)}`);
    if (!response.ok) {
      $("#seguimiento-vacio").textContent = "No encontramos ese pedido: revisa el enlace.";
      return;
    }
    /** @type {OrderStatus} */
    const status = await response.json();
    track(status.id, status.order);
    mergeFollowed(status);
  } catch {
    $("#seguimiento-vacio").textContent = "No se pudo contactar al gateway.";
  }
}
