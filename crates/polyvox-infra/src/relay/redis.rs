//! [`RedisRelay`]: job logs as Redis Streams, `{prefix}:relay:{job_id}`.
//!
//! - Append: `XADD key MAXLEN ~ N * h <json> [b <bytes>]` and `EXPIRE key ttl` in one pipeline;
//!   the audio travels as a raw binary field, never base64.
//! - Follow: `XREAD COUNT 256 BLOCK ms STREAMS key <last id>` from `0`. A blocking read holds its
//!   connection for the whole block and would stall every command multiplexed behind it, so each
//!   subscription takes a dedicated connection from a small pool, and gives it back only if no
//!   read was cut short (a cancelled `XREAD BLOCK` may still be pending on the server).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use redis::Value;
use redis::aio::{ConnectionManager, MultiplexedConnection};

use super::{Relay, RelayConfig, RelayEvent, Subscription};
use crate::call::{instrumented, redis_manager};
use crate::names::system::REDIS;
use crate::{InfraError, Result};

/// Idle dedicated connections kept for subscriptions.
const MAX_IDLE: usize = 32;

struct Inner {
    client: redis::Client,
    conn: ConnectionManager,
    idle: Mutex<Vec<MultiplexedConnection>>,
    cfg: RelayConfig,
}

impl Inner {
    /// A connection no other caller uses: an idle pooled one, or a new one.
    async fn dedicated(&self) -> Result<MultiplexedConnection> {
        let pooled = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        if let Some(c) = pooled {
            return Ok(c);
        }
        let client = self.client.clone();
        instrumented(REDIS, "relay_connect", self.cfg.call_timeout, async move {
            Ok(client.get_multiplexed_async_connection().await?)
        })
        .await
    }
}

/// Redis Streams [`Relay`]. Cheap to clone.
#[derive(Clone)]
pub struct RedisRelay {
    inner: Arc<Inner>,
}

impl RedisRelay {
    pub async fn connect(url: &str, cfg: RelayConfig) -> Result<Self> {
        let client = redis::Client::open(url)?;
        let conn = redis_manager(client.clone(), cfg.call_timeout).await?;
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                conn,
                idle: Mutex::new(Vec::new()),
                cfg,
            }),
        })
    }

    /// The Redis key of `job_id`'s log.
    pub fn key(&self, job_id: &str) -> String {
        format!("{{{}}}:relay:{job_id}", self.inner.cfg.prefix)
    }
}

#[async_trait::async_trait]
impl Relay for RedisRelay {
    async fn publish(&self, job_id: &str, event: RelayEvent) -> Result<()> {
        let key = self.key(job_id);
        let header = serde_json::to_vec(&event).map_err(|e| InfraError::Corrupt(e.to_string()))?;
        let mut add = redis::cmd("XADD");
        add.arg(&key)
            .arg("MAXLEN")
            .arg("~")
            .arg(self.inner.cfg.max_entries)
            .arg("*")
            .arg("h")
            .arg(header);
        if let RelayEvent::Audio { bytes, .. } = &event {
            add.arg("b").arg(bytes.as_ref());
        }
        let mut pipe = redis::pipe();
        pipe.add_command(add)
            .ignore()
            .cmd("EXPIRE")
            .arg(&key)
            .arg(self.inner.cfg.ttl.as_secs().max(1))
            .ignore();
        let mut conn = self.inner.conn.clone();
        instrumented(
            REDIS,
            "relay_publish",
            self.inner.cfg.call_timeout,
            async move {
                let () = pipe.query_async(&mut conn).await?;
                Ok(())
            },
        )
        .await
    }

    async fn subscribe(&self, job_id: &str) -> Result<Box<dyn Subscription>> {
        let conn = self.inner.dedicated().await?;
        Ok(Box::new(RedisSubscription {
            inner: Arc::clone(&self.inner),
            key: self.key(job_id),
            last: "0".into(),
            conn: Some(conn),
            clean: true,
        }))
    }

    async fn ping(&self) -> Result<()> {
        let mut conn = self.inner.conn.clone();
        instrumented(REDIS, "ping", self.inner.cfg.call_timeout, async move {
            let _: String = redis::cmd("PING").query_async(&mut conn).await?;
            Ok(())
        })
        .await
    }
}

struct RedisSubscription {
    inner: Arc<Inner>,
    key: String,
    /// Stream id of the last entry returned.
    last: String,
    conn: Option<MultiplexedConnection>,
    /// No read was abandoned half way: the connection is safe to hand to someone else.
    clean: bool,
}

impl Drop for RedisSubscription {
    fn drop(&mut self) {
        if let (true, Some(conn)) = (self.clean, self.conn.take()) {
            let mut idle = self
                .inner
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if idle.len() < MAX_IDLE {
                idle.push(conn);
            }
        }
    }
}

#[async_trait::async_trait]
impl Subscription for RedisSubscription {
    async fn next(&mut self, wait: Duration) -> Result<Vec<RelayEvent>> {
        let conn = match self.conn.take() {
            Some(c) => c,
            None => self.inner.dedicated().await?,
        };
        let conn = self.conn.insert(conn);
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT")
            .arg(256)
            .arg("BLOCK")
            .arg(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1))
            .arg("STREAMS")
            .arg(&self.key)
            .arg(&self.last);
        self.clean = false;
        let bound = wait + self.inner.cfg.call_timeout;
        let reply: Value = match instrumented(REDIS, "relay_read", bound, async {
            Ok(cmd.query_async(conn).await?)
        })
        .await
        {
            Ok(v) => v,
            Err(e) => {
                // The connection's state is unknown now; the next read uses a fresh one.
                self.conn = None;
                return Err(e);
            }
        };
        self.clean = true;
        let mut out = Vec::new();
        for (id, fields) in entries(reply)? {
            out.push(decode(fields)?);
            self.last = id;
        }
        Ok(out)
    }
}

/// An entry's field names and values, raw.
type Fields = Vec<(Vec<u8>, Vec<u8>)>;

/// The `(id, fields)` of an `XREAD` reply for one stream (nil when the block timed out).
fn entries(reply: Value) -> Result<Vec<(String, Fields)>> {
    let corrupt = |what: &str| InfraError::Corrupt(format!("unexpected XREAD reply: {what}"));
    let streams = match reply {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(s) => s,
        Value::Map(m) => m
            .into_iter()
            .map(|(k, v)| Value::Array(vec![k, v]))
            .collect(),
        _ => return Err(corrupt("not a list")),
    };
    let mut out = Vec::new();
    for stream in streams {
        let Value::Array(mut pair) = stream else {
            return Err(corrupt("stream is not a pair"));
        };
        let Some(Value::Array(items)) = pair.pop() else {
            return Err(corrupt("no entries"));
        };
        for item in items {
            let Value::Array(mut parts) = item else {
                return Err(corrupt("entry is not a pair"));
            };
            let (Some(Value::Array(kv)), Some(id)) = (parts.pop(), parts.pop()) else {
                return Err(corrupt("entry without fields"));
            };
            let id = bulk(id).ok_or_else(|| corrupt("entry id"))?;
            let mut fields = Vec::new();
            let mut it = kv.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                fields.push((
                    bulk(k).ok_or_else(|| corrupt("field name"))?,
                    bulk(v).ok_or_else(|| corrupt("field value"))?,
                ));
            }
            out.push((String::from_utf8_lossy(&id).into_owned(), fields));
        }
    }
    Ok(out)
}

fn bulk(v: Value) -> Option<Vec<u8>> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.into_bytes()),
        _ => None,
    }
}

fn decode(fields: Fields) -> Result<RelayEvent> {
    let mut header = None;
    let mut body = None;
    for (k, v) in fields {
        match k.as_slice() {
            b"h" => header = Some(v),
            b"b" => body = Some(v),
            _ => {}
        }
    }
    let header = header.ok_or_else(|| InfraError::Corrupt("relay entry without header".into()))?;
    let mut event: RelayEvent =
        serde_json::from_slice(&header).map_err(|e| InfraError::Corrupt(e.to_string()))?;
    if let (RelayEvent::Audio { bytes, .. }, Some(b)) = (&mut event, body) {
        *bytes = Bytes::from(b);
    }
    Ok(event)
}
