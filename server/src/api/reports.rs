//! Reports on a circle: `circle.stats` (impact evidence) and
//! `problem.export` (a resolved problem as a Markdown case study). Both read
//! the circle's folded state, so whoever may read the circle may ask.

use circles_protocol::methods::{CaseStudy, ExportProblem, StatsResult, StatsWindow};
use circles_protocol::model::ProblemStatus;

use super::signed_in;
use crate::circle::stats::{self, StatsQuery};
use crate::error::{ApiError, ApiResult};
use crate::export;
use crate::session::Session;
use crate::store::now_millis;

pub async fn stats(s: &mut Session, p: StatsWindow) -> ApiResult<StatsResult> {
    let handle = signed_in(s)?.handle.clone();
    if let (Some(since), Some(until)) = (p.since, p.until) {
        if since > until {
            return Err(ApiError::invalid(format!(
                "since ({since}) is after until ({until}); both are Unix milliseconds"
            )));
        }
    }
    let circle = s.app.circles.by_slug(&p.circle)?;
    let now = now_millis();
    let unanswered_after_ms =
        u64::try_from(s.app.config.unanswered_after.as_millis()).unwrap_or(u64::MAX);
    let (since, until) = (p.since, p.until);
    let stats = s
        .app
        .circles
        .inspect(circle.id, move |state| {
            state.check_read(&handle)?;
            let since = since.unwrap_or(state.record.created_at);
            let until = until.unwrap_or(now);
            if since > until {
                return Err(ApiError::invalid(format!(
                    "until ({until}) is before the circle was created ({since}); give a since too"
                )));
            }
            let q = StatsQuery {
                since,
                until,
                now,
                unanswered_after_ms,
            };
            Ok(stats::stats(&state.problem_facts(), q))
        })
        .await??;
    Ok(StatsResult { stats })
}

pub async fn case_study(s: &mut Session, p: ExportProblem) -> ApiResult<CaseStudy> {
    let handle = signed_in(s)?.handle.clone();
    let circle = s.app.circles.by_slug(&p.circle)?;
    let id = p.problem;
    let (record, thread, members) = s
        .app
        .circles
        .inspect(circle.id, move |state| {
            state.check_read(&handle)?;
            let thread = state.problem_thread(id)?;
            let members: Vec<String> = state.member_handles().map(str::to_owned).collect();
            Ok::<_, ApiError>((state.record.clone(), thread, members))
        })
        .await??;
    if thread.retracted {
        return Err(ApiError::not_found(format!("problem {id} was retracted")));
    }
    if thread.status == ProblemStatus::Open {
        return Err(ApiError::conflict(format!(
            "\"{}\" is still open: a case study is of a resolved problem, so resolve it first",
            thread.title
        )));
    }
    let people = export::people(&thread, members, |h| s.app.display_name(h));
    let markdown = export::case_study(
        &record.name,
        &record.slug,
        &thread,
        &people,
        p.anonymise.unwrap_or(false),
    );
    Ok(CaseStudy { markdown })
}
