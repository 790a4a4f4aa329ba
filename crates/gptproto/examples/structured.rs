//! Structured outputs: a JSON Schema from a Rust type, the answer parsed back into it, and the
//! error that tells a refusal, a cut answer and invalid JSON apart.
//!
//! ```sh
//! GPTPROTO_API_KEY=sk-... cargo run -p gptproto --example structured
//! # any OpenAI-compatible server: GPTPROTO_BASE_URL=http://127.0.0.1:8089/v1 GPTPROTO_MODEL=...
//! ```

use gptproto::{ChatRequest, Client, tools};

/// A recipe.
#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Recipe {
    /// The dish.
    name: String,
    /// Minutes from start to table.
    minutes: u32,
    /// What goes in, in order of use.
    ingredients: Vec<Ingredient>,
    /// A tip, if there is one worth giving.
    tip: Option<String>,
}

/// One ingredient.
#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Ingredient {
    /// What it is.
    item: String,
    /// How much, e.g. "200 g".
    amount: String,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::new()?;
    let model = std::env::var("GPTPROTO_MODEL").unwrap_or_else(|_| "qwen-turbo".to_owned());
    let request = ChatRequest::new(model)
        .user("Give me a quick pancake recipe.")
        .response_format(tools::response_format::<Recipe>("recipe")?)
        .max_tokens(400);
    let answer = client.chat(request).await?;
    match answer.parse::<Recipe>() {
        Ok(recipe) => {
            println!("{} ({} minutes)", recipe.name, recipe.minutes);
            for Ingredient { item, amount } in &recipe.ingredients {
                println!("- {amount} {item}");
            }
            if let Some(tip) = &recipe.tip {
                println!("Tip: {tip}");
            }
        }
        Err(error) if error.is_refusal() => eprintln!("the model refused: {error}"),
        Err(error) if error.is_length_limit() => eprintln!("cut short, raise max_tokens: {error}"),
        Err(error) => eprintln!("not a recipe: {error}"),
    }
    Ok(())
}
