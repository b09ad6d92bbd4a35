//! buffer (being written)
