//! The conversation as the Anthropic, Bedrock and Gemini wires take it:
//! system texts apart, then turns whose roles alternate. Each wire says how
//! it spells a role and builds its own blocks; the folding is shared.

use super::fields::{self, invalid};
use crate::api::chat::{Message, Role};
use crate::error::GatewayError;
use serde_json::Value;

type Blocks = Result<Vec<Value>, GatewayError>;

/// One turn: the wire's role name and its blocks.
pub type Turn = (&'static str, Vec<Value>);

/// How one wire spells a conversation.
pub struct TurnWire<'a> {
    /// e.g. `the anthropic wire format`, for errors.
    pub name: &'static str,
    /// The role of the model's own turns (`assistant`, or Gemini's `model`).
    pub assistant_role: &'static str,
    /// One system text as a block of the wire's system field.
    pub system: fn(String) -> Value,
    pub user: &'a dyn Fn(usize, Option<&Value>) -> Blocks,
    pub assistant: &'a dyn Fn(usize, &Message) -> Blocks,
    /// A tool's result, sent in a user turn.
    pub tool: &'a dyn Fn(usize, &Message) -> Result<Value, GatewayError>,
}

/// The system blocks, and the turns: consecutive messages of one role go
/// into one turn (these wires refuse two turns of a role in a row), messages
/// with nothing to send are left out, and the deprecated `function` role is
/// refused with the message's index.
pub fn fold(
    messages: &[Message],
    wire: &TurnWire<'_>,
) -> Result<(Vec<Value>, Vec<Turn>), GatewayError> {
    let mut system = Vec::new();
    let mut turns: Vec<Turn> = Vec::new();
    for (index, message) in messages.iter().enumerate() {
        let (role, blocks) = match message.role {
            Role::System | Role::Developer => {
                let text = fields::content_text(message.content.as_ref());
                if !text.is_empty() {
                    system.push((wire.system)(text));
                }
                continue;
            }
            Role::User => ("user", (wire.user)(index, message.content.as_ref())?),
            Role::Assistant => (wire.assistant_role, (wire.assistant)(index, message)?),
            Role::Tool => ("user", vec![(wire.tool)(index, message)?]),
            Role::Function => {
                return Err(invalid(
                    format!("messages[{index}].role"),
                    format!(
                        "the deprecated `function` role is not supported by {}; use `tool`",
                        wire.name
                    ),
                ));
            }
        };
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((last, existing)) if *last == role => existing.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    Ok((system, turns))
}
