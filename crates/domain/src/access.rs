//! Who may see and act on what. Object-level authorization lives here, in one place, so
//! that every route and every socket event asks the same question the same way.
//!
//! A refusal says whether the object's existence may be revealed: a stranger to a call gets
//! [`Denied::Hidden`] (answered 404, as if it did not exist), a participant who may see the
//! call but not do this to it gets [`Denied::Forbidden`] (403).
//!
//! How many people a call may have as members is decided here too ([`MAX_CALL_MEMBERS`]).

use crate::{Role, UserId};

/// The most people a call can have as members: its patient, its first provider and up to
/// [`MAX_ADDITIONAL_PROVIDERS`] more providers. This is the one limit on a call's size; every
/// bound that follows from it uses it (how many additional providers a request may name, how
/// many participants one recording request may attest consent for, how many track pairs a
/// recording reserves). It counts members, the people who belong to the call, not the
/// devices or people connected at a moment.
pub const MAX_CALL_MEMBERS: usize = 10;

/// The providers a new call may have besides the patient and its first provider.
pub const MAX_ADDITIONAL_PROVIDERS: usize = MAX_CALL_MEMBERS - 2;

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

    /// How many people belong to the call.
    pub fn len(&self) -> usize {
        1 + self.providers.len()
    }

    /// Never true: a call always has its patient.
    pub fn is_empty(&self) -> bool {
        false
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

/// Answering a call: its members only. An admin may see and end any call, but answering
/// says "I am the other party", which only someone the call is between can say.
pub fn may_answer(caller: Caller, members: &Members) -> Result<(), Denied> {
    may_take_part(caller, members)?;
    if members.contains(caller.user) {
        Ok(())
    } else {
        Err(Denied::Forbidden("only a participant of the call can answer it"))
    }
}

/// Which calls a caller finds when listing calls or counting them for statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListScope {
    /// Every call (admins).
    Every,
    /// Only the calls this user is a member of.
    MemberOf(UserId),
}

impl ListScope {
    /// Whether a call with these members is in the scope.
    pub fn includes(self, members: &Members) -> bool {
        match self {
            ListScope::Every => true,
            ListScope::MemberOf(user) => members.contains(user),
        }
    }
}

/// Admins see every call; everyone else sees the calls they are a member of. A list holds
/// exactly the calls the caller may [take part in](may_take_part).
pub fn list_scope(caller: Caller) -> ListScope {
    match caller.role {
        Role::Admin => ListScope::Every,
        Role::Patient | Role::Provider => ListScope::MemberOf(caller.user),
    }
}

/// Picking whom to call: a provider lists the patients of their own calls (and looks up a
/// pasted id), an admin every patient; a patient picks no one, so no patient can read
/// others' names.
pub fn people_scope(caller: Caller) -> Result<ListScope, Denied> {
    match caller.role {
        Role::Admin => Ok(ListScope::Every),
        Role::Provider => Ok(ListScope::MemberOf(caller.user)),
        Role::Patient => Err(Denied::Forbidden("only providers and admins look people up")),
    }
}

/// Interactive-time reports: a provider's cover the calls they took part in, an admin's
/// every call; patients get none.
pub fn report_scope(caller: Caller) -> Result<ListScope, Denied> {
    match caller.role {
        Role::Admin => Ok(ListScope::Every),
        Role::Provider => Ok(ListScope::MemberOf(caller.user)),
        Role::Patient => Err(Denied::Forbidden("reports are for providers and admins")),
    }
}

/// Reading the audit trail: admins only.
pub fn may_read_audit(caller: Caller) -> Result<(), Denied> {
    match caller.role {
        Role::Admin => Ok(()),
        Role::Patient | Role::Provider => Err(Denied::Forbidden("the audit trail is for admins only")),
    }
}

/// Webhook endpoints (where events about every call go, and their secrets): admins only.
pub fn may_manage_webhooks(caller: Caller) -> Result<(), Denied> {
    match caller.role {
        Role::Admin => Ok(()),
        Role::Patient | Role::Provider => Err(Denied::Forbidden("webhooks are for admins only")),
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
    #[error("a call has at most {MAX_CALL_MEMBERS} members")]
    TooMany { field: &'static str },
}

/// Decides the members of a new call. Patients call only for themselves and providers only
/// with themselves as the provider; admins may arrange any call. A missing id defaults to
/// the caller where the caller's role fills that seat. A call has at most
/// [`MAX_CALL_MEMBERS`] members.
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
    let members = Members { patient, providers };
    if members.len() > MAX_CALL_MEMBERS {
        return Err(CreateRefused::TooMany {
            field: "additionalProviderIds",
        });
    }
    Ok(members)
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
    fn only_members_answer_and_an_admin_who_sees_the_call_does_not() {
        let m = members();
        assert!(may_answer(as_(1, Role::Patient), &m).is_ok());
        assert!(may_answer(as_(3, Role::Provider), &m).is_ok());
        assert_eq!(
            may_answer(as_(99, Role::Admin), &m),
            Err(Denied::Forbidden("only a participant of the call can answer it"))
        );
        // An admin who is a member of the call answers it like any member.
        let with_admin = Members {
            patient: user(1),
            providers: vec![user(99)],
        };
        assert!(may_answer(as_(99, Role::Admin), &with_admin).is_ok());
        assert_eq!(may_answer(as_(4, Role::Patient), &m), Err(Denied::Hidden));
    }

    #[test]
    fn admins_list_every_call_and_others_the_calls_they_belong_to() {
        let m = members();
        assert_eq!(list_scope(as_(99, Role::Admin)), ListScope::Every);
        assert_eq!(list_scope(as_(1, Role::Patient)), ListScope::MemberOf(user(1)));
        assert!(list_scope(as_(3, Role::Provider)).includes(&m));
        assert!(!list_scope(as_(5, Role::Provider)).includes(&m));
        assert!(list_scope(as_(99, Role::Admin)).includes(&m));
    }

    #[test]
    fn providers_report_on_their_own_calls_admins_on_all_and_patients_not_at_all() {
        assert_eq!(report_scope(as_(3, Role::Provider)), Ok(ListScope::MemberOf(user(3))));
        assert_eq!(report_scope(as_(99, Role::Admin)), Ok(ListScope::Every));
        assert!(matches!(report_scope(as_(1, Role::Patient)), Err(Denied::Forbidden(_))));
    }

    #[test]
    fn providers_pick_among_their_own_patients_admins_among_all_and_patients_not_at_all() {
        assert_eq!(people_scope(as_(3, Role::Provider)), Ok(ListScope::MemberOf(user(3))));
        assert_eq!(people_scope(as_(99, Role::Admin)), Ok(ListScope::Every));
        assert_eq!(
            people_scope(as_(1, Role::Patient)),
            Err(Denied::Forbidden("only providers and admins look people up"))
        );
    }

    #[test]
    fn only_admins_read_the_audit_trail() {
        assert!(may_read_audit(as_(99, Role::Admin)).is_ok());
        for role in [Role::Patient, Role::Provider] {
            assert_eq!(
                may_read_audit(as_(1, role)),
                Err(Denied::Forbidden("the audit trail is for admins only"))
            );
        }
    }

    #[test]
    fn a_call_holds_at_most_max_call_members() {
        let extra = |n: u128| (10..10 + n).map(user).collect::<Vec<_>>();
        let full = CallRequest {
            patient: Some(user(1)),
            provider: Some(user(2)),
            additional_providers: extra(MAX_ADDITIONAL_PROVIDERS as u128),
        };
        let m = members_for_new_call(as_(99, Role::Admin), &full).expect("a full call");
        assert_eq!(m.len(), MAX_CALL_MEMBERS);
        assert_eq!(m.all().count(), m.len());
        let over = CallRequest {
            additional_providers: extra(MAX_ADDITIONAL_PROVIDERS as u128 + 1),
            ..full.clone()
        };
        assert_eq!(
            members_for_new_call(as_(99, Role::Admin), &over),
            Err(CreateRefused::TooMany {
                field: "additionalProviderIds"
            })
        );
        // Repeating a provider does not count twice.
        let repeated = CallRequest {
            additional_providers: [extra(MAX_ADDITIONAL_PROVIDERS as u128), vec![user(2), user(10)]].concat(),
            ..full
        };
        assert_eq!(
            members_for_new_call(as_(99, Role::Admin), &repeated).map(|m| m.len()),
            Ok(MAX_CALL_MEMBERS)
        );
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
