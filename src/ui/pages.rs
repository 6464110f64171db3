//! The two HTML documents the dashboard serves: the sign-in page and the
//! shell the script fills. No inline script or style (the CSP forbids
//! them); the only value written into the page is the session's CSRF
//! token, which is hex.

pub const ADMIN_OFF: &str =
    "The admin API is off: configure `[admin]` in the gateway's config to use the dashboard.";
pub const WRONG_KEY: &str = "That is not the admin key.";
pub const TEAM_KEY: &str = "A team key cannot open the dashboard: sign in with the admin key.";
pub const NO_KEY: &str = "Enter the admin key.";
pub const CROSS_SITE: &str = "Refused: the form did not come from this gateway's own page.";

fn head(title: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Switchboard</title>
<link rel="icon" href="/ui/assets/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/ui/assets/uPlot.min.css">
<link rel="stylesheet" href="/ui/assets/app.css">
</head>"#
    )
}

/// The sign-in page, with a message when a sign-in was refused. Messages
/// are this module's constants, never a client's text.
pub fn login(message: Option<&'static str>) -> String {
    let message = message
        .map(|m| format!(r#"<p class="error" role="alert">{m}</p>"#))
        .unwrap_or_default();
    format!(
        r#"{head}
<body class="login">
<main>
<h1>Switchboard</h1>
<form method="post" action="/ui/login">
<label for="key">Admin key</label>
<input id="key" name="key" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Sign in</button>
{message}
</form>
</main>
</body>
</html>
"#,
        head = head("Sign in")
    )
}

/// The signed-in shell: navigation, a place for the page, and the scripts.
pub fn app(csrf: &str) -> String {
    let csrf: String = csrf.chars().filter(char::is_ascii_hexdigit).collect();
    format!(
        r##"{head}
<body>
<meta name="csrf-token" content="{csrf}">
<header>
<strong>Switchboard</strong>
<nav>
<a href="#/overview">Overview</a>
<a href="#/spend">Spend</a>
<a href="#/cache">Cache</a>
<a href="#/requests">Requests</a>
<a href="#/guardrails">Guardrails</a>
<a href="#/mcp">MCP</a>
</nav>
<form method="post" action="/ui/logout">
<input type="hidden" name="csrf" value="{csrf}">
<button type="submit">Sign out</button>
</form>
</header>
<main id="page" aria-live="polite"></main>
<script src="/ui/assets/uPlot.iife.min.js"></script>
<script src="/ui/assets/app.js"></script>
</body>
</html>
"##,
        head = head("Dashboard")
    )
}
