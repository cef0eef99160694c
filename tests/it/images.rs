//! Integration tests for images.
