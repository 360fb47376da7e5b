//! objectstore
