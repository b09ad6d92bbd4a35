//! page (being written)
