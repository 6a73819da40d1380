//! Calls against the real hub on virtual time.
mod assist;
mod calls;
mod rules;
