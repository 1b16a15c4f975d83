//! Notifications the server pushes: `event` for each new entry of a circle
//! the connection subscribed to, `presence` when a member comes or goes,
//! `mention` when a post mentions the signed-in member.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::event::Event;

pub const EVENT: &str = "event";
pub const PRESENCE: &str = "presence";
pub const CIRCLE_DELETED: &str = "circle_deleted";
pub const MENTION: &str = "mention";

/// Params of the `event` notification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EventNotice {
    /// The circle's slug.
    pub circle: String,
    pub event: Event,
}

/// Params of the `presence` notification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PresenceNotice {
    pub circle: String,
    pub handle: String,
    pub online: bool,
}

/// Params of the `circle_deleted` notification: an admin deleted the circle;
/// its subscription has ended and it will not be found again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CircleDeletedNotice {
    pub circle: String,
}

/// Params of the `mention` notification: a post in `circle` mentions you
/// (`@handle`). Sent to every connection of the mentioned member, subscribed
/// to the circle or not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MentionNotice {
    /// The circle's slug.
    pub circle: String,
    /// The post that mentions you.
    pub post: uuid::Uuid,
    /// The event that made the mention: the post itself, or the `edit` that
    /// added it.
    pub event: Event,
}

/// A notification, typed by its method.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "method", content = "params", rename_all = "snake_case")]
pub enum Notice {
    Event(EventNotice),
    Presence(PresenceNotice),
    CircleDeleted(CircleDeletedNotice),
    Mention(MentionNotice),
}
