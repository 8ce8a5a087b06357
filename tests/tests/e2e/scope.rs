//! Scope, hostile input and two servers on one database.
