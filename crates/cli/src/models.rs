//! `gptproto models`: the models the server offers.

use std::io::Write;

use crate::args::ModelsArgs;
use crate::connection;
use crate::exit::Failure;

pub(crate) async fn run(args: ModelsArgs) -> Result<(), Failure> {
    let client = connection::builder(&args.connection)?
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
