//! The full-screen client. (Being written.)

use crate::commands::Ctx;
use crate::error::{CliError, CliResult};

pub async fn run(_ctx: Ctx) -> CliResult<()> {
    Err(CliError::Local(
        "the full-screen client is not built yet".into(),
    ))
}
