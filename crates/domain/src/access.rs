//! Who may see and act on what. Object-level authorization lives here, in one place, so
//! that every route and every socket event asks the same question the same way.
//!
//! A refusal says whether the object's existence may be revealed: a stranger to a call gets
//! [`Denied::Hidden`] (answered 404, as if it did not exist), a participant who may see the
//! call but not do this to it gets [`Denied::Forbidden`] (403).

use crate::{Role, UserId};

/// An authenticated caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    pub user: UserId,
    pub role: Role,
}

/// Who belongs to a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Members {
    pub patient: UserId,
    pub providers: Vec<UserId>,
}

impl Members {
    pub fn contains(&self, user: UserId) -> bool {
        self.patient == user || self.providers.contains(&user)
    }

    pub fn all(&self) -> impl Iterator<Item = UserId> + '_ {
        std::iter::once(self.patient).chain(self.providers.iter().copied())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("call not found")]
    Hidden,
    #[error("{0}")]
    Forbidden(&'static str),
}

/// Seeing a call, joining it, answering, ending or cancelling it: its members and admins.
pub fn may_take_part(caller: Caller, members: &Members) -> Result<(), Denied> {
    if caller.role == Role::Admin || members.contains(caller.user) {
        Ok(())
    } else {
        Err(Denied::Hidden)
    }
}

/// Starting, stopping and playing back recordings: the call's providers and admins.
pub fn may_manage_recordings(caller: Caller, members: &Members) -> Result<(), Denied> {
    may_take_part(caller, members)?;
    match caller.role {
        Role::Admin => Ok(()),
        Role::Provider if members.providers.contains(&caller.user) => Ok(()),
        _ => Err(Denied::Forbidden(
            "only a provider of the call or an admin may manage its recordings",
        )),
    }
}

/// The people a caller asked a new call to be between.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallRequest {
    pub patient: Option<UserId>,
    pub provider: Option<UserId>,
    pub additional_providers: Vec<UserId>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CreateRefused {
    #[error("{field} is required")]
    Missing { field: &'static str },
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{field} must differ from the patient")]
    SamePerson { field: &'static str },
}

/// Decides the members of a new call. Patients call only for themselves and providers only
/// with themselves as the provider; admins may arrange any call. A missing id defaults to
/// the caller where the caller's role fills that seat.
pub fn members_for_new_call(caller: Caller, req: &CallRequest) -> Result<Members, CreateRefused> {
    let (patient, provider) = match caller.role {
        Role::Patient => {
            if req.patient.is_some_and(|p| p != caller.user) {
                return Err(CreateRefused::Forbidden(
                    "a patient can only start calls for themselves",
                ));
            }
            let provider = req.provider.ok_or(CreateRefused::Missing { field: "providerId" })?;
            (caller.user, provider)
        }
        Role::Provider => {
            if req.provider.is_some_and(|p| p != caller.user) {
                return Err(CreateRefused::Forbidden(
                    "a provider can only start calls they take part in",
                ));
            }
            let patient = req.patient.ok_or(CreateRefused::Missing { field: "patientId" })?;
            (patient, caller.user)
        }
        Role::Admin => (
            req.patient.ok_or(CreateRefused::Missing { field: "patientId" })?,
            req.provider.ok_or(CreateRefused::Missing { field: "providerId" })?,
        ),
    };
    let mut providers = vec![provider];
    for extra in &req.additional_providers {
        if !providers.contains(extra) {
            providers.push(*extra);
        }
    }
    if providers.contains(&patient) {
        return Err(CreateRefused::SamePerson { field: "providerId" });
    }
    Ok(Members { patient, providers })
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn user(n: u128) -> UserId {
        UserId(Uuid::from_u128(n))
    }
    fn as_(n: u128, role: Role) -> Caller {
        Caller { user: user(n), role }
    }
    fn members() -> Members {
        Members {
            patient: user(1),
            providers: vec![user(2), user(3)],
        }
    }

    #[test]
    fn members_and_admins_take_part_and_strangers_do_not_learn_the_call_exists() {
        let m = members();
        assert!(may_take_part(as_(1, Role::Patient), &m).is_ok());
        assert!(may_take_part(as_(3, Role::Provider), &m).is_ok());
        assert!(may_take_part(as_(99, Role::Admin), &m).is_ok());
        assert_eq!(may_take_part(as_(4, Role::Patient), &m), Err(Denied::Hidden));
        assert_eq!(may_take_part(as_(5, Role::Provider), &m), Err(Denied::Hidden));
    }

    #[test]
    fn only_providers_of_the_call_and_admins_manage_recordings() {
        let m = members();
        assert!(may_manage_recordings(as_(2, Role::Provider), &m).is_ok());
        assert!(may_manage_recordings(as_(99, Role::Admin), &m).is_ok());
        assert!(matches!(
            may_manage_recordings(as_(1, Role::Patient), &m),
            Err(Denied::Forbidden(_))
        ));
        assert_eq!(may_manage_recordings(as_(5, Role::Provider), &m), Err(Denied::Hidden));
        // A token claiming "patient" for a provider's id does not gain provider rights.
        assert!(may_manage_recordings(as_(2, Role::Patient), &m).is_err());
    }

    #[test]
    fn a_patient_starts_calls_only_for_themselves() {
        let req = CallRequest {
            patient: Some(user(7)),
            provider: Some(user(2)),
            ..Default::default()
        };
        assert!(matches!(
            members_for_new_call(as_(1, Role::Patient), &req),
            Err(CreateRefused::Forbidden(_))
        ));
        let own = CallRequest {
            patient: None,
            provider: Some(user(2)),
            ..Default::default()
        };
        assert_eq!(
            members_for_new_call(as_(1, Role::Patient), &own),
            Ok(Members {
                patient: user(1),
                providers: vec![user(2)]
            })
        );
        let no_provider = CallRequest::default();
        assert_eq!(
            members_for_new_call(as_(1, Role::Patient), &no_provider),
            Err(CreateRefused::Missing { field: "providerId" })
        );
    }

    #[test]
    fn a_provider_starts_calls_only_as_their_provider() {
        let other = CallRequest {
            patient: Some(user(1)),
            provider: Some(user(3)),
            ..Default::default()
        };
        assert!(matches!(
            members_for_new_call(as_(2, Role::Provider), &other),
            Err(CreateRefused::Forbidden(_))
        ));
        let req = CallRequest {
            patient: Some(user(1)),
            provider: None,
            additional_providers: vec![user(3), user(2), user(3)],
        };
        assert_eq!(
            members_for_new_call(as_(2, Role::Provider), &req),
            Ok(Members {
                patient: user(1),
                providers: vec![user(2), user(3)]
            })
        );
    }

    #[test]
    fn nobody_is_both_patient_and_provider_of_a_call() {
        let req = CallRequest {
            patient: Some(user(2)),
            ..Default::default()
        };
        assert_eq!(
            members_for_new_call(as_(2, Role::Provider), &req),
            Err(CreateRefused::SamePerson { field: "providerId" })
        );
    }

    #[test]
    fn an_admin_names_both_parties() {
        let req = CallRequest {
            patient: Some(user(1)),
            ..Default::default()
        };
        assert_eq!(
            members_for_new_call(as_(99, Role::Admin), &req),
            Err(CreateRefused::Missing { field: "providerId" })
        );
    }
}
