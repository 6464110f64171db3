//! The one way the gateway opens a Redis connection for shared state (quota
//! counters, cache entries): lazy, so a gateway starts while Redis is down,
//! with the operator's timeout on connecting and on every answer, and one
//! quick retry, so a request never waits long on an unreachable Redis.

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::time::Duration;

pub fn lazy_connection(
    client: &redis::Client,
    timeout: Duration,
) -> redis::RedisResult<ConnectionManager> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(200));
    ConnectionManager::new_lazy_with_config(client.clone(), config)
}
