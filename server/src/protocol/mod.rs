//! The PostgreSQL v3 wire protocol, as bytes.
//!
//! `frontend` splits the client's byte stream into frames and decodes them
//! into pgwire's message types with a bounds-checked reader (pgwire's own
//! decoders panic on truncated bodies and decode invalid UTF-8 lossily, and a
//! client must never be able to do either to us). `backend` encodes replies
//! into one output buffer with pgwire's encoders. Nothing here knows about
//! sessions or SQL.

pub mod backend;
pub mod frontend;
