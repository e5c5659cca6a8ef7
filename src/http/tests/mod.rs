//! Tests of the HTTP module, one file per submodule under test.
mod framing;
mod request;
mod response;
mod rewrite;
