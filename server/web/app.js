// The Circles web client: sign in, circles, the timeline of problems with
// their critiques, live over one WebSocket that resumes where it left off.

import { Rpc, RpcError } from "./rpc.js";
import { Circle, mentions } from "./circle.js";
import { $, h, when, formError, submitting, tabs } from "./dom.js";

const TOKEN = "circles.token";
const endpoint = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/ws`;

const state = {
  me: null, // { handle, display_name } once signed in
  circles: new Map(), // slug -> Circle
  open: null, // the Circle on screen
  // slug -> subscribes in flight: events that arrive before the answer
  // belong to the replaced subscription and come again after it.
  subscribing: new Map(),
  pendingJoin: null, // { circle, invite } from a #/join link, until signed in
  showProblem: null, // a search hit's problem id, shown once its circle is open
  searches: 0, // counts searches, so only the last one's answer is shown
};

// Per-item DOM of the open circle, keyed by post or event id, so a live
// change redraws one item and never shows anything twice.
const rendered = new Map();
// Forms that must survive redraws (a half-written critique), keyed by id.
const critiqueForms = new Map();
const reflectForms = new Map();
const editForms = new Map();

const rpc = new Rpc(endpoint, { onOpen: resume, onNotify: notified, onState: showStatus, onSignedOut: signedOut });

// ---------------------------------------------------------------- session

async function resume() {
  state.subscribing.clear();
  const token = localStorage.getItem(TOKEN);
  if (!token) return;
  let me;
  try {
    me = await rpc.call("auth.token", { token });
  } catch (err) {
    if (err.kind === "unauthenticated" || err.kind === "forbidden") {
      signedOut(err.message);
      return;
    }
    throw err;
  }
  enterApp(me);
  await refresh();
  if (state.pendingJoin) await joinFromLink();
}

function enterApp(me) {
  state.me = me;
  $("#me").textContent = `@${me.handle}`;
  $("#welcome").hidden = true;
  $("#app").hidden = false;
}

async function signIn(method, params) {
  const { handle, token } = await rpc.call(method, params);
  localStorage.setItem(TOKEN, token);
  enterApp({ handle, display_name: params.display_name || handle });
  await refresh();
  if (state.pendingJoin) await joinFromLink();
  else if (!location.hash.startsWith("#/c/")) $("#main").focus();
}

function signedOut(reason) {
  localStorage.removeItem(TOKEN);
  state.me = null;
  state.circles.clear();
  closeCircle();
  $("#app").hidden = true;
  $("#welcome").hidden = false;
  // Nothing of the last person's stays in the forms (a shared computer).
  $("#sign-in").reset();
  $("#sign-up").reset();
  formError($("#sign-up"), null);
  formError($("#sign-in"), reason ? `Signed out: ${reason}` : null);
}

// ---------------------------------------------------------------- circles

/** Reloads the circle list and (re)subscribes: the start of every connection. */
async function refresh() {
  const { circles } = await rpc.call("circle.list");
  const listed = new Set();
  for (const info of circles) {
    listed.add(info.slug);
    const known = state.circles.get(info.slug);
    if (known) {
      known.info = { ...info, head: Math.max(info.head, known.lastSeq) };
      known.listed(info);
    } else state.circles.set(info.slug, new Circle(info));
  }
  for (const slug of [...state.circles.keys()]) {
    if (!listed.has(slug)) state.circles.delete(slug);
  }
  if (state.open && !listed.has(state.open.slug)) closeCircle();
  renderSidebar();
  const wanted = routeSlug();
  await Promise.all(
    [...state.circles.values()]
      .filter((c) => c.isMember || c.slug === wanted)
      .map((c) => subscribe(c, c.slug === wanted)),
  );
  if (wanted) await openCircle(wanted);
}

/**
 * Subscribes to a circle's events. With `whole`, the page needs its log
 * from the start (to show it); otherwise it resumes from what it has, or
 * follows live events only (enough for the unread count).
 */
async function subscribe(circle, whole) {
  let since = circle.lastSeq;
  if (whole && !circle.complete) {
    const fresh = new Circle(circle.info);
    fresh.mentionBase = circle.mentionBase;
    fresh.mentionSeqs = circle.mentionSeqs;
    fresh.complete = true;
    state.circles.set(circle.slug, fresh);
    circle = fresh;
    since = 0;
  } else if (!circle.complete && since === 0) {
    since = circle.info.head;
    circle.lastSeq = since;
  }
  const slug = circle.slug;
  state.subscribing.set(slug, (state.subscribing.get(slug) ?? 0) + 1);
  try {
    const { head } = await rpc.call("circle.subscribe", { circle: slug, since });
    circle.liveFrom = head;
  } finally {
    state.subscribing.set(slug, state.subscribing.get(slug) - 1);
  }
  return circle;
}

function notified(method, params) {
  if (method === "event") received(params.circle, params.event);
  else if (method === "presence") presence(params);
  else if (method === "circle_deleted") deleted(params.circle);
  else if (method === "mention") mentioned(params);
}

/** A post mentions me: counted on its circle's badge (the timeline highlights it). */
function mentioned({ circle: slug, event }) {
  const circle = state.circles.get(slug);
  if (!circle) return;
  circle.mentionSeqs.add(event.seq);
  if (circle !== state.open) $("#announce").textContent = `@${event.author} mentioned you in ${circle.info.name}`;
  renderSidebar();
}

/** Whether a post's texts mention me (my own posts do not). */
function mentionsMe(item, ...texts) {
  const me = state.me?.handle;
  return item.author !== me && texts.some((text) => mentions(text).has(me));
}

const youBadge = () => h("span", { class: "badge mention", title: "Mentions you" }, "@you");

function received(slug, event) {
  const circle = state.circles.get(slug);
  if (!circle || state.subscribing.get(slug) > 0) return;
  const changed = circle.apply(event);
  if (event.author === state.me?.handle && event.seq > circle.info.read) circle.info.read = event.seq;
  if (circle === state.open) {
    if (changed) drawItem(changed, true);
    if (event.seq > circle.liveFrom) announce(circle, event);
    // A newcomer's display name comes with the member list.
    if (["join", "leave", "remove"].includes(event.kind)) loadMembers(circle).then(() => changed && circle === state.open && drawItem(changed, false));
    markRead();
  }
  affectsMe(circle, event);
  renderSidebar();
}

/** Events that change what this user may do in the circle. */
function affectsMe(circle, event) {
  const me = state.me?.handle;
  const gone = (event.kind === "leave" && event.author === me) || (event.kind === "remove" && event.member === me);
  if (gone) {
    delete circle.info.role;
    if (circle === state.open) redraw();
    if (event.kind === "remove") toast(`You were removed from ${circle.info.name}${event.reason ? `: ${event.reason}` : ""}`);
  }
}

function presence({ circle: slug, handle, online }) {
  const circle = state.circles.get(slug);
  const member = circle?.members.get(handle);
  if (!member) return;
  member.online = online;
  if (circle === state.open) renderMembers();
}

function deleted(slug) {
  const circle = state.circles.get(slug);
  state.circles.delete(slug);
  if (circle && circle === state.open) {
    location.hash = "";
    toast(`The circle ${circle.info.name} was deleted by the server's admins.`);
  }
  renderSidebar();
}

function routeSlug() {
  const match = /^#\/c\/([a-z0-9-]+)$/.exec(location.hash);
  return match ? match[1] : null;
}

async function route() {
  const join = /^#\/join\/([a-z0-9-]+)\/(.+)$/.exec(location.hash);
  if (join) {
    state.pendingJoin = { circle: join[1], invite: decodeURIComponent(join[2]) };
    if (state.me) await joinFromLink();
    return;
  }
  const slug = routeSlug();
  if (!slug) return closeCircle();
  if (state.me && rpc.socket) await openCircle(slug).catch((err) => toast(err.message));
}

async function joinFromLink() {
  const { circle, invite } = state.pendingJoin;
  state.pendingJoin = null;
  try {
    await join(circle, invite);
  } catch (err) {
    if (err.kind !== "conflict") toast(err.message); // conflict: already a member
  }
  location.hash = `#/c/${circle}`;
}

async function join(slug, invite) {
  const params = invite ? { circle: slug, invite } : { circle: slug };
  const { circle: info } = await withNorms(slug, () => rpc.call("circle.join", params), invite);
  const circle = state.circles.get(slug);
  if (circle) {
    circle.info = { ...info, head: Math.max(info.head, circle.lastSeq) };
    circle.listed(info);
  } else state.circles.set(slug, new Circle(info));
  await subscribe(state.circles.get(slug), routeSlug() === slug);
  renderSidebar();
  if (state.open?.slug === slug) redraw();
}

async function openCircle(slug) {
  let circle = state.circles.get(slug);
  if (!circle) {
    // Not listed: a private circle this user is not in, or a stale link.
    toast(`There is no circle "${slug}" you can open.`);
    location.hash = "";
    return;
  }
  if (!circle.complete) circle = await subscribe(circle, true);
  if (state.open === circle) return; // already on screen (a reconnect)
  state.open = circle;
  $("#similar-panel").hidden = true;
  critiqueForms.clear();
  reflectForms.clear();
  editForms.clear();
  $("#nothing-open").hidden = true;
  $("#circle").hidden = false;
  $("#sidebar").classList.remove("shown");
  $("#menu-toggle").setAttribute("aria-expanded", "false");
  drawCircleHead();
  const readBefore = circle.info.read;
  await loadMembers(circle);
  drawTimeline(readBefore);
  markRead();
  renderSidebar();
  showFoundProblem();
  if (!document.activeElement || document.activeElement === document.body || $("#sidebar").contains(document.activeElement)) {
    $("#main").focus({ preventScroll: true });
  }
}

function closeCircle() {
  state.open = null;
  $("#search-here").hidden = true;
  $("#similar-panel").hidden = true;
  rendered.clear();
  $("#timeline").replaceChildren();
  $("#members").replaceChildren();
  $("#circle").hidden = true;
  $("#nothing-open").hidden = false;
}

async function loadMembers(circle) {
  const { members, norms } = await rpc.call("circle.members", { circle: circle.slug });
  circle.members = new Map(members.map((m) => [m.handle, m]));
  circle.norms = norms ?? null;
  if (circle === state.open) renderMembers();
}

/** Moves the read marker to the newest event while the circle is on screen. */
function markRead() {
  const circle = state.open;
  if (!circle?.isMember || document.visibilityState !== "visible") return;
  if (circle.lastSeq > circle.info.read) {
    circle.info.read = circle.lastSeq;
    rpc.notify("circle.read", { circle: circle.slug, seq: circle.lastSeq });
    renderSidebar();
  }
}

// ---------------------------------------------------------------- drawing

function unread(circle) {
  return circle.isMember ? Math.max(0, circle.info.head - circle.info.read) : 0;
}

function renderSidebar() {
  const entry = (circle) => {
    const count = unread(circle);
    const mentioned = circle.unreadMentions;
    return h(
      "li",
      {},
      h(
        "a",
        { href: `#/c/${circle.slug}`, "aria-current": circle === state.open ? "page" : undefined, dataset: { slug: circle.slug } },
        h("span", { class: "name" }, circle.info.name),
        circle.info.visibility === "private" ? h("span", { class: "muted" }, " (private)") : null,
        mentioned ? h("span", { class: "badge mention-count", "aria-label": `${mentioned} mentioning you` }, `@${mentioned}`) : null,
        count ? h("span", { class: "badge unread-count", "aria-label": `${count} unread` }, String(count)) : null,
      ),
    );
  };
  const all = [...state.circles.values()];
  const mine = all.filter((c) => c.isMember);
  const others = all.filter((c) => !c.isMember);
  $("#my-circles").replaceChildren(...(mine.length ? mine.map(entry) : [h("li", { class: "muted" }, "None yet")]));
  $("#other-circles").replaceChildren(...(others.length ? others.map(entry) : [h("li", { class: "muted" }, "None to join")]));
  const total = mine.reduce((n, c) => n + unread(c), 0);
  document.title = total ? `(${total}) Circles` : "Circles";
  const mentionTotal = mine.reduce((n, c) => n + c.unreadMentions, 0);
  $("#menu-toggle").replaceChildren(
    "Circles",
    mentionTotal ? h("span", { class: "badge mention-count", "aria-label": `${mentionTotal} mentioning you` }, `@${mentionTotal}`) : "",
    total ? h("span", { class: "badge unread-count", "aria-label": `${total} unread` }, String(total)) : "",
  );
}

function drawCircleHead() {
  const circle = state.open;
  $("#circle-name").textContent = circle.info.name;
  $("#circle-purpose").textContent = circle.info.purpose;
  $("#invite").hidden = !circle.isFacilitator;
  $("#schedule").hidden = !circle.isFacilitator;
  $("#leave").hidden = !circle.isMember;
  $("#join-bar").hidden = circle.isMember;
  $("#composer").hidden = !circle.isMember;
  $("#search-here").hidden = false;
}

/** Draws the open circle's whole timeline, scrolled to what is new. */
function drawTimeline(readBefore) {
  rendered.clear();
  const list = $("#timeline");
  list.replaceChildren();
  const circle = state.open;
  for (const id of circle.order) drawItem(id, false);
  // A divider above the first event that is new since the last visit.
  const firstNew = circle.order.find((id) => circle.items.get(id).seq > readBefore);
  const target = firstNew ? rendered.get(firstNew) : list.lastElementChild;
  if (firstNew && readBefore > 0) target.before(h("li", { class: "new-divider", role: "separator" }, "New"));
  target?.scrollIntoView({ block: firstNew ? "start" : "end" });
}

/** Redraws the open circle in place, after this user's role changed. */
function redraw() {
  drawCircleHead();
  for (const id of state.open.order) drawItem(id, false);
}

/** Draws (or redraws in place) one top-level timeline item. */
function drawItem(id, live) {
  const item = state.open.items.get(id);
  const list = $("#timeline");
  const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  const el =
    item.kind === "problem"
      ? problemCard(item)
      : item.kind === "note"
        ? noteItem(item)
        : item.kind === "meeting"
          ? meetingItem(item)
          : systemLine(item);
  const old = rendered.get(id);
  // A half-written critique or edit moves into the redrawn item: keep its focus.
  const focused = old?.contains(document.activeElement) ? document.activeElement : null;
  if (old) old.replaceWith(el);
  else list.append(el);
  rendered.set(id, el);
  if (focused && el.contains(focused)) focused.focus({ preventScroll: true });
  if (live && !old && (nearBottom || item.author === state.me.handle)) el.scrollIntoView({ block: "end" });
}

function person(handle) {
  const member = state.open.members.get(handle);
  const name = member?.display_name;
  return h(
    "span",
    { class: "person" },
    name && name !== handle ? h("strong", {}, name, " ") : null,
    h("span", { class: name && name !== handle ? "muted" : "handle" }, `@${handle}`),
  );
}

function meta(item, ...extra) {
  return h("p", { class: "meta" }, person(item.author), " · ", when(item.at), item.edited ? " · edited" : "", ...extra);
}

function withdrawn(item, what) {
  return h("li", { class: `item ${item.kind} retracted`, dataset: { id: item.id, seq: item.seq } }, h("p", { class: "muted" }, `${what} withdrawn`));
}

function problemCard(p) {
  if (p.retracted) return withdrawn(p, "A problem was");
  const circle = state.open;
  const me = state.me.handle;
  const mine = p.author === me;
  const resolved = p.resolution !== null;
  const critiques = p.critiques.map((id) => circle.items.get(id));
  const live = critiques.filter((c) => !c.retracted);
  const actions = [];
  if (circle.isMember) {
    actions.push(h("button", { type: "button", class: "primary small", onclick: () => openCritique(p) }, mine ? "Reply" : "Critique"));
    if (!mine) {
      const said = p.metoos.includes(me);
      actions.push(
        h("button", { type: "button", class: "small metoo", "aria-pressed": String(said), disabled: said, onclick: () => post("problem.metoo", { problem: p.id }) }, said ? "You have this too" : "Me too"),
      );
    }
    if (mine && !resolved) actions.push(h("button", { type: "button", class: "small resolve", onclick: () => openResolve(p) }, "Mark resolved"));
    const reflected = p.reflections.some((id) => circle.items.get(id).author === me);
    if (resolved && !reflected) actions.push(h("button", { type: "button", class: "small reflect", onclick: () => openReflect(p) }, "Reflect"));
    actions.push(...ownerActions(p));
  }
  const mentioned = mentionsMe(p, p.title, p.body);
  if (resolved) actions.push(h("button", { type: "button", class: "small case-study", onclick: () => openCaseStudy(p) }, "Case study"));
  const el = h(
    "li",
    { class: `item problem${resolved ? " resolved" : ""}${mentioned ? " mentions-me" : ""}`, dataset: { id: p.id, seq: p.seq } },
    h(
      "article",
      { "aria-labelledby": `title-${p.id}` },
      h(
        "header",
        { class: "problem-head" },
        h("span", { class: `badge ${resolved ? "resolved" : "open"}` }, resolved ? "Resolved" : "Open"),
        h("h3", { id: `title-${p.id}` }, p.title),
        mentioned ? youBadge() : null,
      ),
      meta(p, p.metoos.length ? ` · ${p.metoos.length} ${p.metoos.length === 1 ? "peer has" : "peers have"} this too` : ""),
      editForms.get(p.id) ?? (p.body ? h("div", { class: "body" }, p.body) : null),
      p.tags.length ? h("ul", { class: "tags", "aria-label": "Tags" }, p.tags.map((t) => h("li", {}, `#${t}`))) : null,
      resolved
        ? h("p", { class: "resolution" }, "✓ Resolved by ", person(p.resolution.by), " · ", when(p.resolution.at),
          p.resolution.helpful.length ? ` · ${p.resolution.helpful.length} helpful critique${p.resolution.helpful.length === 1 ? "" : "s"}` : "",
          p.resolution.summary ? h("span", { class: "summary" }, p.resolution.summary) : null)
        : null,
      h("div", { class: "actions" }, actions),
      h("h4", { class: "visually-hidden" }, "Critiques"),
      live.length || critiques.length
        ? h("ol", { class: "critiques", "aria-label": `${live.length} critique${live.length === 1 ? "" : "s"}` }, critiques.map((c) => critiqueItem(c, p)))
        : circle.isMember && !resolved ? h("p", { class: "muted waiting" }, "No critiques yet.") : null,
      critiqueForms.get(p.id) ?? null,
      reflectionList(p),
      reflectForms.get(p.id) ?? null,
    ),
  );
  return el;
}

function critiqueItem(c, problem) {
  if (c.retracted) return h("li", { class: "critique retracted", dataset: { id: c.id, seq: c.seq } }, h("p", { class: "muted" }, "A critique was withdrawn"));
  const accept = state.open.isMember && problem.author === state.me.handle && !c.accepted
    ? h("button", { type: "button", class: "small accept", onclick: () => post("problem.accept", { problem: problem.id, critique: c.id }) }, "Accept")
    : null;
  const mentioned = mentionsMe(c, c.body);
  return h(
    "li",
    { class: `critique${c.helpful ? " helpful" : ""}${c.accepted ? " accepted" : ""}${mentioned ? " mentions-me" : ""}`, dataset: { id: c.id, seq: c.seq, stance: c.stance } },
    meta(c, " ", h("span", { class: `badge stance ${c.stance}` }, STANCES[c.stance] ?? c.stance),
      mentioned ? youBadge() : null,
      c.accepted ? h("span", { class: "badge accepted" }, "✓ accepted") : null,
      c.helpful ? h("span", { class: "badge helpful" }, "✓ helped") : null),
    editForms.get(c.id) ?? h("div", { class: "body" }, c.body),
    h("div", { class: "actions" }, accept, ownerActions(c)),
  );
}

function reflectionList(p) {
  const reflections = p.reflections.map((id) => state.open.items.get(id)).filter((r) => !r.retracted);
  if (!reflections.length) return null;
  return h("section", { class: "reflections", "aria-label": "Reflections" },
    h("h4", {}, "Reflections"),
    h("ul", {}, reflections.map((r) =>
      h("li", { class: "reflection", dataset: { id: r.id, seq: r.seq } },
        meta(r, " · ", h("span", { class: "usefulness", "aria-label": `usefulness ${r.usefulness} of 5` }, `${"★".repeat(r.usefulness)}${"☆".repeat(5 - r.usefulness)}`)),
        h("div", { class: "body" }, r.text)))));
}

function noteItem(n) {
  if (n.retracted) return withdrawn(n, "A note was");
  const mentioned = mentionsMe(n, n.body);
  return h(
    "li",
    { class: `item note${mentioned ? " mentions-me" : ""}`, dataset: { id: n.id, seq: n.seq } },
    meta(n, mentioned ? " " : "", mentioned ? youBadge() : null),
    editForms.get(n.id) ?? h("div", { class: "body" }, n.body),
    h("div", { class: "actions" }, ownerActions(n)),
  );
}

function systemLine(e) {
  const text = {
    join: e.role === "facilitator" ? "started the circle" : "joined",
    leave: "left",
    remove: `removed @${e.member}${e.reason ? `: ${e.reason}` : ""}`,
    norms: `set the circle's norms (version ${e.version})`,
    norms_accept: `accepted the norms (version ${e.version})`,
  }[e.kind];
  const read = e.kind === "norms" ? [" · ", h("button", { type: "button", class: "link", onclick: () => openNorms() }, "Read them")] : [];
  return h("li", { class: `item system ${e.kind}`, dataset: { id: e.id, seq: e.seq } }, person(e.author), ` ${text} · `, when(e.at), ...read);
}

/** A scheduled meeting: when it starts and the problems on its agenda. */
function meetingItem(m) {
  const agenda = m.agenda.map((id) => state.open.items.get(id)).filter((p) => p && !p.retracted);
  return h(
    "li",
    { class: "item meeting", dataset: { id: m.id, seq: m.seq } },
    h("p", { class: "meta" }, person(m.author), " scheduled a meeting · ", when(m.at)),
    h("p", { class: "meeting-when" }, h("strong", {}, m.title ?? "Meeting"), " starts ", when(m.startsAt)),
    agenda.length
      ? h("ol", { class: "agenda", "aria-label": "Agenda" }, ...agenda.map((p) => h("li", {}, p.title)))
      : h("p", { class: "muted" }, "No agenda."),
  );
}

/** Edit and withdraw, for the author (withdraw also for facilitators). */
function ownerActions(item) {
  const mine = item.author === state.me.handle;
  const circle = state.open;
  if (!circle.isMember || editForms.has(item.id)) return [];
  const buttons = [];
  if (mine) buttons.push(h("button", { type: "button", class: "link", onclick: () => openEdit(item) }, "Edit"));
  if (mine || circle.isFacilitator) {
    buttons.push(
      h("button", { type: "button", class: "link", onclick: () => {
        if (confirm("Withdraw this post? Its text is erased for everyone.")) post("post.retract", { post: item.id });
      } }, "Withdraw"),
    );
  }
  return buttons;
}

function renderMembers() {
  const circle = state.open;
  const members = [...circle.members.values()];
  $("#online-count").textContent = `(${members.filter((m) => m.online).length} of ${members.length} online)`;
  $("#members").replaceChildren(
    ...members.map((m) =>
      h(
        "li",
        { class: m.online ? "online" : "offline", dataset: { handle: m.handle } },
        h("span", { class: "dot", "aria-hidden": "true" }),
        h("span", {}, m.display_name === m.handle ? `@${m.handle}` : [m.display_name, " ", h("span", { class: "muted" }, `@${m.handle}`)]),
        m.role === "facilitator" ? h("span", { class: "badge" }, "facilitator") : null,
        h("span", { class: "visually-hidden" }, m.online ? " online" : " offline"),
      ),
    ),
  );
}

function announce(circle, event) {
  if (event.author === state.me.handle) return;
  const what = { problem: `brought a problem: ${event.title}`, critique: "wrote a critique", note: "wrote a note", resolve: "resolved a problem" }[event.kind];
  if (what) $("#announce").textContent = `@${event.author} ${what}`;
}

let toastTimer;
function toast(message) {
  const el = $("#toast");
  el.textContent = message;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (el.hidden = true), 8000);
}

let countdown;
function showStatus(status, detail) {
  const el = $("#status");
  el.dataset.state = status;
  clearInterval(countdown);
  if (status === "online") {
    el.textContent = "";
    for (const line of document.querySelectorAll("#composer .form-error")) line.hidden = true;
  }
  else if (status === "connecting") el.textContent = "Connecting…";
  else {
    const tick = () => {
      const secs = Math.max(0, Math.ceil((detail.retryAt - Date.now()) / 1000));
      el.replaceChildren(`Offline, reconnecting in ${secs} s `, h("button", { type: "button", class: "link", onclick: () => rpc.reconnectNow() }, "Retry now"));
    };
    tick();
    countdown = setInterval(tick, 1000);
  }
}

// ---------------------------------------------------------------- search

/** Runs the search form's query, in every circle or (ticked) the open one. */
async function search() {
  const f = $("#search-form").elements;
  const query = f.query.value.trim();
  if (!query) return;
  const params = { query };
  if (state.open && f.here.checked) params.circle = state.open.slug;
  const where = params.circle ? state.open.info.name : "every circle you may read";
  const mine = ++state.searches;
  $("#search-title").textContent = `Searching ${where}…`;
  $("#search-panel").hidden = false;
  let found;
  try {
    found = (await rpc.call("search", params)).hits;
  } catch (err) {
    found = err;
  }
  if (mine !== state.searches) return; // a newer search is on its way
  if (found instanceof Error) {
    $("#search-title").textContent = `Search: ${found.message}`;
    $("#search-results").replaceChildren();
    return;
  }
  const count = found.length === 1 ? "1 match" : `${found.length || "No"} matches`;
  $("#search-title").textContent = `${count} for “${query}” in ${where}`;
  showHits($("#search-results"), found, "Nothing found: try other words.");
}

/** Fills a list with hits: where, what, status, title, the snippet with the matching words marked. */
function showHits(list, hits, none) {
  list.replaceChildren(...(hits.length ? hits.map(hitItem) : [h("li", { class: "muted" }, none)]));
}

function hitItem(hit) {
  const circle = state.circles.get(hit.circle);
  const resolved = hit.status === "resolved";
  const snippet = hit.snippet.map((part) => (part.hit ? h("mark", {}, part.text) : part.text));
  return h(
    "li",
    { class: `hit ${hit.kind}`, dataset: { circle: hit.circle, problem: hit.problem } },
    h(
      "a",
      { href: `#/c/${hit.circle}`, class: "hit-link", onclick: (e) => { e.preventDefault(); openHit(hit); } },
      h("span", { class: `badge ${resolved ? "resolved" : "open"}` }, resolved ? "Resolved" : "Open"),
      " ",
      h("strong", { class: "hit-title" }, hit.title),
    ),
    h("p", { class: "meta" }, circle?.info.name ?? hit.circle, " · ", hit.kind, " by ", `@${hit.author}`, " · ", when(hit.at)),
    snippet.length ? h("p", { class: "snippet" }, snippet) : null,
  );
}

/** Opens a hit's circle, then shows its problem. */
function openHit(hit) {
  state.showProblem = hit.problem;
  if (state.open?.slug === hit.circle) showFoundProblem();
  else location.hash = `#/c/${hit.circle}`;
}

/** Scrolls to the problem a hit named, highlights and focuses it. */
function showFoundProblem() {
  const id = state.showProblem;
  if (!id || !state.open) return;
  state.showProblem = null;
  const el = rendered.get(id);
  if (!el) return toast("That problem is no longer in the circle.");
  for (const old of document.querySelectorAll("#timeline .found")) old.classList.remove("found");
  el.classList.add("found");
  el.tabIndex = -1;
  el.scrollIntoView({ block: "center" });
  el.focus({ preventScroll: true });
}

/** After a problem is posted: problems like it elsewhere, if any. */
function showSimilar(similar) {
  $("#similar-panel").hidden = !similar.length;
  showHits($("#similar-results"), similar, "");
}

// ---------------------------------------------------------------- acting

/** Calls a method on the open circle; shows what went wrong and answers null. */
async function post(method, params) {
  try {
    return await rpc.call(method, { circle: state.open.slug, ...params });
  } catch (err) {
    toast(err.message);
    return null;
  }
}

/**
 * Runs `call`, a join or a post in the circle `slug`. Refused until the
 * circle's norms are accepted, it shows them and asks; on "Accept and
 * continue" it accepts that version (with the `invite` of a join) and runs
 * `call` again. Cancelling fails it, so the form keeps what was typed.
 */
async function withNorms(slug, call, invite) {
  try {
    return await call();
  } catch (err) {
    const norms = err.data?.norms;
    if (!norms) throw err;
    if (!(await askNorms(slug, norms))) {
      throw new RpcError("Cancelled: this circle asks its members to accept its norms first.", "cancelled");
    }
    const params = { circle: slug, version: norms.version };
    if (invite) params.invite = invite;
    await rpc.call("circle.norms.accept", params);
    return withNorms(slug, call, invite);
  }
}

/** Shows `norms` (who set them, when, the text) in the two elements. */
function showNorms(metaEl, textEl, norms) {
  metaEl.replaceChildren(...(norms ? [`Version ${norms.version}, set by `, `@${norms.set_by}`, " · ", when(norms.at)] : ["No norms yet."]));
  textEl.textContent = norms?.text ?? "";
  textEl.hidden = !norms;
}

/** The consent dialog: resolves true on "Accept and continue", false on Cancel or Escape. */
function askNorms(slug, norms) {
  const dialog = $("#norms-dialog");
  const name = state.circles.get(slug)?.info.name ?? slug;
  $("#norms-title").textContent = `The norms of ${name}`;
  $("#norms-intro").textContent = `${name} asks its members to accept its norms before they post or join.`;
  showNorms($("#norms-meta"), $("#norms-text"), norms);
  dialog.returnValue = "";
  return new Promise((answer) => {
    dialog.addEventListener("close", () => answer(dialog.returnValue === "accept"), { once: true });
    dialog.showModal();
  });
}

/** The open circle's current norms; facilitators may set a new version. */
async function openNorms() {
  const circle = state.open;
  try {
    await loadMembers(circle);
  } catch (err) {
    return toast(err.message);
  }
  $("#norms-view-title").textContent = `The norms of ${circle.info.name}`;
  showNorms($("#norms-view-meta"), $("#norms-view-text"), circle.norms);
  const form = $("#norms-form");
  form.hidden = !circle.isFacilitator;
  form.elements.text.value = circle.norms?.text ?? "";
  formError(form, null);
  $("#norms-view").showModal();
}

const STANCES = {
  suggestion: "Suggestion",
  question: "Question",
  experience: "Experience",
  concern: "Concern",
};

function openCritique(problem) {
  openThreadForm(critiqueForms, problem, "critique-form", "Send critique", () => [
    h("label", { class: "stance-choice" }, "Kind ",
      h("select", { name: "stance" },
        h("option", { value: "suggestion" }, "Suggestion: try this"),
        h("option", { value: "question" }, "Question: tell me more"),
        h("option", { value: "experience" }, "Experience: what worked for me"),
        h("option", { value: "concern" }, "Concern: a risk or a flaw"))),
    h("textarea", { name: "body", rows: "3", required: true, placeholder: "Your experience, a suggestion, a question…", "aria-label": `Critique of ${problem.title}` }),
  ], (f) => f.body.value.trim() && ["post.critique", { problem: problem.id, body: f.body.value.trim(), stance: f.stance.value }]);
}

function openReflect(problem) {
  openThreadForm(reflectForms, problem, "reflect-form", "Add reflection", () => [
    h("textarea", { name: "text", rows: "3", required: true, placeholder: "What will you take from this thread?", "aria-label": `Reflection on ${problem.title}` }),
    h("fieldset", { class: "usefulness-choice" },
      h("legend", {}, "How useful was this thread to you?"),
      [1, 2, 3, 4, 5].map((n) => h("label", { class: "inline" }, h("input", { type: "radio", name: "usefulness", value: String(n), checked: n === 4 }), ` ${n}`))),
  ], (f) => f.text.value.trim() && ["problem.reflect", { problem: problem.id, text: f.text.value.trim(), usefulness: Number(f.usefulness.value) }]);
}

/**
 * A form under a problem (a critique, a reflection) that survives redraws
 * until it is sent or cancelled. `request(fields)` gives [method, params],
 * or nothing when there is nothing to send yet.
 */
function openThreadForm(forms, problem, kind, label, fields, request) {
  let form = forms.get(problem.id);
  if (!form) {
    const close = () => {
      forms.delete(problem.id);
      drawItem(problem.id, false);
    };
    form = h(
      "form",
      { class: `thread-form ${kind}`, novalidate: true },
      fields(),
      h("p", { class: "form-error", role: "alert", hidden: true }),
      h("div", { class: "row" },
        h("button", { type: "submit", class: "primary small" }, label),
        h("button", { type: "button", class: "small", onclick: close }, "Cancel")),
    );
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const call = request(form.elements);
      if (!call) return formError(form, "Write something first.");
      const [method, params] = call;
      const slug = state.open.slug;
      if (await submitting(form, () => withNorms(slug, () => rpc.call(method, { circle: slug, ...params })))) close();
    });
    submitOnEnter(form.querySelector("textarea"), form);
    cancelOnEscape(form, close);
    forms.set(problem.id, form);
    drawItem(problem.id, false);
  }
  form.querySelector("textarea").focus();
}

function openEdit(item) {
  const top = state.open.topOf(item);
  const fields = [];
  if (item.kind === "problem") fields.push(h("input", { name: "title", value: item.title, maxlength: "200", "aria-label": "Title" }));
  const area = h("textarea", { name: "body", rows: "3", "aria-label": "Text" });
  area.value = item.body;
  const form = h(
    "form",
    { class: "edit-form", novalidate: true },
    ...fields,
    area,
    h("p", { class: "form-error", role: "alert", hidden: true }),
    h("div", { class: "row" },
      h("button", { type: "submit", class: "primary small" }, "Save"),
      h("button", { type: "button", class: "small", onclick: () => { editForms.delete(item.id); drawItem(top, false); } }, "Cancel")),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const params = { circle: state.open.slug, post: item.id, body: area.value };
    if (item.kind === "problem") params.title = form.elements.title.value;
    const ok = await submitting(form, () => withNorms(params.circle, () => rpc.call("post.edit", params)));
    if (ok) {
      editForms.delete(item.id);
      drawItem(top, false);
    }
  });
  submitOnEnter(area, form);
  cancelOnEscape(form, () => { editForms.delete(item.id); drawItem(top, false); });
  editForms.set(item.id, form);
  drawItem(top, false);
  area.focus();
}

function openResolve(problem) {
  const dialog = $("#resolve-dialog");
  const form = $("#resolve-form");
  const critiques = problem.critiques.map((id) => state.open.items.get(id)).filter((c) => !c.retracted && c.author !== problem.author);
  const box = $("#resolve-critiques");
  box.replaceChildren(
    h("legend", {}, critiques.length ? "Which critiques helped?" : "No critiques yet: resolve it anyway?"),
    ...critiques.map((c) =>
      h("label", { class: "inline" }, h("input", { type: "checkbox", name: "helpful", value: c.id }), " ", `@${c.author}: ${excerpt(c.body)}`),
    ),
  );
  form.elements.summary.value = "";
  formError(form, null);
  form.onsubmit = async (e) => {
    e.preventDefault();
    const helpful = [...form.querySelectorAll("input[name=helpful]:checked")].map((i) => i.value);
    const params = { circle: state.open.slug, problem: problem.id, helpful };
    const summary = form.elements.summary.value.trim();
    if (summary) params.summary = summary;
    const ok = await submitting(form, () => withNorms(params.circle, () => rpc.call("problem.resolve", params)));
    if (ok) dialog.close();
  };
  dialog.showModal();
}

/** The circle's stats (circle.stats over its whole life) in a dialog. */
async function openStats() {
  const answer = await post("circle.stats", {});
  if (!answer) return;
  const s = answer.stats;
  const minutes = (ms) => Math.floor(ms / 60000);
  const duration = (ms) => {
    if (ms === null) return "–";
    const [d, hr, m] = [Math.floor(minutes(ms) / 1440), Math.floor(minutes(ms) / 60) % 24, minutes(ms) % 60];
    if (d) return hr ? `${d} d ${hr} h` : `${d} d`;
    if (hr) return m ? `${hr} h ${m} min` : `${hr} h`;
    return m ? `${m} min` : "less than a minute";
  };
  $("#stats-title").textContent = `Stats of ${state.open.info.name}`;
  $("#stats-window").replaceChildren("From ", when(s.since), " to ", when(s.until));
  const figures = [
    ["Problems raised", String(s.raised)],
    ["Problems resolved", String(s.resolved)],
    ["Median time to first critique", duration(s.median_first_critique_ms)],
    ["Median time to resolution", duration(s.median_resolution_ms)],
    ["Unanswered now", String(s.unanswered.length)],
  ];
  $("#stats-figures").replaceChildren(...figures.flatMap(([what, value]) => [h("dt", {}, what), h("dd", {}, value)]));
  const weeks = Math.round(s.bucket_ms / 604800000);
  $("#stats-per").textContent = weeks > 1 ? `Per ${weeks} weeks` : "Per week";
  const max = Math.max(1, ...s.series.map((b) => Math.max(b.raised, b.resolved)));
  const bar = (n, kind) => {
    const el = h("span", { class: `bar ${kind}`, "aria-hidden": "true" });
    el.style.inlineSize = `${(100 * n) / max}%`; // CSSOM, which the CSP allows
    return h("td", {}, h("span", { class: "bar-track" }, el), h("span", { class: "count" }, String(n)));
  };
  $("#stats-series tbody").replaceChildren(...s.series.map((b) => h("tr", {}, h("th", { scope: "row" }, when(b.start)), bar(b.raised, "raised"), bar(b.resolved, "resolved"))));
  $("#stats-unanswered-title").textContent = `Unanswered (no critique from others after ${duration(s.unanswered_after_ms)})`;
  problemList($("#stats-unanswered"), s.unanswered, "None: every problem has an answer.");
  problemList($("#stats-metoos"), s.most_metood, "None yet.");
  $("#stats-dialog").showModal();
}

/** Fills `el` with one line per problem (title, author, when, metoos), or `none`. */
function problemList(el, problems, none) {
  el.replaceChildren(...(problems.length
    ? problems.map((p) => h("li", {}, h("strong", {}, p.title), " · ", person(p.author), " · ", when(p.at), p.metoos ? ` · ${p.metoos} ${p.metoos === 1 ? "metoo" : "metoos"}` : ""))
    : [h("li", { class: "muted" }, none)]));
}

/** What changed since the last meeting held (circle.digest) in a dialog. */
async function openDigest() {
  const d = await post("circle.digest", {});
  if (!d) return;
  $("#digest-title").textContent = `Digest of ${state.open.info.name}`;
  const next = d.next_meeting;
  $("#digest-window").replaceChildren(
    d.last_meeting ? "Since the last meeting, " : "Since the circle began, ",
    when(d.since),
    next ? ". Next meeting: " : "",
    next ? h("strong", {}, next.title ?? "Meeting") : "",
    next ? " at " : "",
    next ? when(next.starts_at) : "",
  );
  const figures = [
    ["New problems", d.total_new_problems],
    ["New critiques", d.total_new_critiques],
    ["Resolved", d.total_resolutions],
    ["Unanswered", d.total_unanswered],
  ];
  $("#digest-figures").replaceChildren(...figures.flatMap(([what, n]) => [h("dt", {}, what), h("dd", {}, String(n))]));
  problemList($("#digest-new"), d.new_problems, "None.");
  $("#digest-resolved").replaceChildren(...(d.resolutions.length
    ? d.resolutions.map((r) => h("li", {}, h("strong", {}, r.title), r.resolution.summary ? `: ${r.resolution.summary}` : ""))
    : [h("li", { class: "muted" }, "None.")]));
  problemList($("#digest-unanswered"), d.unanswered, "None: every open problem has an answer.");
  $("#digest-dialog").showModal();
}

/** Downloads a resolved problem's case study (problem.export) as a .md file. */
function openCaseStudy(problem) {
  const dialog = $("#case-dialog");
  const form = $("#case-form");
  formError(form, null);
  form.onsubmit = async (e) => {
    e.preventDefault();
    const anonymise = form.elements.anonymise.checked;
    const slug = state.open.slug;
    let markdown = null;
    const ok = await submitting(form, async () => {
      ({ markdown } = await rpc.call("problem.export", { circle: slug, problem: problem.id, anonymise }));
    });
    if (!ok) return;
    const url = URL.createObjectURL(new Blob([markdown], { type: "text/markdown" }));
    const name = `case-${slug}-${problem.id.replaceAll("-", "").slice(-8)}${anonymise ? "-anonymised" : ""}.md`;
    const link = h("a", { href: url, download: name, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
    dialog.close();
    toast(`Downloaded ${name}`);
  };
  dialog.showModal();
}

/** A facilitator schedules a meeting: when, a title, and open problems for its agenda. */
function openSchedule() {
  const dialog = $("#schedule-dialog");
  const form = $("#schedule-form");
  formError(form, null);
  form.reset();
  const open = state.open.order
    .map((id) => state.open.items.get(id))
    .filter((p) => p.kind === "problem" && !p.retracted && !p.resolution)
    .slice(0, 20);
  $("#schedule-agenda").replaceChildren(...(open.length
    ? open.map((p) => h("label", { class: "inline" }, h("input", { type: "checkbox", name: "agenda", value: p.id }), ` ${p.title}`))
    : [h("p", { class: "muted" }, "No open problems to put on the agenda.")]));
  form.onsubmit = async (e) => {
    e.preventDefault();
    const at = new Date(form.elements.at.value).getTime();
    if (Number.isNaN(at)) return formError(form, "Pick the day and time the meeting starts.");
    const agenda = [...form.querySelectorAll("input[name=agenda]:checked")].map((box) => box.value);
    const params = { circle: state.open.slug, at, agenda };
    if (form.elements.title.value.trim()) params.title = form.elements.title.value.trim();
    if (await submitting(form, () => rpc.call("meeting.schedule", params))) dialog.close();
  };
  dialog.showModal();
}

function excerpt(text) {
  const chars = [...text];
  return chars.length > 80 ? `${chars.slice(0, 80).join("")}…` : text;
}

/** Enter sends, Shift+Enter starts a new line. */
function submitOnEnter(area, form) {
  area.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
}

/** Escape in a form under a post cancels it, and focus returns to the timeline. */
function cancelOnEscape(form, cancel) {
  form.addEventListener("keydown", (e) => {
    if (e.key !== "Escape") return;
    e.preventDefault();
    cancel();
    $("#main").focus({ preventScroll: true });
  });
}

function slugify(name) {
  return name.toLowerCase().normalize("NFKD").replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 40).replace(/-+$/, "");
}

function wire() {
  tabs($("#welcome .tabs"), (tab) => $(`#${tab.getAttribute("aria-controls")} input`).focus());
  const compose = tabs($("#composer .tabs"), (tab) => $(`#${tab.getAttribute("aria-controls")} [name]`).focus());

  $("#sign-in").addEventListener("submit", (e) => {
    e.preventDefault();
    const f = e.target.elements;
    // Handles are lowercase: "Ana" is ana.
    submitting(e.target, () => signIn("auth.login", { handle: f.handle.value.trim().toLowerCase(), password: f.password.value }))
      .then((ok) => ok || f.password.select());
  });
  $("#sign-up").addEventListener("submit", (e) => {
    e.preventDefault();
    const f = e.target.elements;
    const params = { handle: f.handle.value.trim(), password: f.password.value };
    if (f.display_name.value.trim()) params.display_name = f.display_name.value.trim();
    if (f.invite.value.trim()) params.invite = f.invite.value.trim();
    submitting(e.target, () => signIn("auth.register", params));
  });
  $("#sign-out").addEventListener("click", async () => {
    await rpc.call("auth.logout").catch(() => {});
    signedOut(null);
    location.hash = "";
  });

  const noteForm = $("#note-form");
  submitOnEnter(noteForm.elements.body, noteForm);
  noteForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = noteForm.elements.body.value;
    if (!body.trim()) return;
    const slug = state.open.slug;
    if (await submitting(noteForm, () => withNorms(slug, () => rpc.call("post.note", { circle: slug, body })))) noteForm.reset();
    noteForm.elements.body.focus();
  });
  const problemForm = $("#problem-form");
  problemForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = problemForm.elements;
    if (!f.title.value.trim()) return formError(problemForm, "Give the problem a one-line summary.");
    const params = { circle: state.open.slug, title: f.title.value.trim(), body: f.body.value, tags: f.tags.value.split(/[\s,]+/).map((t) => t.replace(/^#+/, "")).filter(Boolean) };
    let similar = [];
    const ok = await submitting(problemForm, async () => {
      ({ similar = [] } = await withNorms(params.circle, () => rpc.call("post.problem", params)));
    });
    if (ok) {
      problemForm.reset();
      compose($("#tab-note"));
      showSimilar(similar);
    }
  });

  $("#join").addEventListener("click", () => join(state.open.slug).catch((err) => toast(err.message)));
  $("#leave").addEventListener("click", async () => {
    const circle = state.open;
    if (!confirm(`Leave ${circle.info.name}?`)) return;
    if (!(await post("circle.leave", {}))) return;
    // A private circle cannot be read once left.
    if (circle.info.visibility === "private") location.hash = "";
    await refresh();
  });
  $("#invite").addEventListener("click", async () => {
    const answer = await post("circle.invite", {});
    if (!answer) return;
    const { invite, expires_at } = answer;
    const link = `${location.origin}/#/join/${state.open.slug}/${encodeURIComponent(invite)}`;
    $("#invite-link").value = link;
    $("#invite-code").value = invite;
    $("#invite-expiry").textContent = `Expires ${new Date(expires_at).toLocaleString()}.`;
    $("#invite-dialog").showModal();
    $("#invite-link").select();
  });
  $("#show-stats").addEventListener("click", () => openStats());
  $("#show-digest").addEventListener("click", () => openDigest());
  $("#show-norms").addEventListener("click", () => openNorms());
  const normsForm = $("#norms-form");
  normsForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = normsForm.elements.text.value.trim();
    if (!text) return formError(normsForm, "Write the norms first.");
    let version;
    const ok = await submitting(normsForm, async () => {
      ({ event: { version } } = await rpc.call("circle.norms.set", { circle: state.open.slug, text }));
    });
    if (!ok) return;
    $("#norms-view").close();
    toast(`The norms are now version ${version}: members accept them before their next post.`);
  });
  $("#schedule").addEventListener("click", () => openSchedule());
  $("#show-members").addEventListener("click", (e) => {
    const shown = $("#members-panel").classList.toggle("shown");
    e.target.setAttribute("aria-expanded", String(shown));
  });
  $("#menu-toggle").addEventListener("click", (e) => {
    const shown = $("#sidebar").classList.toggle("shown");
    e.target.setAttribute("aria-expanded", String(shown));
  });

  const create = $("#create-form");
  let slugTouched = false;
  create.elements.slug.addEventListener("input", () => (slugTouched = true));
  create.elements.name.addEventListener("input", () => {
    if (!slugTouched) create.elements.slug.value = slugify(create.elements.name.value);
  });
  $("#new-circle").addEventListener("click", () => {
    create.reset();
    slugTouched = false;
    formError(create, null);
    $("#create-dialog").showModal();
  });
  create.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = create.elements;
    const params = { slug: f.slug.value.trim(), name: f.name.value.trim(), purpose: f.purpose.value.trim(), visibility: f.visibility.value, max_members: Number(f.max_members.value) };
    const ok = await submitting(create, async () => {
      const { circle } = await rpc.call("circle.create", params);
      state.circles.set(circle.slug, new Circle(circle));
    });
    if (ok) {
      $("#create-dialog").close();
      location.hash = `#/c/${params.slug}`;
    }
  });

  const code = $("#code-form");
  $("#use-code").addEventListener("click", () => {
    code.reset();
    formError(code, null);
    $("#code-dialog").showModal();
  });
  code.addEventListener("submit", async (e) => {
    e.preventDefault();
    const slug = code.elements.circle.value.trim();
    const ok = await submitting(code, () => join(slug, code.elements.invite.value.trim()));
    if (ok) {
      $("#code-dialog").close();
      location.hash = `#/c/${slug}`;
    }
  });

  $("#search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    search();
  });
  for (const button of document.querySelectorAll(".close-hits")) {
    button.addEventListener("click", () => (button.closest(".hits-panel").hidden = true));
  }
  // "/" goes to the search box when no field has the keys.
  document.addEventListener("keydown", (e) => {
    const typing = document.activeElement?.closest("input, textarea, select, [contenteditable]");
    if (e.key !== "/" || e.ctrlKey || e.metaKey || e.altKey || typing || document.querySelector("dialog[open]") || $("#app").hidden) return;
    e.preventDefault();
    $("#search-query").focus();
  });
  $("#search-query").addEventListener("keydown", (e) => {
    if (e.key === "Escape") $("#search-panel").hidden = true;
  });

  for (const button of document.querySelectorAll("dialog .cancel")) {
    button.addEventListener("click", () => button.closest("dialog").close());
  }
  // Escape closes the panels that slide over the page on small screens.
  document.addEventListener("keydown", (e) => {
    if (e.key !== "Escape" || document.querySelector("dialog[open]")) return;
    for (const [panel, button] of [["#sidebar", "#menu-toggle"], ["#members-panel", "#show-members"]]) {
      if ($(panel).classList.contains("shown")) {
        $(panel).classList.remove("shown");
        $(button).setAttribute("aria-expanded", "false");
        $(button).focus();
      }
    }
  });
  addEventListener("hashchange", route);
  document.addEventListener("visibilitychange", markRead);
}

wire();
if (localStorage.getItem(TOKEN)) {
  $("#app").hidden = false;
} else {
  $("#welcome").hidden = false;
}
route();
rpc.start();
