//! Tests of every field rule and every cross-field rule.
