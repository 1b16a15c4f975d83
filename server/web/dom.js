// Small DOM helpers. User text only ever reaches the page as text nodes
// (never innerHTML), so a post cannot inject markup.

/** `h("li", {class: "x", onclick: f}, "text", child)` builds an element. */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  el.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

export const $ = (selector, root = document) => root.querySelector(selector);

const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dated = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
const full = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "short" });

/** A `<time>` showing the hour today, the date otherwise, the full date on hover. */
export function when(ms) {
  const date = new Date(ms);
  const today = new Date().toDateString() === date.toDateString();
  return h("time", { datetime: date.toISOString(), title: full.format(date) }, (today ? clock : dated).format(date));
}

/** Shows a form's error line (or hides it with `null`). */
export function formError(form, message) {
  const line = form.querySelector(".form-error");
  line.textContent = message ?? "";
  line.hidden = !message;
}

/** Disables a form's buttons while `work` runs, and shows its error. */
export async function submitting(form, work) {
  const buttons = [...form.querySelectorAll("button")];
  buttons.forEach((b) => (b.disabled = true));
  formError(form, null);
  try {
    await work();
    return true;
  } catch (err) {
    formError(form, err.message);
    return false;
  } finally {
    buttons.forEach((b) => (b.disabled = false));
  }
}

/** Wires an ARIA tablist: click or arrow keys select a tab and show its panel. */
export function tabs(list, onSelect = () => {}) {
  const all = [...list.querySelectorAll("[role=tab]")];
  const select = (tab) => {
    for (const t of all) {
      const selected = t === tab;
      t.setAttribute("aria-selected", String(selected));
      t.tabIndex = selected ? 0 : -1;
      document.getElementById(t.getAttribute("aria-controls")).hidden = !selected;
    }
    onSelect(tab);
  };
  for (const tab of all) tab.addEventListener("click", () => select(tab));
  list.addEventListener("keydown", (e) => {
    const step = { ArrowRight: 1, ArrowLeft: -1 }[e.key];
    if (!step) return;
    const next = all[(all.indexOf(document.activeElement) + step + all.length) % all.length];
    next.focus();
    select(next);
  });
  return select;
}
