//! The operator's commands: `admin …`, `backup`, `restore` and `export`.
//! Each reaches a running server through its control socket, or opens the
//! data directory itself when no server runs (see `circles_server::control`).

use std::io::{BufRead, IsTerminal, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;
use circles_protocol::ErrorKind;
use circles_protocol::methods::{
    self as m, CircleRef, ExportCircle, ExportFormat, Grant, ListAudit, ListUsers,
    NewRegistrationInvite, Suspend, UserRef,
};
use circles_protocol::model::UserInfo;
use circles_server::Config;
use circles_server::control::{Operator, Refused};
use circles_server::export::date;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Make HANDLE an admin; creates the account when it does not exist
    /// (the password is asked for, or read from stdin's first line).
    CreateAdmin {
        /// The account's handle.
        handle: String,
    },
    /// Take HANDLE's admin rights away.
    RevokeAdmin {
        /// The account's handle.
        handle: String,
    },
    /// List the accounts: handle, name, admin, suspended, online.
    Users {
        /// Print JSON (one object per account) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Suspend an account: its connections end at once and it cannot sign in.
    Suspend {
        /// The account's handle.
        handle: String,
        /// Why, for the audit log.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Let a suspended account sign in again.
    Unsuspend {
        /// The account's handle.
        handle: String,
    },
    /// Delete a circle and its whole history (take a backup first).
    DeleteCircle {
        /// The circle's slug.
        slug: String,
        /// Confirm: the history cannot be brought back but from a backup.
        #[arg(long)]
        yes: bool,
    },
    /// Make a registration invite (for `registration = "invite"`).
    Invite {
        /// How many accounts it may create.
        #[arg(long, default_value_t = 1)]
        uses: u32,
        /// Hours until it expires.
        #[arg(long, default_value_t = 168)]
        expires_in_hours: u32,
    },
    /// What admins did, newest first.
    Audit {
        /// How many entries.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

pub async fn admin(config: &Config, command: AdminCommand) -> anyhow::Result<()> {
    // Only the first admin may be made where there is no store yet.
    let create = matches!(command, AdminCommand::CreateAdmin { .. });
    let mut operator = Operator::open(config, create).await?;
    let outcome = run_admin(&mut operator, command).await;
    operator.close().await?;
    outcome
}

async fn run_admin(operator: &mut Operator, command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::CreateAdmin { handle } => {
            let grant = Grant {
                handle: handle.clone(),
                password: None,
            };
            let user = match operator.call::<m::AdminGrant>(grant).await {
                Ok(granted) => granted.user,
                Err(err) if is_not_found(&err) => {
                    let password = new_password(&handle)?;
                    let grant = Grant {
                        handle,
                        password: Some(password),
                    };
                    operator.call::<m::AdminGrant>(grant).await?.user
                }
                Err(err) => return Err(err),
            };
            println!("{} is an admin", user.handle);
        }
        AdminCommand::RevokeAdmin { handle } => {
            let user = operator
                .call::<m::AdminRevoke>(UserRef { handle })
                .await?
                .user;
            println!("{} is no longer an admin", user.handle);
        }
        AdminCommand::Users { json } => {
            let mut after = None;
            let mut users = Vec::new();
            loop {
                let page = operator
                    .call::<m::AdminUsers>(ListUsers {
                        after,
                        limit: Some(500),
                    })
                    .await?;
                users.extend(page.users);
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
            if json {
                for user in &users {
                    println!("{}", serde_json::to_string(user)?);
                }
            } else {
                print_users(&users);
            }
        }
        AdminCommand::Suspend { handle, reason } => {
            let user = operator
                .call::<m::AdminSuspend>(Suspend { handle, reason })
                .await?
                .user;
            println!("{} is suspended; their connections have ended", user.handle);
        }
        AdminCommand::Unsuspend { handle } => {
            let user = operator
                .call::<m::AdminUnsuspend>(UserRef { handle })
                .await?
                .user;
            println!("{} may sign in again", user.handle);
        }
        AdminCommand::DeleteCircle { slug, yes } => {
            if !yes {
                anyhow::bail!(
                    "this deletes {slug} and its whole history; run it again with --yes (after `circles-server backup`)"
                );
            }
            operator
                .call::<m::AdminCircleDelete>(CircleRef {
                    circle: slug.clone(),
                })
                .await?;
            println!("{slug} is deleted");
        }
        AdminCommand::Invite {
            uses,
            expires_in_hours,
        } => {
            let invite = operator
                .call::<m::AdminInvite>(NewRegistrationInvite {
                    uses: Some(uses),
                    expires_in_hours: Some(expires_in_hours),
                })
                .await?;
            println!("{}", invite.invite);
            eprintln!(
                "registration invite for {} account(s), until {}",
                invite.uses,
                date(invite.expires_at)
            );
        }
        AdminCommand::Audit { limit } => {
            let audit = operator
                .call::<m::AdminAudit>(ListAudit {
                    before: None,
                    limit: Some(limit),
                })
                .await?;
            println!(
                "{:<17} {:<16} {:<14} {:<20} DETAIL",
                "WHEN", "WHO", "ACTION", "TARGET"
            );
            for e in audit.entries {
                println!(
                    "{:<21} {:<16} {:<14} {:<20} {}",
                    date(e.at),
                    e.actor,
                    e.action,
                    e.target,
                    e.detail
                );
            }
        }
    }
    Ok(())
}

fn is_not_found(err: &anyhow::Error) -> bool {
    err.downcast_ref::<Refused>()
        .is_some_and(|r| r.kind == ErrorKind::NotFound)
}

fn print_users(users: &[UserInfo]) {
    println!(
        "{:<20} {:<24} {:<6} {:<10} {:<7} CREATED",
        "HANDLE", "NAME", "ADMIN", "SUSPENDED", "ONLINE"
    );
    for u in users {
        let yes_no = |b: bool| if b { "yes" } else { "no" };
        println!(
            "{:<20} {:<24} {:<6} {:<10} {:<7} {}",
            u.handle,
            u.display_name,
            yes_no(u.admin),
            yes_no(u.suspended.is_some()),
            yes_no(u.online),
            date(u.created_at)
        );
    }
}

/// Asked twice at a terminal; otherwise the first line of stdin.
fn new_password(handle: &str) -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("password for {handle}: "))?;
        let again = rpassword::prompt_password("again: ")?;
        anyhow::ensure!(first == again, "the passwords differ");
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        let password = line.trim_end_matches(['\r', '\n']).to_owned();
        anyhow::ensure!(
            !password.is_empty(),
            "{handle} has no account yet: give its password on stdin"
        );
        Ok(password)
    }
}

/// `circles-server backup --out FILE`: a snapshot of a running or stopped server.
pub async fn backup(config: &Config, out: &Path) -> anyhow::Result<()> {
    // Written beside the target and renamed when complete: an interrupted
    // backup never looks like a finished one.
    let partial = partial_path(out);
    // Readable by its owner only: it holds every password hash.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&partial)
        .with_context(|| format!("cannot create {}", partial.display()))?;
    let operator = match Operator::open(config, false).await {
        Ok(operator) => operator,
        Err(err) => {
            let _ = std::fs::remove_file(&partial);
            return Err(err);
        }
    };
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} backup: {msg} ({elapsed})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    let shown = bar.clone();
    let written = operator
        .backup(file, move |records, bytes| {
            shown.set_message(format!("{records} records, {}", mib(bytes)));
            shown.tick();
        })
        .await;
    bar.finish_and_clear();
    let bytes = match written {
        Ok(bytes) => bytes,
        Err(err) => {
            let _ = std::fs::remove_file(&partial);
            return Err(err);
        }
    };
    std::fs::rename(&partial, out)
        .with_context(|| format!("cannot rename {} to {}", partial.display(), out.display()))?;
    eprintln!("backup written to {} ({})", out.display(), mib(bytes));
    Ok(())
}

fn partial_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    out.with_file_name(name)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
}

/// `circles-server restore FILE --data-dir EMPTY`.
pub fn restore(file: &Path, data_dir: &Path) -> anyhow::Result<()> {
    let input =
        std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let size = input.metadata().map(|m| m.len()).unwrap_or(0);
    // The store holds password hashes: its directory is its owner's alone.
    if !data_dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(data_dir)
            .with_context(|| format!("cannot create {}", data_dir.display()))?;
    }
    let bar = indicatif::ProgressBar::new(size);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "restore: [{bar:40}] {bytes}/{total_bytes} ({eta} left)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let shown = bar.clone();
    let restored = circles_server::store::restore(
        std::io::BufReader::new(input),
        data_dir,
        move |_, bytes| shown.set_position(bytes),
    );
    bar.finish_and_clear();
    let summary = restored.with_context(|| format!("cannot restore {}", file.display()))?;
    eprintln!(
        "restored {} circles ({} events, {} records) into {}",
        summary.circles,
        summary.events,
        summary.records,
        data_dir.display()
    );
    Ok(())
}

/// `circles-server export SLUG --format markdown|json [--out FILE]`.
pub async fn export(
    config: &Config,
    slug: String,
    format: ExportFormat,
    out: Option<&Path>,
) -> anyhow::Result<()> {
    let mut operator = Operator::open(config, false).await?;
    let exported = operator
        .call::<m::AdminExport>(ExportCircle {
            circle: slug,
            format,
        })
        .await;
    operator.close().await?;
    let text = exported?.text;
    match out {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => std::io::stdout().lock().write_all(text.as_bytes())?,
    }
    Ok(())
}
