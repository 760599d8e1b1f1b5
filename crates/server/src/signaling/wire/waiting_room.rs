//! The waiting room's events (docs/signaling.md, "Waiting room").

use serde::Serialize;
use vytalcall_domain::waiting_room::DeviceCheck;
use vytalcall_domain::{CallId, UserId};

/// To a waiting person's devices, whenever their place, the status line or the provider's
/// presence changes.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WaitingRoomStatus {
    pub call_id: CallId,
    pub position: usize,
    /// A line to show the person ("Your provider will let you in shortly").
    pub message: &'static str,
    pub provider_present: bool,
}

/// To every device of every provider of the call: the whole queue, each time it changes.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WaitingRoomQueue {
    pub call_id: CallId,
    pub waiting: Vec<WaitingPerson>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WaitingPerson {
    pub user_id: UserId,
    /// Their display name, `null` when unknown.
    pub name: Option<String>,
    pub role: &'static str,
    /// When they sat down (RFC 3339).
    pub since: String,
    /// Their own device check, `null` until they send one.
    pub device_check: Option<DeviceCheck>,
}

/// To the admitted person's devices, just before what a normal join gives them.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Admitted {
    pub call_id: CallId,
    pub admitted_by: UserId,
    pub timestamp: String,
}

/// A provider's message to everyone waiting ("Running 10 minutes late").
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WaitingRoomNote {
    pub call_id: CallId,
    pub text: String,
    pub from_user_id: UserId,
    pub timestamp: String,
}

/// The reply of a `join-call` that sat the device down.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WaitingResult {
    pub call_id: CallId,
    pub status: String,
    pub waiting: bool,
    pub position: usize,
}

/// The reply of `admit-participant` and `return-to-waiting-room`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DoorResult {
    pub call_id: CallId,
    pub user_id: UserId,
}
