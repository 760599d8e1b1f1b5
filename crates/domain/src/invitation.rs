//! Invitations: how an interpreter, a caregiver or a second clinician without a platform
//! account comes into one call.
//!
//! An invitation is made by a provider of the call (or an admin), names the guest, and lasts
//! from minutes to a day. The guest token vytalcall signs for it is bound to that call and
//! that invitation, so it is good for nothing else; using it is checked here against the
//! invitation's own state each time, which is how a revocation takes effect at once.

use crate::Millis;
use serde::{Deserialize, Serialize};

/// How long an invitation lasts when the request does not say.
pub const DEFAULT_EXPIRY_MINUTES: i64 = 60;
/// The longest an invitation may last: a guest link is for one visit, not a standing pass.
pub const MAX_EXPIRY_MINUTES: i64 = 24 * 60;
/// The longest guest name kept (it is shown to the call's other participants).
pub const MAX_NAME_CHARS: usize = 80;

/// Who the guest is to the visit; shown to the others and kept in the trail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GuestKind {
    Interpreter,
    Caregiver,
    Clinician,
    Guest,
}

impl GuestKind {
    pub const ALL: [GuestKind; 4] = [
        GuestKind::Interpreter,
        GuestKind::Caregiver,
        GuestKind::Clinician,
        GuestKind::Guest,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GuestKind::Interpreter => "interpreter",
            GuestKind::Caregiver => "caregiver",
            GuestKind::Clinician => "clinician",
            GuestKind::Guest => "guest",
        }
    }
}

/// Why a request for an invitation is refused (answered 400 naming the field).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvitationRefused {
    #[error("name is required")]
    NameMissing,
    #[error("name {0}")]
    Name(crate::text::TextRefused),
    #[error("expiresInMinutes must be between 1 and {MAX_EXPIRY_MINUTES}")]
    Expiry,
}

/// Why a guest token no longer opens its call (the handshake's `connect_error` says which).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvitationClosed {
    #[error("this invitation has expired")]
    Expired,
    #[error("this invitation was revoked")]
    Revoked,
}

/// A validated request: the guest's name as shown, and when the invitation expires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewInvitation {
    pub name: String,
    pub kind: GuestKind,
    pub expires_at: Millis,
}

/// Checks a request for an invitation made at `now`.
pub fn new_invitation(
    name: Option<&str>,
    kind: Option<GuestKind>,
    expires_in_minutes: Option<i64>,
    now: Millis,
) -> Result<NewInvitation, InvitationRefused> {
    let name = crate::text::free_text(name, MAX_NAME_CHARS)
        .map_err(InvitationRefused::Name)?
        .ok_or(InvitationRefused::NameMissing)?;
    let minutes = expires_in_minutes.unwrap_or(DEFAULT_EXPIRY_MINUTES);
    if !(1..=MAX_EXPIRY_MINUTES).contains(&minutes) {
        return Err(InvitationRefused::Expiry);
    }
    Ok(NewInvitation {
        name,
        kind: kind.unwrap_or(GuestKind::Guest),
        expires_at: now + minutes * 60_000,
    })
}

/// Whether an invitation still opens its call at `now`. A revocation wins over an expiry
/// that also passed, since it is the more deliberate of the two.
pub fn still_open(expires_at: Millis, revoked_at: Option<Millis>, now: Millis) -> Result<(), InvitationClosed> {
    if revoked_at.is_some_and(|at| at <= now) {
        Err(InvitationClosed::Revoked)
    } else if now >= expires_at {
        Err(InvitationClosed::Expired)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invitation_lasts_an_hour_unless_asked_and_never_more_than_a_day() {
        let made =
            new_invitation(Some("  Ana Interpreter "), Some(GuestKind::Interpreter), None, 1_000).expect("accepted");
        assert_eq!(
            made,
            NewInvitation {
                name: "Ana Interpreter".into(),
                kind: GuestKind::Interpreter,
                expires_at: 1_000 + 3_600_000
            }
        );
        assert_eq!(
            new_invitation(Some("A"), None, Some(1440), 0)
                .expect("accepted")
                .expires_at,
            86_400_000
        );
        assert_eq!(
            new_invitation(Some("A"), None, None, 0).expect("accepted").kind,
            GuestKind::Guest
        );
        for bad in [0, -5, 1441, i64::MAX] {
            assert_eq!(
                new_invitation(Some("A"), None, Some(bad), 0),
                Err(InvitationRefused::Expiry)
            );
        }
    }

    #[test]
    fn a_guest_needs_a_plain_name() {
        assert_eq!(new_invitation(None, None, None, 0), Err(InvitationRefused::NameMissing));
        assert_eq!(
            new_invitation(Some("   "), None, None, 0),
            Err(InvitationRefused::NameMissing)
        );
        assert!(matches!(
            new_invitation(Some("Ana\nAdmin"), None, None, 0),
            Err(InvitationRefused::Name(_))
        ));
        assert!(matches!(
            new_invitation(Some(&"x".repeat(81)), None, None, 0),
            Err(InvitationRefused::Name(_))
        ));
    }

    #[test]
    fn expired_and_revoked_invitations_are_closed_and_say_which() {
        assert_eq!(still_open(100, None, 99), Ok(()));
        assert_eq!(still_open(100, None, 100), Err(InvitationClosed::Expired));
        assert_eq!(still_open(100, Some(50), 60), Err(InvitationClosed::Revoked));
        assert_eq!(still_open(100, Some(50), 200), Err(InvitationClosed::Revoked));
        // A revocation recorded for later (clock skew between nodes) is not yet in force.
        assert_eq!(still_open(100, Some(70), 60), Ok(()));
    }

    #[test]
    fn kinds_have_their_wire_names() {
        for kind in GuestKind::ALL {
            let json = serde_json::to_string(&kind).expect("accepted");
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
    }
}
