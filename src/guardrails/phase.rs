//! Where in a request's life a text is checked.

/// Where in a request's life the text was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Input,
    Output,
    ToolArguments,
    ToolResult,
}
