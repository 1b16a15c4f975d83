//! Who a circle's posts mention (`@handle`), folded from its log with the
//! rest of the circle's state: enough to tell whom a new post or edit
//! notifies, and to count each member's unread mentions against their read
//! marker without reading the log again.

use std::collections::HashMap;

use uuid::Uuid;

#[derive(Clone, Debug, Default)]
pub struct Mentions {
    /// Each post's mentioned members, with the seq that first mentioned them
    /// (the post's own, or the edit that added them).
    by_post: HashMap<Uuid, Vec<(String, u64)>>,
    /// Each member's mentions as (seq, post), ascending by seq.
    by_member: HashMap<String, Vec<(u64, Uuid)>>,
}

impl Mentions {
    /// Records that `post`, at `seq`, mentions `handles`; those it already
    /// mentioned (in an earlier version) are not mentioned again.
    pub fn add(&mut self, post: Uuid, seq: u64, handles: impl IntoIterator<Item = String>) {
        for handle in handles {
            let known = self.by_post.entry(post).or_default();
            if known.iter().any(|(h, _)| *h == handle) {
                continue;
            }
            known.push((handle.clone(), seq));
            self.by_member.entry(handle).or_default().push((seq, post));
        }
    }

    /// A retracted post's mentions stop counting.
    pub fn retract(&mut self, post: Uuid) {
        for (handle, _) in self.by_post.remove(&post).unwrap_or_default() {
            if let Some(mine) = self.by_member.get_mut(&handle) {
                mine.retain(|(_, p)| *p != post);
            }
        }
    }

    /// A member who leaves (or is removed) has no unread mentions left here.
    pub fn forget(&mut self, handle: &str) {
        self.by_member.remove(handle);
    }

    /// Whom `post` newly mentioned at `seq`.
    pub fn made_at(&self, post: Uuid, seq: u64) -> Vec<String> {
        self.by_post
            .get(&post)
            .into_iter()
            .flatten()
            .filter(|(_, s)| *s == seq)
            .map(|(h, _)| h.clone())
            .collect()
    }

    /// The mentions of `handle` after `read` up to `head`, as (seq, post).
    pub fn after(&self, handle: &str, read: u64, head: u64) -> &[(u64, Uuid)] {
        let Some(mine) = self.by_member.get(handle) else {
            return &[];
        };
        let from = mine.partition_point(|(seq, _)| *seq <= read);
        let to = mine.partition_point(|(seq, _)| *seq <= head);
        mine.get(from..to.max(from)).unwrap_or(&[])
    }

    /// How many mentions of `handle` are after `read` (up to `head`).
    pub fn unread(&self, handle: &str, read: u64, head: u64) -> u64 {
        self.after(handle, read, head).len() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_after_the_marker_once_per_post_until_retracted() {
        let mut m = Mentions::default();
        let (p1, p2) = (Uuid::now_v7(), Uuid::now_v7());
        m.add(p1, 3, ["ben".to_owned()]);
        m.add(p2, 5, ["ben".to_owned(), "cy".to_owned()]);
        m.add(p1, 7, ["ben".to_owned(), "cy".to_owned()]); // an edit adds cy
        assert_eq!(m.made_at(p1, 7), ["cy"]);
        assert_eq!(m.made_at(p1, 3), ["ben"]);
        assert_eq!(m.unread("ben", 0, 10), 2);
        assert_eq!(m.unread("ben", 3, 10), 1);
        assert_eq!(m.unread("ben", 3, 4), 0);
        assert_eq!(m.unread("cy", 5, 10), 1);
        assert_eq!(m.after("cy", 0, 10), [(5, p2), (7, p1)]);
        m.retract(p2);
        assert_eq!(m.unread("ben", 0, 10), 1);
        assert_eq!(m.unread("cy", 0, 10), 1);
        m.forget("cy");
        assert_eq!(m.unread("cy", 0, 10), 0);
        assert_eq!(m.unread("nobody", 0, 10), 0);
    }
}
