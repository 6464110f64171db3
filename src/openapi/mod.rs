//! REST APIs served as MCP tools, from their OpenAPI 3.0/3.1 description.
//!
//! The description is read once (`document`), each operation becomes a tool
//! whose input schema gathers its path, query and header parameters and its
//! JSON body (`operations`), and a tool call becomes the HTTP request to the
//! API with the credentials the gateway holds for it (`call`). `server`
//! serves those tools as an in-process MCP server, which the MCP hub
//! connects to like any other upstream: team policy, argument conditions,
//! rate limits, guardrails, pinning, audit and metrics apply unchanged.

mod call;
mod document;
pub mod operations;
mod server;

pub use call::{Api, ApiAuth, AuthPlacement};
pub use document::{DocumentError, parse_document, resolve_refs};
pub use operations::{Filter, Operation, ParamLocation, Parameter, operations};
pub use server::OpenApiServer;

#[cfg(test)]
mod tests;
