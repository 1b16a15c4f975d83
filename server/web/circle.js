// One circle as the page knows it: a fold over its event log (protocol.md
// section 4), kept up to date one event at a time.

const SYSTEM_KINDS = new Set(["join", "leave", "remove", "norms_accept"]);

/**
 * The handles a text mentions, lowercased (docs/protocol.md, "Mentions"):
 * `@` then 2-32 of a-z, 0-9, _ and -, in either case, ending where a handle
 * cannot go on; not right after a letter, digit, _, - or . (an e-mail address).
 */
export function mentions(text) {
  const found = new Set();
  for (const m of (text ?? "").matchAll(/(?<![\p{L}\p{N}_.-])@([A-Za-z0-9_-]+)/gu)) {
    const handle = m[1].toLowerCase();
    if (handle.length >= 2 && handle.length <= 32) found.add(handle);
  }
  return found;
}

export class Circle {
  constructor(info) {
    this.info = info;
    // The last seq applied: where a subscription resumes after a reconnect.
    this.lastSeq = 0;
    // Whether the log was read from the start (the timeline can be shown).
    this.complete = false;
    // Ids of the timeline's top-level items (problems, notes, joins…), in seq order.
    this.order = [];
    this.items = new Map();
    this.members = new Map();
    // The current norms { version, text, set_by, at }, once known (circle.members, norms events).
    this.norms = null;
    this.listed(info);
    // Seqs of the mentions of me that arrived since (`mention` notifications).
    this.mentionSeqs = new Set();
  }

  /** What the server counted at `circle.list` (or join): mentions from its read marker. */
  listed(info) {
    this.mentionBase = { read: info.read ?? 0, head: info.head ?? 0, count: info.mentions ?? 0 };
  }

  /** Unread mentions of me: the server's count while the marker has not moved past it, plus new ones. */
  get unreadMentions() {
    const { read, head } = this.info;
    if (!this.isMember || read >= head) return 0;
    const base = read <= this.mentionBase.read ? this.mentionBase.count : 0;
    const after = Math.max(read, this.mentionBase.head);
    return base + [...this.mentionSeqs].filter((seq) => seq > after).length;
  }

  get slug() {
    return this.info.slug;
  }

  get isMember() {
    return this.info.role !== undefined;
  }

  get isFacilitator() {
    return this.info.role === "facilitator";
  }

  /**
   * Applies one event. Returns the id of the top-level item it changed (a
   * critique changes its problem), or null for an event already applied or
   * one that shows nothing. Events of a kind this page does not know are
   * skipped, as the protocol asks.
   */
  apply(event) {
    if (event.seq <= this.lastSeq) return null;
    this.lastSeq = event.seq;
    this.info.head = Math.max(this.info.head ?? 0, event.seq);
    const base = { id: event.id, seq: event.seq, kind: event.kind, author: event.author, at: event.at };
    const retracted = event.retracted === true;
    switch (event.kind) {
      case "problem":
        return this.add({
          ...base, retracted, edited: false, title: event.title, body: event.body,
          tags: event.tags ?? [], critiques: [], metoos: [], resolution: null, accepted: [], reflections: [],
        });
      case "note":
        return this.add({ ...base, retracted, edited: false, body: event.body });
      case "critique": {
        const problem = this.items.get(event.problem);
        if (!problem) return null;
        this.items.set(event.id, {
          ...base, retracted, edited: false, body: event.body, problem: problem.id,
          stance: event.stance ?? "suggestion", helpful: false, accepted: false,
        });
        problem.critiques.push(event.id);
        return problem.id;
      }
      case "edit": {
        const post = this.items.get(event.post);
        if (!post) return null;
        if (event.title !== undefined) post.title = event.title;
        if (event.body !== undefined) post.body = event.body;
        post.edited = true;
        return this.topOf(post);
      }
      case "retract": {
        const post = this.items.get(event.post);
        if (!post) return null;
        post.retracted = true;
        post.title = "";
        post.body = "";
        post.text = "";
        post.tags = [];
        return this.topOf(post);
      }
      case "resolve": {
        const problem = this.items.get(event.problem);
        if (!problem) return null;
        problem.resolution = { by: event.author, at: event.at, helpful: event.helpful ?? [], summary: event.summary };
        for (const id of problem.resolution.helpful) {
          const critique = this.items.get(id);
          if (critique) critique.helpful = true;
        }
        return problem.id;
      }
      case "accept": {
        const problem = this.items.get(event.problem);
        const critique = this.items.get(event.critique);
        if (!problem || !critique) return null;
        critique.accepted = true;
        problem.accepted.push(critique.id);
        return problem.id;
      }
      case "reflect": {
        const problem = this.items.get(event.problem);
        if (!problem) return null;
        this.items.set(event.id, {
          ...base, retracted, problem: problem.id, text: event.text, usefulness: event.usefulness,
        });
        problem.reflections.push(event.id);
        return problem.id;
      }
      case "norms":
        this.norms = { version: event.version, text: event.text, set_by: event.author, at: event.at };
        return this.add({ ...base, version: event.version });
      case "meeting":
        return this.add({ ...base, startsAt: event.starts_at, agenda: event.agenda ?? [], title: event.title });
      case "metoo": {
        const problem = this.items.get(event.problem);
        if (!problem) return null;
        problem.metoos.push(event.author);
        return problem.id;
      }
      default:
        if (!SYSTEM_KINDS.has(event.kind)) return null;
        return this.add({ ...base, role: event.role, member: event.member, reason: event.reason, version: event.version });
    }
  }

  add(item) {
    this.items.set(item.id, item);
    this.order.push(item.id);
    return item.id;
  }

  /** The top-level item a post shows in: a critique or reflection, its problem. */
  topOf(post) {
    return post.problem ?? post.id;
  }
}
