// A minimal Circles front end; walkthrough: docs/protocol.md, "Write your own front end".
const server = new URLSearchParams(location.search).get("server") ?? "ws://localhost:7878/v1/ws";
const $ = (id) => document.getElementById(id);
const show = (text) => ($("status").textContent = text);
const pending = new Map(); // request id -> {resolve, reject}
let nextId = 1, circle = null, last = 0; // last: the highest seq shown; older ones are repeats

const socket = new WebSocket(server);
const settled = new Promise((done) => { // once the socket is open, or failed to open
  socket.addEventListener("open", done);
  socket.addEventListener("close", done);
});
socket.addEventListener("close", ({ code, reason }) => {
  show(`disconnected from the server (${code} ${reason})`);
  for (const { reject } of pending.values()) reject(new Error("the connection closed"));
});
socket.addEventListener("message", ({ data }) => {
  const frame = JSON.parse(data);
  if (!("id" in frame)) return frame.method === "event" && showEvent(frame.params);
  const waiter = pending.get(frame.id); // none for id null: a frame the server could not read
  if (!waiter) return show(frame.error?.message ?? "an unexpected answer");
  pending.delete(frame.id);
  frame.error ? waiter.reject(frame.error) : waiter.resolve(frame.result); // error: {code, message, data}
});

// One JSON-RPC request: resolves with its result, rejects with its error object.
async function call(method, params) {
  await settled;
  if (socket.readyState !== WebSocket.OPEN) throw new Error(`not connected to ${server}`);
  const id = nextId++;
  socket.send(JSON.stringify({ jsonrpc: "2.0", id, method, params }));
  return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
}

function showEvent({ circle: from, event }) {
  const text = { note: event.body, critique: event.body, problem: event.title }[event.kind];
  if (from !== circle || event.seq <= last || text === undefined) return;
  last = event.seq;
  const item = $("events").appendChild(document.createElement("li"));
  const author = item.appendChild(document.createElement("b"));
  author.textContent = event.author; // textContent, never innerHTML: posts are untrusted
  item.append(`: ${text}`);
}

const act = (run) => (e) => { e.preventDefault(); run().then(show, (err) => show(err.message)); };
const creds = () => ({ handle: $("handle").value, password: $("password").value });
const signIn = (method) => act(async () => `signed in as ${(await call(method, creds())).handle}`);
$("signin").addEventListener("submit", signIn("auth.login"));
$("register").addEventListener("click", signIn("auth.register"));
$("follow").addEventListener("submit", act(async () => {
  const slug = $("circle").value;
  const ignoreConflict = (err) => { if (err.data?.kind !== "conflict") throw err; };
  await call("circle.join", { circle: slug }).catch(ignoreConflict); // already a member
  [circle, last] = [slug, 0];
  $("events").replaceChildren();
  const { head } = await call("circle.subscribe", { circle, since: 0 });
  return `following ${circle} (${head} events so far)`;
}));
$("compose").addEventListener("submit", act(async () => {
  await call("post.note", { circle, body: $("note").value });
  $("note").value = "";
  return `posted to ${circle}`;
}));
