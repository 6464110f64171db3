//! Server-to-client notifications through the gateway: `subscriptions/listen`
//! streams of 2026-07-28 clients told of registry and upstream changes, and
//! resource templates and subscriptions against the real
//! `@modelcontextprotocol/server-everything` (stdio), for both protocol eras.

use crate::harness::{ALPHA_KEY, BETA_KEY, Harness};
use crate::mcp::peers;
use crate::mcp_admin::{
    ADMIN_KEY, add_server, admin, admin_commands_section, admin_gateway, admin_section, by_name,
};
use crate::mcp_fixture::{FixtureServer, connect, tool, wait_for_tools};
use parking_lot::Mutex;
use rmcp::model::{
    ProtocolVersion, ReadResourceRequestParams, ServerNotification, SubscriptionFilter,
};
use rmcp::service::{NotificationContext, RunningService, Subscription};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{
    ClientHandler, ClientLifecycleMode, ClientServiceExt, RoleClient, ServiceError, ServiceExt,
};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use switchboard_mock_upstream::MockOptions;

/// A URI server-everything serves through its dynamic text template.
const DYNAMIC: &str = "demo://resource/dynamic/text/7";
const TEXT_TEMPLATE: &str = "demo://resource/dynamic/text/{resourceId}";

/// An rmcp client of the stateless 2026-07-28 revision (`server/discover`).
async fn connect_stateless(base: &str, key: &str) -> RunningService<RoleClient, ()> {
    let transport = StreamableHttpClientTransport::with_client(
        reqwest::Client::new(),
        StreamableHttpClientTransportConfig::with_uri(format!("{base}/mcp")).auth_header(key),
    );
    let lifecycle = ClientLifecycleMode::Discover {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
    };
    ().serve_with_lifecycle(transport, lifecycle)
        .await
        .expect("a 2026-07-28 client connects to the gateway")
}

/// The next notification on the stream that `wanted` accepts (others are
/// skipped), within `within`.
async fn heard(
    subscription: &mut Subscription,
    within: Duration,
    wanted: impl Fn(&ServerNotification) -> bool,
) -> ServerNotification {
    let wait = async {
        loop {
            match subscription.next().await {
                Ok(Some(notification)) if wanted(&notification) => return notification,
                Ok(Some(_)) => {}
                other => panic!("the listen stream ended: {other:?}"),
            }
        }
    };
    tokio::time::timeout(within, wait)
        .await
        .expect("the notification never arrived")
}

fn tools_changed(n: &ServerNotification) -> bool {
    matches!(n, ServerNotification::ToolListChangedNotification(_))
}

fn prompts_changed(n: &ServerNotification) -> bool {
    matches!(n, ServerNotification::PromptListChangedNotification(_))
}

fn resources_changed(n: &ServerNotification) -> bool {
    matches!(n, ServerNotification::ResourceListChangedNotification(_))
}

/// Tools, prompts and resources `list_changed`, each at least once: they
/// are sent side by side, so in any order.
async fn heard_every_list_change(subscription: &mut Subscription, within: Duration) {
    let kinds: [fn(&ServerNotification) -> bool; 3] =
        [tools_changed, prompts_changed, resources_changed];
    let mut pending = kinds.to_vec();
    while !pending.is_empty() {
        let notification =
            heard(subscription, within, |n| pending.iter().any(|kind| kind(n))).await;
        pending.retain(|kind| !kind(&notification));
    }
}

fn updated(uri: &str) -> impl Fn(&ServerNotification) -> bool + '_ {
    move |n| matches!(n, ServerNotification::ResourceUpdatedNotification(u) if u.params.uri == uri)
}

#[tokio::test]
async fn listen_streams_hear_registry_and_upstream_changes() {
    let fx = FixtureServer::start("fx", vec![tool("echo", "echo")]).await;
    let other = FixtureServer::start("other", vec![tool("now", "now")]).await;
    let h = admin_gateway(&fx.url).await;
    let base = format!("http://{}", h.gateway.addr);
    let legacy = connect(&base, "/mcp", ALPHA_KEY).await;
    wait_for_tools(&legacy, |n| n == ["fx__echo"]).await;

    let client = connect_stateless(&base, ALPHA_KEY).await;
    let filter = SubscriptionFilter::builder()
        .tools_list_changed()
        .prompts_list_changed()
        .resources_list_changed()
        .build();
    let mut stream = client.listen(filter.clone()).await.expect("listen");
    assert_eq!(stream.acknowledged(), &filter);
    let soon = Duration::from_secs(10);

    // An upstream's own tools/list_changed.
    fx.set_tools(vec![tool("echo", "echo"), tool("more", "more")])
        .await;
    heard(&mut stream, soon, tools_changed).await;
    wait_for_tools(&legacy, |n| n == ["fx__echo", "fx__more"]).await;

    // A server added through the admin API: its tools, prompts and
    // resources join the merged lists.
    let (status, answer) = add_server(&h, json!({"name": "other", "url": other.url})).await;
    assert_eq!(status, 201, "{answer}");
    heard_every_list_change(&mut stream, soon).await;
    wait_for_tools(&legacy, |n| n.contains(&"other__now".to_owned())).await;

    // A server removed: the stream hears that too.
    let (status, _) = admin(
        &h,
        "DELETE",
        "/admin/mcp/servers/other",
        Some(ADMIN_KEY),
        None,
    )
    .await;
    assert_eq!(status, 200);
    heard_every_list_change(&mut stream, soon).await;
    wait_for_tools(&legacy, |n| n == ["fx__echo", "fx__more"]).await;

    // Cancelling the stream leaves the gateway with the legacy session only;
    // so does a client that goes away with its stream open.
    let listeners = || h.gateway.gateway.mcp.listeners();
    // Registered just after the acknowledgement.
    settles(|| listeners() == 2).await;
    stream.cancel().await.expect("cancel");
    settles(|| listeners() == 1).await;
    let gone = connect_stateless(&base, ALPHA_KEY).await;
    let _open = gone.listen(filter).await.expect("listen");
    // Registered just after the acknowledgement.
    settles(|| listeners() == 2).await;
    gone.cancel().await.expect("the client closes");
    settles(|| listeners() == 1).await;
}

/// Wait (up to 5 s) until `done` holds.
async fn settles(done: impl Fn() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(done(), "never settled");
}

/// A legacy client that records `notifications/resources/updated`.
#[derive(Clone, Default)]
struct Updates {
    uris: Arc<Mutex<Vec<String>>>,
}

impl ClientHandler for Updates {
    async fn on_resource_updated(
        &self,
        params: rmcp::model::ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.uris.lock().push(params.uri);
    }
}

async fn everything_gateway() -> Harness {
    let command = &peers()["MCP_EVERYTHING_SERVER"];
    Harness::with(
        MockOptions::default(),
        &format!(
            "{}{}[[mcp.servers]]\nname = \"everything\"\ncommand = \"{command}\"\nargs = [\"stdio\"]\n\
             [[mcp.teams]]\nteam = \"alpha\"\n\
             [[mcp.teams]]\nteam = \"beta\"\ndeny = [\"everything/demo://resource/dynamic/*\"]\n",
            admin_section(),
            admin_commands_section()
        ),
    )
    .await
}

#[tokio::test]
async fn resource_templates_are_merged_and_reads_follow_them() {
    let h = everything_gateway().await;
    let base = format!("http://{}", h.gateway.addr);
    let client = connect(&base, "/mcp", ALPHA_KEY).await;
    wait_for_tools(&client, |n| n.contains(&"everything__echo".to_owned())).await;

    let templates = client
        .list_all_resource_templates()
        .await
        .expect("resources/templates/list");
    let uris: Vec<&str> = templates.iter().map(|t| t.uri_template.as_str()).collect();
    assert!(uris.contains(&TEXT_TEMPLATE), "{uris:?}");
    // A URI no server lists goes to the server whose template it fits.
    let read = client
        .read_resource(ReadResourceRequestParams::new(DYNAMIC))
        .await
        .expect("templated read");
    assert!(!read.contents.is_empty());
    let fits_nothing = client
        .read_resource(ReadResourceRequestParams::new("demo://nowhere/7"))
        .await;
    assert!(matches!(fits_nothing, Err(ServiceError::McpError(_))));

    // Beta's policy denies the dynamic resources: neither listed nor read.
    let beta = connect(&base, "/mcp", BETA_KEY).await;
    let templates = beta.list_all_resource_templates().await.unwrap();
    assert!(
        templates.iter().all(|t| t.uri_template != TEXT_TEMPLATE),
        "{templates:?}"
    );
    let denied = beta
        .read_resource(ReadResourceRequestParams::new(DYNAMIC))
        .await;
    assert!(
        matches!(denied, Err(ServiceError::McpError(_))),
        "{denied:?}"
    );
}

/// Wait until server-everything is up (its resources are listed).
async fn wait_for_resources(client: &RunningService<RoleClient, Updates>) {
    for _ in 0..200 {
        if !client
            .list_all_resources()
            .await
            .expect("resources/list")
            .is_empty()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("server-everything never came up");
}

/// Start server-everything's simulated updates for the gateway's session
/// (the tool toggles them; "Started" sends one at once, then every 5 s).
async fn start_updates(client: &RunningService<RoleClient, Updates>) {
    const TOGGLE: &str = "everything__toggle-subscriber-updates";
    // The tool is there once the server is (back) up.
    for _ in 0..200 {
        let tools = client.list_all_tools().await.expect("tools/list");
        if tools.iter().any(|t| t.name == TOGGLE) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for _ in 0..2 {
        let params = rmcp::model::CallToolRequestParams::new(TOGGLE);
        let result = client.call_tool(params).await.expect("tools/call");
        if result.content[0]
            .as_text()
            .expect("text")
            .text
            .contains("Started")
        {
            return;
        }
    }
    panic!("server-everything did not start its updates");
}

#[tokio::test]
async fn resource_subscriptions_reach_both_eras() {
    let h = everything_gateway().await;
    let base = format!("http://{}", h.gateway.addr);
    let transport = StreamableHttpClientTransport::with_client(
        reqwest::Client::new(),
        StreamableHttpClientTransportConfig::with_uri(format!("{base}/mcp")).auth_header(ALPHA_KEY),
    );
    let updates = Updates::default();
    let legacy = updates.clone().serve(transport).await.expect("connects");
    wait_for_resources(&legacy).await;

    // A legacy session subscribes; the upstream's update reaches it under
    // the same URI.
    #[allow(deprecated)]
    legacy
        .subscribe(rmcp::model::SubscribeRequestParams::new(DYNAMIC))
        .await
        .expect("resources/subscribe");
    assert_eq!(subscribed(&h).await, [DYNAMIC]);
    start_updates(&legacy).await;
    for _ in 0..300 {
        if updates.uris.lock().iter().any(|u| u == DYNAMIC) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(updates.uris.lock().iter().any(|u| u == DYNAMIC));
    // A URI the caller cannot read is refused.
    #[allow(deprecated)]
    let unknown = legacy
        .subscribe(rmcp::model::SubscribeRequestParams::new("demo://nowhere/1"))
        .await;
    assert!(
        matches!(unknown, Err(ServiceError::McpError(_))),
        "{unknown:?}"
    );

    // A 2026-07-28 client asks on its listen stream; updates keep coming
    // every 5 s, and reach it too.
    let client = connect_stateless(&base, ALPHA_KEY).await;
    let filter = SubscriptionFilter::builder()
        .resource_subscription(DYNAMIC)
        .build();
    let mut stream = client.listen(filter).await.expect("listen");
    heard(&mut stream, Duration::from_secs(15), updated(DYNAMIC)).await;

    // After unsubscribing, the legacy session hears no more.
    #[allow(deprecated)]
    legacy
        .unsubscribe(rmcp::model::UnsubscribeRequestParams::new(DYNAMIC))
        .await
        .expect("resources/unsubscribe");
    let count = updates.uris.lock().len();
    heard(&mut stream, Duration::from_secs(15), updated(DYNAMIC)).await;
    assert_eq!(updates.uris.lock().len(), count);
    // The upstream stays subscribed while the stream wants the URI, and is
    // unsubscribed when it ends.
    assert_eq!(subscribed(&h).await, [DYNAMIC]);

    // A replacement server (a new process) takes the subscription over:
    // it is subscribed as soon as it is up, and its updates flow.
    let command = &peers()["MCP_EVERYTHING_SERVER"];
    let replacement = json!({"name": "everything", "command": command, "args": ["stdio"]});
    let path = "/admin/mcp/servers/everything";
    let (status, answer) = admin(&h, "PUT", path, Some(ADMIN_KEY), Some(replacement)).await;
    assert!((200..300).contains(&status), "{status}: {answer}");
    assert_eq!(subscribed(&h).await, [DYNAMIC]);
    start_updates(&legacy).await;
    heard(&mut stream, Duration::from_secs(15), updated(DYNAMIC)).await;

    stream.cancel().await.expect("cancel");
    for _ in 0..200 {
        if subscribed(&h).await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(subscribed(&h).await.is_empty());
}

/// The resources the gateway holds subscriptions to on `everything`.
async fn subscribed(h: &Harness) -> Vec<String> {
    let (_, servers) = admin(h, "GET", "/admin/mcp/servers", Some(ADMIN_KEY), None).await;
    serde_json::from_value(by_name(&servers, "everything")["subscribed_resources"].clone())
        .expect("a list of URIs")
}
