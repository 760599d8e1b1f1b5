//! The one way a handler applies an access rule that is not about a call (calls have theirs
//! in `calls`): the rule itself is the domain's (`vytalcall_domain::access`); a refusal is
//! written to the audit trail as denied, with the rule's reason, and answered 403 (or 404
//! where the rule hides what exists).

use super::error::ApiError;
use crate::audit::{self, Action, Outcome};
use crate::auth::AuthUser;
use crate::state::AppState;
use serde_json::json;
use vytalcall_domain::access::Denied;

/// What `rule` allowed, or the audited refusal.
pub async fn allowed<T>(
    state: &AppState,
    user: &AuthUser,
    action: Action,
    rule: Result<T, Denied>,
) -> Result<T, ApiError> {
    let denied = match rule {
        Ok(allowed) => return Ok(allowed),
        Err(denied) => denied,
    };
    let fact = user.actor.fact(
        action,
        None,
        None,
        Outcome::Denied,
        json!({ "reason": denied.to_string() }),
    );
    audit::record(&state.db, fact).await?;
    Err(match denied {
        Denied::Forbidden(why) => ApiError::forbidden(why),
        Denied::Hidden => ApiError::not_found("no such route"),
    })
}
