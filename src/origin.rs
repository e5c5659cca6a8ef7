//! A tiny blocking HTTP/1.1 origin standing in for the cache layer in `tlsterm demo` and tests.
use std::net::TcpListener;

/// Serves forever on `listener`, one thread per connection.
pub fn run(listener: TcpListener) -> std::io::Result<()> {
    let _ = listener;
    todo!()
}
