//! The serde mirror of the TOML file. Only `config` sees these types.
