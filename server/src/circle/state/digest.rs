//! `circle.digest`: what changed in a circle over a window, read from the fold.

use circles_protocol::Millis;
use circles_protocol::model::{Digest, DigestCritique, DigestResolution, MeetingView};

use super::CircleState;

/// Each list of a digest holds at most this many items (the oldest first).
pub const DIGEST_MAX_ITEMS: usize = 200;

impl CircleState {
    /// The digest at `now` of the window from `since`, or else from the start
    /// of the last meeting held (the circle's beginning if none has been).
    pub fn digest(&self, since: Option<Millis>, now: Millis) -> Digest {
        let last_meeting = self
            .meetings
            .iter()
            .filter(|m| m.starts_at <= now)
            .max_by_key(|m| (m.starts_at, m.seq));
        let next_meeting = self
            .meetings
            .iter()
            .filter(|m| m.starts_at > now)
            .min_by_key(|m| (m.starts_at, m.seq));
        let since = since.unwrap_or_else(|| last_meeting.map_or(0, |m| m.starts_at));
        let window = since..=now;

        let mut new_problems = Vec::new();
        let mut new_critiques = Vec::new();
        let mut resolutions = Vec::new();
        let mut unanswered = Vec::new();
        let live_problems = self
            .problems
            .iter()
            .filter_map(|id| self.posts.get(id).map(|p| (*id, p)))
            .filter(|(_, p)| !p.retracted);
        for (id, problem) in live_problems {
            if window.contains(&problem.at) {
                new_problems.push(self.problem_summary(id, problem));
            }
            let accepted: Vec<_> = self.live_accepted(problem).collect();
            for (critique_id, critique) in self.live_critiques(problem) {
                if window.contains(&critique.at) {
                    new_critiques.push(DigestCritique {
                        id: *critique_id,
                        seq: critique.seq,
                        problem: id,
                        problem_title: problem.title.clone(),
                        author: critique.author.clone(),
                        at: critique.at,
                        stance: critique.stance,
                        accepted: accepted.contains(critique_id),
                    });
                }
            }
            match &problem.resolution {
                Some(resolution) if window.contains(&resolution.at) => {
                    resolutions.push(DigestResolution {
                        problem: id,
                        title: problem.title.clone(),
                        resolution: resolution.clone(),
                    });
                }
                Some(_) => {}
                None => {
                    let answered = self
                        .live_critiques(problem)
                        .any(|(_, c)| c.author != problem.author);
                    if !answered && problem.at <= now {
                        unanswered.push(self.problem_summary(id, problem));
                    }
                }
            }
        }
        new_critiques.sort_by_key(|c| c.seq);
        resolutions.sort_by_key(|r| r.resolution.seq);

        Digest {
            since,
            until: now,
            last_meeting: last_meeting.map(|m| self.meeting_view(m)),
            next_meeting: next_meeting.map(|m| self.meeting_view(m)),
            total_new_problems: count(&new_problems),
            total_new_critiques: count(&new_critiques),
            total_resolutions: count(&resolutions),
            total_unanswered: count(&unanswered),
            new_problems: capped(new_problems),
            new_critiques: capped(new_critiques),
            resolutions: capped(resolutions),
            unanswered: capped(unanswered),
        }
    }

    /// Every meeting, in the order scheduled.
    pub fn meetings(&self) -> Vec<MeetingView> {
        self.meetings.iter().map(|m| self.meeting_view(m)).collect()
    }

    /// A meeting as it stands: problems retracted since it was scheduled
    /// drop off its agenda.
    fn meeting_view(&self, meeting: &MeetingView) -> MeetingView {
        let mut view = meeting.clone();
        view.agenda
            .retain(|id| self.posts.get(id).is_some_and(|p| !p.retracted));
        view
    }
}

fn count<T>(items: &[T]) -> u32 {
    u32::try_from(items.len()).unwrap_or(u32::MAX)
}

fn capped<T>(mut items: Vec<T>) -> Vec<T> {
    items.truncate(DIGEST_MAX_ITEMS);
    items
}
