//! `gptproto models`: the models the server offers.

use std::io::Write;

use crate::args::ModelsArgs;
use crate::exit::Failure;
use crate::{Context, connection, settings};

pub(crate) async fn run(args: ModelsArgs, context: Context<'_>) -> Result<(), Failure> {
    let connection =
        settings::connection(&args.connection, context.origins, &context.loaded, true)?;
    let client = connection::builder(&connection)?
        .build()
        .map_err(|error| Failure::Usage(format!("{error:#}")))?;
    let list = client.models().await?;
    let mut stdout = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer(&mut stdout, &list).map_err(std::io::Error::other)?;
        writeln!(stdout)?;
    } else {
        for model in &list.data {
            writeln!(stdout, "{}", model.id)?;
        }
    }
    Ok(())
}
