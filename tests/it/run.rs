//! Integration tests for run.
