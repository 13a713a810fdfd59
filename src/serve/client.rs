//! A small blocking PostgreSQL client (simple query protocol, trust auth)
//! for the benchmark's `--clients pgwire` concurrency study: each client is
//! its own TCP connection to `olap serve`, so the figure includes the wire,
//! the encoding of every row and the server's session layer, as psql or
//! psycopg would see them. The messages are encoded and parsed by
//! `postgres-protocol`, the codec tokio-postgres uses; only the loop that
//! sends a query and reads until ReadyForQuery is here.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytes::BytesMut;
use fallible_iterator::FallibleIterator;
use postgres_protocol::message::backend::Message;
use postgres_protocol::message::frontend;

/// One connection, after startup, ready for queries.
pub struct Client {
    stream: TcpStream,
    buf: BytesMut,
}

/// What one query returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    pub rows: u64,
    pub bytes: u64,
}

impl Client {
    /// Connects as `user` (a server without `--auth-file` trusts loopback
    /// clients; this client speaks no password).
    pub fn connect(addr: SocketAddr, user: &str) -> Result<Client> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        let mut c = Client {
            stream,
            buf: BytesMut::with_capacity(64 * 1024),
        };
        let mut out = BytesMut::new();
        frontend::startup_message(
            [
                ("user", user),
                ("database", "olap"),
                ("application_name", "olap benchmark"),
            ],
            &mut out,
        )?;
        c.stream.write_all(&out)?;
        loop {
            match c.next()? {
                Message::AuthenticationOk
                | Message::ParameterStatus(_)
                | Message::BackendKeyData(_)
                | Message::NoticeResponse(_) => {}
                Message::ReadyForQuery(_) => return Ok(c),
                Message::ErrorResponse(e) => {
                    bail!("{addr} refused the connection: {}", error_text(&e))
                }
                _ => bail!(
                    "{addr} asked for a password: the benchmark's clients connect to a server without --auth-file"
                ),
            }
        }
    }

    /// Runs `sql` (simple query protocol, text results) and reads the whole
    /// answer; an error response is an error here (the session goes on).
    pub fn query(&mut self, sql: &str) -> Result<Answer> {
        let mut out = BytesMut::new();
        frontend::query(sql, &mut out)?;
        self.stream.write_all(&out)?;
        let mut answer = Answer { rows: 0, bytes: 0 };
        let mut failed = None;
        loop {
            match self.next()? {
                Message::DataRow(row) => {
                    answer.rows += 1;
                    answer.bytes += row.buffer().len() as u64;
                }
                Message::ErrorResponse(e) => failed = Some(error_text(&e)),
                Message::ReadyForQuery(_) => break,
                _ => {}
            }
        }
        match failed {
            Some(e) => bail!("the server answered with an error: {e}"),
            None => Ok(answer),
        }
    }

    /// The next backend message, reading from the socket as needed.
    fn next(&mut self) -> Result<Message> {
        loop {
            if let Some(m) = Message::parse(&mut self.buf)? {
                return Ok(m);
            }
            let mut chunk = [0u8; 64 * 1024];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                bail!("the server closed the connection");
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let mut out = BytesMut::new();
        frontend::terminate(&mut out);
        let _ = self.stream.write_all(&out);
    }
}

/// "SQLSTATE: message" of an error response.
fn error_text(e: &postgres_protocol::message::backend::ErrorResponseBody) -> String {
    let (mut code, mut message) = (String::new(), String::new());
    let mut fields = e.fields();
    while let Ok(Some(f)) = fields.next() {
        let v = String::from_utf8_lossy(f.value_bytes()).into_owned();
        match f.type_() {
            b'C' => code = v,
            b'M' => message = v,
            _ => {}
        }
    }
    format!("{code}: {message}")
}
