//! Notifications the server pushes: `event` for each new entry of a circle
//! the connection subscribed to, `presence` when a member comes or goes.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::event::Event;

pub const EVENT: &str = "event";
pub const PRESENCE: &str = "presence";
pub const CIRCLE_DELETED: &str = "circle_deleted";

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

/// A notification, typed by its method.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "method", content = "params", rename_all = "snake_case")]
pub enum Notice {
    Event(EventNotice),
    Presence(PresenceNotice),
    CircleDeleted(CircleDeletedNotice),
}
