//! `search`: problems and critiques the caller may read, best match first;
//! and the similar problems `post.problem` answers with. The index is
//! [`crate::search`]; who may see what is decided here, per request.

use circles_protocol::methods::{SearchQuery, SearchResults};
use circles_protocol::model::SearchHit;
use uuid::Uuid;

use super::signed_in;
use crate::error::{ApiError, ApiResult};
use crate::search::Scope;
use crate::session::Session;
use crate::validate;

/// The longest query, in characters.
const MAX_QUERY_CHARS: usize = 500;
const DEFAULT_LIMIT: u32 = 20;
const MAX_LIMIT: u32 = 50;
/// Similar problems a new problem's answer lists.
const SIMILAR: usize = 5;

pub async fn search(s: &mut Session, p: SearchQuery) -> ApiResult<SearchResults> {
    let handle = signed_in(s)?.handle.clone();
    let query = validate::line("query", &p.query, MAX_QUERY_CHARS)?;
    let limit = p.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(format!(
            "limit must be 1 to {MAX_LIMIT}, not {limit}"
        )));
    }
    let scope = match &p.circle {
        Some(slug) => {
            let circle = s.app.circles.by_slug(slug)?;
            s.app
                .circles
                .inspect(circle.id, move |state| state.check_read(&handle))
                .await??;
            Scope::Circle(circle.id)
        }
        None => readable(s, &handle)?,
    };
    let hits = s
        .app
        .search
        .search(&s.app.store, query, scope, limit as usize)
        .await
        .map_err(|err| {
            tracing::error!("search failed: {err:#}");
            ApiError::unavailable("search is not available right now; try again shortly")
        })?;
    Ok(SearchResults { hits })
}

/// Problems like `problem`, just posted in `slug` (its title and body),
/// from the other circles its author may read.
pub async fn similar_elsewhere(
    s: &mut Session,
    slug: &str,
    problem: Uuid,
    text: String,
) -> ApiResult<Vec<SearchHit>> {
    let handle = signed_in(s)?.handle.clone();
    let circle = s.app.circles.by_slug(slug)?;
    let scope = readable(s, &handle)?;
    s.app
        .search
        .similar(&s.app.store, (circle.id, problem), text, scope, SIMILAR)
        .await
        .map_err(|err| {
            tracing::warn!("similar problems not found: {err:#}");
            ApiError::internal()
        })
}

/// Public circles, and those `handle` is a member of now.
fn readable(s: &Session, handle: &str) -> ApiResult<Scope> {
    let mine = s.app.store.memberships(handle)?;
    Ok(Scope::Readable(
        mine.into_iter().map(|(id, _)| id).collect(),
    ))
}
