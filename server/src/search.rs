//! Full-text search over problems and critiques (the `search` method, and
//! the similar problems `post.problem` answers with).
//!
//! The index is tantivy's, on disk in `data_dir/search`: BM25 ranking,
//! English stemming and stop words, snippets. It is derived data: the circle
//! logs are the truth, and the store records how far the index has read each
//! log (`Store::indexed_seqs`). Circle tasks say when a log grew
//! ([`Search::grew`]); one indexer task reads what is new from the store, in
//! log order, and commits a batch for everything that arrived while the last
//! one ran, the way the store shares its flushes. Replaying a log from an
//! earlier point gives the same index (every write replaces the post's whole
//! document), so the index may lag or read again after a crash, but never
//! disagrees with the logs for long. A missing or outdated index is rebuilt
//! from the logs at start, in the background.
//!
//! Who may see what is decided at query time, never at index time: a hit
//! must come from a public circle or from one the caller is a member of now.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use anyhow::Context;
use circles_protocol::event::{Event, EventBody};
use circles_protocol::model::{HitKind, ProblemStatus, SearchHit, SnippetPart, Visibility};
use tantivy::collector::TopDocs;
use tantivy::query::{
    BooleanQuery, BoostQuery, Occur, Query, QueryParser, TermQuery, TermSetQuery,
};
use tantivy::schema::{
    Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::snippet::SnippetGenerator;
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
};
use tantivy::{DocAddress, Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use crate::store::Store;

/// Bumped when the index's layout or analysis changes: a different version
/// on disk is rebuilt from the logs.
const INDEX_VERSION: &str = "2";
const VERSION_FILE: &str = "circles-index-version";
const ANALYZER: &str = "circles_en";
/// The indexing heap: just over tantivy's minimum for one thread (15 MB); a
/// segment is written whenever it fills.
const WRITER_HEAP: usize = 16 << 20;
/// Events read from the store at a time while indexing.
const PAGE: usize = 512;
/// Events one batch reads at most: a rebuild commits (and can be searched,
/// and stopped) as it goes, and its memory stays bounded.
const BATCH_EVENTS: usize = 20_000;
/// A search waits at most this long for the index to hold what was posted
/// before it; then it answers from what the index holds.
const CATCH_UP: Duration = Duration::from_secs(5);
/// The indexer commits at most this often: under a stream of posts, a few
/// larger segments instead of a commit (files, fsyncs, merges) per post or two.
const COMMIT_EVERY: Duration = Duration::from_millis(200);
/// After a failed batch, the indexer waits this long before trying again.
const RETRY: Duration = Duration::from_secs(1);
/// How much of a post a hit shows.
const SNIPPET_CHARS: usize = 200;
/// The words of a new problem read to find similar ones, at most; of these
/// the [`SIMILAR_TERMS`] rarest make the query.
const WORDS_READ: usize = 64;
const SIMILAR_TERMS: usize = 12;

/// The search index and its indexer; [`Search::start`] opens it.
#[derive(Debug)]
pub struct Search {
    dir: PathBuf,
    engine: OnceLock<Arc<Engine>>,
    pending: Mutex<Pending>,
    wake: Notify,
    /// The generation of [`Pending`] the index has committed.
    committed: watch::Sender<u64>,
}

/// Logs that grew since the indexer last looked.
#[derive(Debug, Default)]
struct Pending {
    /// One more with each [`Search::grew`]: a search waits for the index to
    /// commit the generation it saw.
    generation: u64,
    /// Each circle's durable head to index up to.
    heads: HashMap<Uuid, u64>,
}

impl Search {
    /// A search over the index in `dir`, not yet open: until [`Search::start`]
    /// (operator commands never start it), it only collects what grew.
    pub fn new(dir: PathBuf) -> Search {
        Search {
            dir,
            engine: OnceLock::new(),
            pending: Mutex::new(Pending::default()),
            wake: Notify::new(),
            committed: watch::Sender::new(0),
        }
    }

    /// `circle`'s log is durable up to `head` (or the circle was deleted):
    /// index what is new. Cheap; never waits for the index.
    pub fn grew(&self, circle: Uuid, head: u64) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        pending.generation += 1;
        let known = pending.heads.entry(circle).or_default();
        *known = (*known).max(head);
        drop(pending);
        self.wake.notify_one();
    }

    /// Opens the index (rebuilding it from the logs if it is missing or
    /// outdated) and starts the indexer, which stops with `shutdown`.
    pub async fn start(
        self: &Arc<Self>,
        store: Arc<Store>,
        tracker: &TaskTracker,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let context = || format!("cannot open the search index in {}", self.dir.display());
        let Opened {
            engine,
            writer,
            indexed,
            fresh,
        } = Engine::open(&self.dir, &store).with_context(context)?;
        if fresh {
            // The progress rows are gone for good before the index says it
            // is current: else a crash could leave old progress over an
            // empty index, and those posts unindexed.
            store.flush().await?;
            std::fs::write(self.dir.join(VERSION_FILE), INDEX_VERSION).with_context(context)?;
        }
        let engine = Arc::new(engine);
        // Catch up with every log that grew while the index was not looking,
        // and forget circles deleted meanwhile.
        let mut todo = HashMap::new();
        for circle in store.circles()? {
            let head = store.head(circle.id)?;
            if head > indexed.get(&circle.id).copied().unwrap_or(0) {
                todo.insert(circle.id, head);
            }
        }
        for circle in indexed.keys() {
            todo.entry(*circle).or_insert(0);
        }
        for (circle, head) in todo {
            self.grew(circle, head);
        }
        let _ = self.engine.set(Arc::clone(&engine));
        let indexer = Indexer {
            engine,
            writer,
            indexed,
            store,
        };
        tracker.spawn(Arc::clone(self).index_until(indexer, shutdown));
        Ok(())
    }

    async fn index_until(self: Arc<Self>, mut indexer: Indexer, shutdown: CancellationToken) {
        let mut last_commit: Option<tokio::time::Instant> = None;
        loop {
            tokio::select! {
                () = self.wake.notified() => {}
                () = shutdown.cancelled() => return,
            }
            // The first post after a quiet spell is indexed at once; a
            // stream of them waits for the next commit slot, in one batch.
            if let Some(last) = last_commit {
                tokio::select! {
                    () = tokio::time::sleep_until(last + COMMIT_EVERY) => {}
                    () = shutdown.cancelled() => return,
                }
            }
            last_commit = Some(tokio::time::Instant::now());
            let (generation, heads) = {
                let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
                (pending.generation, std::mem::take(&mut pending.heads))
            };
            if heads.is_empty() {
                continue;
            }
            let retry = heads.clone();
            let stop = shutdown.clone();
            let batch = tokio::task::spawn_blocking(move || {
                let result = indexer.index(&heads, &stop);
                (indexer, result)
            })
            .await;
            let Ok((back, result)) = batch else {
                tracing::error!("the search indexer panicked; search stops following the logs");
                return;
            };
            indexer = back;
            match result {
                Ok(left) if left.is_empty() => {
                    self.committed.send_replace(generation);
                }
                Ok(left) => {
                    // A long catch-up: the rest in the next batches.
                    for (circle, head) in left {
                        self.grew(circle, head);
                    }
                }
                Err(err) => {
                    tracing::error!("search indexing failed, retrying: {err:#}");
                    for (circle, head) in retry {
                        self.grew(circle, head);
                    }
                    tokio::select! {
                        () = tokio::time::sleep(RETRY) => {}
                        () = shutdown.cancelled() => return,
                    }
                }
            }
        }
    }

    /// The open index, once it has everything up to generation `wanted`
    /// (waiting at most [`CATCH_UP`]).
    async fn caught_up(&self, wanted: u64) -> Option<Arc<Engine>> {
        let engine = self.engine.get()?;
        let mut committed = self.committed.subscribe();
        let _ = tokio::time::timeout(CATCH_UP, committed.wait_for(|done| *done >= wanted)).await;
        Some(Arc::clone(engine))
    }

    /// Problems and critiques matching `query`, in circles `scope` allows.
    pub async fn search(
        &self,
        store: &Arc<Store>,
        query: String,
        scope: Scope,
        limit: usize,
    ) -> anyhow::Result<Vec<SearchHit>> {
        let wanted = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .generation;
        let Some(engine) = self.caught_up(wanted).await else {
            anyhow::bail!("the search index is not open");
        };
        let store = Arc::clone(store);
        tokio::task::spawn_blocking(move || engine.search(&store, &query, &scope, limit)).await?
    }

    /// Problems like a new one (`new` in `circle`: its title and body), from
    /// circles `scope` allows other than `circle`, among those the index holds now: it does
    /// not wait for the indexer, so the post's answer is not held up by it
    /// (a problem posted elsewhere in the last fraction of a second may be
    /// missed; `search` finds it).
    pub async fn similar(
        &self,
        store: &Arc<Store>,
        (circle, new): (Uuid, Uuid),
        text: String,
        scope: Scope,
        limit: usize,
    ) -> anyhow::Result<Vec<SearchHit>> {
        let Some(engine) = self.engine.get().cloned() else {
            return Ok(Vec::new());
        };
        let store = Arc::clone(store);
        tokio::task::spawn_blocking(move || {
            engine.similar(&store, new, circle, &text, &scope, limit)
        })
        .await?
    }
}

/// The circles a search may return hits from.
#[derive(Clone, Debug)]
pub enum Scope {
    /// Public circles, and these (the caller's memberships).
    Readable(Vec<Uuid>),
    /// This circle only (the caller may read it).
    Circle(Uuid),
}

/// The index and how to read it; shared by searches and the indexer.
struct Engine {
    index: Index,
    reader: IndexReader,
    f: Fields,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

/// An index just opened, with how far it has read each log.
struct Opened {
    engine: Engine,
    writer: IndexWriter,
    indexed: HashMap<Uuid, u64>,
    /// The index is new: the caller writes its version file once the
    /// cleared progress is durable.
    fresh: bool,
}

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    circle: Field,
    /// "yes" for posts in public circles.
    public: Field,
    kind: Field,
    problem: Field,
    author: Field,
    at: Field,
    seq: Field,
    title: Field,
    body: Field,
    /// Problems only, space-separated.
    tags: Field,
    /// Problems only: "yes" once resolved.
    resolved: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = TextOptions::default().set_stored().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(ANALYZER)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let f = Fields {
        id: b.add_text_field("id", STRING | STORED),
        circle: b.add_text_field("circle", STRING | STORED),
        public: b.add_text_field("public", STRING),
        kind: b.add_text_field("kind", STRING | STORED),
        problem: b.add_text_field("problem", STRING | STORED),
        author: b.add_text_field("author", STRING | STORED),
        at: b.add_u64_field("at", STORED),
        seq: b.add_u64_field("seq", STORED),
        title: b.add_text_field("title", text.clone()),
        body: b.add_text_field("body", text.clone()),
        tags: b.add_text_field("tags", text),
        resolved: b.add_text_field("resolved", STRING | STORED),
    };
    (b.build(), f)
}

/// Words too common to say what a post is about (Snowball's English list,
/// and what the tokenizer leaves of "don't" or "we've"): tantivy's own list
/// keeps "how", "we" and "our", which made unrelated problems "similar".
const STOP_WORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "also",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "cannot",
    "could",
    "d",
    "did",
    "do",
    "does",
    "doing",
    "don",
    "down",
    "during",
    "each",
    "few",
    "for",
    "from",
    "further",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "herself",
    "him",
    "himself",
    "his",
    "how",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "itself",
    "just",
    "let",
    "ll",
    "m",
    "me",
    "more",
    "most",
    "my",
    "myself",
    "no",
    "nor",
    "not",
    "of",
    "off",
    "on",
    "once",
    "only",
    "or",
    "other",
    "ought",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "re",
    "s",
    "same",
    "she",
    "should",
    "so",
    "some",
    "such",
    "t",
    "than",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "us",
    "ve",
    "very",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "would",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
];

/// Words as the index sees them: lowercased, common words dropped, stemmed
/// ("catalogues" and "catalogue" are one word).
fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(StopWordFilter::remove(
            STOP_WORDS.iter().map(|w| (*w).to_owned()),
        ))
        .filter(Stemmer::new(Language::English))
        .build()
}

/// What of a user's query the query parser reads: words, "phrases",
/// +required and -excluded words. Field names, wildcards, fuzziness, ranges
/// and boosts are read as spaces, so `title:budget` searches for both words;
/// lowercase, so AND, OR and NOT are words too (common ones, so ignored).
fn plain_query(text: &str) -> String {
    text.to_lowercase()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c.is_whitespace() || matches!(c, '"' | '+' | '-' | '\'' | '.')
            {
                c
            } else {
                ' '
            }
        })
        .collect()
}

/// A post as the index holds it.
#[derive(Clone, Debug)]
struct Doc {
    id: Uuid,
    circle: Uuid,
    public: bool,
    kind: HitKind,
    /// Itself for a problem.
    problem: Uuid,
    author: String,
    at: u64,
    seq: u64,
    title: String,
    body: String,
    tags: String,
    resolved: bool,
}

fn yes(flag: bool) -> &'static str {
    if flag { "yes" } else { "no" }
}

impl Engine {
    /// Opens the index in `dir`, or makes a new one (and forgets how far
    /// the old one read) when it is missing, of another version or unreadable.
    fn open(dir: &Path, store: &Store) -> anyhow::Result<Opened> {
        let (schema, f) = schema();
        let version = std::fs::read_to_string(dir.join(VERSION_FILE)).ok();
        let mut indexed: HashMap<Uuid, u64> = store.indexed_seqs()?.into_iter().collect();
        let current = version.as_deref().map(str::trim) == Some(INDEX_VERSION);
        let opened = match current.then(|| Index::open_in_dir(dir)) {
            Some(Ok(index)) => Some(index),
            Some(Err(err)) => {
                tracing::warn!("the search index cannot be read ({err}); rebuilding it");
                None
            }
            None => None,
        };
        let fresh = opened.is_none();
        let index = match opened {
            Some(index) => index,
            None => {
                if version.is_some() || !indexed.is_empty() {
                    tracing::info!("rebuilding the search index from the circle logs");
                }
                store.clear_indexed_seqs()?;
                indexed.clear();
                if dir.exists() {
                    std::fs::remove_dir_all(dir)?;
                }
                std::fs::create_dir_all(dir)?;
                Index::create_in_dir(dir, schema)?
            }
        };
        index.tokenizers().register(ANALYZER, analyzer());
        let writer = index.writer_with_num_threads(1, WRITER_HEAP)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(Opened {
            engine: Engine { index, reader, f },
            writer,
            indexed,
            fresh,
        })
    }

    fn to_document(&self, doc: &Doc) -> TantivyDocument {
        let f = &self.f;
        let mut d = TantivyDocument::default();
        d.add_text(f.id, doc.id.to_string());
        d.add_text(f.circle, doc.circle.to_string());
        d.add_text(f.public, yes(doc.public));
        d.add_text(f.kind, kind_name(doc.kind));
        d.add_text(f.problem, doc.problem.to_string());
        d.add_text(f.author, &doc.author);
        d.add_u64(f.at, doc.at);
        d.add_u64(f.seq, doc.seq);
        d.add_text(f.title, &doc.title);
        d.add_text(f.body, &doc.body);
        d.add_text(f.tags, &doc.tags);
        d.add_text(f.resolved, yes(doc.resolved));
        d
    }

    fn read_document(&self, d: &TantivyDocument) -> Option<Doc> {
        let f = &self.f;
        let text = |field| {
            d.get_first(field)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
        };
        let uuid = |field| Uuid::parse_str(text(field)).ok();
        let number = |field| d.get_first(field).and_then(|v| v.as_u64()).unwrap_or(0);
        Some(Doc {
            id: uuid(f.id)?,
            circle: uuid(f.circle)?,
            // Not stored: only queries need it, and rewrites keep the circle's.
            public: false,
            kind: match text(f.kind) {
                "problem" => HitKind::Problem,
                "critique" => HitKind::Critique,
                _ => return None,
            },
            problem: uuid(f.problem)?,
            author: text(f.author).to_owned(),
            at: number(f.at),
            seq: number(f.seq),
            title: text(f.title).to_owned(),
            body: text(f.body).to_owned(),
            tags: text(f.tags).to_owned(),
            resolved: text(f.resolved) == "yes",
        })
    }

    /// The post `id` as last committed, if the index has it.
    fn committed_doc(&self, searcher: &tantivy::Searcher, id: Uuid) -> Option<Doc> {
        let term = Term::from_field_text(self.f.id, &id.to_string());
        let query = TermQuery::new(term, IndexRecordOption::Basic);
        let top = searcher.search(&query, &TopDocs::with_limit(1)).ok()?;
        let (_, address) = top.first()?;
        let doc: TantivyDocument = searcher.doc(*address).ok()?;
        self.read_document(&doc)
    }

    /// Whose posts `scope` lets a search see.
    fn scope_query(&self, scope: &Scope) -> Box<dyn Query> {
        let f = &self.f;
        let circle_term = |id: &Uuid| Term::from_field_text(f.circle, &id.to_string());
        match scope {
            Scope::Circle(id) => {
                Box::new(TermQuery::new(circle_term(id), IndexRecordOption::Basic))
            }
            Scope::Readable(mine) => Box::new(BooleanQuery::new(vec![
                (
                    Occur::Should,
                    Box::new(TermQuery::new(
                        Term::from_field_text(f.public, "yes"),
                        IndexRecordOption::Basic,
                    )) as Box<dyn Query>,
                ),
                (
                    Occur::Should,
                    Box::new(TermSetQuery::new(mine.iter().map(circle_term))),
                ),
            ])),
        }
    }

    fn search(
        &self,
        store: &Store,
        text: &str,
        scope: &Scope,
        limit: usize,
    ) -> anyhow::Result<Vec<SearchHit>> {
        let text = plain_query(text);
        // Only exclusions, or only common words: nothing to look for (the
        // parser would match everything not excluded).
        if self.words(&wanted(&text)).is_empty() {
            return Ok(Vec::new());
        }
        let fields = vec![self.f.title, self.f.body, self.f.tags];
        let mut parser = QueryParser::for_index(&self.index, fields);
        parser.set_field_boost(self.f.title, 2.0);
        // Lenient: a stray quote or colon searches for the words it can.
        let (query, _) = parser.parse_query_lenient(&text);
        let searcher = self.reader.searcher();
        let mut snippets = SnippetGenerator::create(&searcher, &*query, self.f.body)?;
        snippets.set_max_num_chars(SNIPPET_CHARS);
        let scoped = BooleanQuery::new(vec![
            (Occur::Must, query),
            (Occur::Must, self.scope_query(scope)),
        ]);
        self.hits(store, &searcher, &scoped, limit, &snippets)
    }

    fn similar(
        &self,
        store: &Store,
        new: Uuid,
        circle: Uuid,
        text: &str,
        scope: &Scope,
        limit: usize,
    ) -> anyhow::Result<Vec<SearchHit>> {
        let f = &self.f;
        let searcher = self.reader.searcher();
        // The new problem itself may be indexed already: its words are not
        // rarer for it.
        let itself = u64::from(self.committed_doc(&searcher, new).is_some());
        // The rarest words say most about a problem (and cost least to
        // look up); words nothing else has cannot make anything similar.
        let mut words: Vec<(u64, String)> = Vec::new();
        for word in self.words(text) {
            let mut found = 0;
            for field in [f.title, f.body] {
                found += searcher.doc_freq(&Term::from_field_text(field, &word))?;
            }
            let found = found.saturating_sub(itself);
            if found > 0 {
                words.push((found, word));
            }
        }
        words.sort();
        words.truncate(SIMILAR_TERMS);
        // Two shared words at least: one word in common is not a similar problem.
        if words.len() < 2 {
            return Ok(Vec::new());
        }
        let likeness: Box<dyn Query> = Box::new(BooleanQuery::with_minimum_required_clauses(
            words
                .iter()
                .map(|(_, word)| (Occur::Should, self.word_query(word)))
                .collect(),
            2,
        ));
        let mut snippets = SnippetGenerator::create(&searcher, &*likeness, f.body)?;
        snippets.set_max_num_chars(SNIPPET_CHARS);
        let query = BooleanQuery::new(vec![
            (Occur::Must, likeness),
            (Occur::Must, self.scope_query(scope)),
            (
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_text(f.kind, "problem"),
                    IndexRecordOption::Basic,
                )),
            ),
            (
                Occur::MustNot,
                Box::new(TermQuery::new(
                    Term::from_field_text(f.circle, &circle.to_string()),
                    IndexRecordOption::Basic,
                )),
            ),
        ]);
        self.hits(store, &searcher, &query, limit, &snippets)
    }

    /// A word in a title (counting double) or a body.
    fn word_query(&self, word: &str) -> Box<dyn Query> {
        let in_field = |field, boost| -> (Occur, Box<dyn Query>) {
            let term = TermQuery::new(
                Term::from_field_text(field, word),
                IndexRecordOption::WithFreqs,
            );
            (
                Occur::Should,
                Box::new(BoostQuery::new(Box::new(term), boost)),
            )
        };
        Box::new(BooleanQuery::new(vec![
            in_field(self.f.title, 2.0),
            in_field(self.f.body, 1.0),
        ]))
    }

    /// The distinct indexed words of `text`, in order, at most [`WORDS_READ`].
    fn words(&self, text: &str) -> Vec<String> {
        let mut analyzer = analyzer();
        let mut stream = analyzer.token_stream(text);
        let mut seen = HashSet::new();
        let mut words = Vec::new();
        while stream.advance() && words.len() < WORDS_READ {
            let word = stream.token().text.clone();
            if seen.insert(word.clone()) {
                words.push(word);
            }
        }
        words
    }

    /// The best `limit` matches of `query` as hits: each names its circle
    /// (gone circles are skipped) and its problem (critiques of a withdrawn
    /// problem are skipped with it).
    fn hits(
        &self,
        store: &Store,
        searcher: &tantivy::Searcher,
        query: &dyn Query,
        limit: usize,
        snippets: &SnippetGenerator,
    ) -> anyhow::Result<Vec<SearchHit>> {
        // A few more than asked: some may be dropped below.
        let top: Vec<(f32, DocAddress)> =
            searcher.search(query, &TopDocs::with_limit(limit + limit / 4 + 2))?;
        let mut slugs: HashMap<Uuid, Option<String>> = HashMap::new();
        let mut hits = Vec::with_capacity(limit);
        for (_, address) in top {
            if hits.len() == limit {
                break;
            }
            let stored: TantivyDocument = searcher.doc(address)?;
            let Some(doc) = self.read_document(&stored) else {
                continue;
            };
            let slug = match slugs.get(&doc.circle) {
                Some(slug) => slug.clone(),
                None => {
                    let slug = store.circle(doc.circle)?.map(|c| c.slug);
                    slugs.insert(doc.circle, slug.clone());
                    slug
                }
            };
            let Some(circle) = slug else { continue };
            let problem = match doc.kind {
                HitKind::Problem => Some(doc.clone()),
                HitKind::Critique => self.committed_doc(searcher, doc.problem),
            };
            let Some(problem) = problem else { continue };
            // The log decides, not the index, which may lag it: a post (or
            // the problem it answers) retracted since is never shown.
            if !live(store, doc.circle, doc.seq, doc.id)?
                || (doc.kind == HitKind::Critique
                    && !live(store, doc.circle, problem.seq, problem.id)?)
            {
                continue;
            }
            hits.push(SearchHit {
                circle,
                kind: doc.kind,
                id: doc.id,
                problem: doc.problem,
                title: problem.title,
                status: if problem.resolved {
                    ProblemStatus::Resolved
                } else {
                    ProblemStatus::Open
                },
                author: doc.author,
                at: doc.at,
                seq: doc.seq,
                snippet: snippet(snippets, &doc.body),
            });
        }
        Ok(hits)
    }
}

/// Whether the log still has post `id` at `seq` in `circle`, not retracted.
fn live(store: &Store, circle: Uuid, seq: u64, id: Uuid) -> anyhow::Result<bool> {
    let Some((_, json)) = store.events(circle, seq, seq, 1, usize::MAX)?.pop() else {
        return Ok(false);
    };
    let event: Event = serde_json::from_slice(&json)?;
    Ok(event.id == id && !event.retracted)
}

fn kind_name(kind: HitKind) -> &'static str {
    match kind {
        HitKind::Problem => "problem",
        HitKind::Critique => "critique",
    }
}

/// Where `body` matches, as text with the matching words marked (with "…"
/// where the body goes on); the start of the body when only the title matched.
fn snippet(snippets: &SnippetGenerator, body: &str) -> Vec<SnippetPart> {
    let plain = |text: String| SnippetPart { text, hit: false };
    let found = snippets.snippet(body);
    if found.is_empty() {
        let mut start: String = body.chars().take(SNIPPET_CHARS).collect();
        if start.len() < body.len() {
            start.push('…');
        }
        return if start.is_empty() {
            Vec::new()
        } else {
            vec![plain(start)]
        };
    }
    let fragment = found.fragment();
    // The fragment ends at its last word: take the punctuation after it too.
    let (body, start) = match body.find(fragment) {
        Some(start) => (body, start),
        None => (fragment, 0),
    };
    let mut end = start + fragment.len();
    let tail: usize = body
        .get(end..)
        .unwrap_or_default()
        .chars()
        .take_while(|c| !c.is_alphanumeric() && !c.is_whitespace())
        .map(char::len_utf8)
        .sum();
    end += tail;
    let mut parts = Vec::new();
    if start > 0 {
        parts.push(plain("…".into()));
    }
    let mut at = 0;
    for range in found.highlighted() {
        let (Some(before), Some(word)) =
            (fragment.get(at..range.start), fragment.get(range.clone()))
        else {
            continue;
        };
        if !before.is_empty() {
            parts.push(plain(before.to_owned()));
        }
        parts.push(SnippetPart {
            text: word.to_owned(),
            hit: true,
        });
        at = range.end;
    }
    if let Some(rest) = body.get(start + at..end).filter(|rest| !rest.is_empty()) {
        parts.push(plain(rest.to_owned()));
    }
    if !body.get(end..).unwrap_or_default().trim().is_empty() {
        parts.push(plain("…".into()));
    }
    // Neighbouring plain parts read as one.
    parts.dedup_by(|next, prev| {
        if !next.hit && !prev.hit {
            prev.text.push_str(&next.text);
            true
        } else {
            false
        }
    });
    parts
}

/// The indexer's own: the writer and how far it has read each log.
struct Indexer {
    engine: Arc<Engine>,
    writer: IndexWriter,
    indexed: HashMap<Uuid, u64>,
    store: Arc<Store>,
}

/// Posts written in the batch being indexed, which the index's reader does
/// not see until the commit (`None`: deleted).
type Written = HashMap<Uuid, Option<Doc>>;

impl Indexer {
    /// Indexes what the logs gained up to `heads`, at most [`BATCH_EVENTS`]
    /// events (and stopping at shutdown); returns the circles left to read,
    /// with their heads. A failed batch is rolled back whole: tantivy's
    /// writer is unusable after an error until then.
    fn index(
        &mut self,
        heads: &HashMap<Uuid, u64>,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<HashMap<Uuid, u64>> {
        let result = self.try_index(heads, shutdown);
        if result.is_err() {
            if let Err(err) = self.writer.rollback() {
                tracing::error!("cannot roll the search index back: {err}");
            }
        }
        result
    }

    fn try_index(
        &mut self,
        heads: &HashMap<Uuid, u64>,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<HashMap<Uuid, u64>> {
        let searcher = self.engine.reader.searcher();
        let mut written = Written::new();
        let mut read = Vec::new();
        let mut left = HashMap::new();
        let mut events = 0;
        for (&circle, &head) in heads {
            if events >= BATCH_EVENTS || shutdown.is_cancelled() {
                left.insert(circle, head);
                continue;
            }
            let Some(record) = self.store.circle(circle)? else {
                // Deleted: none of its posts may be found any more.
                let term = Term::from_field_text(self.engine.f.circle, &circle.to_string());
                self.writer.delete_term(term);
                read.push((circle, None));
                continue;
            };
            let public = record.visibility == Visibility::Public;
            let from = self.indexed.get(&circle).copied().unwrap_or(0) + 1;
            let mut next = from;
            while next <= head {
                if events >= BATCH_EVENTS || shutdown.is_cancelled() {
                    left.insert(circle, head);
                    break;
                }
                let page = self.store.events(circle, next, head, PAGE, 1 << 20)?;
                let Some((last, _)) = page.last() else { break };
                let last = *last;
                events += page.len();
                for (seq, json) in page {
                    match serde_json::from_slice::<Event>(&json) {
                        Ok(event) => self.apply(&searcher, &mut written, circle, public, &event)?,
                        Err(err) => {
                            tracing::warn!(%circle, seq, "search skips an unreadable event: {err}");
                        }
                    }
                }
                next = last + 1;
            }
            if next > from {
                read.push((circle, Some(next - 1)));
            }
        }
        self.writer.commit()?;
        // Readers see the commit before the progress says it is there: a
        // later batch looks up what this one wrote.
        self.engine.reader.reload()?;
        for (circle, seq) in read {
            self.store.set_indexed_seq(circle, seq)?;
            match seq {
                Some(seq) => self.indexed.insert(circle, seq),
                None => self.indexed.remove(&circle),
            };
        }
        Ok(left)
    }

    /// What `event` changes in the index: a post's whole document, or none.
    fn apply(
        &mut self,
        searcher: &tantivy::Searcher,
        written: &mut Written,
        circle: Uuid,
        public: bool,
        event: &Event,
    ) -> anyhow::Result<()> {
        let new = |kind, problem, title: &str, body: &str, tags: &[String]| Doc {
            id: event.id,
            circle,
            public,
            kind,
            problem,
            author: event.author.clone(),
            at: event.at,
            seq: event.seq,
            title: title.to_owned(),
            body: body.to_owned(),
            tags: tags.join(" "),
            resolved: false,
        };
        match &event.body {
            // A retracted post's stored text is erased: it stays out.
            EventBody::Problem { .. } | EventBody::Critique { .. } if event.retracted => {
                self.delete(written, event.id);
            }
            EventBody::Problem { title, body, tags } => {
                let doc = new(HitKind::Problem, event.id, title, body, tags);
                self.write(written, doc)?;
            }
            EventBody::Critique { problem, body, .. } => {
                let doc = new(HitKind::Critique, *problem, "", body, &[]);
                self.write(written, doc)?;
            }
            EventBody::Edit { post, title, body } => {
                if let Some(mut doc) = self.current(searcher, written, *post) {
                    if let Some(title) = title {
                        doc.title.clone_from(title);
                    }
                    if let Some(body) = body {
                        doc.body.clone_from(body);
                    }
                    doc.public = public;
                    self.write(written, doc)?;
                }
            }
            EventBody::Retract { post } => self.delete(written, *post),
            EventBody::Resolve { problem, .. } => {
                if let Some(mut doc) = self.current(searcher, written, *problem) {
                    doc.resolved = true;
                    doc.public = public;
                    self.write(written, doc)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn current(&self, searcher: &tantivy::Searcher, written: &Written, id: Uuid) -> Option<Doc> {
        match written.get(&id) {
            Some(doc) => doc.clone(),
            None => self.engine.committed_doc(searcher, id),
        }
    }

    /// Replaces the post's document (adds it if new).
    fn write(&mut self, written: &mut Written, doc: Doc) -> anyhow::Result<()> {
        let id = doc.id;
        self.writer
            .delete_term(Term::from_field_text(self.engine.f.id, &id.to_string()));
        self.writer.add_document(self.engine.to_document(&doc))?;
        written.insert(id, Some(doc));
        Ok(())
    }

    fn delete(&mut self, written: &mut Written, id: Uuid) {
        self.writer
            .delete_term(Term::from_field_text(self.engine.f.id, &id.to_string()));
        written.insert(id, None);
    }
}

/// Whether the index cares about an event of this kind (the ones
/// [`Indexer::apply`] reads).
pub fn indexes(body: &EventBody) -> bool {
    matches!(
        body,
        EventBody::Problem { .. }
            | EventBody::Critique { .. }
            | EventBody::Edit { .. }
            | EventBody::Retract { .. }
            | EventBody::Resolve { .. }
    )
}

/// What a query looks for: all of it but `-excluded` words and `-"phrases"`.
fn wanted(query: &str) -> String {
    let mut out = String::new();
    let mut chars = query.chars().peekable();
    let mut word_starts = true;
    while let Some(c) = chars.next() {
        if word_starts && c == '-' {
            if chars.peek() == Some(&'"') {
                chars.next();
                chars.by_ref().find(|c| *c == '"');
            } else {
                while chars.next_if(|c| !c.is_whitespace()).is_some() {}
            }
            continue;
        }
        word_starts = c.is_whitespace();
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_keep_words_phrases_and_signs_only() {
        assert_eq!(plain_query("title:budget"), "title budget");
        assert_eq!(plain_query("NOT budget"), "not budget");
        assert_eq!(
            wanted("-\"vendor feed\" -budget +serials x"),
            "  +serials x"
        );
        assert_eq!(wanted("e-books -x"), "e-books ");
        // tantivy#3031 and #3032: these inputs panic or hang its parser.
        assert_eq!(plain_query("- *").trim(), "-");
        assert_eq!(plain_query("a:(^").trim(), "a");
        assert_eq!(
            plain_query("\"vendor feed\" +serials -e-books records~2 cat*"),
            "\"vendor feed\" +serials -e-books records 2 cat "
        );
    }

    #[test]
    fn common_words_say_nothing_and_forms_of_a_word_are_one() {
        let mut analyzer = analyzer();
        let mut stream =
            analyzer.token_stream("How do we fix our Printers? It jams, don't you think");
        let mut words = Vec::new();
        while stream.advance() {
            words.push(stream.token().text.clone());
        }
        assert_eq!(words, ["fix", "printer", "jam", "think"]);
    }
}
