//! `auth.*`: accounts, sign-in and tokens.

use std::sync::Arc;

use circles_protocol::methods::{
    ChangePassword, Empty, Login, Register, Session as SessionResult, TokenLogin, WhoAmI,
};

use super::signed_in;
use crate::App;
use crate::config::Registration;
use crate::credentials::{self, new_token, token_hash};
use crate::error::{ApiError, ApiResult};
use crate::session::{Session, User};
use crate::store::{Account, InviteUse, StoreError, TokenHash, now_millis};
use crate::validate;

pub async fn register(s: &mut Session, p: Register) -> ApiResult<SessionResult> {
    validate::handle(&p.handle)?;
    validate::password(&p.password)?;
    let display_name = validate::display_name(p.display_name, &p.handle)?;
    if s.app.store.account(&p.handle)?.is_some() {
        return Err(taken(&p.handle));
    }
    match s.app.config.registration {
        Registration::Open => {}
        Registration::Closed => {
            return Err(ApiError::forbidden(
                "this server does not take new accounts; ask its operator",
            ));
        }
        Registration::Invite => take_invite(s, p.invite.as_deref())?,
    }
    let account = create_account(&s.app, p.handle, display_name, p.password).await?;
    start_session(s, account.handle).await
}

/// Takes one use of the registration invite that invite mode asks for.
fn take_invite(s: &Session, invite: Option<&str>) -> ApiResult<()> {
    let Some(code) = invite else {
        return Err(ApiError::forbidden(
            "registration on this server needs an invite code from one of its admins",
        ));
    };
    match s.app.store.use_registration_invite(code, now_millis())? {
        InviteUse::Taken => Ok(()),
        InviteUse::Unknown => Err(ApiError::not_found(
            "no such registration invite; check the code",
        )),
        InviteUse::Expired => Err(ApiError::forbidden(
            "this registration invite has expired; ask an admin for a new one",
        )),
        InviteUse::UsedUp => Err(ApiError::forbidden(
            "this registration invite has been used up; ask an admin for a new one",
        )),
    }
}

/// Hashes the password and stores a new account, durably.
pub async fn create_account(
    app: &Arc<App>,
    handle: String,
    display_name: String,
    password: String,
) -> ApiResult<Account> {
    let password_hash = hash(app, password).await?;
    let account = Account {
        handle,
        display_name,
        password_hash,
        created_at: now_millis(),
        admin: false,
        suspended: None,
    };
    match app.store.create_account(&account) {
        Ok(ticket) => ticket.durable().await?,
        Err(StoreError::Exists) => return Err(taken(&account.handle)),
        Err(err) => return Err(err.into()),
    }
    Ok(account)
}

fn taken(handle: &str) -> ApiError {
    ApiError::conflict(format!("the handle {handle:?} is taken; pick another"))
}

pub async fn login(s: &mut Session, p: Login) -> ApiResult<SessionResult> {
    if let Some(wait) = s.app.logins.wait(&p.handle, s.peer) {
        return Err(ApiError::rate_limited(
            "too many failed sign-ins for this handle or from this address",
            wait,
        ));
    }
    let account = s.app.store.account(&p.handle)?;
    let hash = account.as_ref().map(|a| a.password_hash.clone());
    if !verify(&s.app, hash, p.password).await? {
        s.app.logins.failed(&p.handle, s.peer);
        return Err(ApiError::unauthenticated("wrong handle or password"));
    }
    s.app.logins.succeeded(&p.handle);
    if let Some(account) = &account {
        not_suspended(account)?;
    }
    start_session(s, p.handle).await
}

/// Suspended accounts may not sign in (only once the password is right, so
/// a suspension says nothing to someone guessing).
fn not_suspended(account: &Account) -> ApiResult<()> {
    match &account.suspended {
        None => Ok(()),
        Some(_) => Err(ApiError::forbidden(
            "this account is suspended; contact the server's operator",
        )),
    }
}

pub async fn token(s: &mut Session, p: TokenLogin) -> ApiResult<WhoAmI> {
    let hash = token_hash(&p.token);
    let handle = s
        .app
        .store
        .token_handle(&hash)?
        .ok_or_else(|| ApiError::unauthenticated("token not recognised; sign in again"))?;
    if let Some(account) = s.app.store.account(&handle)? {
        not_suspended(&account)?;
    }
    let display_name = s.app.display_name(&handle);
    s.sign_in(User {
        handle: handle.clone(),
        token: hash,
    });
    Ok(WhoAmI {
        handle,
        display_name,
    })
}

pub async fn logout(s: &mut Session) -> ApiResult<Empty> {
    let user = signed_in(s)?.clone();
    s.app.store.revoke_token(&user.token)?.durable().await?;
    // Other connections signed in with the same token end too.
    s.app
        .revoke_sessions(&user.handle, |t: &TokenHash| *t == user.token, s.id);
    s.sign_out();
    Ok(Empty {})
}

pub async fn password(s: &mut Session, p: ChangePassword) -> ApiResult<Empty> {
    let user = signed_in(s)?.clone();
    validate::password(&p.new)?;
    let mut account = s
        .app
        .store
        .account(&user.handle)?
        .ok_or_else(|| ApiError::unauthenticated("this account no longer exists"))?;
    if !verify(&s.app, Some(account.password_hash.clone()), p.old).await? {
        return Err(ApiError::unauthenticated("the old password is wrong"));
    }
    account.password_hash = hash(&s.app, p.new).await?;
    let _ = s.app.store.put_account(&account)?;
    s.app
        .store
        .revoke_tokens_except(&user.handle, Some(&user.token))?
        .durable()
        .await?;
    s.app
        .revoke_sessions(&user.handle, |t: &TokenHash| *t != user.token, s.id);
    Ok(Empty {})
}

/// Issues a token and signs the connection in with it.
async fn start_session(s: &mut Session, handle: String) -> ApiResult<SessionResult> {
    let (token, hash) = new_token()?;
    s.app.store.add_token(&handle, &hash)?.durable().await?;
    s.sign_in(User {
        handle: handle.clone(),
        token: hash,
    });
    Ok(SessionResult { handle, token })
}

/// argon2 is slow on purpose: off the async threads, a few at a time.
async fn hash(app: &Arc<App>, password: String) -> ApiResult<String> {
    let _permit = app
        .hashing
        .acquire()
        .await
        .map_err(|_| ApiError::internal())?;
    tokio::task::spawn_blocking(move || credentials::hash_password(&password))
        .await
        .map_err(|_| ApiError::internal())?
}

async fn verify(app: &Arc<App>, hash: Option<String>, password: String) -> ApiResult<bool> {
    let _permit = app
        .hashing
        .acquire()
        .await
        .map_err(|_| ApiError::internal())?;
    tokio::task::spawn_blocking(move || credentials::verify_password(hash.as_deref(), &password))
        .await
        .map_err(|_| ApiError::internal())
}
