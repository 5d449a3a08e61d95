//! Security tests at the process level (being written).
