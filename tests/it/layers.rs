//! Integration tests for layers.
