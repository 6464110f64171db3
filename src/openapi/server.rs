//! The operations of one API served as an in-process MCP server.

use super::call::Api;
use super::operations::Operation;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::{Map, Value};
use std::sync::Arc;

struct Served {
    operation: Operation,
    tool: Tool,
    validator: jsonschema::Validator,
}

/// An MCP server whose tools are an API's operations.
#[derive(Clone)]
pub struct OpenApiServer {
    name: Arc<str>,
    api: Arc<Api>,
    served: Arc<Vec<Served>>,
}

impl OpenApiServer {
    /// Serve `operations` of `api`; an operation whose input schema does not
    /// compile is left out, with a warning naming it.
    pub fn new(name: &str, api: Api, operations: Vec<Operation>) -> (Self, Vec<String>) {
        let mut warnings = Vec::new();
        let mut served = Vec::new();
        for operation in operations {
            let schema = Value::Object(operation.input_schema.clone());
            match jsonschema::validator_for(&schema) {
                Ok(validator) => {
                    let mut tool = Tool::new(
                        operation.name.clone(),
                        operation.description.clone(),
                        Arc::new(operation.input_schema.clone()),
                    );
                    if let Some(output) = &operation.output_schema {
                        tool = tool.with_raw_output_schema(Arc::new(output.clone()));
                    }
                    served.push(Served {
                        operation,
                        tool,
                        validator,
                    });
                }
                Err(error) => warnings.push(format!(
                    "{} {} skipped: its input schema does not compile: {error}",
                    operation.method, operation.path
                )),
            }
        }
        let server = Self {
            name: Arc::from(name),
            api: Arc::new(api),
            served: Arc::new(served),
        };
        (server, warnings)
    }

    /// The tools served, in the document's order.
    pub fn tools(&self) -> Vec<Tool> {
        self.served.iter().map(|s| s.tool.clone()).collect()
    }

    /// Call a tool by name: arguments checked against its schema first, so
    /// a bad argument never reaches the API.
    pub async fn call(
        &self,
        name: &str,
        arguments: Map<String, Value>,
    ) -> Result<CallToolResult, ErrorData> {
        let Some(served) = self.served.iter().find(|s| s.operation.name == name) else {
            return Err(ErrorData::invalid_params(
                format!("unknown tool `{name}`"),
                None,
            ));
        };
        let instance = Value::Object(arguments);
        let problems: Vec<String> = served
            .validator
            .iter_errors(&instance)
            .take(5)
            .map(|error| {
                let at = error.instance_path().to_string();
                if at.is_empty() {
                    error.to_string()
                } else {
                    format!("`{}`: {error}", at.trim_start_matches('/'))
                }
            })
            .collect();
        if !problems.is_empty() {
            return Err(ErrorData::invalid_params(
                format!(
                    "arguments of `{name}` do not match its schema: {}",
                    problems.join("; ")
                ),
                None,
            ));
        }
        let Value::Object(arguments) = instance else {
            unreachable!("built from a map above")
        };
        match self.api.call(&served.operation, &arguments).await {
            Ok(result) => Ok(result),
            Err(reason) => {
                tracing::warn!(server = %self.name, tool = name, reason, "REST API call failed");
                Ok(CallToolResult::error(vec![ContentBlock::text(format!(
                    "the API could not be reached: {reason}"
                ))]))
            }
        }
    }
}

impl ServerHandler for OpenApiServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build()).with_server_info(
            Implementation::new(format!("openapi:{}", self.name), env!("CARGO_PKG_VERSION")),
        )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools()))
    }

    async fn call_tool(
        &self,
        params: CallToolRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let arguments = params.arguments.unwrap_or_default();
        self.call(&params.name, arguments)
            .await
            .map(CallToolResponse::Complete)
    }
}
