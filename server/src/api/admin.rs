//! `admin.*`: the server's admins (accounts with the admin flag) and the
//! host's operator (the control socket) look after accounts and circles.
//! Every change is written to the audit log before it is answered.

use circles_protocol::methods::{
    Audit, CircleRef, Empty, Export, ExportCircle, Grant, ListAudit, ListUsers,
    NewRegistrationInvite, RegistrationInvite, Suspend, UserRef, UserResult, Users,
};
use circles_protocol::model::{AuditEntry, Suspension, UserInfo};

use super::{auth, signed_in};
use crate::App;
use crate::credentials::new_invite_code;
use crate::error::{ApiError, ApiResult};
use crate::session::{CloseReason, Session};
use crate::store::{Account, RegistrationInviteRecord, now_millis};
use crate::validate;

/// Who the audit log names for the host's command line.
pub const OPERATOR: &str = "operator";
const PAGE_DEFAULT: u32 = 100;
const PAGE_MAX: u32 = 500;
const HOUR_MS: u64 = 60 * 60 * 1000;

/// The admin making the request, or why they may not.
fn admin(s: &Session) -> ApiResult<String> {
    if s.operator {
        return Ok(OPERATOR.to_owned());
    }
    let user = signed_in(s)?;
    match s.app.store.account(&user.handle)? {
        Some(account) if account.admin && account.suspended.is_none() => Ok(account.handle),
        _ => Err(ApiError::forbidden(
            "admin.* methods are for this server's admins",
        )),
    }
}

/// Writes the action to the audit log, durably.
pub async fn audit(
    app: &App,
    actor: &str,
    action: &str,
    target: &str,
    detail: String,
) -> ApiResult<()> {
    let entry = AuditEntry {
        id: 0, // the store numbers it
        at: now_millis(),
        actor: actor.to_owned(),
        action: action.to_owned(),
        target: target.to_owned(),
        detail,
    };
    app.store.add_audit(&entry)?.durable().await?;
    tracing::info!(actor, action, target, detail = %entry.detail, "admin action");
    Ok(())
}

fn page(limit: Option<u32>) -> ApiResult<usize> {
    match limit.unwrap_or(PAGE_DEFAULT) {
        n @ 1..=PAGE_MAX => Ok(n as usize),
        n => Err(ApiError::invalid(format!(
            "limit {n} must be 1 to {PAGE_MAX}"
        ))),
    }
}

fn user_info(s: &Session, account: Account) -> UserInfo {
    UserInfo {
        online: s.app.is_online(&account.handle),
        handle: account.handle,
        display_name: account.display_name,
        created_at: account.created_at,
        admin: account.admin,
        suspended: account.suspended,
    }
}

fn existing(s: &Session, handle: &str) -> ApiResult<Account> {
    s.app
        .store
        .account(handle)?
        .ok_or_else(|| ApiError::not_found(format!("no account with the handle {handle:?}")))
}

pub async fn users(s: &mut Session, p: ListUsers) -> ApiResult<Users> {
    admin(s)?;
    let limit = page(p.limit)?;
    // One more than asked says whether there is a next page.
    let mut accounts = s.app.store.accounts(p.after.as_deref(), limit + 1)?;
    let next = if accounts.len() > limit {
        accounts.truncate(limit);
        accounts.last().map(|a| a.handle.clone())
    } else {
        None
    };
    let users = accounts.into_iter().map(|a| user_info(s, a)).collect();
    Ok(Users { users, next })
}

pub async fn suspend(s: &mut Session, p: Suspend) -> ApiResult<UserResult> {
    let actor = admin(s)?;
    if actor == p.handle {
        return Err(ApiError::forbidden("you cannot suspend yourself"));
    }
    let reason = match p.reason {
        Some(reason) => validate::line("reason", &reason, 200)?,
        None => String::new(),
    };
    let mut account = existing(s, &p.handle)?;
    if account.suspended.is_some() {
        return Err(ApiError::conflict(format!(
            "{} is already suspended",
            p.handle
        )));
    }
    account.suspended = Some(Suspension {
        at: now_millis(),
        by: actor.clone(),
        reason: reason.clone(),
    });
    let _ = s.app.store.put_account(&account)?;
    // Tokens go too: unsuspended, the account signs in with its password.
    s.app
        .store
        .revoke_tokens_except(&account.handle, None)?
        .durable()
        .await?;
    s.app.end_sessions(&account.handle, CloseReason::Suspended);
    audit(&s.app, &actor, "suspend", &account.handle, reason).await?;
    Ok(UserResult {
        user: user_info(s, account),
    })
}

pub async fn unsuspend(s: &mut Session, p: UserRef) -> ApiResult<UserResult> {
    let actor = admin(s)?;
    let mut account = existing(s, &p.handle)?;
    if account.suspended.take().is_none() {
        return Err(ApiError::conflict(format!("{} is not suspended", p.handle)));
    }
    s.app.store.put_account(&account)?.durable().await?;
    audit(&s.app, &actor, "unsuspend", &account.handle, String::new()).await?;
    Ok(UserResult {
        user: user_info(s, account),
    })
}

pub async fn grant(s: &mut Session, p: Grant) -> ApiResult<UserResult> {
    let actor = admin(s)?;
    let mut account = match (s.app.store.account(&p.handle)?, p.password) {
        (Some(account), _) if account.admin => {
            return Err(ApiError::conflict(format!(
                "{} is already an admin",
                p.handle
            )));
        }
        (Some(account), _) => account,
        (None, Some(password)) if s.operator => {
            validate::handle(&p.handle)?;
            validate::password(&password)?;
            auth::create_account(&s.app, p.handle.clone(), p.handle.clone(), password).await?
        }
        (None, Some(_)) => {
            return Err(ApiError::forbidden(
                "accounts are created with a password only on the host (circles-server admin create-admin)",
            ));
        }
        (None, None) => {
            return Err(existing(s, &p.handle)
                .err()
                .unwrap_or_else(ApiError::internal));
        }
    };
    account.admin = true;
    s.app.store.put_account(&account)?.durable().await?;
    audit(&s.app, &actor, "grant", &account.handle, String::new()).await?;
    Ok(UserResult {
        user: user_info(s, account),
    })
}

pub async fn revoke(s: &mut Session, p: UserRef) -> ApiResult<UserResult> {
    let actor = admin(s)?;
    if actor == p.handle {
        return Err(ApiError::forbidden(
            "you cannot revoke your own admin rights; ask another admin or the operator",
        ));
    }
    let mut account = existing(s, &p.handle)?;
    if !account.admin {
        return Err(ApiError::conflict(format!("{} is not an admin", p.handle)));
    }
    account.admin = false;
    s.app.store.put_account(&account)?.durable().await?;
    audit(&s.app, &actor, "revoke", &account.handle, String::new()).await?;
    Ok(UserResult {
        user: user_info(s, account),
    })
}

pub async fn delete_circle(s: &mut Session, p: CircleRef) -> ApiResult<Empty> {
    let actor = admin(s)?;
    let circle = s.app.circles.by_slug(&p.circle)?;
    s.app
        .circles
        .call(circle.id, |reply| crate::circle::Command::Delete { reply })
        .await??;
    audit(&s.app, &actor, "circle.delete", &p.circle, String::new()).await?;
    Ok(Empty {})
}

pub async fn invite(s: &mut Session, p: NewRegistrationInvite) -> ApiResult<RegistrationInvite> {
    let actor = admin(s)?;
    let uses = p.uses.unwrap_or(1);
    if !(1..=1000).contains(&uses) {
        return Err(ApiError::invalid(format!("uses {uses} must be 1 to 1000")));
    }
    let hours = p.expires_in_hours.unwrap_or(168);
    if !(1..=8760).contains(&hours) {
        return Err(ApiError::invalid(format!(
            "expires_in_hours {hours} must be 1 to 8760 (a year)"
        )));
    }
    let code = new_invite_code()?;
    let expires_at = now_millis() + u64::from(hours) * HOUR_MS;
    let record = RegistrationInviteRecord {
        created_by: actor.clone(),
        expires_at,
        uses_left: uses,
    };
    let _ = s.app.store.create_registration_invite(&code, &record)?;
    let detail = format!("{uses} use(s), expires in {hours} h");
    audit(&s.app, &actor, "invite", "", detail).await?;
    Ok(RegistrationInvite {
        invite: code,
        uses,
        expires_at,
    })
}

pub async fn audit_log(s: &mut Session, p: ListAudit) -> ApiResult<Audit> {
    admin(s)?;
    let entries = s.app.store.audit(p.before, page(p.limit)?)?;
    Ok(Audit { entries })
}

pub async fn export(s: &mut Session, p: ExportCircle) -> ApiResult<Export> {
    let actor = admin(s)?;
    let store = std::sync::Arc::clone(&s.app.store);
    let slug = p.circle.clone();
    // A whole circle's log is read: off the async threads.
    let text = tokio::task::spawn_blocking(move || crate::export::export(&store, &slug, p.format))
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(|err| match err {
            crate::export::ExportError::NotFound(slug) => {
                ApiError::not_found(format!("no circle named \"{slug}\""))
            }
            crate::export::ExportError::Store(err) => err.into(),
        })?;
    audit(
        &s.app,
        &actor,
        "export",
        &p.circle,
        format!("{:?}", p.format).to_lowercase(),
    )
    .await?;
    Ok(Export { text })
}
