//! One client connection: its startup (refusals, trust on loopback, SCRAM
//! with `--auth-file`), its DuckDB connection, and its queries, simple and
//! extended, streamed to the client (see the module docs of `serve`).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::{Sink, StreamExt, stream};
use pgwire::api::auth::noop::NoopStartupHandler;
use pgwire::api::auth::sasl::SASLAuthStartupHandler;
use pgwire::api::auth::sasl::scram::{ScramAuth, ScramSecret, gen_salted_password};
use pgwire::api::auth::{
    AuthSource, DefaultServerParameterProvider, LoginInfo, Password, StartupHandler,
};
use pgwire::api::cancel::CancelHandler;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{DataRowEncoder, FieldFormat, FieldInfo, QueryResponse, Response, Tag};
use pgwire::api::stmt::QueryParser;
use pgwire::api::{ClientInfo, PgWireServerHandlers, Type};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::cancel::CancelRequest;
use pgwire::messages::data::DataRow;
use pgwire::messages::startup::SecretKey;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use pgwire::tokio::TlsAcceptor;

use super::catalog::{Action, SESSION_SETTINGS, catalog_sql, classify};
use super::sql::{placeholders, replace_placeholders, split_statements};
use super::{Generation, Shared, encode};
use crate::query::engine::FactView;

fn user_error(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        code.into(),
        message.into(),
    )))
}

/// A DuckDB error as PostgreSQL reports its kind (SQLSTATE), message kept.
fn duckdb_error(e: &anyhow::Error, timed_out: bool) -> PgWireError {
    let text = format!("{e:#}");
    let first = text.lines().next().unwrap_or_default().to_string();
    let code = if text.contains("INTERRUPT") || text.contains("Interrupted") {
        return user_error(
            "57014",
            if timed_out {
                "canceling statement due to statement timeout"
            } else {
                "canceling statement due to user request"
            },
        );
    } else if text.contains("Parser Error") {
        "42601"
    } else if text.contains("Catalog Error") {
        if text.contains("Table") || text.contains("table") {
            "42P01"
        } else {
            "42883"
        }
    } else if text.contains("Binder Error") {
        if text.contains("column") || text.contains("Column") {
            "42703"
        } else {
            "42804"
        }
    } else if text.contains("Permission Error") {
        "42501"
    } else if text.contains("Conversion Error") || text.contains("Invalid Input Error") {
        "22P02"
    } else if text.contains("Out of Memory") {
        "53200"
    } else if text.contains("Out of Range") || text.contains("Overflow") {
        "22003"
    } else if text.contains("Divide by zero") || text.contains("Division by zero") {
        "22012"
    } else {
        "XX000"
    };
    user_error(code, first)
}

/// A parsed statement of the extended protocol.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub sql: String,
    pub action: Action,
    /// Parameter types, from the client or inferred by DuckDB.
    pub params: Vec<Type>,
    /// The result's columns (text format; the portal's format is applied
    /// when described or executed).
    pub fields: Vec<FieldInfo>,
}

/// A statement's SQL text and the OIDs of the parameter types its client
/// gave.
type Described = (String, Vec<Option<u32>>);

/// One client connection's state.
pub struct Session {
    id: u64,
    shared: Arc<Shared>,
    /// The generation this session's connection belongs to.
    generation: Mutex<Arc<Generation>>,
    /// Statements described on this session's generation, by SQL text and
    /// the client's parameter types: describing plans the statement, and
    /// clients (psycopg, pgbench -M extended) parse the same text again and
    /// again. Emptied when the session moves to a new version.
    described: Mutex<HashMap<Described, Parsed>>,
    conn: Arc<Mutex<duckdb::Connection>>,
    current: Arc<Mutex<FactView>>,
    settings: Mutex<BTreeMap<String, String>>,
}

/// What the blocking side of a query sends to the client's side.
enum Msg {
    Fields(Arc<Vec<FieldInfo>>),
    Rows(Vec<DataRow>),
    Error(PgWireError),
}

impl Session {
    /// Moves the session to the newest generation if the data set was
    /// replaced since its last statement; returns the generation to use.
    fn refresh(&self) -> Arc<Generation> {
        // One read of the small manifest per statement: a replaced data set
        // is served from the next statement on, not a second later.
        if !self.shared.generation().data_set().is_current() {
            self.shared.refresh();
        }
        let latest = self.shared.generation();
        let mut mine = self.generation.lock().unwrap_or_else(|e| e.into_inner());
        if mine.number != latest.number {
            let cloned = latest
                .root
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .try_clone();
            match cloned {
                Ok(conn) => {
                    *self.conn.lock().unwrap_or_else(|e| e.into_inner()) = conn;
                    *self.current.lock().unwrap_or_else(|e| e.into_inner()) = FactView::Partitions;
                    self.described
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .clear();
                    tracing::debug!(
                        "session {} moves to version {}",
                        self.id,
                        latest.data_set().version()
                    );
                    *mine = latest;
                }
                Err(e) => tracing::warn!("session {}: staying on its version: {e}", self.id),
            }
        }
        Arc::clone(&mine)
    }

    fn setting(&self, name: &str) -> String {
        self.settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
            .or_else(|| {
                SESSION_SETTINGS
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string())
            })
            .unwrap_or_default()
    }

    /// The statement timeout in force: the session's `SET
    /// statement_timeout` (ms) when set, else the server's.
    fn timeout(&self) -> Option<Duration> {
        let ms: u64 = self
            .setting("statement_timeout")
            .trim_end_matches("ms")
            .trim()
            .parse()
            .unwrap_or(0);
        match (ms, self.shared.cfg.statement_timeout) {
            (0, server) => server,
            (ms, Some(server)) => Some(Duration::from_millis(ms).min(server)),
            (ms, None) => Some(Duration::from_millis(ms)),
        }
    }

    /// A one-row, one-column text answer.
    fn text_answer(name: &str, value: &str, format: &Format) -> Response {
        let fields = Arc::new(vec![FieldInfo::new(
            name.to_string(),
            None,
            None,
            Type::TEXT,
            format.format_for(0),
        )]);
        let mut enc = DataRowEncoder::new(Arc::clone(&fields));
        let row = enc.encode_field(&Some(value)).map(|_| enc.take_row());
        Response::Query(QueryResponse::new(fields, stream::iter(vec![row])))
    }

    /// Answers `action` (not `Run`).
    fn answer(&self, action: Action, format: &Format) -> PgWireResult<Response> {
        tracing::debug!("session {} · answered by the server: {action:?}", self.id);
        Ok(match action {
            Action::Run => unreachable!("runs on DuckDB"),
            Action::Tag("BEGIN") => Response::TransactionStart(Tag::new("BEGIN")),
            Action::Tag(t @ ("COMMIT" | "ROLLBACK")) => Response::TransactionEnd(Tag::new(t)),
            // To a savepoint: the transaction goes on (PostgreSQL's tag).
            Action::Tag("ROLLBACK TO") => Response::Execution(Tag::new("ROLLBACK")),
            Action::Tag("EMPTY") => Response::EmptyQuery,
            Action::NoRows => Response::Query(QueryResponse::new(
                Arc::new(Vec::new()),
                stream::iter(Vec::new()),
            )),
            Action::Tag(t) => Response::Execution(Tag::new(t)),
            Action::Show { name, value } => {
                let value = if SESSION_SETTINGS.iter().any(|(n, _)| *n == name) {
                    self.setting(&name)
                } else {
                    value
                };
                Self::text_answer(&name, &value, format)
            }
            Action::Set { name, value } => {
                let mut s = self.settings.lock().unwrap_or_else(|e| e.into_inner());
                if value.is_empty() {
                    s.remove(&name);
                } else {
                    s.insert(name, value);
                }
                Response::Execution(Tag::new("SET"))
            }
            Action::Refuse { code, message } => return Err(user_error(code, message)),
        })
    }

    /// Runs `sql` with `params` on the session's connection through the
    /// engine (fact view, guarded rewrites), streaming its rows.
    async fn run(
        self: &Arc<Self>,
        key: (i32, SecretKey),
        sql: String,
        params: Vec<duckdb::types::Value>,
        format: Format,
    ) -> PgWireResult<Response> {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Msg>(4);
        let me = Arc::clone(self);
        tokio::task::spawn_blocking(move || me.execute(key, &sql, &params, &format, &tx, false));
        match rx.recv().await {
            Some(Msg::Fields(fields)) => {
                let rows = stream::unfold(rx, |mut rx| async move {
                    match rx.recv().await {
                        Some(Msg::Rows(rows)) => Some((
                            stream::iter(rows.into_iter().map(Ok).collect::<Vec<_>>()),
                            rx,
                        )),
                        Some(Msg::Error(e)) => Some((stream::iter(vec![Err(e)]), rx)),
                        Some(Msg::Fields(_)) | None => None,
                    }
                })
                .flatten();
                Ok(Response::Query(QueryResponse::new(fields, rows)))
            }
            Some(Msg::Error(e)) => Err(e),
            _ => Err(user_error("XX000", "the query ended without a result")),
        }
    }

    /// The blocking side of [`Session::run`]. A query that fails before
    /// its first row because the data set was replaced under it (the old
    /// version's files moved out of the directories the database may read)
    /// runs once more (`retried`), on the new version.
    fn execute(
        &self,
        key: (i32, SecretKey),
        sql: &str,
        params: &[duckdb::types::Value],
        format: &Format,
        tx: &tokio::sync::mpsc::Sender<Msg>,
        retried: bool,
    ) {
        let started = Instant::now();
        let generation = self.refresh();
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let handle = conn.interrupt_handle();
        self.shared
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.0, (secret_bytes(&key.1), Arc::clone(&handle)));
        // The statement timeout: interrupts until the query returns.
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let timed_out = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let timer = self.timeout().map(|limit| {
            let (handle, timed_out) = (Arc::clone(&handle), Arc::clone(&timed_out));
            std::thread::spawn(move || {
                let mut wait = limit;
                while done_rx.recv_timeout(wait).is_err() {
                    timed_out.store(true, Ordering::SeqCst);
                    handle.interrupt();
                    wait = Duration::from_millis(20);
                }
            })
        });
        let mut fields_sent: Option<Arc<Vec<FieldInfo>>> = None;
        let mut bytes = 0usize;
        let result = generation
            .core
            .run_on(&conn, &mut current, sql, &mut |conn, sql, dog| {
                let mut stmt = conn.prepare(sql)?;
                let stream = stmt.stream_arrow(duckdb::params_from_iter(params.iter()))?;
                let fields = match &fields_sent {
                    Some(f) => Arc::clone(f),
                    None => {
                        let f = Arc::new(encode::fields(&stream.get_schema(), format));
                        if tx.blocking_send(Msg::Fields(Arc::clone(&f))).is_err() {
                            return Ok(0u64);
                        }
                        fields_sent = Some(Arc::clone(&f));
                        f
                    }
                };
                let mut rows = 0u64;
                for batch in stream {
                    let batch = batch?;
                    if batch.num_rows() == 0 {
                        continue;
                    }
                    dog.output_started();
                    let data = encode::rows(&batch, &fields)
                        .map_err(|e| anyhow::anyhow!("encoding the result: {e}"))?;
                    rows += data.len() as u64;
                    bytes += data.iter().map(|r| r.data.len()).sum::<usize>();
                    // A client gone (disconnected, or its portal closed): stop.
                    if tx.blocking_send(Msg::Rows(data)).is_err() {
                        break;
                    }
                }
                Ok(rows)
            });
        let _ = done_tx.send(());
        if let Some(t) = timer {
            let _ = t.join();
        }
        self.shared
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key.0);
        self.shared.queries.fetch_add(1, Ordering::Relaxed);
        let ms = started.elapsed().as_secs_f64() * 1e3;
        match result {
            Ok(ran) => {
                let rewrite = match (&ran.abandoned, &ran.prepared.rewrite) {
                    (Some(why), _) => format!("rewrite abandoned: {why}"),
                    (None, Some(note)) => note.clone(),
                    (None, None) => "none".to_string(),
                };
                tracing::debug!(
                    "session {} · {ms:.1} ms · {} rows · {bytes} bytes · rewrites: {rewrite} · {}",
                    self.id,
                    ran.value,
                    sql.split_whitespace().collect::<Vec<_>>().join(" ")
                );
            }
            Err(e) if !retried && fields_sent.is_none() && !generation.data_set().is_current() => {
                tracing::debug!(
                    "session {} · the data set was replaced under the query ({e:#}): running it on the new version",
                    self.id
                );
                drop(current);
                drop(conn);
                self.execute(key, sql, params, format, tx, true)
            }
            Err(e) => {
                let err = duckdb_error(&e, timed_out.load(Ordering::SeqCst));
                tracing::debug!(
                    "session {} · {ms:.1} ms · error: {} · {}",
                    self.id,
                    format!("{e:#}").lines().next().unwrap_or_default(),
                    sql.split_whitespace().collect::<Vec<_>>().join(" ")
                );
                let _ = tx.blocking_send(Msg::Error(err));
            }
        }
    }

    /// Parses `sql` for the extended protocol: its action, and for a read
    /// its parameter types and result columns, from DuckDB without running
    /// it.
    fn parse(&self, sql: &str, client_types: &[Option<Type>]) -> PgWireResult<Parsed> {
        let statements = split_statements(sql);
        if statements.len() > 1 {
            return Err(user_error(
                "42601",
                "cannot insert multiple commands into a prepared statement",
            ));
        }
        let sql = catalog_sql(&statements.into_iter().next().unwrap_or_default());
        let action = classify(&sql);
        let mut parsed = Parsed {
            sql: sql.clone(),
            action: action.clone(),
            params: Vec::new(),
            fields: Vec::new(),
        };
        match &action {
            Action::Run => {}
            Action::Show { name, .. } => {
                parsed.fields = vec![encode::field(
                    name,
                    &arrow::datatypes::DataType::Utf8,
                    FieldFormat::Text,
                )];
                return Ok(parsed);
            }
            _ => return Ok(parsed),
        }
        self.refresh();
        let key = (
            sql.clone(),
            client_types
                .iter()
                .map(|t| t.as_ref().map(Type::oid))
                .collect::<Vec<_>>(),
        );
        if let Some(known) = self
            .described
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(known.clone());
        }
        let n = placeholders(&sql);
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        // DuckDB's own view of the parameters: PREPARE, then read its types.
        let inferred: Vec<String> = if n == 0 {
            Vec::new()
        } else {
            conn.execute_batch(&format!("PREPARE olap_describe AS {sql}"))
                .map_err(|e| duckdb_error(&e.into(), false))?;
            let types: String = conn
                .query_row(
                    "SELECT parameter_types::VARCHAR FROM duckdb_prepared_statements() WHERE name = 'olap_describe'",
                    [],
                    |r| r.get(0),
                )
                .unwrap_or_default();
            let _ = conn.execute_batch("DEALLOCATE olap_describe");
            types
                .trim_matches(|c| c == '[' || c == ']')
                .split(", ")
                .map(|t| t.trim().to_string())
                .collect()
        };
        parsed.params = (0..n)
            .map(|i| {
                client_types
                    .get(i)
                    .cloned()
                    .flatten()
                    .filter(|t| *t != Type::UNKNOWN)
                    .unwrap_or_else(|| {
                        duckdb_type_to_pg(inferred.get(i).map_or("", String::as_str))
                    })
            })
            .collect();
        // The result's columns: the statement with its parameters as typed
        // NULLs, planned with no rows.
        let typed = replace_placeholders(&sql, &|i| {
            format!(
                "CAST(NULL AS {})",
                pg_to_duckdb_type(parsed.params.get(i - 1))
            )
        });
        let schema = {
            let mut stmt = conn
                .prepare(&format!("SELECT * FROM ({typed}) LIMIT 0"))
                .or_else(|_| conn.prepare(&typed))
                .map_err(|e| duckdb_error(&e.into(), false))?;
            let s = stmt
                .stream_arrow([])
                .map_err(|e| duckdb_error(&e.into(), false))?;
            s.get_schema()
        };
        parsed.fields = encode::fields(&schema, &Format::UnifiedText);
        self.described
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, parsed.clone());
        Ok(parsed)
    }
}

fn secret_bytes(k: &SecretKey) -> Vec<u8> {
    match k {
        SecretKey::I32(v) => v.to_be_bytes().to_vec(),
        SecretKey::Bytes(b) => b.to_vec(),
    }
}

/// A DuckDB type name (as `duckdb_prepared_statements()` prints it) as the
/// PostgreSQL type of a parameter; anything unknown is text, which DuckDB
/// casts as the statement needs.
fn duckdb_type_to_pg(t: &str) -> Type {
    let t = t.to_ascii_uppercase();
    match t.as_str() {
        "BOOLEAN" => Type::BOOL,
        "TINYINT" | "SMALLINT" | "UTINYINT" => Type::INT2,
        "INTEGER" | "USMALLINT" => Type::INT4,
        "BIGINT" | "UINTEGER" => Type::INT8,
        "FLOAT" => Type::FLOAT4,
        "DOUBLE" => Type::FLOAT8,
        "DATE" => Type::DATE,
        "TIMESTAMP" => Type::TIMESTAMP,
        "TIMESTAMP WITH TIME ZONE" => Type::TIMESTAMPTZ,
        t if t.starts_with("DECIMAL") => Type::NUMERIC,
        _ => Type::TEXT,
    }
}

/// The DuckDB type a parameter of PostgreSQL type `t` is planned with.
fn pg_to_duckdb_type(t: Option<&Type>) -> &'static str {
    match t {
        Some(t) if *t == Type::BOOL => "BOOLEAN",
        Some(t) if *t == Type::INT2 => "SMALLINT",
        Some(t) if *t == Type::INT4 => "INTEGER",
        Some(t) if *t == Type::INT8 => "BIGINT",
        Some(t) if *t == Type::FLOAT4 => "FLOAT",
        Some(t) if *t == Type::FLOAT8 => "DOUBLE",
        Some(t) if *t == Type::NUMERIC => "DECIMAL(38, 10)",
        Some(t) if *t == Type::DATE => "DATE",
        Some(t) if *t == Type::TIMESTAMP => "TIMESTAMP",
        Some(t) if *t == Type::TIMESTAMPTZ => "TIMESTAMPTZ",
        _ => "VARCHAR",
    }
}

/// A bound parameter as a DuckDB value.
fn parameter(portal: &Portal<Parsed>, i: usize, ty: &Type) -> PgWireResult<duckdb::types::Value> {
    use duckdb::types::Value;
    let v = if *ty == Type::BOOL {
        portal.parameter::<bool>(i, ty)?.map(Value::Boolean)
    } else if *ty == Type::INT2 {
        portal.parameter::<i16>(i, ty)?.map(Value::SmallInt)
    } else if *ty == Type::INT4 {
        portal.parameter::<i32>(i, ty)?.map(Value::Int)
    } else if *ty == Type::INT8 {
        portal.parameter::<i64>(i, ty)?.map(Value::BigInt)
    } else if *ty == Type::FLOAT4 {
        portal.parameter::<f32>(i, ty)?.map(Value::Float)
    } else if *ty == Type::FLOAT8 {
        portal.parameter::<f64>(i, ty)?.map(Value::Double)
    } else if *ty == Type::NUMERIC {
        portal
            .parameter::<rust_decimal::Decimal>(i, ty)?
            .map(|d| Value::Text(d.to_string()))
    } else if *ty == Type::DATE {
        portal
            .parameter::<chrono::NaiveDate>(i, ty)?
            .map(|d| Value::Text(d.to_string()))
    } else if *ty == Type::TIMESTAMP {
        portal
            .parameter::<chrono::NaiveDateTime>(i, ty)?
            .map(|d| Value::Text(d.to_string()))
    } else {
        portal.parameter::<String>(i, ty)?.map(Value::Text)
    };
    Ok(v.unwrap_or(Value::Null))
}

/// The handlers pgwire calls for one connection.
#[derive(Clone)]
pub struct Handlers {
    session: Arc<Session>,
    parser: Arc<Parser>,
    startup: Arc<Startup>,
    cancel: Arc<Cancel>,
}

pub struct Parser {
    session: Arc<Session>,
}

#[async_trait]
impl QueryParser for Parser {
    type Statement = Parsed;

    async fn parse_sql<C>(
        &self,
        _client: &C,
        sql: &str,
        types: &[Option<Type>],
    ) -> PgWireResult<Option<Parsed>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let session = Arc::clone(&self.session);
        let (sql, types) = (sql.to_string(), types.to_vec());
        tokio::task::block_in_place(move || {
            session.parse(&sql, &types).inspect_err(|e| {
                tracing::debug!(
                    "session {} · parse error: {e} · {}",
                    session.id,
                    sql.split_whitespace().collect::<Vec<_>>().join(" ")
                )
            })
        })
        .map(Some)
    }

    fn get_parameter_types(&self, stmt: &Parsed) -> PgWireResult<Vec<Type>> {
        Ok(stmt.params.clone())
    }

    fn get_result_schema(
        &self,
        stmt: &Parsed,
        column_format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        let format = column_format.cloned().unwrap_or(Format::UnifiedBinary);
        Ok(stmt
            .fields
            .iter()
            .enumerate()
            .map(|(i, f)| {
                FieldInfo::new(
                    f.name().to_string(),
                    None,
                    None,
                    f.datatype().clone(),
                    format.format_for(i),
                )
                .with_type_modifier(f.type_modifier())
            })
            .collect())
    }
}

#[async_trait]
impl SimpleQueryHandler for Handlers {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let key = client.pid_and_secret_key();
        let mut out = Vec::new();
        for stmt in split_statements(query) {
            let action = classify(&stmt);
            let response = match action {
                Action::Run => {
                    self.session
                        .run(
                            key.clone(),
                            catalog_sql(&stmt),
                            Vec::new(),
                            Format::UnifiedText,
                        )
                        .await
                }
                a => self.session.answer(a, &Format::UnifiedText),
            };
            match response {
                Ok(r) => out.push(r),
                // The rest of a simple query is not run after an error.
                Err(PgWireError::UserError(e)) => {
                    out.push(Response::Error(e));
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        if out.is_empty() {
            out.push(Response::EmptyQuery);
        }
        Ok(out)
    }
}

#[async_trait]
impl ExtendedQueryHandler for Handlers {
    type Statement = Parsed;
    type QueryParser = Parser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        Arc::clone(&self.parser)
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Parsed>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo
            + pgwire::api::ClientPortalStore
            + Sink<PgWireBackendMessage>
            + Unpin
            + Send
            + Sync,
        C::PortalStore: pgwire::api::store::PortalStore<Statement = Parsed>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let parsed = &portal.statement.statement;
        match &parsed.action {
            Action::Run => {
                let mut params = Vec::with_capacity(portal.parameter_len());
                for i in 0..portal.parameter_len() {
                    let ty = portal
                        .statement
                        .parameter_types
                        .get(i)
                        .cloned()
                        .flatten()
                        .filter(|t| *t != Type::UNKNOWN)
                        .or_else(|| parsed.params.get(i).cloned())
                        .unwrap_or(Type::TEXT);
                    params.push(parameter(portal, i, &ty)?);
                }
                self.session
                    .run(
                        client.pid_and_secret_key(),
                        parsed.sql.clone(),
                        params,
                        portal.result_column_format.clone(),
                    )
                    .await
            }
            a => self.session.answer(a.clone(), &portal.result_column_format),
        }
    }
}

/// Refusals at connect, then trust (loopback without `--auth-file`) or
/// SCRAM-SHA-256.
pub struct Startup {
    refusal: Option<(&'static str, String)>,
    scram: Option<SASLAuthStartupHandler<DefaultServerParameterProvider>>,
}

#[derive(Debug)]
struct Trust;

#[async_trait]
impl NoopStartupHandler for Trust {}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let Some((code, message)) = &self.refusal {
            return Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                "FATAL".into(),
                code.to_string(),
                message.clone(),
            ))));
        }
        match &self.scram {
            Some(h) => h.on_startup(client, message).await,
            None => Trust.on_startup(client, message).await,
        }
    }
}

/// The `--auth-file` users, for SCRAM-SHA-256.
#[derive(Debug)]
struct FileAuth {
    users: super::Users,
}

#[async_trait]
impl AuthSource for FileAuth {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        let user = login.user().unwrap_or_default();
        let secret = self
            .users
            .secret(user)
            .ok_or_else(|| PgWireError::InvalidPassword(user.to_string()))?;
        let salt: Vec<u8> = (0..16).map(|_| rand_byte()).collect();
        let salted = gen_salted_password(secret, &salt, SCRAM_ITERATIONS);
        Ok(Password::new(Some(salt), salted))
    }

    async fn get_scram_secret(&self, login: &LoginInfo) -> PgWireResult<(ScramSecret, Option<()>)> {
        let user = login.user().unwrap_or_default();
        let secret = self
            .users
            .secret(user)
            .ok_or_else(|| PgWireError::InvalidPassword(user.to_string()))?;
        // A verifier as PostgreSQL stores it:
        // SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>.
        if let Some(v) = secret.strip_prefix("SCRAM-SHA-256$") {
            use base64::Engine as _;
            let b64 = base64::engine::general_purpose::STANDARD;
            let parsed = (|| {
                let (iter_salt, keys) = v.split_once('$')?;
                let (iter, salt) = iter_salt.split_once(':')?;
                let (stored, server) = keys.split_once(':')?;
                Some(ScramSecret::Verifier {
                    salt: b64.decode(salt).ok()?,
                    iterations: iter.parse().ok()?,
                    stored_key: b64.decode(stored).ok()?,
                    server_key: b64.decode(server).ok()?,
                })
            })();
            return parsed
                .map(|s| (s, None))
                .ok_or_else(|| PgWireError::InvalidPassword(user.to_string()));
        }
        let salt: Vec<u8> = (0..16).map(|_| rand_byte()).collect();
        let salted = gen_salted_password(secret, &salt, SCRAM_ITERATIONS);
        Ok((
            ScramSecret::SaltedPassword {
                salt,
                salted_password: salted,
            },
            None,
        ))
    }
}

const SCRAM_ITERATIONS: usize = 4096;

/// A random byte (salts): the clock mixed, enough for a salt.
fn rand_byte() -> u8 {
    use std::sync::atomic::AtomicU64;
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    (crate::util::mix64(t ^ N.fetch_add(0x9E37_79B9, Ordering::Relaxed)) >> 24) as u8
}

/// Cancel requests: the running query of the session they name.
pub struct Cancel {
    shared: Arc<Shared>,
}

#[async_trait]
impl CancelHandler for Cancel {
    async fn on_cancel_request(&self, req: CancelRequest) {
        let running = self
            .shared
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some((secret, handle)) = running.get(&req.pid)
            && *secret == secret_bytes(&req.secret_key)
        {
            handle.interrupt();
            tracing::debug!("cancel request for pid {}", req.pid);
        }
    }
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        Arc::new(self.clone())
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        Arc::new(self.clone())
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        Arc::clone(&self.startup)
    }

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        Arc::clone(&self.cancel)
    }
}

/// The TLS acceptor for `--tls-cert` and `--tls-key` (PEM).
pub fn tls_acceptor(cert: &std::path::Path, key: &std::path::Path) -> anyhow::Result<TlsAcceptor> {
    use pgwire::tokio::tokio_rustls::rustls;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let _ = rustls::crypto::ring::default_provider().install_default();
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .map_err(|e| crate::error::UserError::new(format!("--tls-cert {}: {e}", cert.display())))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| crate::error::UserError::new(format!("--tls-key {}: {e}", key.display())))?;
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| crate::error::UserError::new(format!("--tls-cert/--tls-key: {e}")))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serves one client connection until it closes.
pub async fn handle(
    socket: tokio::net::TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
) {
    let active = shared.active.fetch_add(1, Ordering::SeqCst) + 1;
    struct Leave(Arc<Shared>);
    impl Drop for Leave {
        fn drop(&mut self) {
            self.0.active.fetch_sub(1, Ordering::SeqCst);
        }
    }
    let _leave = Leave(Arc::clone(&shared));
    let cfg = &shared.cfg;
    let refusal = if shared.stopping.load(Ordering::SeqCst) {
        Some(("57P03", "the server is shutting down".to_string()))
    } else if active > cfg.max_connections {
        Some((
            "53300",
            format!(
                "too many connections: olap serve takes {} at most (--max-connections)",
                cfg.max_connections
            ),
        ))
    } else if cfg.users.is_none() && !peer.ip().is_loopback() {
        Some((
            "28000",
            "olap serve without --auth-file accepts loopback connections only".to_string(),
        ))
    } else {
        None
    };
    let generation = shared.generation();
    let conn = match generation
        .root
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .try_clone()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("olap serve: no connection for {peer}: {e}");
            return;
        }
    };
    let id = shared.next_session.fetch_add(1, Ordering::SeqCst);
    let session = Arc::new(Session {
        id,
        shared: Arc::clone(&shared),
        generation: Mutex::new(generation),
        described: Mutex::new(HashMap::new()),
        conn: Arc::new(Mutex::new(conn)),
        current: Arc::new(Mutex::new(FactView::Partitions)),
        settings: Mutex::new(BTreeMap::new()),
    });
    let scram = cfg.users.as_ref().map(|users| {
        let mut scram = ScramAuth::new(Arc::new(FileAuth {
            users: users.clone(),
        }));
        scram.set_iterations(SCRAM_ITERATIONS);
        SASLAuthStartupHandler::new(Arc::new(DefaultServerParameterProvider::default()))
            .with_scram(scram)
    });
    let handlers = Handlers {
        parser: Arc::new(Parser {
            session: Arc::clone(&session),
        }),
        session,
        startup: Arc::new(Startup { refusal, scram }),
        cancel: Arc::new(Cancel {
            shared: Arc::clone(&shared),
        }),
    };
    tracing::debug!("session {id} from {peer}");
    if let Err(e) = pgwire::tokio::process_socket(socket, tls, handlers).await {
        tracing::debug!("session {id} from {peer} ended: {e}");
    }
}
